"""DOLPHOT preparation of whole files: nircammask, nirissmask, acsmask, wfc3mask, splitgroups.

Each routine reads a JWST or HST file, works out what it is the way DOLPHOT does (full
frame, subarray by APERTURE, drizzled), computes the prepared science image(s) with
:mod:`dqmask.dolphot.core`, and writes DOLPHOT's layout - the primary header plus the
converted SCI image(s) - as *standard* FITS (HISTORY, COMMENT, CONTINUE long strings kept;
PCOUNT/GCOUNT written; SCI always float32). The input is rewritten in place atomically by
default, or copied to ``output_dir``. A file whose first extension already carries the
routine's DOL_* tag is refused unchanged (:class:`AlreadyPrepared`). Every problem with an
input raises :class:`~dqmask.errors.InputError` before anything is written.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
from astropy.io import fits

from ..conventions import dq_to_bad
from ..errors import AlreadyDoneError, InputError
from ..flags import JWST_PIXEL, FlagSpecError, parse_flags, table_for
from ..io.atomic import (
    atomic_output,
    refuse_output_is_input,
    refuse_read_only,
    same_file,
    target_lock,
)
from ..io.fits import add_provenance, classify_hdulist, open_fits, row_reader
from . import core as alg

__all__ = [
    "MaskOptions", "PrepareResult", "SplitResult", "AlreadyPrepared", "ROUTINES", "TAGS",
    "prepare_file", "detect_routine",
    "splitgroups", "split_name", "ChipPlan", "OPTION_FIELDS", "applied_options",
    "dq_bad_bits",
]

log = logging.getLogger(__name__)

#: The DOL_* tag each routine writes into every science extension (and checks on re-runs).
TAGS: Mapping[str, str] = {"nircammask": "DOL_NIRC", "nirissmask": "DOL_NIRI",
                           "acsmask": "DOL_ACS", "wfc3mask": "DOL_WFC3"}
ROUTINES = tuple(TAGS)

_HST_TAG_COMMENT = {"acsmask": "DOLPHOT ACS tag", "wfc3mask": "DOLPHOT WFC3 tag"}
_OFF_COMMENT = "Origin of subarray relative to full chip"


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


class AlreadyPrepared(AlreadyDoneError):
    """The file already carries the routine's DOL_* tag; it was left untouched."""

    def __init__(self, path: str | os.PathLike, routine: str, tag: str,
                 where: str = "extension 1") -> None:
        super().__init__(path, routine)
        self.args = (f"{self.path}: already run through {routine} ({tag} in {where}); "
                     f"left unchanged",)

    def __str__(self) -> str:
        return self.args[0]


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


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def detect_routine(path: str | os.PathLike) -> str:
    """The DOLPHOT mask routine for a file, from TELESCOP / INSTRUME (``dqmask dolphot``)."""
    path = os.fspath(path)
    with open_fits(path) as hdul:
        return _routine_of(hdul, path)


def _routine_of(hdul: fits.HDUList, path: str) -> str:
    head = hdul[0].header
    inst = str(head.get("INSTRUME", "")).strip().upper()
    by_inst = {"NIRCAM": "nircammask", "NIRISS": "nirissmask", "ACS": "acsmask",
               "WFC3": "wfc3mask"}
    if inst in by_inst:
        return by_inst[inst]
    raise InputError(path, f"DOLPHOT has no mask routine for INSTRUME={inst or 'missing'} "
                           "(nircammask, nirissmask, acsmask, wfc3mask)")


@dataclass(frozen=True)
class PrepareResult:
    """One file prepared (or that would be, ``dry_run``) by a DOLPHOT mask routine.

    Attributes
    ----------
    path, output : str
        Input and output (the same file when prepared in place).
    routine : str
        The routine run (``acsmask``...; ``auto`` resolved).
    kind : str
        What the file is (``flt``, ``cal``, ``drizzled``...).
    images : int
        Images (chips) written.
    badpix, saturate, exptime, gain, rdnoise : str, str, float, float, float
        The first image's DOLPHOT cards (BADPIX / SATURATE as written).
    bad, saturated : int
        Pixels set to BADPIX / SATURATE.
    usable_do_not_use : int
        JWST DO_NOT_USE pixels left usable (see docs/dolphot.md).
    dry_run : bool
        Nothing was written.
    """

    path: str
    output: str
    routine: str
    kind: str
    images: int
    badpix: str
    saturate: str
    exptime: float
    gain: float
    rdnoise: float
    bad: int
    saturated: int
    usable_do_not_use: int = 0
    dry_run: bool = False

    def summary(self) -> str:
        """One line: ``IN: ROUTINE prepared KIND in place: N image(s), BADPIX=B, SATURATE=S``."""
        where = "in place" if self.output == self.path else f"-> {self.output}"
        verb = "would prepare" if self.dry_run else "prepared"
        kept = self.usable_do_not_use
        return (f"{self.path}: {self.routine} {verb} {self.kind} {where}: {self.images} "
                f"image(s), BADPIX={self.badpix} SATURATE={self.saturate} "
                f"EXPTIME={self.exptime:g} GAIN={self.gain:g} RDNOISE={self.rdnoise:.4g}; "
                f"{self.bad} bad, {self.saturated} saturated pixels"
                + (f"; {kept} DO_NOT_USE pixels left usable" if kept else ""))


@dataclass(frozen=True)
class SplitResult:
    """The files :func:`splitgroups` wrote (or would write, ``dry_run``), in HDU order.

    Iterating gives the output names (a list was returned before).
    """

    path: str
    outputs: tuple[str, ...]
    dry_run: bool = False

    def summary(self) -> str:
        """One line: ``IN: wrote OUT1, OUT2``."""
        verb = "would write" if self.dry_run else "wrote"
        return f"{self.path}: {verb} " + ", ".join(self.outputs)

    def __iter__(self) -> Iterator[str]:
        return iter(self.outputs)

    def __len__(self) -> int:
        return len(self.outputs)


def prepare_file(path: str | os.PathLike, routine: str, options: MaskOptions | None = None, *,
                 output: str | os.PathLike | None = None, pam_dir: str | os.PathLike | None = None,
                 dry_run: bool = False) -> PrepareResult:
    """Run one DOLPHOT mask routine on one file.

    Parameters
    ----------
    path : path-like
        Input FITS file (``.fits`` or ``.fits.gz``).
    routine : str
        ``nircammask``, ``nirissmask``, ``acsmask``, ``wfc3mask`` or ``auto``.
    options : MaskOptions
        The flags in force for this file.
    output : path-like, optional
        Output file; default: rewrite ``path`` in place (atomically).
    pam_dir : path-like, optional
        DOLPHOT's data directory root (``acs/data/wfc1_pam.fits``...); default: compute the
        pixel area from the image's SIP distortion.
    dry_run : bool
        Do everything but write.

    Returns
    -------
    PrepareResult
        What was written (``summary()``: one line).

    Raises
    ------
    InputError
        Anything wrong with the input (nothing written).
    AlreadyPrepared
        The file already carries the routine's tag (nothing written).
    """
    path = os.fspath(path)
    options = options or MaskOptions()
    out = os.fspath(output) if output is not None else path
    in_place = same_file(out, path)
    if in_place and not dry_run:
        refuse_read_only(path)  # before any work (atomic_output checks again)
    lock = contextlib.nullcontext() if dry_run else target_lock(out)
    with lock:  # held from the read (and its already-prepared guard) to the write
        return _prepare(path, routine, options, out, in_place, pam_dir, dry_run)


