"""drizzlepac's static mask, bit for bit: stsci.imagestats statistics and the low-pixel mask.

drizzlepac (``staticMask.addMember``) flags, per chip, every pixel below
``mode - static_sig * rms`` where ``mode`` and ``rms`` come from
``stsci.imagestats.ImageStats(data, nclip=3, fields="mode", lower=nanmin, upper=nanmax)``.
This module reproduces those numbers exactly (same float32 arithmetic, same seeding of the
clipped min/max from the first pixel, same histogram with its bin-width quirk, same numpy
types, hence the same comparison precision) while running vectorised in numpy.

Exact sums without a C loop
---------------------------
imagestats sums the clipped pixels *sequentially* in double precision. Here the sums are
computed with numpy (pairwise) together with a rigorous bound on how far any sequential
double sum can be from it; when the float32 result (mean or stddev) is the same at both ends
of that interval it is the reference result. Only in the rare ambiguous case is the
sequential sum reproduced literally (chunked ``np.add.accumulate``).

Mask conventions
----------------
* ``good``: int16, 1 = good, 0 = bad (the drizzlepac static-mask file).
* ``bad``: bool, True = bad.
* ``dq``: integer bitfield, never cast to a narrower or floating type.

Differences from drizzlepac (``finite_only=True``, the default of :func:`chip_statistics`)
------------------------------------------------------------------------------------------
Non-finite pixels never enter the statistics and the clipped min/max are seeded from the
first *finite* pixel. Results are identical whenever drizzlepac succeeds; drizzlepac raises
when a chip's first pixel is NaN or any pixel is +-Inf, where this module still works.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from astropy.nddata import bitmask

from ..conventions import dq_to_bad
from ..errors import StatsError
from ..flags import require_dq_dtype

__all__ = [
    "StatsError",
    "ClipStats",
    "imagestats",
    "chip_statistics",
    "threshold",
    "low_pixels",
    "update_good",
    "dq_bad",
    "DEFAULT_SIG",
]

#: drizzlepac's default ``static_sig``.
DEFAULT_SIG = 4.0

_F32 = np.float32
_U = 2.0**-53  # unit roundoff of double
_TINY = 10.0 * float(np.finfo(np.float32).eps)  # imagestats' one-bin limit
_SEQ_CHUNK = 1 << 20
_BLOCK = 1 << 16  # pixels per cache-sized block


@dataclass(frozen=True)
class ClipStats:
    """The ImageStats(fields="mode") results drizzlepac uses.

    Attributes
    ----------
    npix, mean, stddev, min, max
        From the last clipping pass (``stddev`` is drizzlepac's ``rms``). Python floats
        holding float32 values, as imagestats returns them.
    nbins : int
        Histogram length; drizzlepac ignores the chip when it is below 2.
    hwidth : float
        ``binwidth * stddev`` (the width the mode formula uses).
    histogram : ndarray of uint32
        Bin counts.
    mode : float or numpy.float64
        Histogram mode. Its *type* is kept as imagestats produces it (``numpy.float64`` for
        an interior peak, ``float`` otherwise) because numpy then compares float32 pixels
        with the threshold in float64 or in float32 respectively.
    """

    npix: int
    mean: float
    stddev: float
    min: float
    max: float
    nbins: int
    hwidth: float
    histogram: np.ndarray
    mode: float


# --------------------------------------------------------------------------------------------
# Sequential double sums, reproduced exactly
# --------------------------------------------------------------------------------------------


def _sequential_sum(values: np.ndarray) -> float:
    """``s = 0.0; for v in values: s += v`` in double, exactly as a C loop does it."""
    total = 0.0
    for start in range(0, values.size, _SEQ_CHUNK):
        chunk = values[start:start + _SEQ_CHUNK].astype(np.float64)
        chunk[0] += total
        total = float(np.add.accumulate(chunk)[-1])
    return total


def _sum_bound(n: int, abs_sum: float) -> float:
    """Bound on |sequential sum - blocked numpy sum| of ``n`` float32 values in double.

    Sequential summation errs by at most (n-1) u sum|v|; numpy's blocked pairwise sum by far
    less than (n/_BLOCK + 2 log2(_BLOCK) + 16) u sum|v|. Both are covered with margin.
    """
    return (1.01 * n + 1024.0) * _U * abs_sum * 1.01


def _robust_f32(total: float, err: float, finish: Callable[[float], float],
                exact: Callable[[], float]) -> np.float32:
    """float32(finish(S)) for the sequential sum S, known to lie within ``err`` of ``total``.

    ``finish`` is monotonic non-decreasing; ``exact()`` computes S literally (rarely needed).
    """
    low, high = _F32(finish(total - err)), _F32(finish(total + err))
    if low == high:
        return low
    return _F32(finish(exact()))


# --------------------------------------------------------------------------------------------
# Cache-sized blocks, no compaction: pixels outside the clip range are multiplied by 0 (exact)
# --------------------------------------------------------------------------------------------


class _Scratch:
    """Block-sized scratch arrays (reused; they stay in the CPU cache)."""

    def __init__(self) -> None:
        self.f = np.empty(_BLOCK, np.float32)
        self.m = np.empty(_BLOCK, np.float32)  # a block's mask as 1.0 / 0.0
        self.d = np.empty(_BLOCK, np.float64)
        self.a = np.empty(_BLOCK, bool)
        self.b = np.empty(_BLOCK, bool)


def _inside(block: np.ndarray, lo, hi, out: np.ndarray, scratch: _Scratch, *,
            open_top: bool = False) -> np.ndarray:
    """``out`` = lo <= v <= hi (v < hi with ``open_top``) for one block."""
    t = scratch.b[:block.size]
    np.greater_equal(block, lo, out=out)
    (np.less if open_top else np.less_equal)(block, hi, out=t)
    np.logical_and(out, t, out=out)
    return out


def _sum64(values: np.ndarray, scratch: _Scratch) -> float:
    """Double sum of a float32 block (explicit cast: faster than a casting reduction)."""
    d = scratch.d[:values.size]
    np.copyto(d, values)
    return float(np.add.reduce(d))


@dataclass
class _Selection:
    """The pixels v of ``base`` with c0 <= v <= c1, handled block by block.

    ``mask`` (True = selected; None when ``whole``) is kept for the second sweep; excluded
    pixels are multiplied by 0 so that every operation stays vectorised and sums are those
    of the selected pixels exactly (``safe`` is False when that product could be NaN).
    ``vmin``/``vmax`` (exact min/max of the selected pixels) are only filled on request.
    """

    base: np.ndarray
    c0: np.float32
    c1: np.float32
    whole: bool
    safe: bool
    mask: np.ndarray | None = None
    n: int = 0
    total: float = 0.0
    vmin: float = math.nan
    vmax: float = math.nan

    def blocks(self) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """(block, its mask or None when every pixel is selected), skipping empty blocks."""
        for start in range(0, self.base.size, _BLOCK):
            block = self.base[start:start + _BLOCK]
            if self.whole:
                yield block, None
                continue
            assert self.mask is not None  # set whenever not ``whole``
            mask = self.mask[start:start + _BLOCK]
            k = int(np.count_nonzero(mask))
            if k == block.size:
                yield block, None
            elif k:
                yield block, mask

    def zero_excluded(self, values: np.ndarray, mask: np.ndarray | None, out: np.ndarray,
                      scratch: _Scratch) -> np.ndarray:
        """``values`` with the excluded pixels set to 0, into ``out`` (or values itself)."""
        if mask is None:
            return values
        if self.safe:  # v * 1.0 = v, v * 0.0 = 0: exact (float32 mask: fast SIMD multiply)
            factor = scratch.m[:mask.size]
            np.copyto(factor, mask)
            return np.multiply(values, factor, out=out)
        np.copyto(out, values)
        np.copyto(out, 0, where=~mask)
        return out

    def extremes(self, scratch: _Scratch) -> tuple[float, float]:
        """Exact min and max of the selected pixels.

        An excluded pixel is replaced by c1 for the min and by c0 for the max (every
        selected pixel lies in [c0, c1]); ``v * 1 + c * 0`` is exactly v.
        """
        vmin, vmax = math.inf, -math.inf
        for block, mask in self.blocks():
            if mask is None:
                vmin = min(vmin, float(np.minimum.reduce(block)))
                vmax = max(vmax, float(np.maximum.reduce(block)))
                continue
            keep, drop = scratch.m[:mask.size], scratch.f[:mask.size]
            np.copyto(keep, mask)
            np.subtract(_F32(1.0), keep, out=drop)  # 1.0 where excluded
            np.multiply(block, keep, out=keep)
            vmin = min(vmin, float(np.minimum.reduce(keep + drop * self.c1)))
            vmax = max(vmax, float(np.maximum.reduce(keep + drop * self.c0)))
        return vmin, vmax

    def compact(self) -> np.ndarray:
        """The selected pixels in file order (a copy unless all are selected)."""
        return self.base if self.whole else self.base[self.mask]


def _select(pool: _Pool, c0, c1, extremes: bool) -> _Selection:
    """One sweep: count and double sum (and min, max with ``extremes``) of [c0, c1]."""
    base, scratch = pool.values, pool.scratch
    whole = bool(c0 <= pool.finite_min and pool.finite_max <= c1)
    sel = _Selection(base, c0, c1, whole, pool.safe)
    if not whole:
        sel.mask = pool.mask[:base.size]
        for start in range(0, base.size, _BLOCK):
            block = base[start:start + _BLOCK]
            _inside(block, c0, c1, sel.mask[start:start + _BLOCK], scratch)
        sel.n = int(np.count_nonzero(sel.mask))
    else:
        sel.n = base.size
    for block, mask in sel.blocks():
        kept = sel.zero_excluded(block, mask, scratch.f[:block.size], scratch)
        sel.total += _sum64(kept, scratch)
    if extremes and sel.n:
        if whole:
            sel.vmin, sel.vmax = float(pool.finite_min), float(pool.finite_max)
        elif sel.safe:
            sel.vmin, sel.vmax = sel.extremes(scratch)
        else:
            values = sel.compact()
            sel.vmin = float(np.minimum.reduce(values))
            sel.vmax = float(np.maximum.reduce(values))
    return sel


def _blocked_sum(values: np.ndarray) -> float:
    total = 0.0
    for start in range(0, values.size, _BLOCK):
        total += float(np.add.reduce(values[start:start + _BLOCK], dtype=np.float64))
    return total


def _squares(values: np.ndarray, mean: np.float32) -> np.ndarray:
    d = np.subtract(values, mean)
    np.multiply(d, d, out=d)
    return d


def _abs_bound(total: float, n: int, vmin: float, vmax: float) -> float:
    """An upper bound of sum(|v|) from the sum, count and a range holding every value."""
    if vmin >= 0.0 or vmax <= 0.0:  # one sign
        return abs(total)
    return abs(total) + 2.0 * n * (-vmin if total >= 0 else vmax)


def _clipped_mean(sel: _Selection) -> np.float32:
    """float32(sequential double sum / n), as imagestats' computeMean."""
    n, total = sel.n, sel.total

    def finish(s: float) -> float:
        return s / n

    err = _sum_bound(n, _abs_bound(total, n, float(sel.c0), float(sel.c1)))
    mean = _robust_f32(total, err, finish, lambda: math.nan)
    if not math.isnan(mean) or math.isnan(total):
        return mean
    values = sel.compact()
    err = _sum_bound(n, _blocked_sum(np.abs(values)))
    return _robust_f32(total, err, finish, lambda: _sequential_sum(values))


def _clipped_stddev(sel: _Selection, mean: np.float32, scratch: _Scratch) -> np.float32:
    """imagestats' stddev: sqrt(sum float32((v - mean)**2) / (n - 1)), float32 result."""
    n = sel.n
    if n == 0:
        return _F32(0.0)
    if n == 1:
        return _F32(math.nan)  # C: 0/0
    total = 0.0
    for block, mask in sel.blocks():
        d = scratch.f[:block.size]
        np.subtract(block, mean, out=d)
        np.square(d, out=d)
        total += _sum64(sel.zero_excluded(d, mask, d, scratch), scratch)
    if not math.isfinite(total):
        return _F32(math.sqrt(total / (n - 1))) if total > 0 else _F32(math.nan)

    def finish(s: float) -> float:
        return math.sqrt(max(s, 0.0) / (n - 1))

    return _robust_f32(total, _sum_bound(n, total), finish,
                       lambda: _sequential_sum(_squares(sel.compact(), mean)))


# --------------------------------------------------------------------------------------------
# The clipping passes
# --------------------------------------------------------------------------------------------


class _Pool:
    """The pixels imagestats iterates over.

    ``values`` holds every non-NaN pixel (finite only with ``finite_only``) in file order;
    NaN never satisfies a range test, so dropping it changes nothing except the first pixel,
    which is kept separately as ``first``.
    """

    def __init__(self, flat: np.ndarray, finite_only: bool) -> None:
        vmin, vmax = np.minimum.reduce(flat), np.maximum.reduce(flat)
        self.global_min, self.global_max = vmin, vmax
        if math.isfinite(vmin) and math.isfinite(vmax):
            values, first = flat, flat[0]
        else:
            values = flat[np.isfinite(flat) if finite_only else ~np.isnan(flat)]
            first = flat[0]
            if finite_only:
                first = values[0] if values.size else _F32(math.nan)
            if values.size:
                vmin, vmax = np.minimum.reduce(values), np.maximum.reduce(values)
            else:
                vmin = vmax = _F32(math.nan)
        self.values = values
        self.first = first
        self.finite_min, self.finite_max = vmin, vmax
        self.scratch = _Scratch()
        self.mask = np.empty(values.size, bool)
        # v * 0 is 0 unless v is infinite; (v - mean)**2 * 0 unless that overflows
        self.safe = bool(values.size == 0 or (abs(float(vmin)) < 1e18 and abs(float(vmax)) < 1e18))

    def finite_range(self) -> tuple[np.float32, np.float32]:
        """min and max of the kept values (NaN, NaN when none)."""
        return self.finite_min, self.finite_max

    def select(self, c0: np.float32, c1: np.float32, extremes: bool) -> _Selection:
        """The pixels v with c0 <= v <= c1 (count, sum; min and max if asked)."""
        return _select(self, c0, c1, extremes)


def _compute_mean(pool: _Pool, c0: np.float32, c1: np.float32, last: bool
                  ) -> tuple[int, float, float, float, float]:
    """imagestats' computeMean(image, c0, c1): (n, mean, stddev, min, max).

    min and max are only computed for the ``last`` pass (imagestats uses no other); earlier
    passes return NaN for them unless the first pixel is NaN (then they are NaN anyway).
    """
    sel = pool.select(c0, c1, extremes=last)
    n = sel.n
    x0 = pool.first
    tmin = c0 if c0 > x0 else x0  # seeding quirk: first pixel, clip limit
    tmax = c1 if c1 < x0 else x0
    if n == 0:
        return 0, math.nan, 0.0, float(tmin), float(tmax)
    vmin = tmin if math.isnan(tmin) or not last else min(tmin, _F32(sel.vmin))
    vmax = tmax if math.isnan(tmax) or not last else max(tmax, _F32(sel.vmax))
    mean = _clipped_mean(sel)
    # second loop: pixels in [vmin, vmax] == the selected pixels (vmin >= c0, vmax <= c1);
    # a NaN first pixel makes vmin = vmax = NaN, so the C sums nothing: 0 / (n - 1), which
    # is NaN (0/0) for a single pixel
    if math.isnan(x0):
        stddev = _F32(math.nan) if n == 1 else _F32(0.0)
    else:
        stddev = _clipped_stddev(sel, mean, pool.scratch)
    return n, float(mean), float(stddev), float(vmin), float(vmax)


# --------------------------------------------------------------------------------------------
# Histogram and mode
# --------------------------------------------------------------------------------------------


def _histogram(values: np.ndarray, nbins: int, dz: float, zero: float,
               scratch: _Scratch | None = None) -> np.ndarray:
    """stsci.imagestats histogram1d(values, nbins, dz, zero).histogram (uint32).

    Pixels v with lo <= v < lo + width*nbins go to bin int(f * (v - lo)), all in float32
    (lo = float32(zero), width = float32(dz), f = 1/width); index nbins is discarded.
    """
    width, lo = _F32(dz), _F32(zero)
    with np.errstate(all="ignore"):
        top = lo + width * _F32(nbins)
        scale = _F32(1.0) / width
    scratch = scratch or _Scratch()
    slots = nbins + 2  # 0: outside [lo, top); 1 + bin; nbins + 1: imagestats' scratch slot
    paired = slots * slots <= np.iinfo(np.uint16).max
    counts = np.zeros(slots * slots if paired else slots, np.int64)
    for start in range(0, values.size, _BLOCK):
        block = values[start:start + _BLOCK]
        pos = scratch.f[:block.size]
        with np.errstate(all="ignore"):
            np.subtract(block, lo, out=pos)
            np.multiply(pos, scale, out=pos)
        np.clip(pos, 0, _F32(nbins), out=pos)  # pool values are never NaN
        inside = _inside(block, lo, top, scratch.a[:block.size], scratch, open_top=True)
        index: np.ndarray = pos.astype(np.uint16 if paired else np.intp)  # truncation, as C's (int)
        index += 1
        np.multiply(index, inside, out=index)  # pixels outside [lo, top) -> slot 0
        _count_block(index, slots, paired, counts)
    if paired:
        grid = counts.reshape(slots, slots)
        counts = grid.sum(axis=1) + grid.sum(axis=0)  # first and second pixel of each pair
    return counts[1:nbins + 1].astype(np.uint32)


def _count_block(index: np.ndarray, slots: int, paired: bool, counts: np.ndarray) -> None:
    """Add the counts of slot indices 0..slots-1 (pairs of pixels per entry if ``paired``)."""
    if index.size == 0:
        return
    if not paired:
        counts += np.bincount(index, minlength=slots)[:slots]
        return
    half = index.size // 2
    pairs = index[0:2 * half:2] * np.uint16(slots)  # two pixels per bincount entry
    pairs += index[1:2 * half:2]
    counts += np.bincount(pairs, minlength=slots * slots)
    if index.size % 2:  # odd pixel: paired with slot 0 (not counted)
        counts[int(index[-1]) * slots] += 1


def _nbins(vmin: float, vmax: float, hwidth: float) -> tuple[int, float]:
    drange = vmax - vmin
    if hwidth < _TINY or abs(drange) < _TINY or hwidth > drange:
        return 1, drange
    if math.isnan(hwidth) or math.isnan(drange):  # imagestats: int(NaN) raises ValueError
        raise StatsError("cannot convert float NaN to integer")
    nbins = int((vmax - vmin) / hwidth) + 1
    return nbins, float(vmax - vmin) / float(nbins - 1)


def _mode(bins: np.ndarray, nbins: int, vmin: float, hwidth: float) -> float:
    """imagestats' mode, with the same Python/numpy types (see ClipStats.mode)."""
    if nbins == 1:
        return vmin + 0.5 * hwidth
    if nbins == 2:
        if bins[0] > bins[1]:
            return vmin + 0.5 * hwidth
        if bins[0] < bins[1]:
            return vmin + 1.5 * hwidth
        return vmin + hwidth
    peak = int(np.argmax(bins))
    if peak == 0:
        return vmin + 0.5 * hwidth
    if peak == nbins - 1:
        return vmin + (nbins - 0.5) * hwidth
    dh1 = bins[peak] - bins[peak - 1]
    dh2 = bins[peak] - bins[peak + 1]
    denom = dh1 + dh2
    if denom == 0:
        return vmin + (peak + 0.5) * hwidth
    pos = peak + 1 + (0.5 * (int(dh1) - int(dh2)) / denom)  # numpy.float64, as upstream
    return vmin + ((pos - 0.5) * hwidth)


# --------------------------------------------------------------------------------------------
# Public statistics
# --------------------------------------------------------------------------------------------


def _as_flat_float32(data: np.ndarray) -> np.ndarray:
    arr = np.asanyarray(data)
    if arr.size == 0:
        raise StatsError("Not enough data points to compute statistics.")
    if arr.dtype != np.float32:  # includes big-endian float32, as imagestats
        arr = arr.astype(np.float32)
    return np.ascontiguousarray(arr).ravel()


def _check_limits(lower, upper, gmin, gmax) -> tuple[Any, Any]:
    if lower is None:
        lower = gmin
    elif lower > gmax:
        raise StatsError("Lower data cutoff is larger than maximum pixel value. "
                         "Not enough data points to compute statistics.")
    elif upper is not None and lower > upper:
        raise StatsError("Lower data cutoff must be smaller than upper cutoff limit.")
    if upper is None:
        upper = gmax
    elif upper < gmin:
        raise StatsError("Upper data cutoff is smaller than minimum pixel value. "
                         "Not enough data points to compute statistics.")
    return lower, upper


def _to_f32(value) -> np.float32:
    with np.errstate(over="ignore"):
        return _F32(value)


def imagestats(data: np.ndarray, *, lower=None, upper=None, nclip: int = 0,
               lsig: float = 3.0, usig: float = 3.0, binwidth: float = 0.1,
               finite_only: bool = False) -> ClipStats:
    """``stsci.imagestats.ImageStats(data, fields="mode", ...)``, reproduced exactly.

    Parameters
    ----------
    data : ndarray
        Image (any shape, any real dtype; converted to float32 like imagestats).
    lower, upper : float, optional
        Data cutoffs (default: the global min / max, which are NaN if any pixel is NaN).
    nclip, lsig, usig, binwidth
        As in imagestats.
    finite_only : bool
        False: behave exactly like imagestats, including its failures (a NaN first pixel,
        Inf pixels). True: ignore non-finite pixels entirely (default cutoffs become the
        finite min / max, the first finite pixel seeds the min/max).

    Returns
    -------
    ClipStats

    Raises
    ------
    StatsError
        No pixel left within the clip range (imagestats' ValueError), bad parameters.
    """
    if nclip < 0:
        raise StatsError("'nclip' must be a non-negative integer.")
    if lsig <= 0.0 or usig <= 0.0 or binwidth <= 0.0:
        raise StatsError("'lsig', 'usig' and 'binwidth' must be positive numbers.")
    pool = _Pool(_as_flat_float32(data), finite_only)
    gmin, gmax = pool.global_min, pool.global_max
    if finite_only:
        gmin, gmax = pool.finite_range()
    lower, upper = _check_limits(lower, upper, gmin, gmax)
    cmin, cmax = lower, upper
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for it in range(nclip + 1):
            npix, mean, stddev, vmin, vmax = _compute_mean(pool, _to_f32(cmin), _to_f32(cmax),
                                                           last=it == nclip)
            if npix <= 0:
                raise StatsError("Not enough data points to compute statistics.")
            if it < nclip:
                cmin = max(lower, mean - lsig * stddev)
                cmax = min(upper, mean + usig * stddev)
        hwidth = binwidth * stddev
        nbins, dz = _nbins(vmin, vmax, hwidth)
        hist = _histogram(pool.values, nbins, dz, vmin, pool.scratch)
        mode = _mode(hist, nbins, vmin, hwidth)
    return ClipStats(npix, mean, stddev, vmin, vmax, nbins, hwidth, hist, mode)


def chip_statistics(data: np.ndarray, *, finite_only: bool = True) -> ClipStats:
    """The statistics drizzlepac's static mask takes of one chip.

    ``ImageStats(data, nclip=3, fields="mode", lower=nanmin(data), upper=nanmax(data))``.
    With ``finite_only`` (default) NaN/Inf pixels are ignored, so a NaN first pixel or an
    Inf pixel no longer aborts (see the module docstring); otherwise identical.

    Parameters
    ----------
    data : ndarray
        SCI array of one chip (float32 as in HST flt/flc files; other dtypes accepted).

    Raises
    ------
    StatsError
        No usable pixel (all NaN, or imagestats' own failures when ``finite_only=False``).
    """
    if finite_only:
        return imagestats(data, nclip=3, finite_only=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lower, upper = np.nanmin(data), np.nanmax(data)
    return imagestats(data, nclip=3, lower=lower, upper=upper)


# --------------------------------------------------------------------------------------------
# The mask
# --------------------------------------------------------------------------------------------


def threshold(stats: ClipStats, sig: float = DEFAULT_SIG):
    """``mode - sig * rms``, with drizzlepac's types (a numpy.float64 or a float)."""
    return stats.mode - (sig * stats.stddev)


def _float32_ceiling(value: float) -> np.float32:
    """Smallest float32 >= value: for float32 x, ``x < value`` iff ``x < ceiling``."""
    with np.errstate(over="ignore"):
        ceil = _F32(value)
    if float(ceil) < value:
        ceil = np.nextafter(ceil, _F32(np.inf))
    return ceil


def low_pixels(data: np.ndarray, thr) -> np.ndarray:
    """Pixels below the threshold, compared exactly as numpy compares ``data < thr``.

    Parameters
    ----------
    data : ndarray
        SCI array (any real dtype).
    thr : float or numpy.float64
        From :func:`threshold`. A numpy.float64 threshold is compared in float64 (numpy's
        promotion), a Python float in the data's float32 precision.

    Returns
    -------
    ndarray of bool
        ``bad``: True where ``data < thr``. NaN pixels are never below (good).
    """
    arr = np.asarray(data)
    if arr.dtype.kind == "f" and arr.dtype.itemsize == 4 and isinstance(thr, np.float64):
        if math.isnan(thr):
            return np.zeros(arr.shape, dtype=bool)
        return np.less(arr, _float32_ceiling(float(thr)))  # same answer, float32 speed
    return np.less(arr, thr)


def update_good(good: np.ndarray, data: np.ndarray, stats: ClipStats,
                sig: float = DEFAULT_SIG) -> int:
    """AND one chip's low-pixel mask into a static mask, in place (drizzlepac addMember).

    Parameters
    ----------
    good : ndarray of int16
        ``good`` convention (1 = good, 0 = bad), same shape as ``data``; updated in place.
    data : ndarray
        SCI array of the chip.
    stats : ClipStats
        :func:`chip_statistics` of ``data``.
    sig : float
        drizzlepac ``static_sig``.

    Returns
    -------
    int
        Pixels this chip flags (below the threshold); 0 when the chip is skipped because
        its clipped data fall in fewer than 2 histogram bins (drizzlepac does the same).
    """
    if stats.nbins < 2:
        return 0
    bad = low_pixels(data, threshold(stats, sig))
    good[bad] = 0
    return int(np.count_nonzero(bad))


def dq_bad(dq: np.ndarray, bits: int | str | None, *, flip: bool = False) -> np.ndarray:
    """DQ pixels AstroDrizzle would reject with ``final_bits = bits``.

    ``bitfield_to_boolean_mask`` semantics (a pixel is good iff ``dq & ~bits == 0``; a
    leading ``~`` inverts the listed bits; ``None`` means every pixel is good), but on the
    full-width DQ: no cast to uint16, so no bit is lost.

    Parameters
    ----------
    dq : ndarray of integer dtype
        DQ bitfield (HST int16, or wider).
    bits : int, str or None
        Bits to *ignore* (treat as good), as drizzlepac's ``final_bits`` (an integer or
        astropy's string forms ``"4,8"``, ``"~4"``).
    flip : bool
        Invert ``bits`` (the ``~`` form): only the listed bits make a pixel bad.

    Returns
    -------
    ndarray of bool
        ``bad``: True = rejected.
    """
    require_dq_dtype(dq)
    if bits is None:
        return np.zeros(np.shape(dq), dtype=bool)
    ignore = bitmask.interpret_bit_flags(bits, flip_bits=flip or None)
    return np.zeros(np.shape(dq), dtype=bool) if ignore is None else dq_to_bad(dq, ~ignore)
