"""JWST ``dq_init`` on plain arrays: DQ_DEF mapping, subarray/stripe matching, the flag OR.

Pure functions, no I/O. They reproduce ``jwst.dq_init`` (jwst 3.0) and the helpers it calls
(``jwst.lib.reffile_utils``, ``jwst.lib.stripe_utils``, ``stdatamodels.dynamicdq``) with the
same results, warning texts and error texts: the DQ_DEF mapping, the subarray and stripe
matching, the OR into PIXELDQ/GROUPDQ, and the NIRSpec IRS2 shapes. ``docs/dqinit.md``
("What it does") walks through the same steps for users.

Mask conventions of the arrays handled here
-------------------------------------------
* ``dq`` *standard*: uint32 JWST pixel flags (``flags.JWST_PIXEL``); PIXELDQ, DQ, the
  in-memory MASK ``DQ`` after decompression, user DQ.
* ``dq`` *compressed*: uint32 bit values whose meaning is given by DQ_DEF rows (a MASK file's
  ``DQ`` extension on disk). Only :func:`decompress_dq` / :func:`compress_dq` cross between
  the two; nothing else accepts compressed values.
* GROUPDQ: uint8 JWST group flags (``flags.JWST_GROUP``); dq_init only ever sets bit 0.

Messages go to the ``dqmask.dq_init`` logger with upstream's exact wording; errors are
``ValueError`` with upstream's exact text.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import numpy as np

from ..errors import UserDqError, UserDqShapeError
from ..flags import JWST_PIXEL

__all__ = [
    "FULL_FRAME",
    "MIRI_FULL_FRAME",
    "DETECTOR_FULL_SIZE",
    "FGS_GUIDE_EXP_TYPES",
    "ExposureKind",
    "UserDqError",
    "UserDqShapeError",
    "Subarray",
    "Stripes",
    "DqDefReport",
    "exposure_kind",
    "dq_def_rows",
    "decompress_dq",
    "compress_dq",
    "dq_def_report",
    "decompress_with_report",
    "resolve_ref_subarray",
    "ref_matches_sci",
    "subarray_slices",
    "extract_subarray",
    "science_to_detector",
    "detector_to_science",
    "detector_slow_start",
    "substripe_ranges",
    "superstripe_ranges",
    "extract_stripes",
    "mask_for_science",
    "merge_user_dq",
    "check_user_dq_values",
    "default_dq_shapes",
    "ensure_dq_arrays",
    "apply_mask",
]

log = logging.getLogger(__name__)

#: Full-frame size (columns, rows) of the near-infrared detectors, and of MIRI (no refout).
FULL_FRAME = (2048, 2048)
MIRI_FULL_FRAME = (1032, 1024)
#: Detector size along the slow axis used by the stripe geometry.
DETECTOR_FULL_SIZE = 2048
#: Exposure types opened as GuiderRawModel (lower case, as jwst compares them).
FGS_GUIDE_EXP_TYPES = frozenset(
    {"fgs_acq1", "fgs_acq2", "fgs_fineguide", "fgs_id-image", "fgs_id-stack", "fgs_track"}
)
_IRS2_ROWS = 3200


class ExposureKind(StrEnum):
    """Which datamodel jwst would open the exposure as (jwst ``JwstStep._ramp_type``: FGS guide
    EXP_TYPEs -> guider, SSTR_NST > 0 -> superstripe, else ramp)."""

    GUIDER = "guider"  # GuiderRawModel: one 2-D DQ
    SUPERSTRIPE = "superstripe"  # SuperstripeRampModel: PIXELDQ (N, ny, nx)
    RAMP = "ramp"  # RampModel: PIXELDQ (ny, nx), GROUPDQ (nints, ngroups, ny, nx)

    @property
    def datamodel(self) -> str:
        """The stdatamodels class jwst's DQInitStep returns (and writes as ``DATAMODL``)."""
        return _DATAMODELS[self]


_DATAMODELS = {ExposureKind.GUIDER: "GuiderRawModel",
               ExposureKind.SUPERSTRIPE: "SuperstripeRampModel",
               ExposureKind.RAMP: "RampModel"}


def exposure_kind(exp_type: str | None, num_superstripe: int | None) -> ExposureKind:
    """The model class jwst's ``open_as_ramp`` picks, from EXP_TYPE and SSTR_NST."""
    if str(exp_type).lower() in FGS_GUIDE_EXP_TYPES:
        return ExposureKind.GUIDER
    if num_superstripe is not None and num_superstripe > 0:
        return ExposureKind.SUPERSTRIPE
    return ExposureKind.RAMP