def _prepare(path: str, routine: str, options: MaskOptions, out: str, in_place: bool,
             pam_dir, dry_run: bool) -> PrepareResult:
    with open_fits(path) as hdul:
        if routine == "auto":
            _guard_any(hdul, path)
            routine = _routine_of(hdul, path)
        _guard(hdul, path, routine)
        primary = hdul[0].header.copy()
        if routine in ("nircammask", "nirissmask"):
            plans, kind = _jwst_plans(hdul, path, routine, options)
        else:
            plans, kind = _hst_plans(hdul, path, routine, options, pam_dir)
    hdus = _assemble(primary, plans, routine, options, pam_dir)
    if not dry_run:
        _write(hdus, out, path)
    bad = sum(int(np.count_nonzero(p.prepared.bad)) for p in plans)
    sat = sum(int(np.count_nonzero(p.prepared.sat)) for p in plans)
    first = plans[0].cards
    kept = sum(p.usable_do_not_use for p in plans)
    return PrepareResult(path, path if in_place else out, routine, kind, len(plans),
                         alg.fitsnum(first.badpix).strip(), alg.fitsnum(first.saturate).strip(),
                         first.exptime, first.gain, first.rdnoise, bad, sat, kept, dry_run)


# --------------------------------------------------------------------------------------------
# --dq-bad and the DO_NOT_USE note
# --------------------------------------------------------------------------------------------

_NOTED: set[str] = set()
_DO_NOT_USE = np.uint32(JWST_PIXEL["DO_NOT_USE"])


def reset_notes() -> None:
    """Forget which one-time notes were printed (the CLI calls this once per run)."""
    _NOTED.clear()


def _note_once(key: str, message: str) -> None:
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


def _count_do_not_use_usable(dq: np.ndarray | None, prepared: alg.Prepared) -> int:
    """Pixels with DQ DO_NOT_USE that DOLPHOT will use (neither bad nor saturated)."""
    if dq is None:
        return 0
    flagged = dq_to_bad(dq, _DO_NOT_USE)
    return int(np.count_nonzero(flagged & ~prepared.bad & ~prepared.sat))


# --------------------------------------------------------------------------------------------
# Guard
# --------------------------------------------------------------------------------------------


def _guard(hdul: fits.HDUList, path: str, routine: str) -> None:
    """Refuse a file the routine already prepared: its tag in extension 1 (DOLPHOT 2.0) or
    in the primary header (3.1, and ``splitgroups`` chips of a prepared file)."""
    tag = TAGS[routine]
    for index, where in ((1, "extension 1"), (0, "the primary header")):
        if index < len(hdul) and tag in hdul[index].header:
            raise AlreadyPrepared(path, routine, tag, where)


def _guard_any(hdul: fits.HDUList, path: str) -> None:
    for routine in TAGS:
        _guard(hdul, path, routine)


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

_SCALING = ("BSCALE", "BZERO", "BLANK")


def _sci_header(header: fits.Header, bunit: str | None = None) -> fits.Header:
    """SCI header for float32 data; BUNIT updated (if present) when the units changed."""
    out = header.copy()
    for key in _SCALING:
        out.remove(key, ignore_missing=True, remove_all=True)
    if bunit is not None and "BUNIT" in out:
        out["BUNIT"] = (bunit, "units after DOLPHOT preparation")
    return out


def _put_card(header: fits.Header, keyword: str, image: str) -> None:
    """Insert an exact card image, replacing a card of the same keyword in place."""
    card = fits.Card.fromstring(image)
    if keyword in header:
        idx = header.index(keyword)
        del header[idx]
        header.insert(idx, card)
    else:
        header.append(card, end=True)


def _assemble(primary: fits.Header, plans: list[ChipPlan], routine: str, options: MaskOptions,
              pam_dir) -> fits.HDUList:
    if "NEXTEND" in primary:
        primary["NEXTEND"] = len(plans)
    params = applied_options(routine, options)
    if pam_dir is not None and routine in ("acsmask", "wfc3mask"):
        params["pam_dir"] = os.fspath(pam_dir)
    add_provenance(primary, routine, params)
    hdus: list[fits.hdu.base._BaseHDU] = [fits.PrimaryHDU(header=primary)]
    for plan in plans:
        head = plan.header
        for keyword, image in alg.insertcards(plan.cards):
            _put_card(head, keyword, image)
        keyword, value, comment = plan.tag
        _put_card(head, keyword, alg.tag_image(keyword, value, comment))
        if plan.offset[0]:
            _put_card(head, "DOL_OFFX", alg.tag_image("DOL_OFFX", plan.offset[0], _OFF_COMMENT))
        if plan.offset[1]:
            _put_card(head, "DOL_OFFY", alg.tag_image("DOL_OFFY", plan.offset[1], _OFF_COMMENT))
        for line in plan.history + plan.prepared.notes:
            head.add_history(f"dqmask {routine}: {line}")
        hdus.append(fits.ImageHDU(data=plan.prepared.values, header=head))
    return fits.HDUList(hdus)


def _write(hdul: fits.HDUList, out: str, path: str) -> None:
    """Write atomically (gzip-compressed for ``.gz``); a header astropy cannot make standard
    (after its silent fixes) is an InputError and nothing is replaced."""
    try:
        hdul.verify("silentfix")
    except fits.VerifyError as exc:
        raise InputError(path, f"header cannot be written as standard FITS: {exc}") from None
    with atomic_output(out) as fh:
        if out.lower().endswith(".gz"):
            with gzip.GzipFile(fileobj=fh, mode="wb", mtime=0) as gz:
                hdul.writeto(gz, output_verify="silentfix")
        else:
            hdul.writeto(fh, output_verify="silentfix")


# --------------------------------------------------------------------------------------------
# Header helpers
# --------------------------------------------------------------------------------------------


def _number(header: Mapping, key: str, path: str, where: str) -> float:
    value = header.get(key)
    if value is None or isinstance(value, (str, bool)) or isinstance(value, fits.card.Undefined):
        raise InputError(path, f"missing numeric keyword {key} in {where}")
    return float(value)


def _image(hdu: fits.hdu.base._BaseHDU, path: str, what: str, ndim: int = 2) -> np.ndarray:
    data = hdu.data
    if data is None or data.ndim != ndim:
        shape = "no data" if data is None else f"{data.ndim}-D"
        raise InputError(path, f"{what} must be a {ndim}-D image, got {shape}")
    return data


def _float32(data: np.ndarray) -> np.ndarray:
    return np.asarray(data, dtype=np.float32)  # native byte order, a copy of big-endian data


def _epoch(primary: fits.Header, path: str) -> float:
    if primary.get("EXPSTART") is not None and primary.get("EXPEND") is not None:
        return alg.epoch(_number(primary, "EXPSTART", path, "primary header"),
                         _number(primary, "EXPEND", path, "primary header"))
    for key in ("EXPMID", "MJD-AVG", "MJD-OBS"):
        if primary.get(key) is not None:
            return _number(primary, key, path, "primary header")
    raise InputError(path, "missing keywords EXPSTART/EXPEND in primary header")


