"""What every DOLPHOT preparation routine shares at file level (package-internal).

The options (:class:`MaskOptions`, as DOLPHOT's flags left them for one file), the plan of
one output image (:class:`ChipPlan`), the ``--dq-bad`` lookup, one-time notes, and small
header readers that turn a missing or malformed keyword into an
:class:`~dqmask.errors.InputError`. :mod:`.jwst` and :mod:`.hst` build plans with these;
:mod:`.files` writes them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
from astropy.io import fits

from ..errors import InputError
from ..flags import FlagSpecError, parse_flags
from . import core as alg

__all__ = ["TAGS", "ROUTINES", "MaskOptions", "OPTION_FIELDS", "applied_options", "ChipPlan",
           "dq_bad_bits", "reset_notes", "note_once", "number", "image", "float32",
           "epoch_of", "same_shape", "sci_header", "extver"]

log = logging.getLogger(__name__)

#: The DOL_* tag each routine writes into every science extension (and checks on re-runs).
TAGS: Mapping[str, str] = {"nircammask": "DOL_NIRC", "nirissmask": "DOL_NIRI",
                           "acsmask": "DOL_ACS", "wfc3mask": "DOL_WFC3"}
ROUTINES = tuple(TAGS)

@dataclass(frozen=True)
class MaskOptions:
    """Per-file options, as DOLPHOT's flags left them when the file came up.

    Attributes
    ----------
    etctime : bool
        JWST cal/crf exposure time: ETC time (TMEASURE) if True (DOLPHOT 3.x default),
        EFFEXPTM with ``-noetctime``.
    estnoise : bool
        JWST: read noise from VAR_RNOISE instead of the detector table.
    keepcr, keepsat : bool
        HST: leave cosmic-ray / saturated pixels usable.
    exptime : float or None
        Override the exposure time (``-exptime=#``).
    ncombine : int or None
        Override the number of combined images (``-ncombine=#``).
    usewht : bool
        HST drizzled: bad where WHT <= 0 instead of CTX == 0.
    maskflat : bool
        WFC3/IR: DQ 512 (bad flat) is bad.
    subarray : (name, x, y) or None
        Forced subarray (``-wfc1sub=x,y`` ...): name in wfc1, wfc2, hrc, uvis1, uvis2, ir.
    gain, rdnoise : float or None
        JWST: override the detector table.
    saturated_rule : {"bit", "equals"}
        JWST saturated = ``DQ & 2`` (default) or ``DQ == 2``.
    precedence : {"saturated", "bad"}
        JWST: which wins on a pixel that is both.
    dq_bad : str or None
        ``--dq-bad``: a flag expression (``DO_NOT_USE+OTHER_BAD_PIXEL``, ``WARMPIX``, ``64``)
        resolved in each file's own flag table; pixels whose DQ has any of those bits become
        bad (saturated pixels stay saturated). Not a DOLPHOT rule; None keeps DOLPHOT's.
    """

    etctime: bool = True
    estnoise: bool = False
    keepcr: bool = False
    keepsat: bool = False
    exptime: float | None = None
    ncombine: int | None = None
    usewht: bool = False
    maskflat: bool = False
    subarray: tuple[str, int, int] | None = None
    gain: float | None = None
    rdnoise: float | None = None
    saturated_rule: str = "bit"
    precedence: str = "saturated"
    dq_bad: str | None = None


#: The MaskOptions fields each routine uses (HISTORY records only these).
_JWST_FIELDS = ("etctime", "estnoise", "exptime", "ncombine", "gain", "rdnoise",
                "saturated_rule", "precedence", "dq_bad")
_HST_FIELDS = ("keepcr", "keepsat", "exptime", "ncombine", "usewht", "subarray", "dq_bad")
OPTION_FIELDS: Mapping[str, tuple[str, ...]] = {
    "nircammask": _JWST_FIELDS, "nirissmask": _JWST_FIELDS,
    "acsmask": _HST_FIELDS, "wfc3mask": (*_HST_FIELDS, "maskflat"),
}


def applied_options(routine: str, options: MaskOptions) -> dict[str, object]:
    """The options of ``routine`` that are set (not None / False), for the HISTORY record.

    JWST-only options (``etctime``, ``saturated_rule`` ...) never appear for acsmask or
    wfc3mask, nor HST-only ones (``keepcr`` ...) for nircammask / nirissmask.
    """
    values = asdict(options)
    return {k: values[k] for k in OPTION_FIELDS[routine] if values[k] not in (None, False)}


@dataclass
class ChipPlan:
    """One output science extension: its header, pixels and what to print about it."""

    header: fits.Header
    prepared: alg.Prepared
    cards: alg.CardValues
    tag: tuple[str, int, str]
    offset: tuple[int, int] = (0, 0)
    history: list[str] = field(default_factory=list)
    label: str = ""
    usable_do_not_use: int = 0


_NOTED: set[str] = set()

def reset_notes() -> None:
    """Forget which one-time notes were printed (the CLI calls this once per run)."""
    _NOTED.clear()


def note_once(key: str, message: str) -> None:
    """Log ``message`` once per run (per worker process with ``--jobs``)."""
    if key not in _NOTED:
        _NOTED.add(key)
        log.warning("%s", message)


def dq_bad_bits(path: str, spec: str | None, table: Mapping[str, int], what: str) -> int:
    """``--dq-bad`` resolved in a file's flag table; 0 without it.

    Raises
    ------
    InputError
        A flag name the file's table (``what``: JWST, ACS, WFC3/UVIS, WFC3/IR) does not have.
    """
    if not spec:
        return 0
    try:
        return parse_flags(spec, table)
    except FlagSpecError as exc:
        raise InputError(path, f"{spec}: {exc} in the {what} DQ flags",
                         parameter="dq_bad") from None


_SCALING = ("BSCALE", "BZERO", "BLANK")


def sci_header(header: fits.Header, bunit: str | None = None) -> fits.Header:
    """SCI header for float32 data; BUNIT updated (if present) when the units changed."""
    out = header.copy()
    for key in _SCALING:
        out.remove(key, ignore_missing=True, remove_all=True)
    if bunit is not None and "BUNIT" in out:
        out["BUNIT"] = (bunit, "units after DOLPHOT preparation")
    return out


def number(header: Mapping, key: str, path: str, where: str) -> float:
    value = header.get(key)
    if value is None or isinstance(value, (str, bool)) or isinstance(value, fits.card.Undefined):
        raise InputError(path, f"missing numeric keyword {key} in {where}")
    return float(value)


def image(hdu: fits.hdu.base._BaseHDU, path: str, what: str, ndim: int = 2) -> np.ndarray:
    data = hdu.data
    if data is None or data.ndim != ndim:
        shape = "no data" if data is None else f"{data.ndim}-D"
        raise InputError(path, f"{what} must be a {ndim}-D image, got {shape}")
    return data


def float32(data: np.ndarray) -> np.ndarray:
    return np.asarray(data, dtype=np.float32)  # native byte order, a copy of big-endian data


def epoch_of(primary: fits.Header, path: str) -> float:
    if primary.get("EXPSTART") is not None and primary.get("EXPEND") is not None:
        return alg.epoch(number(primary, "EXPSTART", path, "primary header"),
                         number(primary, "EXPEND", path, "primary header"))
    for key in ("EXPMID", "MJD-AVG", "MJD-OBS"):
        if primary.get(key) is not None:
            return number(primary, key, path, "primary header")
    raise InputError(path, "missing keywords EXPSTART/EXPEND in primary header")


def same_shape(path: str, sci: np.ndarray, other: np.ndarray, name: str) -> None:
    if other.shape != sci.shape:
        raise InputError(path, f"{name} shape {other.shape} differs from SCI {sci.shape}")


def extver(hdu) -> int:
    return int(hdu.header.get("EXTVER", 1) or 1)

