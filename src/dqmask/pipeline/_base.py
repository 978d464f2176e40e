"""What every dqmask step does to a datamodel: find its DQ, WCS and root; flag; record; skip.

Conventions: ``bad`` arrays are ``bool``, True = bad (the pixels that receive DQ flags);
DQ arrays keep their dtype (uint32 ``dq`` / ``pixeldq``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
from jwst.stpipe import Step

from .. import __version__
from ..apply import core as alg
from ..errors import InputError
from ..io.inputs import expand_pattern, is_pattern
from ..io.mask_file import read_fits_mask
from ..io.regions import region_layers, region_warnings_to_log
from ..toolbox.morphology import grow as grow_mask

__all__ = ["DqmaskStep", "dqmask_logs_to_stpipe", "dq_attribute", "model_wcs", "exposure_name",
           "listed", "resolve_paths", "regions_bad", "mask_bad", "has_step_record",
           "add_step_record", "flag_model", "grown"]

log = logging.getLogger(__name__)

#: ``meta.wcsinfo`` entries that are FITS WCS keywords (lower case).
_FITS_WCS_KEY = re.compile(r"^(wcsaxes|c(rpix|rval|type|unit|delt)[12]|pc[12]_[12])$")
_SOFTWARE = {"name": "dqmask", "author": "dqmask developers", "version": __version__,
             "homepage": "https://github.com/dqmask/dqmask"}


class DqmaskStep(Step):
    """Base of the dqmask stpipe steps: dqmask's log messages go where stpipe sends jwst's."""

    spec = ""
    #: Suffix of the saved output (``<root>_<suffix>.fits``) unless ``suffix`` is given.
    output_suffix = "dqmask"

    def default_suffix(self) -> str:
        return self.output_suffix

    @classmethod
    def get_config_from_reference(cls, dataset: Any, disable: bool | None = None,
                                  crds_observatory: str | None = None) -> Any:
        """No CRDS parameter reference exists for dqmask steps: never ask CRDS for one."""
        return cls._empty_config()

    def get_pars(self, full_spec: bool = True) -> dict:
        """stpipe's parameters, with list items typed on the command line as plain ``str``
        (stpipe converts scalars only; asdf cannot save its ``FromCommandLine`` strings, so
        ``strun --save-parameters`` failed on ``--region=...``)."""
        pars = super().get_pars(full_spec)
        for key, value in pars.items():
            if isinstance(value, list):
                pars[key] = [str(v) if isinstance(v, str) else v for v in value]
        return pars

    @staticmethod
    def get_stpipe_loggers() -> tuple[str, ...]:
        return (*Step.get_stpipe_loggers(), "dqmask")

    def run(self, *args: Any) -> Any:
        """stpipe's ``run``, with the ``dqmask`` loggers sent where stpipe's own messages go
        for its duration (see :func:`dqmask_logs_to_stpipe`)."""
        with dqmask_logs_to_stpipe():
            return super().run(*args)

    def models(self, step_input: Any) -> tuple[Any, list]:
        """``(result, models)``: the prepared output and the datamodels in it, in order."""
        result = self.prepare_output(step_input)
        if hasattr(result, "meta"):
            return result, [result]
        return result, list(result)


@contextlib.contextmanager
def dqmask_logs_to_stpipe() -> Iterator[None]:
    """Send the ``dqmask`` logger's records to the handlers stpipe configured, for the block.

    ``strun dqmask_*`` and ``Step.call`` configure the ``dqmask`` logger themselves
    (:meth:`DqmaskStep.get_stpipe_loggers`); a dqmask step run as a hook or inside a jwst
    pipeline runs under the *pipeline's* logging set-up, which names ``stpipe``, ``jwst``...
    but not ``dqmask``: its INFO messages were lost and its warnings printed bare, outside
    stpipe's format and outside the step's ``log_records`` (jwst's ``cal_logs``). Here the
    handlers that serve the ``stpipe`` logger and that a ``dqmask`` record does not already
    reach (by propagation) are added to the ``dqmask`` logger, at ``stpipe``'s level, as
    stpipe does for the loggers it names; both are undone when the block ends. Nothing is
    added when stpipe already serves ``dqmask`` (no line twice) or configured no handler.
    """
    ours = logging.getLogger("dqmask")
    added = [h for h in _reachable_handlers(logging.getLogger("stpipe"))
             if h not in _reachable_handlers(ours)]
    if not added:
        yield
        return
    level = ours.level
    for handler in added:
        ours.addHandler(handler)
    ours.setLevel(logging.getLogger("stpipe").getEffectiveLevel())
    try:
        yield
    finally:
        for handler in added:
            ours.removeHandler(handler)
        ours.setLevel(level)


def _reachable_handlers(logger: logging.Logger) -> list[logging.Handler]:
    """Every handler a record of ``logger`` reaches: its own, then its ancestors' while they
    propagate (as :meth:`logging.Logger.callHandlers` walks them)."""
    found: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:
        found.extend(h for h in current.handlers if h not in found)
        current = current.parent if current.propagate else None
    return found


def exposure_name(model: Any) -> str:
    """The model's file name (``meta.filename``), the source of its ``{root}``."""
    name = getattr(model.meta, "filename", None)
    if not name:
        raise InputError(None, "the model has no meta.filename, so '{root}' patterns cannot "
                               "be filled; give file names without {root}")
    return str(name)


def dq_attribute(model: Any) -> str:
    """``pixeldq`` for ramp models (after ``dq_init``), ``dq`` for rate / cal models.

    Raises
    ------
    InputError
        A model with neither (e.g. an ``uncal`` Level1bModel before ``dq_init``).
    """
    properties = model.schema.get("properties", {})
    for name in ("pixeldq", "dq"):
        if name in properties:
            return name
    raise InputError(getattr(model.meta, "filename", None),
                     f"{type(model).__name__} has no PIXELDQ or DQ; run dq_init first")


def model_wcs(model: Any) -> Any:
    """The model's WCS for sky regions: ``meta.wcs`` (gwcs, after ``assign_wcs``), else the
    FITS WCS of its ``meta.wcsinfo`` (astropy), else None. Both speak the APE 14 API."""
    wcs = getattr(model.meta, "wcs", None)
    if wcs is not None:
        return wcs
    info = getattr(model.meta, "wcsinfo", None)
    items = info.instance.items() if info is not None else ()
    header = fits.Header({k.upper(): v for k, v in items if _FITS_WCS_KEY.match(k)})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # FITSFixedWarning on incomplete keyword sets
            fits_wcs = WCS(header, naxis=2)
    except Exception:  # unusable wcsinfo: sky regions then fail with a clear InputError
        return None
    return fits_wcs if fits_wcs.has_celestial else None


def listed(value: str | Sequence[str] | None) -> list[str]:
    """A ``force_list`` parameter as a list (None / empty: [])."""
    return [] if not value else [value] if isinstance(value, str) else list(value)


def resolve_paths(value: str | Sequence[str] | None, model: Any) -> list[str]:
    """File names of a parameter for one model, ``{root}`` filled from its file name."""
    items = listed(value)
    exposure = exposure_name(model) if any(is_pattern(i) for i in items) else ""
    return [expand_pattern(i, exposure) for i in items]


def regions_bad(model: Any, paths: Sequence[str], shape: tuple[int, int], mode: str = "center",
                crab: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(inside, holes)`` of DS9 region files on a model (``bool``, True = inside an include
    / an exclude shape); sky shapes through :func:`model_wcs`."""
    for path in paths:
        _require(path)
    with region_warnings_to_log():
        inside, holes, _ = region_layers(paths, shape, None, model_wcs(model), mode=mode)
    if crab:
        return inside | holes, np.zeros_like(holes)
    return inside, holes


def mask_bad(path: str, shape: tuple[int, int], convention: str = "auto",
             mask_flags: str | None = None) -> np.ndarray:
    """A one-plane mask file as ``bad`` (True = bad), checked against ``shape``."""
    _require(path)
    mask = read_fits_mask(path, convention, mask_flags)
    if len(mask.planes) != 1:
        raise InputError(path, f"mask has {len(mask.planes)} planes; a JWST exposure needs one")
    plane = mask.planes[0]
    try:
        alg.check_shape(plane, shape)
    except alg.ShapeMismatch as exc:
        raise InputError(path, f"{exc}; masks are never reshaped") from None
    return np.asarray(plane, dtype=bool)


def _require(path: str) -> None:
    if not os.path.exists(path):
        raise InputError(path, "no such file (for this exposure)")


def _description(alias: str, record: str, params: Mapping[str, Any]) -> str:
    extra = " ".join(f"{k}={v}" for k, v in params.items())
    return f"dqmask {alias} record={record}" + (f" {extra}" if extra else "")


def _history_texts(model: Any) -> Iterable[str]:
    with warnings.catch_warnings():  # reading is not deprecated, only appending through it
        warnings.filterwarnings("ignore", "The history attribute will soon be deprecated",
                                UserWarning)
        entries = list(getattr(model, "history", None) or [])
    for entry in entries:
        if isinstance(entry, str):
            yield entry
        else:
            yield str(entry.get("description", ""))


def has_step_record(model: Any, alias: str, record: str) -> bool:
    """True when the model's history holds this step's entry with exactly this record."""
    wanted = ["dqmask", alias, f"record={record}"]
    return any(text.split()[:3] == wanted for text in _history_texts(model))


def add_step_record(model: Any, alias: str, record: str, params: Mapping[str, Any]) -> None:
    """``meta.cal_step.<alias> = 'COMPLETE'`` (models that have ``cal_step``) and a history
    entry holding the record."""
    try:
        setattr(model.meta.cal_step, alias, "COMPLETE")
    except AttributeError:  # e.g. MaskModel: no cal_step in its schema
        log.debug("%s has no meta.cal_step; recorded in its history only", type(model).__name__)
    model.add_history_entry(_description(alias, record, params), software=_SOFTWARE)


def flag_model(model: Any, bad: np.ndarray, flags: int, *, alias: str, params: dict,
               zero_data: bool = False, max_fraction: float = 1.0, force: bool = False
               ) -> alg.MaskStats | None:
    """OR ``flags`` into the model's DQ (PIXELDQ for ramps) where ``bad``; record it.

    Parameters
    ----------
    model : JwstDataModel
        Modified in place.
    bad : ndarray of bool, (ny, nx)
        True = flag this pixel (every integration / group plane).
    flags : int
        JWST pixel flags to set.

    Returns
    -------
    MaskStats or None
        None when the model already records this mask with these flags (nothing changed).
    """
    attr = dq_attribute(model)
    dq = getattr(model, attr)
    record = alg.mask_record([bad], flags, "zero" if zero_data else None)
    name = getattr(model.meta, "filename", None)
    if has_step_record(model, alias, record) and not force:
        log.info("%s: already flagged by dqmask %s with this mask; skipped", name, alias)
        return None
    stats = alg.mask_stats([bad])
    if stats.fraction > max_fraction:
        raise InputError(name, f"mask covers {100 * stats.fraction:.1f}% of the pixels, above "
                               f"max_fraction {max_fraction:g}; refused")
    new = alg.or_flags(dq, bad, flags)
    newly = alg.newly_flagged(dq, new)
    setattr(model, attr, new)
    if zero_data:
        model.data = alg.zero_where(model.data, bad)
    params = {**params, "flags": flags, "npix": stats.masked}
    add_step_record(model, alias, record, params)
    log.info("%s: %d of %d pixels masked, %d %s values changed", name, stats.masked,
             stats.total, newly, attr.upper())
    return alg.MaskStats(stats.masked, stats.total, newly)


def grown(bad: np.ndarray, pixels: int) -> np.ndarray:
    """``bad`` grown by ``pixels`` (circular footprint); unchanged for 0."""
    return grow_mask(bad, pixels) if pixels else bad