# --------------------------------------------------------------------------------------------
# JWST
# --------------------------------------------------------------------------------------------

_JWST_INSTRUMENT = {"nircammask": "NIRCAM", "nirissmask": "NIRISS"}


def _jwst_plans(hdul: fits.HDUList, path: str, routine: str, options: MaskOptions
                ) -> tuple[list[ChipPlan], str]:
    info = classify_hdulist(hdul, path)
    want = _JWST_INSTRUMENT[routine]
    if info.telescope != "JWST" or info.instrument != want:
        raise InputError(path, f"{routine} needs a JWST {want} image, got "
                               f"{info.telescope or '?'} {info.instrument or '?'}")
    if info.product not in ("cal", "crf", "i2d"):
        raise InputError(path, f"{routine} takes cal, crf or i2d images, not {info.product}")
    primary = hdul[0].header
    sci_hdu = hdul["SCI"]
    sci = _float32(_image(sci_hdu, path, "SCI"))
    product = info.product
    photmjsr = sci_hdu.header.get("PHOTMJSR", primary.get("PHOTMJSR"))
    if photmjsr is None or isinstance(photmjsr, str) or not float(photmjsr) > 0:
        raise InputError(path, f"PHOTMJSR is {photmjsr!r}; need a positive MJy/sr per DN/s")
    photmjsr = float(photmjsr)
    history: list[str] = []
    if options.exptime is not None and options.exptime > 0:
        exptime, source = float(options.exptime), "-exptime"
    else:
        try:
            exptime, source = alg.jwst_exposure_time(primary, product, options.etctime)
        except KeyError as exc:
            raise InputError(path, f"missing keyword {exc.args[0]} in primary header") from None
        except ValueError as exc:
            raise InputError(path, str(exc)) from None
    history.append(f"DN = SCI / PHOTMJSR ({photmjsr:.10g}) * EXPTIME ({exptime:.10g} s from "
                   f"{source})" + (" * AREA" if product != "i2d" else ""))
    dq = _jwst_dq(hdul, path, product)
    dq_bits = dq_bad_bits(path, options.dq_bad, JWST_PIXEL, "JWST")
    if dq_bits and dq is None:
        history.append(f"--dq-bad {options.dq_bad} not applied: no DQ extension")
    elif dq_bits:
        history.append(f"--dq-bad {options.dq_bad}: DQ & {dq_bits} is bad too "
                       "(not a DOLPHOT rule)")
    if product != "i2d":
        _subsize_check(hdul, path, sci.shape, history)
    area = wht = None
    if product == "i2d":
        if "WHT" not in hdul:
            raise InputError(path, "i2d image without WHT extension")
        wht = _float32(_image(hdul["WHT"], path, "WHT"))
        _same_shape(path, sci, wht, "WHT")
    else:
        if "AREA" not in hdul:
            raise InputError(path, f"{product} image without AREA extension (pixel-area map)")
        area = _float32(_image(hdul["AREA"], path, "AREA"))
        _same_shape(path, sci, area, "AREA")
    prepared = alg.jwst_prepare(sci, dq, product=product, photmjsr=photmjsr, exptime=exptime,
                                area=area, wht=wht, saturated_rule=options.saturated_rule,
                                precedence=options.precedence, dq_bad=dq_bits)
    kept = 0 if options.dq_bad else _count_do_not_use_usable(dq, prepared)
    if kept:
        history.append(f"{kept} DO_NOT_USE pixels left usable by DOLPHOT's rule "
                       "(--dq-bad DO_NOT_USE masks them)")
        _note_once("do_not_use", "note: DOLPHOT's rule keeps DO_NOT_USE pixels usable "
                   "(e.g. masks put in DQ by 'dqmask apply'); --dq-bad DO_NOT_USE masks them")
    gain, rdnoise = _jwst_noise(hdul, path, info.detector, options, prepared, photmjsr, exptime,
                                area, history)
    ncombine = options.ncombine if options.ncombine and options.ncombine > 0 else 1
    cards = alg.CardValues(gain=gain, rdnoise=rdnoise, exptime=exptime,
                           badpix=prepared.badpix, saturate=prepared.saturate,
                           epoch=_epoch(primary, path), airmass=0.0,
                           exptime0=exptime / ncombine)
    tag = alg.jwst_tag(info.instrument, info.detector, product)
    plan = ChipPlan(_sci_header(sci_hdu.header, "DN"), prepared, cards, tag, history=history,
                    label=info.detector, usable_do_not_use=kept)
    return [plan], f"{info.detector} {product}"


def _subsize_check(hdul: fits.HDUList, path: str, shape: tuple[int, ...],
                   history: list[str]) -> None:
    """Warn (one line) when SUBSIZE1/SUBSIZE2 disagree with the SCI shape: a cut-out
    whose subarray keywords were not updated, which no longer says where it sits on the
    detector."""
    sizes = []
    for key in ("SUBSIZE1", "SUBSIZE2"):
        value = hdul["SCI"].header.get(key, hdul[0].header.get(key))
        if not isinstance(value, int) or isinstance(value, bool):
            return
        sizes.append(value)
    ny, nx = shape
    if (sizes[1], sizes[0]) == (ny, nx):
        return
    message = (f"SUBSIZE1/2 = {sizes[0]}x{sizes[1]} but SCI is {nx}x{ny}: a cut-out with "
               "stale SUBSTRT/SUBSIZE (its place on the detector is lost)")
    history.append(message)
    log.warning("%s: %s", path, message)


def _same_shape(path: str, sci: np.ndarray, other: np.ndarray, name: str) -> None:
    if other.shape != sci.shape:
        raise InputError(path, f"{name} shape {other.shape} differs from SCI {sci.shape}")


def _jwst_dq(hdul: fits.HDUList, path: str, product: str) -> np.ndarray | None:
    if "DQ" not in hdul:
        if product == "i2d":
            return None
        raise InputError(path, f"{product} image without DQ extension")
    dq = hdul["DQ"].data
    if dq is None or not np.issubdtype(dq.dtype, np.integer):
        raise InputError(path, f"DQ must be an integer image, got "
                               f"{'no data' if dq is None else dq.dtype}")
    return np.asarray(dq).astype(np.uint32, copy=False)