@dataclass(frozen=True)
class Subarray:
    """Subarray keywords of a file (FITS SUBSTRT1/2 1-based, SUBSIZE1/2, FASTAXIS/SLOWAXIS).

    Any of them may be ``None`` when the header lacks it.
    """

    xstart: int | None = None
    ystart: int | None = None
    xsize: int | None = None
    ysize: int | None = None
    fastaxis: int | None = None
    slowaxis: int | None = None
    name: str | None = None

    @property
    def complete(self) -> bool:
        """True when the four corner/size keywords are all present."""
        return None not in (self.xstart, self.ystart, self.xsize, self.ysize)

    @property
    def box(self) -> tuple[int, int, int, int]:
        """``(xstart, ystart, xsize, ysize)``; TypeError when one is missing (as upstream's
        arithmetic on None): callers check :attr:`complete` first where upstream does."""
        if self.xstart is None or self.ystart is None or self.xsize is None or self.ysize is None:
            raise TypeError(f"subarray corner/size keywords missing: {self}")
        return self.xstart, self.ystart, self.xsize, self.ysize


def _known(value: int | None) -> int:
    """A subarray keyword the readout needs; TypeError when missing, as upstream's arithmetic
    on None."""
    if value is None:
        raise TypeError("a subarray keyword (SUBSTRT/SUBSIZE/FASTAXIS/SLOWAXIS) is missing")
    return value


@dataclass(frozen=True)
class Stripes:
    """Multistripe / superstripe keywords of a science exposure (MSTR_*, SSTR_*)."""

    reads1: int | None = None  # MSTR_RD1
    skips1: int = 0  # MSTR_SK1
    reads2: int = 0  # MSTR_RD2
    skips2: int = 0  # MSTR_SK2
    repeat_stripe: int = 0  # MSTR_RPT
    interleave_reads1: int = 0  # MSTR_ILV
    superstripe_step: int = 0  # SSTR_STP
    num_superstripe: int | None = None  # SSTR_NST

    @property
    def striped(self) -> bool:
        """True when the exposure was read in multistripe mode (MSTR_RD1 present)."""
        return self.reads1 is not None

    @property
    def superstripe(self) -> bool:
        return self.num_superstripe is not None and self.num_superstripe > 0


# --------------------------------------------------------------------------------------------
# DQ_DEF dynamic mapping (stdatamodels ``dynamicdq.dynamic_mask``: each DQ_DEF row maps its
# on-disk VALUE to the standard flag its NAME names; BIT ignored, unknown names dropped)
# --------------------------------------------------------------------------------------------


def dq_def_rows(table: Any) -> list[tuple[int, str]]:
    """``(VALUE, NAME)`` pairs of a DQ_DEF table, in table order (BIT is ignored, as upstream).

    Accepts a FITS record array / structured array with ``VALUE`` and ``NAME`` fields, or an
    iterable of ``(value, name)`` pairs; ``None`` or an empty table gives ``[]``.
    """
    if table is None or np.isscalar(table):
        return []
    names = getattr(getattr(table, "dtype", None), "names", None)
    if names:
        if np.ndim(table) == 0 or len(table) == 0:
            return []
        return [(_u32(r["VALUE"]), _row_name(r["NAME"])) for r in table]
    return [(_u32(v), _row_name(n)) for v, n in table]


def _u32(value: Any) -> int:
    # VALUE is often stored as int32 ('J'): 2**31 then reads as -2**31; numpy's AND/OR with
    # a uint32 array uses its bit pattern, so do we.
    return int(value) & 0xFFFFFFFF


def _row_name(name: object) -> str:
    if isinstance(name, bytes):
        name = name.decode("ascii", "replace")
    return str(name).strip()


def _known_rows(rows: Sequence[tuple[int, str]], mnemonics: Mapping[str, int],
                warn: bool) -> list[tuple[int, int]]:
    known = []
    for value, name in rows:
        if name not in mnemonics:  # exact, case-sensitive, no aliases (upstream behaviour)
            if warn:
                log.warning("Keyword %s does not correspond to an existing DQ mnemonic, "
                            "so will be ignored", name)
            continue
        known.append((value, int(mnemonics[name])))
    return known


def _map_values(values: np.ndarray, pairs: Iterable[tuple[int, int]], dtype: np.dtype
                ) -> np.ndarray:
    out = np.zeros(values.shape, dtype=dtype)
    for src, dst in pairs:
        hit = (values & values.dtype.type(src)) != 0
        out[hit] |= dtype.type(dst)
    return out


def _dynamic_map(dq: np.ndarray, rows: Sequence[tuple[int, str]], compress: bool,
                 mnemonics: Mapping[str, int], warn: bool, inplace: bool) -> np.ndarray:
    dq = np.asarray(dq)
    if not rows:
        return dq if inplace else dq.copy()
    known = _known_rows(rows, mnemonics, warn)
    pairs = [(std, plane) if compress else (plane, std) for plane, std in known]
    # Every row maps 0 to 0, so only non-zero pixels need work: map their distinct values.
    if inplace and not dq.flags.c_contiguous:
        raise ValueError("in-place DQ_DEF mapping needs a C-contiguous array")
    out = dq if inplace else np.zeros(dq.shape, dtype=dq.dtype)
    flat = out.reshape(-1) if inplace else dq.reshape(-1)
    nz = np.flatnonzero(flat != 0)  # numpy finds True bytes ~3x faster than non-zero words
    if nz.size:
        uniq, inverse = np.unique(flat[nz], return_inverse=True)
        out.reshape(-1)[nz] = _map_values(uniq, pairs, dq.dtype)[inverse]
    return out


