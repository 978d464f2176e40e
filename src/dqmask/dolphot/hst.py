"""``acsmask`` / ``wfc3mask`` on a file: an HST FLT/FLC or drizzled image to DOLPHOT's layout.

Works out what the file is the way DOLPHOT's C does (full frame, subarray by APERTURE or
forced, drizzled), reads keywords where the C reads them (astrodrizzle table row 0 first
for some), reads SCI, DQ and the pixel area (a PAM file from ``--pam-dir``, or
:mod:`.pixel_area` from the SIP header) and prepares each chip with :mod:`.hst_core`,
returning the :class:`~.plans.ChipPlan` list :mod:`.files` writes. Imports nothing JWST.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from ..errors import InputError
from ..flags import table_for
from ..io.files import file_identity
from ..io.fits import classify_hdulist, open_fits, row_reader
from . import core as alg
from . import hst_core
from .pixel_area import sip_area_at, sip_pixel_area
from .plans import (
    TAGS,
    ChipPlan,
    MaskOptions,
    dq_bad_bits,
    epoch_of,
    extver,
    float32,
    image,
    number,
    same_shape,
    sci_header,
)

__all__ = ["plans"]

log = logging.getLogger(__name__)

_HST_TAG_COMMENT = {"acsmask": "DOLPHOT ACS tag", "wfc3mask": "DOLPHOT WFC3 tag"}


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


def _find(hdul: fits.HDUList, name: str, ver: int) -> int | None:
    for i, hdu in enumerate(hdul):
        if str(hdu.header.get("EXTNAME", "")).strip().upper() == name and extver(hdu) == ver:
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


def plans(hdul: fits.HDUList, path: str, routine: str, options: MaskOptions,
               pam_dir) -> tuple[list[ChipPlan], str]:
    """The plans of the science chips of an HST file, and what the file is."""
    kind, chips = _classify_hst(hdul, path, routine, options)
    primary = hdul[0].header
    acs = routine == "acsmask"
    exptime = (float(options.exptime) if options.exptime and options.exptime > 0
               else number(primary, "EXPTIME", path, "primary header"))
    ncombine, nc_note = _ncombine(hdul, path, acs, options)
    epoch = epoch_of(primary, path)
    parts: list[tuple[fits.Header, alg.CardValues, tuple[str, int, str], tuple[int, int],
                      list[str], str]] = []
    ready: dict[int, alg.Prepared] = {}  # drizzled chips, prepared at once
    pending: dict[int, Callable[[], alg.Prepared]] = {}  # FLT chips' pixel work
    for chip in chips:
        sci_hdu = hdul[chip.sci]
        # flt: the memory-mapped SCI, read block by block (no whole-image copy)
        sci = image(sci_hdu, path, f"SCI,{extver(sci_hdu)}")
        history = [nc_note] if nc_note else []
        rn = _hst_read_noise(hdul, path, routine, chip, kind, history)
        if kind == "drz":
            ready[len(parts)], mult = _drz(hdul, path, chip, float32(sci), exptime, options,
                                           acs)
            history.append(f"drizzled: x EXPTIME/{mult:g} ({exptime:g} s), bad from "
                           + ("WHT <= 0" if options.usewht else "CTX == 0 in every plane"))
            if options.dq_bad:
                history.append(f"--dq-bad {options.dq_bad} not applied: a drizzled image "
                               "has no DQ")
        else:  # the pixel work below, once every chip is read and checked
            pending[len(parts)] = _flt(hdul, path, chip, sci, exptime, options, acs, pam_dir,
                                       history)
        cards = alg.CardValues(gain=1.0, rdnoise=rn * np.sqrt(ncombine), exptime=exptime,
                               badpix=0.0, saturate=0.0, epoch=epoch,
                               airmass=0.0, exptime0=exptime / ncombine)
        tag = (TAGS[routine], chip.tag, _HST_TAG_COMMENT[routine])
        offset = chip.offset if chip.off_cards else (0, 0)
        per_second = kind == "drz" or chip.chip == "IR"
        head = sci_header(sci_hdu.header, "ELECTRONS" if per_second else None)
        parts.append((head, cards, tag, offset, history, chip.chip))
    ready.update(zip(pending, _run_all(list(pending.values())), strict=True))
    plans = []
    for index, (head, cards, tag, offset, history, label) in enumerate(parts):
        prepared = ready[index]
        cards = dataclasses.replace(cards, badpix=prepared.badpix, saturate=prepared.saturate)
        plans.append(ChipPlan(head, prepared, cards, tag, offset, history, label))
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
        rn = hst_core.wfc3_ir_read_noise(primary["NSAMP"])
        history.append(f"read noise {rn:.6g} e- from NSAMP={primary['NSAMP']} (DOLPHOT 3.1)")
        return rn
    readnse = {k: _either(hdul, k, sci_header, routine) for k in sorted(_READNSE)}
    ccdamp = _either(hdul, "CCDAMP", sci_header, routine)
    if ccdamp is None:
        raise InputError(path, "missing keyword CCDAMP (primary, SCI header or HDRTAB)")
    try:
        return hst_core.hst_read_noise(str(ccdamp),
                                  readnse, None if kind == "drz" else chip.chip)
    except ValueError as exc:
        raise InputError(path, f"format error: {exc}") from None


def _flt(hdul, path, chip: _HstChip, sci, exptime, options, acs, pam_dir, history
         ) -> Callable[[], alg.Prepared]:
    """Check and read what one FLT chip needs from ``hdul`` (headers, HDU positions; an
    InputError before any pixel work) and return the pixel work itself: a function doing
    the DQ rules and :func:`.hst_core.hst_flt_prepare` from plain file reads and numpy
    only, so that the chips of a file can run in threads (:func:`_run_all`)."""
    sci_hdu = hdul[chip.sci]
    ver = extver(sci_hdu)
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
    rows = dq.shape[0]
    held = None if read is not None else np.asarray(dq)  # scaled/compressed: decoded here
    what = "ACS" if acs else ("WFC3/IR" if chip.chip == "IR" else "WFC3/UVIS")
    extra = dq_bad_bits(path, options.dq_bad,
                        table_for("HST", "ACS" if acs else "WFC3", chip.chip), what)
    if extra:
        history.append(f"--dq-bad {options.dq_bad}: DQ & {extra} is bad too "
                       "(not a DOLPHOT rule)")
    goodmin = number(sci_hdu.header, "GOODMIN", path, f"SCI,{ver} header")
    goodmax = number(sci_hdu.header, "GOODMAX", path, f"SCI,{ver} header")
    partner = None
    if chip.chip == "UVIS1" and chip.offset == (0, 0):  # full frame: UVIS2 header for the norm
        partner = next((hdul[i].header for i in _sci_indices(hdul)
                        if i != chip.sci and hdul[i].header.get("CCDCHIP") == 2), None)
    mult = (hst_core.ACS_CTMULT if acs else hst_core.WFC3_CTMULT)[chip.chip]
    ir = chip.chip == "IR"
    if ir and not exptime > 0:
        raise InputError(path, f"EXPTIME {exptime} is not positive (IR data are e-/s)")
    pam, pam_note = _pam(path, sci_hdu.header, chip, sci.shape, pam_dir, partner)
    history.append(pam_note)
    history.append(f"GOODMIN {goodmin:g} GOODMAX {goodmax:g}; x PAM/{mult:g}"
                   + (f" x EXPTIME {exptime:g}" if ir else ""))
    source = _RowSource.of(hdul, chip.sci, sci)

    def work() -> alg.Prepared:
        flags = held if held is not None else read(0, rows)  # type: ignore[misc]  # one is set
        if acs:
            dq_bad, dq_sat = hst_core.acs_dq_masks(flags, masksat=not options.keepsat,
                                                   maskcr=not options.keepcr, extra_bad=extra)
        else:
            dq_bad, dq_sat = hst_core.wfc3_dq_masks(flags, ir=ir, masksat=not options.keepsat,
                                                    maskcr=not options.keepcr,
                                                    maskflat=options.maskflat,
                                                    extra_bad=extra)
        del flags
        # SCI and PAM read a strip at a time from the files; the values made big-endian
        # float32, written to FITS as they are (no byte-swapping pass at write)
        return hst_core.hst_flt_prepare(source, dq_bad, dq_sat, pam, goodmin=goodmin,
                                        goodmax=goodmax, mult=mult,
                                        masksat=not options.keepsat,
                                        exptime_mult=exptime if ir else None,
                                        out=np.empty(sci.shape, dtype=">f4"))

    return work


def _run_all(works: list[Callable[[], alg.Prepared]]) -> list[alg.Prepared]:
    """Run the chips' pixel work, in threads when there are several chips and cores.

    numpy and file reads release the GIL, so the two chips of a full-frame WFC/UVIS file
    overlap on two cores; each chip's numbers are the same as in one thread (the chips share
    no array). An exception of any chip is raised here, as it would be in a loop.
    """
    workers = min(len(works), os.cpu_count() or 1)
    if workers <= 1:
        return [work() for work in works]
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda work: work(), works))


def _drz(hdul, path, chip: _HstChip, sci, exptime, options, acs):
    if not exptime > 0:
        raise InputError(path, f"EXPTIME {exptime} is not positive; give -exptime=#")
    ver = extver(hdul[chip.sci])
    mult = (hst_core.ACS_CTMULT if acs else hst_core.WFC3_CTMULT)[chip.chip]
    ctx = wht = None
    if options.usewht:
        i = _find(hdul, "WHT", ver)
        if i is None:
            raise InputError(path, f"-usewht given but no WHT,{ver} extension")
        wht = float32(image(hdul[i], path, "WHT"))
        same_shape(path, sci, wht, "WHT")
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
        prepared = hst_core.hst_drz_prepare(sci, factor=exptime / mult, ctx=ctx, wht=wht,
                                       usewht=options.usewht)
    except ValueError as exc:
        raise InputError(path, str(exc)) from None
    return prepared, mult


# --------------------------------------------------------------------------------------------
# Pixel-area maps
# --------------------------------------------------------------------------------------------


#: Pixels read from a file at a time (4 MiB of float32) by :class:`_RowSource`.
STRIP = 1 << 20


class _RowSource:
    """A float32 image (or a cut of one) read a block of rows at a time: ``.shape`` and
    ``source[rows]`` (a row slice), as :func:`.hst_core.hst_flt_prepare` reads SCI and PAM.

    Rows come from plain file reads (``io.fits.row_reader``), so a full-frame chip never
    becomes resident through a memory map; each block is decoded as astropy decodes it and
    rounded to float32 (the PAM as DOLPHOT reads it; SCI as the algorithm wants it). The
    file is read a strip of about :data:`STRIP` pixels at a time (one open and read per
    strip, not per block) and the blocks are cut from the strip held.
    """

    def __init__(self, read: Callable[[int, int], np.ndarray], rows: tuple[int, int],
                 cols: tuple[int, int]):
        self._read, self._row0, self._cols = read, rows[0], slice(*cols)
        self.shape = (rows[1] - rows[0], cols[1] - cols[0])
        self._strip_rows = max(1, STRIP // max(self.shape[1], 1))
        self._held: tuple[int, int, np.ndarray] | None = None  # (start, stop, rows)

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
        held = self._held
        if held is None or not (held[0] <= start and stop <= held[1]):
            end = min(self.shape[0], max(stop, start + self._strip_rows))
            strip = self._read(self._row0 + start, self._row0 + end)[:, self._cols]
            held = self._held = (start, end, np.asarray(strip, dtype=np.float32))
        return held[2][start - held[0]:stop - held[0]]


@dataclass(frozen=True)
class _PamFile:
    """A pixel-area-map file, opened and checked once: where its 2-D image is.

    ``read`` reads rows of it from the file (:func:`io.fits.row_reader`); ``data`` holds the
    decoded float32 image instead when the file cannot be read so (compressed, scaled).
    """

    shape: tuple[int, int]
    read: Callable[[int, int], np.ndarray] | None
    data: np.ndarray | None


#: PAM files already opened in this process, by (path, device, inode, size, mtime): a
#: DOLPHOT call on many files reads the same few maps, so each is opened and checked once.
_PAM_FILES_OPEN: dict[tuple, _PamFile] = {}


def _pam_file(path: str, pam_path: str) -> _PamFile:
    """The PAM file at ``pam_path`` (cached while it is unchanged); InputError naming the
    input ``path`` when it holds no 2-D image."""
    try:
        st = os.stat(pam_path)
        key: tuple = (pam_path, *file_identity(st))
    except OSError:
        key = ()  # open_fits says what is wrong
    cached = _PAM_FILES_OPEN.get(key) if key else None
    if cached is not None:
        return cached
    with open_fits(pam_path) as ph:
        hdu = next((h for h in ph if h.data is not None and h.data.ndim == 2), None)
        if hdu is None:
            raise InputError(path, f"error in PAM file {pam_path}: no 2-D image")
        read = row_reader(ph, ph.index(hdu))
        data = None if read is not None else np.array(hdu.data, dtype=np.float32)
        found = _PamFile((int(hdu.data.shape[0]), int(hdu.data.shape[1])), read, data)
    if key:
        _PAM_FILES_OPEN[key] = found
    return found


def _pam(path: str, header: fits.Header, chip: _HstChip, shape: tuple[int, int], pam_dir,
         partner: fits.Header | None) -> tuple[np.ndarray | hst_core.RowSource, str]:
    """PAM for one chip (``shape``) from DOLPHOT's data directory or from SIP.

    From ``pam_dir`` the rows of the PAM file under the chip, read a strip at a time
    (:class:`_RowSource`); from SIP a native float32 array.
    """
    if pam_dir is not None:
        pam_path = os.path.join(os.fspath(pam_dir), _PAM_FILES[chip.chip])
        pam_file = _pam_file(path, pam_path)
        (ny, nx), (x, y) = pam_file.shape, chip.offset
        if ny < y + shape[0] or nx < x + shape[1]:
            raise InputError(path, f"error in PAM file {pam_path}: "
                                   f"{nx}x{ny} is smaller than the "
                                   f"image {shape[1]}x{shape[0]} at offset ({x},{y})")
        rows, cols = (y, y + shape[0]), (x, x + shape[1])
        pam: np.ndarray | hst_core.RowSource
        if pam_file.read is not None:
            pam = _RowSource(pam_file.read, rows, cols)
        else:
            assert pam_file.data is not None  # one of the two is set
            pam = pam_file.data[rows[0]:rows[1], cols[0]:cols[1]]
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
    scale = hst_core.HST_NOMINAL_SCALE[chip.chip]
    sip = f"SIP order {header.get('A_ORDER')}" if a else "CD matrix only (no SIP)"
    if scale is not None:
        pam = sip_pixel_area(shape, crpix, cd, a, b, nominal_scale=scale)
        norm = f"({scale} arcsec)^2 pixels"
    else:
        if chip.chip == "UVIS1" and partner is not None:
            _, x, y = hst_core.WFC3_PAM_REFERENCE["UVIS2"]
            ref = sip_area_at(x, y, *_wcs_terms(path, partner))
            norm = f"UVIS2 pixel ({x:g}, {y:g}) of the UVIS2 chip header"
        else:
            name, x, y = hst_core.WFC3_PAM_REFERENCE[chip.chip]
            ref = sip_area_at(x - chip.offset[0], y - chip.offset[1], crpix, cd, a, b)
            norm = f"{name} full-chip pixel ({x:g}, {y:g})"
        pam = sip_pixel_area(shape, crpix, cd, a, b, reference_area=ref)
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