def _jwst_noise(hdul, path, detector, options, prepared, photmjsr, exptime, area,
                history) -> tuple[float, float]:
    try:
        row = alg.jwst_detector_noise(detector, str(hdul[0].header.get("CHANNEL", "")))
    except KeyError:
        row = None
    if row is None and (options.gain is None or (options.rdnoise is None
                                                  and not options.estnoise)):
        raise InputError(path, f"no gain/read-noise table row for DETECTOR={detector}; "
                               "give {gain} and {rdnoise}", mentions=("gain", "rdnoise"))
    if options.gain is not None:
        gain = float(options.gain)
    else:
        assert row is not None  # a missing row raised above
        gain = row.gain
    if options.rdnoise is not None:
        rdnoise = float(options.rdnoise)
        history.append(f"RDNOISE {rdnoise:g} e- given with --rdnoise")
    elif options.estnoise:
        if "VAR_RNOISE" not in hdul:
            raise InputError(path, "-estnoise needs a VAR_RNOISE extension")
        var = _float32(_image(hdul["VAR_RNOISE"], path, "VAR_RNOISE"))
        usable = ~(prepared.bad | prepared.sat)
        try:
            rdnoise = alg.jwst_estnoise(var, usable, photmjsr, exptime, gain, area)
        except ValueError as exc:
            raise InputError(path, str(exc)) from None
        history.append(f"RDNOISE {rdnoise:.6g} e- = median sqrt(VAR_RNOISE) in DN * GAIN "
                       "(-estnoise)")
    else:
        assert row is not None  # a missing row raised above
        rdnoise = row.rdnoise
        flag = "PROVISIONAL " if row.provisional else ""
        history.append(f"{flag}RDNOISE {rdnoise:.6g} e- for {row.detector}: {row.source}")
    if options.gain is not None:
        history.append(f"GAIN {gain:g} e-/DN given with --gain")
    else:
        assert row is not None  # a missing row raised above
        history.append(f"GAIN {gain:g} e-/DN for {row.detector} (detector table)")
    return gain, rdnoise


# --------------------------------------------------------------------------------------------
# HST classification (§2.3, §3.1)
# --------------------------------------------------------------------------------------------

# aperture -> (chip, (ny, nx), (offx, offy))
_ACS_SUBARRAYS = {
    "WFC1-512": ("WFC1", (512, 512), (3584, 1536)),
    "WFC1-1K": ("WFC1", (1024, 1024), (3072, 1024)),
    "WFC1-2K": ("WFC1", (2046, 2048), (2048, 1)),
    "WFC2-2K": ("WFC2", (2046, 2048), (0, 1)),
}
_UVIS_SUBARRAYS = {
    "UVIS1-2K2A-SUB": ("UVIS1", (2050, 2047), (0, 0)),
    "UVIS1-2K2B-SUB": ("UVIS1", (2050, 2047), (2049, 0)),
    "UVIS1-C512A-SUB": ("UVIS1", (512, 513), (0, 1538)),
    "UVIS2-2K2C-SUB": ("UVIS2", (2050, 2047), (0, 1)),
    "UVIS2-2K2D-SUB": ("UVIS2", (2050, 2047), (2049, 1)),
    "UVIS2-M1K1C-SUB": ("UVIS2", (1024, 1024), (1024, 1027)),
    "UVIS2-C1K1C-SUB": ("UVIS2", (1024, 1025), (0, 1)),
    "UVIS2-M512C-SUB": ("UVIS2", (512, 512), (1536, 1539)),
    "UVIS2-C512C-SUB": ("UVIS2", (512, 513), (0, 1)),
}
_IR_SUBARRAYS = {"IRSUB64": 480, "IRSUB128": 448, "IRSUB256": 384, "IRSUB512": 256}

#: Full-chip size (ny, nx) per chip name, for forced subarrays and PAM files.
_CHIP_SIZE = {"WFC1": (2048, 4096), "WFC2": (2048, 4096), "HRC": (1024, 1024),
              "UVIS1": (2051, 4096), "UVIS2": (2051, 4096), "IR": (1014, 1014)}
_FORCED = {"wfc1": "WFC1", "wfc2": "WFC2", "hrc": "HRC", "uvis1": "UVIS1", "uvis2": "UVIS2",
           "ir": "IR"}
_PAM_FILES = {"WFC1": "acs/data/wfc1_pam.fits", "WFC2": "acs/data/wfc2_pam.fits",
              "HRC": "acs/data/hrc_pam.fits", "UVIS1": "wfc3/data/UVIS1wfc3_map.fits",
              "UVIS2": "wfc3/data/UVIS2wfc3_map.fits", "IR": "wfc3/data/ir_wfc3_map.fits"}


@dataclass
class _HstChip:
    sci: int  # HDU index
    chip: str  # WFC1, WFC2, HRC, UVIS1, UVIS2, IR
    tag: int
    offset: tuple[int, int] = (0, 0)
    off_cards: bool = True


def _extver(hdu) -> int:
    return int(hdu.header.get("EXTVER", 1) or 1)


def _find(hdul: fits.HDUList, name: str, ver: int) -> int | None:
    for i, hdu in enumerate(hdul):
        if str(hdu.header.get("EXTNAME", "")).strip().upper() == name and _extver(hdu) == ver:
            return i
    return None


def _sci_indices(hdul: fits.HDUList) -> list[int]:
    return [i for i, h in enumerate(hdul)
            if str(h.header.get("EXTNAME", "")).strip().upper() == "SCI"]


def _shape(hdu) -> tuple[int, ...]:
    n = int(hdu.header.get("NAXIS", 0))
    return tuple(int(hdu.header.get(f"NAXIS{k}", 0)) for k in range(n, 0, -1))


#: Keywords DOLPHOT's C reads from row 0 of an astrodrizzle table *before* the primary
#: header (``eitherstring`` / ``eitherdouble``); the C reads every other keyword from the
#: primary header only. acsmask: FILETYPE, INSTRUME, DETECTOR, APERTURE, CCDAMP and
#: READNSEA-D; wfc3mask (2.0): INSTRUME and READNSEA-D.
_READNSE = frozenset({"READNSEA", "READNSEB", "READNSEC", "READNSED"})
_TABLE_FIRST: Mapping[str, frozenset[str]] = {
    "acsmask": frozenset({"FILETYPE", "INSTRUME", "DETECTOR", "APERTURE", "CCDAMP"}) | _READNSE,
    "wfc3mask": frozenset({"INSTRUME"}) | _READNSE,
}


def _is_table(hdu) -> bool:
    return isinstance(hdu, fits.BinTableHDU)


def _c_table(hdul: fits.HDUList, routine: str, numeric: bool):
    """The table whose row 0 DOLPHOT's C reads before the primary header, or None.

    Positions are DOLPHOT's extension indices (``ext[i]`` = HDU ``i + 1``), ``Next0`` the
    number of extensions. acsmask strings: ``ext[3]`` if ``Next0 >= 4`` and it is a table,
    else ``ext[2]`` if ``Next0 >= 3`` and it is a table; acsmask numbers: the same with
    ``Next0 == 4`` for ``ext[3]``; wfc3mask (2.0): ``ext[3]`` when ``Next0 == 4``.
    A drizzled SCI, WHT, CTX, HDRTAB file therefore reads HDRTAB row 0 first.
    """
    n = len(hdul) - 1
    if routine == "wfc3mask":
        return hdul[4] if n == 4 and _is_table(hdul[4]) else None
    if routine != "acsmask":
        return None
    if (n == 4 if numeric else n >= 4) and _is_table(hdul[4]):
        return hdul[4]
    if n >= 3 and _is_table(hdul[3]):
        return hdul[3]
    return None


def _row0(hdu, key: str):
    """Row 0 of column ``key`` as a Python value; None when absent, empty or (numbers) 0,
    which DOLPHOT treats as "not there" and falls back to the primary header."""
    if hdu.data is None or not len(hdu.data) or key not in hdu.columns.names:
        return None
    value = hdu.data[key][0]
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value if value != 0 else None
    return None