def decompress_dq(dq: np.ndarray, dq_def: object, *,
                  mnemonics: Mapping[str, int] = JWST_PIXEL, warn: bool = True,
                  inplace: bool = False) -> np.ndarray:
    """On-disk (compressed) MASK values to standard JWST flags, as stdatamodels does on load.

    Parameters
    ----------
    dq : ndarray of unsigned int
        ``dq`` compressed: bit values defined by ``dq_def``.
    dq_def : table or sequence of (value, name)
        DQ_DEF rows (see :func:`dq_def_rows`). Empty or ``None``: ``dq`` is returned unchanged
        (copied).
    mnemonics : mapping
        Standard flag table (default ``JWST_PIXEL``); names match exactly, case-sensitively.
    warn : bool
        Log upstream's warning for each row whose NAME is not a standard mnemonic.
    inplace : bool
        Overwrite ``dq`` (C-contiguous) instead of allocating the result.

    Returns
    -------
    ndarray
        ``dq`` standard, same shape and dtype as ``dq`` (a new array unless ``inplace``). Bits with no DQ_DEF row
        and rows with unknown names are dropped, exactly as upstream (see
        :func:`dq_def_report` to learn what was dropped).
    """
    return _dynamic_map(dq, dq_def_rows(dq_def), False, mnemonics, warn, inplace)


def compress_dq(dq: np.ndarray, dq_def: object, *,
                mnemonics: Mapping[str, int] = JWST_PIXEL, warn: bool = True) -> np.ndarray:
    """Standard JWST flags to on-disk MASK values, as stdatamodels does when saving.

    Parameters
    ----------
    dq : ndarray of unsigned int
        ``dq`` standard (JWST pixel flags).
    dq_def, mnemonics, warn
        As :func:`decompress_dq`.

    Returns
    -------
    ndarray
        ``dq`` compressed (same shape and dtype). Standard flags no row names are dropped.
    """
    return _dynamic_map(dq, dq_def_rows(dq_def), True, mnemonics, warn, False)


@dataclass(frozen=True)
class DqDefReport:
    """What the faithful DQ_DEF mapping loses: unknown names and undefined bits, which jwst drops
    silently, reported instead of lost.

    Attributes
    ----------
    unknown_names : tuple of str
        DQ_DEF NAMEs that are not standard mnemonics (their rows are ignored).
    undefined_bits : int
        OR of on-disk bits that no known row covers (they vanish on load).
    pixels_losing_bits : int
        Number of pixels carrying at least one of ``undefined_bits``.
    """

    unknown_names: tuple[str, ...]
    undefined_bits: int
    pixels_losing_bits: int

    @property
    def lossless(self) -> bool:
        return not self.unknown_names and not self.undefined_bits


def dq_def_report(dq: np.ndarray, dq_def: object, *,
                  mnemonics: Mapping[str, int] = JWST_PIXEL) -> DqDefReport:
    """Which names and on-disk bits the faithful decompression of ``dq`` (compressed) drops."""
    rows = dq_def_rows(dq_def)
    if not rows:
        return DqDefReport((), 0, 0)
    dq = np.asarray(dq)
    values, counts = np.unique(dq[dq != 0], return_counts=True)  # flagged pixels only
    return _report(values, counts, rows, mnemonics)


def _report(values: np.ndarray, counts: np.ndarray, rows: Sequence[tuple[int, str]],
            mnemonics: Mapping[str, int]) -> DqDefReport:
    """DqDefReport from the distinct non-zero on-disk values and their pixel counts."""
    unknown = tuple(name for _, name in rows if name not in mnemonics)
    covered = 0
    for value, name in rows:
        if name in mnemonics:
            covered |= value
    present = int(np.bitwise_or.reduce(values, initial=0))
    lost = present & ~covered & 0xFFFFFFFF
    pixels = int(counts[(values & values.dtype.type(lost)) != 0].sum()) if lost else 0
    return DqDefReport(unknown, lost, pixels)


def decompress_with_report(dq: np.ndarray, dq_def: object, *,
                           mnemonics: Mapping[str, int] = JWST_PIXEL, warn: bool = True
                           ) -> tuple[np.ndarray, DqDefReport]:
    """:func:`decompress_dq` in place plus :func:`dq_def_report`, in one pass over ``dq``.

    Parameters
    ----------
    dq : ndarray of unsigned int, C-contiguous
        ``dq`` compressed; overwritten with the ``dq`` standard result.

    Returns
    -------
    (ndarray, DqDefReport)
        ``dq`` itself (now standard flags) and what the mapping dropped.
    """
    rows = dq_def_rows(dq_def)
    if not rows:
        return dq, DqDefReport((), 0, 0)
    if not dq.flags.c_contiguous:
        raise ValueError("in-place DQ_DEF mapping needs a C-contiguous array")
    pairs = _known_rows(rows, mnemonics, warn)
    flat = dq.reshape(-1)
    nz = np.flatnonzero(flat != 0)  # numpy finds True bytes ~3x faster than non-zero words
    uniq, inverse, counts = np.unique(flat[nz], return_inverse=True, return_counts=True)
    report = _report(uniq, counts, rows, mnemonics)
    if nz.size:
        flat[nz] = _map_values(uniq, pairs, dq.dtype)[inverse]
    return dq, report