def _either(hdul: fits.HDUList, key: str, header: fits.Header | None = None,
            routine: str | None = None):
    """A keyword as DOLPHOT's C finds it, then where the C would find nothing.

    First, for the keywords the C reads with ``eitherstring`` / ``eitherdouble``
    (:data:`_TABLE_FIRST` of ``routine``), row 0 of the astrodrizzle table at the C's
    position (:func:`_c_table`); then the primary header. Beyond the C (which would stop
    with a format error or a 0): ``header`` (a SCI header), then row 0 of an HDRTAB
    anywhere. None if absent everywhere.
    """
    if routine is not None and key in _TABLE_FIRST.get(routine, ()):
        table = _c_table(hdul, routine, numeric=key in _READNSE)
        value = None if table is None else _row0(table, key)
        if value is not None:
            return value
    for head in (hdul[0].header, header):
        if head is not None and head.get(key) is not None:
            value = head[key]
            if not isinstance(value, fits.card.Undefined):
                return value
    for hdu in hdul[1:]:
        if (str(hdu.header.get("EXTNAME", "")).strip().upper() == "HDRTAB"
                and _is_table(hdu) and hdu.data is not None
                and len(hdu.data) and key in hdu.columns.names):
            value = hdu.data[key][0]
            if isinstance(value, bytes):
                value = value.decode("ascii", "replace")
            if isinstance(value, str):
                value = value.strip()
            elif hasattr(value, "item"):
                value = value.item()
            return None if value == "" else value
    return None


def _hst_check(hdul: fits.HDUList, path: str, routine: str) -> tuple[str, str]:
    primary = hdul[0].header
    want = "ACS" if routine == "acsmask" else "WFC3"
    tel = str(primary.get("TELESCOP", "")).strip().upper()
    inst = str(_either(hdul, "INSTRUME", routine=routine) or "").strip().upper()
    ftype = str(_either(hdul, "FILETYPE", routine=routine) or "SCI").strip().upper()
    if tel != "HST" or inst != want or ftype != "SCI":
        raise InputError(path, f"format error (FILETYPE={ftype}, TELESCOP={tel or '?'}, "
                               f"INSTRUME={inst or '?'}): not an HST {want} science file")
    return str(_either(hdul, "DETECTOR", routine=routine) or "").strip().upper(), \
        str(_either(hdul, "APERTURE", routine=routine) or "").strip().upper()


def _classify_hst(hdul: fits.HDUList, path: str, routine: str, options: MaskOptions
                  ) -> tuple[str, list[_HstChip]]:
    """(kind, chips): kind in flt, sub, drz; DOLPHOT's type numbers in the comments."""
    detector, aperture = _hst_check(hdul, path, routine)
    if classify_hdulist(hdul, path).product == "raw":
        raise InputError(path, f"a raw (uncalibrated) exposure: {routine} needs the "
                               "calibrated flt/flc (or drz/drc) file, in electrons")
    acs = routine == "acsmask"
    scis = _sci_indices(hdul)
    if not scis:
        raise InputError(path, "no SCI extension")
    if options.subarray is not None:
        if len(scis) > 1:
            log.warning("%s: forced subarray: only the first of %d SCI extensions is "
                        "prepared (DOLPHOT expects a single-chip image)", path, len(scis))
        return "sub", [_forced(hdul, path, routine, detector, scis[0], options.subarray)]
    names = {str(h.header.get("EXTNAME", "")).strip().upper() for h in hdul}
    if "WHT" in names or "CTX" in names:
        if detector in ("WFC", "UVIS"):
            return "drz", [_HstChip(scis[0], "WFC1" if acs else "UVIS1", -2, off_cards=False)]
        if detector in ("HRC", "IR"):
            return "drz", [_HstChip(scis[0], "HRC" if acs else "IR", -1, off_cards=False)]
        raise InputError(path, f"{routine}: unsupported detector {detector or '?'}")
    shapes = [_shape(hdul[i]) for i in scis]
    full = {"WFC": (2048, 4096), "UVIS": (2051, 4096)}.get(detector)
    if full is not None and len(scis) == 2 and all(s == full for s in shapes):  # tp 1
        chips = []
        for pos, i in enumerate(scis):
            ccd = hdul[i].header.get("CCDCHIP")
            number = int(ccd) if ccd in (1, 2) else (2 if pos == 0 else 1)
            chips.append(_HstChip(i, f"{'WFC' if acs else 'UVIS'}{number}", number))
        return "flt", chips
    if len(scis) == 1:
        table = _ACS_SUBARRAYS if acs else _UVIS_SUBARRAYS
        if detector in ("WFC", "UVIS") and aperture in table:  # tp 5 / 6
            chip, size, offset = table[aperture]
            if shapes[0] == size:
                return "sub", [_HstChip(scis[0], chip, int(chip[-1]), offset)]
        if acs and detector == "HRC" and (shapes[0] == (1024, 1024) or (
                aperture == "HRC-512" and shapes[0] == (512, 513))):  # tp 3
            return "flt", [_HstChip(scis[0], "HRC", 0)]
        if not acs and detector == "IR":
            if shapes[0] == (1014, 1014):
                return "flt", [_HstChip(scis[0], "IR", 0)]
            base = aperture.removesuffix("-FIX")
            if base in _IR_SUBARRAYS:
                n = int(base[len("IRSUB"):])
                if shapes[0] == (n, n):
                    off = _IR_SUBARRAYS[base]
                    return "sub", [_HstChip(scis[0], "IR", 0, (off, off))]
    what = "ACS" if acs else "WFC3"
    hint = "-wfc1sub=X,Y, -wfc2sub=X,Y or -hrcsub=X,Y" if acs else \
        "-uvis1sub=X,Y, -uvis2sub=X,Y or -irsub=X,Y"
    sizes = ", ".join("x".join(map(str, s[::-1])) for s in shapes)
    raise InputError(path, f"not {'an' if acs else 'a'} {what} file DOLPHOT recognises (DETECTOR={detector or '?'}, "
                           f"APERTURE={aperture or '?'}, SCI {sizes}); force a subarray "
                           f"with {hint}")


def _forced(hdul, path, routine, detector, sci, subarray) -> _HstChip:
    name, x, y = subarray
    chip = _FORCED[name]
    acs_chips = ("WFC1", "WFC2", "HRC")
    if (routine == "acsmask") != (chip in acs_chips):
        raise InputError(path, f"-{name}sub is not an option of {routine}")
    commanded = "HRC" if chip == "HRC" else "IR" if chip == "IR" else chip[:-1]
    if detector != commanded:
        log.warning("%s: detector is %s; %s was commanded", path, detector or "?", commanded)
    shape = _shape(hdul[sci])
    if len(shape) != 2:
        raise InputError(path, "primary image has third dimension" if len(shape) == 3
                         else "SCI is not a 2-D image")
    ny, nx = _CHIP_SIZE[chip]
    if x < 0 or y < 0 or x + shape[1] > nx or y + shape[0] > ny:
        raise InputError(path, f"subarray {shape[1]}x{shape[0]} at ({x},{y}) would fall "
                               f"outside {nx}x{ny} image")
    tag = {"WFC1": 1, "WFC2": 2, "HRC": 0, "UVIS1": 1, "UVIS2": 2, "IR": 0}[chip]
    return _HstChip(sci, chip, tag, (x, y), off_cards=chip != "HRC")


# --------------------------------------------------------------------------------------------
# HST plans
# --------------------------------------------------------------------------------------------