# --------------------------------------------------------------------------------------------
# Does the reference match the science subarray? (jwst ``reffile_utils.ref_matches_sci``)
# --------------------------------------------------------------------------------------------


def resolve_ref_subarray(ref: Subarray, ref_shape: tuple[int, ...], instrument: str | None
                         ) -> Subarray:
    """The reference's subarray keywords, back-filled with full-frame defaults when missing.

    Parameters
    ----------
    ref : Subarray
        Keywords read from the MASK file.
    ref_shape : tuple
        Shape of the MASK ``DQ`` array (last two dims are rows, columns).
    instrument : str or None
        MASK INSTRUME (MIRI's full frame is 1032 x 1024).

    Raises
    ------
    ValueError
        ``Can't determine ref file subarray properties`` (keywords missing, array not full
        frame).
    """
    if ref.complete:
        return ref
    nx, ny = MIRI_FULL_FRAME if str(instrument).upper() == "MIRI" else FULL_FRAME
    if tuple(ref_shape[-2:]) == (ny, nx):
        log.warning("Missing subarray corner/size keywords in reference file")
        log.warning("Setting them to full-frame default values")
        return replace(ref, xstart=1, ystart=1, xsize=nx, ysize=ny)
    log.error("Missing subarray corner/size keywords in reference file")
    raise ValueError("Can't determine ref file subarray properties")


def _checked_size(keyword: int, actual: int, irs2_ok: bool, who: str, key: str) -> int:
    if keyword == actual or (irs2_ok and keyword == FULL_FRAME[1] and actual == _IRS2_ROWS):
        return keyword
    log.warning("%s data array size doesn't match %s", who, key)
    log.warning("Using actual array size")
    return actual


def ref_matches_sci(sci: Subarray, sci_shape: tuple[int, ...], ref: Subarray,
                    ref_shape: tuple[int, ...], *, superstripe: bool = False) -> bool:
    """True if the reference covers exactly the science subarray (upstream ``ref_matches_sci``).

    Parameters
    ----------
    sci : Subarray
        Science keywords.
    sci_shape : tuple
        Science data shape (last two dims compared).
    ref : Subarray
        Reference keywords, already through :func:`resolve_ref_subarray`.
    ref_shape : tuple
        Reference ``DQ`` shape.
    superstripe : bool
        Superstripe exposures never match.

    Raises
    ------
    ValueError
        ``Bad subarray corners`` or ``Can't determine science file subarray properties``.
    """
    if superstripe:
        return False
    rx, ry, rw, rh = ref.box
    if rx < 1 or ry < 1:
        log.error("Reference file subarray corners are invalid")
        raise ValueError("Bad subarray corners")
    rxsize = _checked_size(rw, ref_shape[-1], False, "Reference file", "SUBSIZE1")
    rysize = _checked_size(rh, ref_shape[-2], True, "Reference file", "SUBSIZE2")
    if not sci.complete:
        log.error("Missing subarray corner/size keywords in science file")
        raise ValueError("Can't determine science file subarray properties")
    sx, sy, sw, sh = sci.box
    if sx < 1 or sy < 1:
        log.error("Science file subarray corners are invalid")
        raise ValueError("Bad subarray corners")
    sxsize = _checked_size(sw, sci_shape[-1], False, "Science file", "SUBSIZE1")
    sysize = _checked_size(sh, sci_shape[-2], True, "Science file", "SUBSIZE2")
    return (rx, rxsize, ry, rysize) == (sx, sxsize, sy, sysize)


# --------------------------------------------------------------------------------------------
# Rectangular extraction (jwst ``reffile_utils.get_subarray_model``)
# --------------------------------------------------------------------------------------------


def subarray_slices(sci: Subarray, ref: Subarray) -> tuple[slice, slice]:
    """(row slice, column slice) of the science subarray inside the reference array.

    The bounds check uses the reference SUBSIZE keywords, as upstream.

    Raises
    ------
    ValueError
        ``Bad reference file slice indexes`` (after upstream's four error lines).
    """
    (sx, sy, sw, sh), (rx, ry, rw, rh) = sci.box, ref.box
    x0 = sx - rx
    y0 = sy - ry
    x1, y1 = x0 + sw, y0 + sh
    if x0 < 0 or y0 < 0 or x1 > rw or y1 > rh:
        log.error("Computed reference file slice indexes are incompatible with size of "
                  "reference data array")
        log.error("Science: SUBSTRT1=%d, SUBSTRT2=%d, SUBSIZE1=%d, SUBSIZE2=%d",
                  sci.xstart, sci.ystart, sci.xsize, sci.ysize)
        log.error("Reference: SUBSTRT1=%d, SUBSTRT2=%d, SUBSIZE1=%d, SUBSIZE2=%d",
                  ref.xstart, ref.ystart, ref.xsize, ref.ysize)
        log.error("Slice indexes: xstart=%d, xstop=%d, ystart=%d, ystop=%d", x0, x1, y0, y1)
        raise ValueError("Bad reference file slice indexes")
    return slice(y0, y1), slice(x0, x1)


def extract_subarray(ref_dq: np.ndarray, sci: Subarray, ref: Subarray) -> np.ndarray:
    """The science subarray cut out of the reference ``dq`` (any convention; a copy).

    Parameters
    ----------
    ref_dq : ndarray
        Reference DQ (``dq`` standard or compressed: the cut commutes with the mapping).
    sci, ref : Subarray
        Science and (resolved) reference keywords.

    Returns
    -------
    ndarray
        ``ref_dq[..., rows, cols]``, copied, same dtype.
    """
    rows, cols = subarray_slices(sci, ref)
    return np.array(ref_dq[..., rows, cols], copy=True)


# --------------------------------------------------------------------------------------------
# Frame transforms and multistripe / superstripe extraction (jwst ``reffile_utils`` frame
# transforms and ``get_multistripe_subarray_model``, ``stripe_utils``)
# --------------------------------------------------------------------------------------------


def _sign(v: int) -> int:
    return -1 if v < 0 else 1


def science_to_detector(a: np.ndarray, fastaxis: int, slowaxis: int) -> np.ndarray:
    """View of ``a`` (any convention) turned from the science to the detector frame."""
    if abs(fastaxis) == 1:
        return a[..., :: _sign(slowaxis), :: _sign(fastaxis)]
    return np.swapaxes(a[..., :: _sign(fastaxis), :: _sign(slowaxis)], -2, -1)


def detector_to_science(a: np.ndarray, fastaxis: int, slowaxis: int) -> np.ndarray:
    """View of ``a`` (any convention) turned from the detector to the science frame."""
    if abs(fastaxis) == 1:
        return a[..., :: _sign(slowaxis), :: _sign(fastaxis)]
    return np.swapaxes(a, -2, -1)[..., :: _sign(fastaxis), :: _sign(slowaxis)]


def detector_slow_start(slowaxis: int, slow_start: int, name: str | None = None) -> int:
    """0-based detector index of the first slow-axis line from a 1-based science start."""
    if slowaxis < 0:
        if slow_start == 1:
            log.warning("Slow start is set to 1 for slowaxis=%s. Setting detector start "
                        "index to 0.", slowaxis)
            index = 0
        else:
            index = DETECTOR_FULL_SIZE - slow_start
    else:
        index = slow_start - 1
    if "DHS" in str(name).upper() and index != 0:
        log.warning("Setting detector start index to 0 for DHS")
        index = 0
    return index


Range = tuple[int, int]


def _stripe_walk(st: Stripes, slow_start: int, slow_size: int, nreads2: int, offset: int
                 ) -> tuple[list[tuple[Range, Range]], list[tuple[Range, Range]]]:
    """(science, reference) lists of (detector range, stripe range) for one stripe."""
    nreads1 = st.reads1 or 0
    sci: list[tuple[Range, Range]] = []
    ref: list[tuple[Range, Range]] = []
    line, sub = slow_start, 0
    if nreads1 > 0:
        ref.append(((line, line + nreads1), (sub, sub + nreads1)))
        line += nreads1
        sub += nreads1
    line += st.skips1 + offset
    sci.append(((line, line + nreads2), (sub, sub + nreads2)))
    line += nreads2
    sub += nreads2
    ilv = st.skips1
    while sub < slow_size:
        if st.repeat_stripe > 0:
            line = slow_start
            if nreads1 > 0:
                ref.append(((line, line + nreads1), (sub, sub + nreads1)))
                line += nreads1
                sub += nreads1
            if st.interleave_reads1:
                ilv += st.skips2 + nreads2
                line += ilv
            else:
                line += st.skips1 + offset
        else:
            line += st.skips2
        sci.append(((line, line + nreads2), (sub, sub + nreads2)))
        line += nreads2
        sub += nreads2
    if sub != slow_size:
        raise ValueError("Stripe readout does not match science array shape.")
    return sci, ref


def _slow_geometry(sci: Subarray, by_fastaxis: bool) -> tuple[int, int]:
    """(slow_size, 1-based slow start) of the science subarray."""
    if by_fastaxis:
        along_y = abs(_known(sci.fastaxis)) == 1
    else:
        along_y = abs(_known(sci.slowaxis)) > 1
    size, start = (sci.ysize, sci.ystart) if along_y else (sci.xsize, sci.xstart)
    return _known(size), _known(start)


def substripe_ranges(sci: Subarray, st: Stripes
                     ) -> tuple[list[tuple[Range, Range]], list[tuple[Range, Range]]]:
    """Detector-frame (full range, stripe range) pairs of a substripe readout.

    Returns
    -------
    science, reference : list of ((start, stop), (start, stop))
        Slow-axis rows read on the detector and where they land in the stripe array.

    Raises
    ------
    ValueError
        ``Invalid value for multistripe_reads2 - stripe ranges could not be generated.`` or
        ``Stripe readout does not match science array shape.``
    """
    slow_size, start_1b = _slow_geometry(sci, by_fastaxis=False)
    slow_start = detector_slow_start(_known(sci.slowaxis), start_1b, sci.name)
    if st.reads2 <= 0:
        raise ValueError(
            "Invalid value for multistripe_reads2 - stripe ranges could not be generated.")
    return _stripe_walk(st, slow_start, slow_size, st.reads2, 0)