def _hst_plans(hdul: fits.HDUList, path: str, routine: str, options: MaskOptions,
               pam_dir) -> tuple[list[ChipPlan], str]:
    kind, chips = _classify_hst(hdul, path, routine, options)
    primary = hdul[0].header
    acs = routine == "acsmask"
    exptime = (float(options.exptime) if options.exptime and options.exptime > 0
               else _number(primary, "EXPTIME", path, "primary header"))
    ncombine, nc_note = _ncombine(hdul, path, acs, options)
    epoch = _epoch(primary, path)
    plans = []
    for chip in chips:
        sci_hdu = hdul[chip.sci]
        # flt: the memory-mapped SCI, read block by block (no whole-image copy)
        sci = _image(sci_hdu, path, f"SCI,{_extver(sci_hdu)}")
        history = [nc_note] if nc_note else []
        rn = _hst_read_noise(hdul, path, routine, chip, kind, history)
        if kind == "drz":
            prepared, mult = _drz(hdul, path, chip, _float32(sci), exptime, options, acs)
            history.append(f"drizzled: x EXPTIME/{mult:g} ({exptime:g} s), bad from "
                           + ("WHT <= 0" if options.usewht else "CTX == 0 in every plane"))
            if options.dq_bad:
                history.append(f"--dq-bad {options.dq_bad} not applied: a drizzled image "
                               "has no DQ")
        else:
            prepared = _flt(hdul, path, chip, sci, exptime, options, acs, pam_dir, history)
        cards = alg.CardValues(gain=1.0, rdnoise=rn * np.sqrt(ncombine), exptime=exptime,
                               badpix=prepared.badpix, saturate=prepared.saturate, epoch=epoch,
                               airmass=0.0, exptime0=exptime / ncombine)
        tag = (TAGS[routine], chip.tag, _HST_TAG_COMMENT[routine])
        offset = chip.offset if chip.off_cards else (0, 0)
        per_second = kind == "drz" or chip.chip == "IR"
        head = _sci_header(sci_hdu.header, "ELECTRONS" if per_second else None)
        plans.append(ChipPlan(head, prepared, cards, tag, offset, history, chip.chip))
    return plans, f"{kind} {'+'.join(c.chip for c in chips)}"


def _ncombine(hdul, path, acs: bool, options: MaskOptions) -> tuple[int, str]:
    if options.ncombine and options.ncombine > 0:
        return int(options.ncombine), f"NCOMBINE {int(options.ncombine)} from -ncombine"
    if acs:
        n = 1
        for key in ("NRPTEXP", "CRSPLIT"):
            value = _either(hdul, key)
            n *= int(value) if isinstance(value, (int, float)) and value >= 1 else 1
        return n, f"NCOMBINE {n} = NRPTEXP * CRSPLIT"
    scis = _sci_indices(hdul)
    value = _either(hdul, "NCOMBINE", hdul[scis[0]].header if scis else None)
    if not isinstance(value, (int, float)) or value < 1:
        return 1, "NCOMBINE not found or < 1; assuming data came from single image"
    return int(value), ""


def _hst_read_noise(hdul, path, routine: str, chip: _HstChip, kind: str,
                    history: list[str]) -> float:
    primary = hdul[0].header
    sci_header = hdul[chip.sci].header
    if chip.chip == "IR" and isinstance(primary.get("NSAMP"), int) and primary["NSAMP"] >= 2:
        rn = alg.wfc3_ir_read_noise(primary["NSAMP"])
        history.append(f"read noise {rn:.6g} e- from NSAMP={primary['NSAMP']} (DOLPHOT 3.1)")
        return rn
    readnse = {k: _either(hdul, k, sci_header, routine) for k in sorted(_READNSE)}
    ccdamp = _either(hdul, "CCDAMP", sci_header, routine)
    if ccdamp is None:
        raise InputError(path, "missing keyword CCDAMP (primary, SCI header or HDRTAB)")
    try:
        return alg.hst_read_noise(str(ccdamp),
                                  readnse, None if kind == "drz" else chip.chip)
    except ValueError as exc:
        raise InputError(path, f"format error: {exc}") from None


def _flt(hdul, path, chip: _HstChip, sci, exptime, options, acs, pam_dir, history
         ) -> alg.Prepared:
    sci_hdu = hdul[chip.sci]
    ver = _extver(sci_hdu)
    dq_index = _find(hdul, "DQ", ver)
    if dq_index is None or hdul[dq_index].data is None:
        raise InputError(path, f"missing extension DQ,{ver}")
    dq = hdul[dq_index].data
    if not np.issubdtype(dq.dtype, np.integer):
        raise InputError(path, f"DQ,{ver} must be integer, got {dq.dtype}")
    if dq.shape != sci.shape:
        raise InputError(path, f"data quality image does not match primary image size "
                               f"(DQ,{ver} {dq.shape} vs SCI {sci.shape})")
    read = row_reader(hdul, dq_index)  # a plain read: no memory map left resident
    dq = read(0, dq.shape[0]) if read is not None else np.asarray(dq)
    what = "ACS" if acs else ("WFC3/IR" if chip.chip == "IR" else "WFC3/UVIS")
    extra = dq_bad_bits(path, options.dq_bad,
                        table_for("HST", "ACS" if acs else "WFC3", chip.chip), what)
    if extra:
        history.append(f"--dq-bad {options.dq_bad}: DQ & {extra} is bad too "
                       "(not a DOLPHOT rule)")
    if acs:
        dq_bad, dq_sat = alg.acs_dq_masks(dq, masksat=not options.keepsat,
                                          maskcr=not options.keepcr, extra_bad=extra)
    else:
        dq_bad, dq_sat = alg.wfc3_dq_masks(dq, ir=chip.chip == "IR", masksat=not options.keepsat,
                                           maskcr=not options.keepcr, maskflat=options.maskflat,
                                           extra_bad=extra)
    goodmin = _number(sci_hdu.header, "GOODMIN", path, f"SCI,{ver} header")
    goodmax = _number(sci_hdu.header, "GOODMAX", path, f"SCI,{ver} header")
    partner = None
    if chip.chip == "UVIS1" and chip.offset == (0, 0):  # full frame: UVIS2 header for the norm
        partner = next((hdul[i].header for i in _sci_indices(hdul)
                        if i != chip.sci and hdul[i].header.get("CCDCHIP") == 2), None)
    mult = (alg.ACS_CTMULT if acs else alg.WFC3_CTMULT)[chip.chip]
    ir = chip.chip == "IR"
    if ir and not exptime > 0:
        raise InputError(path, f"EXPTIME {exptime} is not positive (IR data are e-/s)")
    with contextlib.ExitStack() as stack:
        pam, pam_note = _pam(path, sci_hdu.header, chip, sci.shape, pam_dir, partner, stack)
        history.append(pam_note)
        # SCI and PAM read block by block from the files; the values made big-endian
        # float32, written to FITS as they are (no byte-swapping pass at write)
        prepared = alg.hst_flt_prepare(_RowSource.of(hdul, chip.sci, sci), dq_bad, dq_sat,
                                       pam, goodmin=goodmin,
                                       goodmax=goodmax, mult=mult,
                                       masksat=not options.keepsat,
                                       exptime_mult=exptime if ir else None,
                                       out=np.empty(sci.shape, dtype=">f4"))
    history.append(f"GOODMIN {goodmin:g} GOODMAX {goodmax:g}; x PAM/{mult:g}"
                   + (f" x EXPTIME {exptime:g}" if ir else ""))
    return prepared