def superstripe_ranges(sci: Subarray, st: Stripes
                       ) -> list[tuple[list[tuple[Range, Range]], list[tuple[Range, Range]]]]:
    """Per stripe, the (science, reference) range pairs of a superstripe readout."""
    slow_size, start_1b = _slow_geometry(sci, by_fastaxis=True)
    slow_start = detector_slow_start(_known(sci.slowaxis), start_1b, sci.name)
    nreads2 = st.reads2 if st.reads2 > 0 else st.superstripe_step
    n = st.num_superstripe or 1
    return [_stripe_walk(st, slow_start, slow_size, nreads2, st.superstripe_step * s)
            for s in range(n)]


def _fast_cut(ref_dq: np.ndarray, sci: Subarray, ref: Subarray) -> np.ndarray:
    fastaxis = _known(sci.fastaxis)
    if abs(fastaxis) == 1 and ref.xstart is not None:
        x0 = _known(sci.xstart) - ref.xstart
        return ref_dq[..., x0:x0 + _known(sci.xsize)]
    if abs(fastaxis) == 2 and ref.ystart is not None:
        y0 = _known(sci.ystart) - ref.ystart
        return ref_dq[..., y0:y0 + _known(sci.ysize), :]
    return ref_dq


def extract_stripes(ref_dq: np.ndarray, sci: Subarray, ref: Subarray, st: Stripes
                    ) -> np.ndarray:
    """Reference ``dq`` rearranged like a multistripe science readout (upstream ``stripe_read``).

    Parameters
    ----------
    ref_dq : ndarray
        Reference DQ, science frame, full along the slow axis (either convention).
    sci : Subarray
        Science keywords, with FASTAXIS/SLOWAXIS and SUBARRAY name.
    ref : Subarray
        Reference keywords (corners used for the fast-axis cut when present).
    st : Stripes
        Science stripe keywords.

    Returns
    -------
    ndarray
        Science frame; ``(ny, nx)`` for substripe, ``(N, ny, nx)`` for superstripe; same
        dtype as ``ref_dq``; rows never read stay 0.

    Raises
    ------
    ValueError
        Upstream's stripe errors, or ``Unsupported shape: len(ref_shape) == <n>``.
    """
    fastaxis, slowaxis = _known(sci.fastaxis), _known(sci.slowaxis)
    det = science_to_detector(_fast_cut(ref_dq, sci, ref), fastaxis, slowaxis)
    xsize, ysize = _known(sci.xsize), _known(sci.ysize)
    if abs(fastaxis) == 1:
        slow_size, fast_size = ysize, xsize
    else:
        slow_size, fast_size = xsize, ysize
    if not st.superstripe:
        out = np.zeros((*det.shape[:-2], slow_size, fast_size), dtype=det.dtype)
        science, reference = substripe_ranges(sci, st)
        for (f0, f1), (s0, s1) in science + reference:
            out[..., s0:s1, :] = det[..., f0:f1, :]
    else:
        if det.ndim != 2:
            raise ValueError(f"Unsupported shape: len(ref_shape) == {det.ndim}")
        out = np.zeros((st.num_superstripe, slow_size, fast_size), dtype=det.dtype)
        for s, (science, reference) in enumerate(superstripe_ranges(sci, st)):
            for (f0, f1), (s0, s1) in science + reference:
                out[s, s0:s1, :] = det[f0:f1, :]
    return np.ascontiguousarray(detector_to_science(out, fastaxis, slowaxis))


# --------------------------------------------------------------------------------------------
# The mask in the science frame, user DQ, DQ arrays, the OR (jwst ``dq_initialization``:
# ``check_dimensions``, then ``do_dqinit``'s user-DQ merge and its OR into the DQ arrays)
# --------------------------------------------------------------------------------------------


def mask_for_science(ref_dq: np.ndarray, ref: Subarray, ref_instrument: str | None,
                     sci: Subarray, sci_shape: tuple[int, ...], st: Stripes | None = None,
                     *, strict: bool = True, copy: bool = True) -> np.ndarray:
    """The reference DQ cut to the science readout (match, rectangle, or stripes).

    Parameters
    ----------
    ref_dq : ndarray
        Reference ``dq`` (standard or compressed: every operation here commutes with the
        DQ_DEF mapping). Never modified here; with ``copy=False`` it may be returned itself.
    ref : Subarray
        Reference keywords as read (missing ones are back-filled as upstream).
    ref_instrument : str or None
        Reference INSTRUME (MIRI full-frame defaults).
    sci : Subarray
        Science keywords.
    sci_shape : tuple
        Science data shape.
    st : Stripes, optional
        Science stripe keywords.
    strict : bool
        Also check the result against the real array shapes and raise a clear ``ValueError``
        where upstream would fail later with a numpy broadcast error (a 2048-row mask on
        3200-row IRS2 data; a reference whose SUBSIZE keywords exceed its array). Never
        changes a result upstream computes.
    copy : bool
        False: when the reference covers the science frame exactly, return ``ref_dq``
        itself instead of a copy (for a caller that owns ``ref_dq`` and discards it, e.g.
        a MASK read for one exposure: no second full-frame array).

    Returns
    -------
    ndarray
        ``(ny, nx)``, or ``(N, ny, nx)`` for superstripe data: a new array (never a view of
        ``ref_dq``), or ``ref_dq`` itself if ``copy`` is False and it matches.
    """
    st = st or Stripes()
    if st.superstripe:
        # upstream never matches nor checks the reference keywords of superstripe data: the
        # stripe cut uses the corners only when present (DHS references have none)
        matched = False
        if not st.striped:
            raise ValueError(f"superstripe exposure (SSTR_NST={st.num_superstripe}) without "
                             f"MSTR_RD1: its stripe layout is unknown")
    else:
        ref = resolve_ref_subarray(ref, ref_dq.shape, ref_instrument)
        matched = ref_matches_sci(sci, sci_shape, ref, ref_dq.shape)
    if matched:
        mask = np.array(ref_dq, copy=True) if copy else ref_dq
    else:
        log.info("Extracting mask subarray to match science data")
        if st.striped:
            mask = extract_stripes(ref_dq, sci, ref, st)
        else:
            mask = extract_subarray(ref_dq, sci, ref)
    if strict:
        _check_mask_shape(mask, sci_shape, st)
    return mask


def _check_mask_shape(mask: np.ndarray, sci_shape: tuple[int, ...], st: Stripes) -> None:
    want = tuple(sci_shape[-2:])
    got = tuple(mask.shape[-2:])
    if got == want:
        return
    if want[0] == _IRS2_ROWS and got[0] == FULL_FRAME[1]:
        raise ValueError(f"mask has {got[0]} rows but the science data has {want[0]} (IRS2); "
                         f"use an IRS2 MASK reference (3200 rows)")
    raise ValueError(f"mask cut to shape {got} does not match the science frame {want}; "
                     f"the reference SUBSIZE keywords disagree with its array")


def check_user_dq_values(user_dq: np.ndarray) -> None:
    """Refuse a user DQ that is not a valid ``dq`` standard array (improved default).

    Raises
    ------
    UserDqError
        Non-integer or non-finite floats, negative values, values above 2**32 - 1.
    """
    a = np.asarray(user_dq)
    if a.dtype.kind == "b":
        return
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or np.any(a != np.trunc(a)):
            raise UserDqError("user DQ holds non-integer values; DQ flags must be integers")
    elif a.dtype.kind not in "iu":
        raise UserDqError(f"user DQ has dtype {a.dtype}; DQ flags must be integers")
    if a.size and (a.min() < 0 or a.max() > 0xFFFFFFFF):
        raise UserDqError("user DQ holds negative or over-32-bit values; DQ flags are uint32")


def merge_user_dq(mask: np.ndarray, user_dq: np.ndarray | None, *, validate: bool = True,
                  all_stripes: bool = False) -> np.ndarray:
    """OR a user-supplied DQ into the mask, in place, before propagation (as jwst ``do_dqinit``).

    Parameters
    ----------
    mask : ndarray of uint32
        ``dq`` standard, science frame; modified in place and returned.
    user_dq : ndarray or None
        ``dq`` standard of exactly ``mask.shape``; cast with ``astype(mask.dtype)`` as
        upstream (floats truncate, negatives wrap) unless ``validate``.
    validate : bool
        Refuse floats that are not integers and negative values (see
        :func:`check_user_dq_values`) instead of casting them silently.
    all_stripes : bool
        Superstripe masks ``(N, ny, nx)``: accept a 2-D ``(ny, nx)`` user DQ and OR it into
        every stripe (jwst only accepts the 3-D form).

    Raises
    ------
    UserDqShapeError
        ``user_dq has shape=<shape> but expecting <shape>`` (upstream's text; upstream also
        logs it as an error, here the caller reports it once).
    UserDqError
        ``validate`` and values that are not uint32 flags.
    """
    if user_dq is None:
        return mask
    if all_stripes and mask.ndim == 3 and user_dq.shape == mask.shape[1:]:
        user_dq = np.broadcast_to(user_dq, mask.shape)
    if user_dq.shape != mask.shape:
        raise UserDqShapeError(f"user_dq has shape={user_dq.shape} but expecting {mask.shape}")
    if validate:
        check_user_dq_values(user_dq)
    mask |= user_dq.astype(mask.dtype)
    return mask