def _drz(hdul, path, chip: _HstChip, sci, exptime, options, acs):
    if not exptime > 0:
        raise InputError(path, f"EXPTIME {exptime} is not positive; give -exptime=#")
    ver = _extver(hdul[chip.sci])
    mult = (alg.ACS_CTMULT if acs else alg.WFC3_CTMULT)[chip.chip]
    ctx = wht = None
    if options.usewht:
        i = _find(hdul, "WHT", ver)
        if i is None:
            raise InputError(path, f"-usewht given but no WHT,{ver} extension")
        wht = _float32(_image(hdul[i], path, "WHT"))
        _same_shape(path, sci, wht, "WHT")
    else:
        i = _find(hdul, "CTX", ver)
        if i is None or hdul[i].data is None:
            raise InputError(path, f"no CTX,{ver} extension; give -usewht to use WHT")
        ctx = np.asarray(hdul[i].data)
        if not np.issubdtype(ctx.dtype, np.integer):
            ctx = np.floor(ctx.astype(np.float64) + 0.5).astype(np.int64)
        if ctx.shape[-2:] != sci.shape:
            raise InputError(path, f"CTX shape {ctx.shape} does not match SCI {sci.shape}")
    try:
        prepared = alg.hst_drz_prepare(sci, factor=exptime / mult, ctx=ctx, wht=wht,
                                       usewht=options.usewht)
    except ValueError as exc:
        raise InputError(path, str(exc)) from None
    return prepared, mult


# --------------------------------------------------------------------------------------------
# Pixel-area maps
# --------------------------------------------------------------------------------------------


class _RowSource:
    """A float32 image (or a cut of one) read a block of rows at a time: ``.shape`` and
    ``source[rows]`` (a row slice), as :func:`alg.hst_flt_prepare` reads SCI and PAM.

    Rows come from plain file reads (``io.fits.row_reader``), so a full-frame chip never
    becomes resident through a memory map; each block is decoded as astropy decodes it and
    rounded to float32 (the PAM as DOLPHOT reads it; SCI as the algorithm wants it).
    """

    def __init__(self, read: Callable[[int, int], np.ndarray], rows: tuple[int, int],
                 cols: tuple[int, int]):
        self._read, self._row0, self._cols = read, rows[0], slice(*cols)
        self.shape = (rows[1] - rows[0], cols[1] - cols[0])

    @classmethod
    def of(cls, hdul: fits.HDUList, index: int, data: np.ndarray,
           rows: tuple[int, int] | None = None, cols: tuple[int, int] | None = None):
        """Rows ``rows`` x columns ``cols`` of HDU ``index`` (default all of ``data``),
        read from the file; ``data[...]`` as float32 when the file cannot be read so
        (scaled or compressed data)."""
        rows = rows or (0, data.shape[0])
        cols = cols or (0, data.shape[1])
        read = row_reader(hdul, index)
        if read is None:
            cut = data[rows[0]:rows[1], cols[0]:cols[1]]
            return cut if cut.dtype == np.float32 else np.asarray(cut, dtype=np.float32)
        return cls(read, rows, cols)

    def __getitem__(self, rows: slice) -> np.ndarray:
        start, stop, _ = rows.indices(self.shape[0])
        block = self._read(self._row0 + start, self._row0 + stop)[:, self._cols]
        return np.asarray(block, dtype=np.float32)


def _pam(path: str, header: fits.Header, chip: _HstChip, shape: tuple[int, int], pam_dir,
         partner: fits.Header | None, stack: contextlib.ExitStack) -> tuple[np.ndarray, str]:
    """PAM for one chip (``shape``) from DOLPHOT's data directory or from SIP.

    From ``pam_dir`` the map is the memory-mapped float32 image of the PAM file (any byte
    order), valid while ``stack`` keeps that file open; from SIP a native float32 array.
    """
    if pam_dir is not None:
        pam_path = os.path.join(os.fspath(pam_dir), _PAM_FILES[chip.chip])
        ph = stack.enter_context(open_fits(pam_path))
        hdu = next((h for h in ph if h.data is not None and h.data.ndim == 2), None)
        if hdu is None:
            raise InputError(path, f"error in PAM file {pam_path}: no 2-D image")
        data = hdu.data
        x, y = chip.offset
        if data.shape[0] < y + shape[0] or data.shape[1] < x + shape[1]:
            raise InputError(path, f"error in PAM file {pam_path}: "
                                   f"{data.shape[1]}x{data.shape[0]} is smaller than the "
                                   f"image {shape[1]}x{shape[0]} at offset ({x},{y})")
        pam = _RowSource.of(ph, ph.index(hdu), data, (y, y + shape[0]), (x, x + shape[1]))
        return pam, f"pixel area from {pam_path} at offset {chip.offset}"
    return _sip_pam(path, header, chip, shape, partner)


def _wcs_terms(path: str, header: fits.Header):
    try:
        crpix = (float(header["CRPIX1"]), float(header["CRPIX2"]))
        cd = np.array([[float(header.get("CD1_1", 0.0)), float(header.get("CD1_2", 0.0))],
                       [float(header.get("CD2_1", 0.0)), float(header.get("CD2_2", 0.0))]])
    except (KeyError, TypeError, ValueError):
        raise InputError(path, "no {pam_dir} given and the SCI header has no CRPIX/CD WCS "
                               "to compute the pixel area from", mentions=("pam_dir",)) from None
    if not np.linalg.det(cd):
        raise InputError(path, "no {pam_dir} given and the SCI header CD matrix is singular",
                         mentions=("pam_dir",))
    return crpix, cd, _sip_coeffs(header, "A"), _sip_coeffs(header, "B")


def _sip_pam(path: str, header: fits.Header, chip: _HstChip, shape: tuple[int, int],
             partner: fits.Header | None = None) -> tuple[np.ndarray, str]:
    """PAM from the SIP distortion, normalised as the STScI/DOLPHOT maps (see docs)."""
    crpix, cd, a, b = _wcs_terms(path, header)
    scale = alg.HST_NOMINAL_SCALE[chip.chip]
    sip = f"SIP order {header.get('A_ORDER')}" if a else "CD matrix only (no SIP)"
    if scale is not None:
        pam = alg.sip_pixel_area(shape, crpix, cd, a, b, nominal_scale=scale)
        norm = f"({scale} arcsec)^2 pixels"
    else:
        if chip.chip == "UVIS1" and partner is not None:
            _, x, y = alg.WFC3_PAM_REFERENCE["UVIS2"]
            ref = alg.sip_area_at(x, y, *_wcs_terms(path, partner))
            norm = f"UVIS2 pixel ({x:g}, {y:g}) of the UVIS2 chip header"
        else:
            name, x, y = alg.WFC3_PAM_REFERENCE[chip.chip]
            ref = alg.sip_area_at(x - chip.offset[0], y - chip.offset[1], crpix, cd, a, b)
            norm = f"{name} full-chip pixel ({x:g}, {y:g})"
        pam = alg.sip_pixel_area(shape, crpix, cd, a, b, reference_area=ref)
    return pam, (f"pixel area computed from the image's own WCS ({sip}), relative to {norm}; "
                 "no --pam-dir given")


def _sip_coeffs(header: fits.Header, which: str) -> dict[tuple[int, int], float]:
    order = header.get(f"{which}_ORDER")
    if not isinstance(order, int):
        return {}
    out = {}
    for p in range(order + 1):
        for q in range(order + 1 - p):
            value = header.get(f"{which}_{p}_{q}")
            if isinstance(value, (int, float)) and value:
                out[(p, q)] = float(value)
    return out


# --------------------------------------------------------------------------------------------
# splitgroups (§5)
# --------------------------------------------------------------------------------------------

_STRUCTURAL = {"SIMPLE", "XTENSION", "BITPIX", "NAXIS", "EXTEND", "NEXTEND", "PCOUNT",
               "GCOUNT", "END", "BSCALE", "BZERO", "BLANK", "GROUPS"}
_COMMENTARY = {"HISTORY", "COMMENT", ""}


def split_name(path: str | os.PathLike) -> str:
    """The ``<base>`` of ``<base>.chip<N>.fits``: the name without ``.fits`` / ``.fits.gz``.

    Raises
    ------
    InputError
        The name does not end in ``.fits`` or ``.fits.gz`` (case-insensitive).
    """
    path = os.fspath(path)
    low = path.lower()
    for ext in (".fits.gz", ".fits"):
        if low.endswith(ext) and len(os.path.basename(path)) > len(ext):
            return path[: -len(ext)]
    raise InputError(path, "does not have a .fits extension; skipping")


def _structural(key: str) -> bool:
    return key in _STRUCTURAL or (key.startswith("NAXIS") and key[5:].isdigit())


def _merged_header(primary: fits.Header, ext: fits.Header) -> fits.Header:
    """Primary cards (values replaced by the extension's) then extension-only cards."""
    out = fits.Header()
    out["SIMPLE"] = (True, "conforms to FITS standard")
    out["BITPIX"] = ext["BITPIX"]
    out["NAXIS"] = ext["NAXIS"]
    for k in range(1, int(ext["NAXIS"]) + 1):
        out[f"NAXIS{k}"] = ext[f"NAXIS{k}"]
    out["EXTEND"] = (False, "There are no standard extensions")
    for key in ("BSCALE", "BZERO", "BLANK"):
        if key in ext:
            out.append(fits.Card(key, ext[key], ext.comments[key]))
    ext_cards: dict[str, fits.Card] = {}
    for card in ext.cards:
        if card.keyword not in _COMMENTARY and not _structural(card.keyword):
            ext_cards.setdefault(card.keyword, card)
    used: set[str] = set()
    for card in primary.cards:
        key = card.keyword
        if _structural(key):
            continue
        if key not in _COMMENTARY and key in ext_cards:
            if key in used:
                continue
            used.add(key)
            card = ext_cards[key]
        out.append(_copy_card(card), end=True)
    for card in ext.cards:
        key = card.keyword
        if _structural(key) or (key not in _COMMENTARY and key in used):
            continue
        if key not in _COMMENTARY:
            used.add(key)
        out.append(_copy_card(card), end=True)
    return out


def _copy_card(card: fits.Card) -> fits.Card:
    """A copy keeping the card image byte for byte (long strings keep their CONTINUEs)."""
    return fits.Card.fromstring(card.image)


def _has_image(hdu) -> bool:
    header = hdu.header
    if "XTENSION" in header and str(header["XTENSION"]).strip().upper() != "IMAGE":
        return False
    n = int(header.get("NAXIS", 0))
    return n > 0 and all(int(header.get(f"NAXIS{k}", 0)) > 0 for k in range(1, n + 1))


def splitgroups(path: str | os.PathLike, output_dir: str | os.PathLike | None = None, *,
                dry_run: bool = False) -> SplitResult:
    """Write ``<base>.chip<N>.fits`` for every image HDU with data (N = 1-based position).

    Each output is one primary HDU: the extension's data bytes copied unchanged (same
    BITPIX, BSCALE, BZERO) under the primary cards (values replaced by same-named extension
    cards, in the primary's order) followed by the extension-only cards. ``chip0`` holds the
    primary image when it has data. Tables (and non-image extensions) are not split.
    The input is never modified; outputs are written atomically and replace old ones.

    Returns
    -------
    SplitResult
        The files written (or that would be, with ``dry_run``).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(path, "no such file")
    base = split_name(path)
    if output_dir is not None:
        os.makedirs(output_dir, exist_ok=True)
        base = os.path.join(os.fspath(output_dir), os.path.basename(base))
    with open_fits(path) as hdul:
        primary = hdul[0].header
        jobs: list[tuple[str, fits.Header, int, int]] = []
        for i, hdu in enumerate(hdul):
            if not _has_image(hdu):
                continue
            info = hdul.fileinfo(i)
            header = hdu.header.copy() if i == 0 else _merged_header(primary, hdu.header)
            if i == 0:
                header["EXTEND"] = (False, "There are no standard extensions")
                header.remove("NEXTEND", ignore_missing=True)
            jobs.append((f"{base}.chip{i}.fits", header, info["datLoc"], info["datSpan"]))
    if not jobs:
        raise InputError(path, "no image extension with data to split")
    for out, *_ in jobs:
        refuse_output_is_input(out, [path], "rename the input or write to another folder")
    if dry_run:
        return SplitResult(path, tuple(j[0] for j in jobs), dry_run=True)
    with _raw_reader(path) as read:
        for out, header, loc, span in jobs:
            add_provenance(header, "splitgroups", {"source": os.path.basename(path)})
            with atomic_output(out) as fh:
                fh.write(header.tostring().encode("ascii"))
                written = _copy_range(read, loc, span, fh)
                pad = (-written) % 2880
                if pad:
                    fh.write(b"\0" * pad)
            log.debug("%s: wrote %s", path, out)
    return SplitResult(path, tuple(j[0] for j in jobs))


_CHUNK = 4 << 20


def _copy_range(read: Callable[[int, int], bytes], loc: int, span: int, fh) -> int:
    """Copy bytes ``loc:loc + span`` of the input to ``fh`` in 4 MiB pieces (a chip is
    never held whole); the number of bytes copied (fewer if the file ends early)."""
    written = 0
    while written < span:
        piece = read(loc + written, min(_CHUNK, span - written))
        if not piece:
            break
        fh.write(piece)
        written += len(piece)
    return written


class _raw_reader:  # noqa: N801 - used as a context manager factory
    """Read raw byte ranges of the (decompressed) file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fh: io.BufferedReader | None = None
        self._raw: bytes | None = None

    def __enter__(self) -> Callable[[int, int], bytes]:
        if self.path.lower().endswith(".gz"):
            with gzip.open(self.path, "rb") as gz:
                raw = self._raw = gz.read()
            return lambda loc, span: raw[loc:loc + span]
        fh = self._fh = open(self.path, "rb")  # noqa: SIM115

        def read(loc: int, span: int) -> bytes:
            fh.seek(loc)
            return fh.read(span)

        return read

    def __exit__(self, *exc) -> None:
        if self._fh is not None:
            self._fh.close()