def default_dq_shapes(kind: ExposureKind, data_shape: tuple[int, ...],
                      num_superstripe: int | None = None) -> dict[str, tuple[int, ...] | None]:
    """Shapes of the DQ arrays jwst's model would create: ``{"dq"|"pixeldq"|"groupdq": shape}``.

    GuiderRawModel: DQ ``(ny, nx)``. RampModel: PIXELDQ ``(ny, nx)``, GROUPDQ = data shape.
    SuperstripeRampModel: PIXELDQ ``(N, ny, nx)`` (``None`` when N is missing or 0).
    """
    image = tuple(data_shape[-2:])
    if kind is ExposureKind.GUIDER:
        return {"dq": image}
    if kind is ExposureKind.SUPERSTRIPE:
        pixel = (num_superstripe, *image) if num_superstripe else None
        return {"pixeldq": pixel, "groupdq": tuple(data_shape)}
    return {"pixeldq": image, "groupdq": tuple(data_shape)}


_DQ_DTYPES = {"dq": np.uint32, "pixeldq": np.uint32, "groupdq": np.uint8}
_DQ_WARNINGS = {
    "dq": "Setting input DQ to default array",
    "pixeldq": "Setting input pixel DQ to default array",
    "groupdq": "Setting input group DQ to default array",
}


def ensure_dq_arrays(kind: ExposureKind, data_shape: tuple[int, ...],
                     arrays: Mapping[str, np.ndarray | None],
                     num_superstripe: int | None = None) -> dict[str, np.ndarray | None]:
    """Upstream ``check_dimensions``: keep well-shaped DQ arrays, replace others with zeros.

    Parameters
    ----------
    kind : ExposureKind
        Model class.
    data_shape : tuple
        Science data shape.
    arrays : mapping
        Existing ``dq`` / ``pixeldq`` / ``groupdq`` (``None`` when absent). Never modified.

    Returns
    -------
    dict
        Writable arrays: ``dq``/``pixeldq`` uint32 (``dq`` standard), ``groupdq`` uint8. A
        missing array becomes zeros silently (jwst's model constructor creates it); a
        mis-shaped one is replaced by zeros (content discarded, as upstream) with upstream's
        warning. None for a superstripe ``pixeldq`` without ``num_superstripe`` (no shape).
    """
    out: dict[str, np.ndarray | None] = {}
    for name, shape in default_dq_shapes(kind, data_shape, num_superstripe).items():
        have = arrays.get(name)
        dtype = _DQ_DTYPES[name]
        if have is None or shape is None or tuple(have.shape) != shape:
            if have is None:  # jwst's model constructor creates it silently
                log.info("creating %s %s", name.upper(), shape)
            else:
                log.warning(_DQ_WARNINGS[name])
            out[name] = np.zeros(shape, dtype=dtype) if shape is not None else None
        else:
            out[name] = np.array(have, dtype=dtype, copy=True)
    return out


def apply_mask(kind: ExposureKind, mask: np.ndarray, arrays: dict[str, np.ndarray],
               fresh: Iterable[str] = ()) -> dict[str, np.ndarray]:
    """OR the mask into the exposure's DQ arrays, in place (as jwst ``do_dqinit``).

    Parameters
    ----------
    kind : ExposureKind
        Guider: ``dq |= mask``. Ramp: ``pixeldq |= mask``; ``groupdq |= mask & DO_NOT_USE``
        over every integration and group. Superstripe: ``pixeldq (N, ny, nx) |= mask`` and
        stripe ``s`` of integration ``i`` (``groupdq[i * N + s]``) gets ``mask[s] & 1``.
    mask : ndarray of uint32
        ``dq`` standard, science frame, from :func:`mask_for_science`.
    arrays : dict
        From :func:`ensure_dq_arrays`; modified in place and returned.
    fresh : iterable of str
        Names in ``arrays`` that are new all-zero arrays. Their result is known without
        touching them: ``dq``/``pixeldq`` become ``mask`` itself (0 | mask), a ramp's
        ``groupdq`` becomes a read-only broadcast of one (ny, nx) DO_NOT_USE plane. Saves
        memory on raw files (GROUPDQ of a full-frame 10-group ramp is 40 MiB).

    Raises
    ------
    ValueError
        Superstripe GROUPDQ whose integration count is not a multiple of N.
    """
    fresh = set(fresh)
    name = "dq" if kind is ExposureKind.GUIDER else "pixeldq"
    if name in fresh:
        arrays[name] = mask
    else:
        arrays[name] |= mask
    if kind is ExposureKind.GUIDER:
        return arrays
    gdq = arrays["groupdq"]
    # bit 0 survives the cast to uint8, so this is (mask & DO_NOT_USE) without a uint32 temp
    dnu = np.bitwise_and(mask, JWST_PIXEL["DO_NOT_USE"], dtype=np.uint8, casting="unsafe")
    if kind is ExposureKind.RAMP:
        if "groupdq" in fresh:
            arrays["groupdq"] = np.broadcast_to(dnu, gdq.shape)
        else:
            gdq |= dnu
        return arrays
    n = mask.shape[0]
    nints = gdq.shape[0]
    if nints % n:
        raise ValueError(f"superstripe GROUPDQ has {nints} integrations, not a multiple of "
                         f"SSTR_NST={n}")
    gdq.reshape(nints // n, n, *gdq.shape[1:])[...] |= dnu[np.newaxis, :, np.newaxis]
    return arrays
