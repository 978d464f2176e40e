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

Few passes over the pixels
--------------------------
Work goes in cache-sized blocks. One sweep gives the min, max, sum and sum of squares
around a reference value; a clipping pass lists the pixels *outside* its range (few), so its
sum is the total minus theirs. An intermediate pass's stddev only sets the next limits:
bounds from the sums bracket it within two float32 steps, and when no pixel lies between
the limits they give, the next selection is known without summing squares. Only the last
pass sums its float32 squares; its scan also yields the clipped min/max; the histogram bins
the selected pixels without range tests. Everything is thread-safe (numpy's error state is
per thread; no warning filters are touched), so chips can be computed in threads.

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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

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
_SPARSE = 16  # a block's excluded pixels are listed by index when fewer than 1 in 16
_MAX_FAST_BINS = 60000  # histogram slots fit in uint16
_ALL_BITS = (1 << 64) - 1  # the bits astropy's bitmask supports


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
        total = _accumulate(chunk, total)
    return total


def _accumulate(chunk: np.ndarray, total: float) -> float:
    """Continue the sequential double sum ``total`` over ``chunk`` (float64, overwritten)."""
    if chunk.size == 0:
        return total
    chunk[0] += total
    return float(np.add.accumulate(chunk, out=chunk)[-1])


def _sum_bound(n: int, abs_sum: float) -> float:
    """Bound on |sequential sum - blocked numpy sum| of ``n`` float32 values in double.

    Sequential summation errs by at most (n-1) u sum|v|; numpy's blocked pairwise sum by far
    less than (n/_BLOCK + 2 log2(_BLOCK) + 16) u sum|v|. Both are covered with margin.
    """
    return (1.01 * n + 1024.0) * _U * abs_sum * 1.01


def _abs_bound(total: float, n: int, vmin: float, vmax: float) -> float:
    """An upper bound of sum(|v|) from the sum, count and a range holding every value."""
    if vmin >= 0.0 or vmax <= 0.0:  # one sign
        return abs(total)
    return abs(total) + 2.0 * n * (-vmin if total >= 0 else vmax)


def _first_agreement(estimates: Iterable[tuple[float, float]],
                     finish: Callable[[float], float]) -> np.float32 | None:
    """float32(finish(S)) for the sequential sum S, from (estimate, bound) pairs.

    Each pair says S lies within ``bound`` of ``estimate``; ``finish`` is monotonic
    non-decreasing, so when float32(finish) agrees at both ends of an interval it is the
    answer. None when no interval decides (the caller then computes S literally).
    """
    for total, err in estimates:
        low, high = _F32(finish(total - err)), _F32(finish(total + err))
        if low == high:
            return low
    return None


# --------------------------------------------------------------------------------------------
# Cache-sized blocks; the pixels outside a clip range are listed per block
# --------------------------------------------------------------------------------------------


class _Scratch:
    """Block-sized scratch arrays (reused; they stay in the CPU cache)."""

    def __init__(self) -> None:
        self.f = np.empty(_BLOCK, np.float32)
        self.d = np.empty(_BLOCK, np.float64)
        self.a = np.empty(_BLOCK, bool)
        self.b = np.empty(_BLOCK, bool)
        self.slots = np.empty(_BLOCK, np.uint16)


def _sum64(values: np.ndarray, scratch: _Scratch) -> float:
    """Double sum of a float32 block (explicit cast: faster than a casting reduction)."""
    d = scratch.d[:values.size]
    np.copyto(d, values)
    return float(np.add.reduce(d))


@dataclass
class _Sweep:
    """One pass over the values: min, max (NaN if any value is NaN), double sum, and the
    double sum ``w2`` of (v - m0)**2 around ``m0`` (the mean of the first block)."""

    vmin: np.float32
    vmax: np.float32
    total: float
    m0: float
    w2: float


def _sweep(values: np.ndarray, scratch: _Scratch) -> _Sweep:
    nan = _F32(math.nan)
    out = _Sweep(nan, nan, 0.0, 0.0, 0.0)
    for start in range(0, values.size, _BLOCK):
        block = values[start:start + _BLOCK]
        low, high = np.minimum.reduce(block), np.maximum.reduce(block)
        if math.isnan(low) or math.isnan(high):
            return _Sweep(nan, nan, math.nan, 0.0, math.nan)
        d = scratch.d[:block.size]
        np.copyto(d, block)
        block_sum = float(np.add.reduce(d))
        if start == 0:
            out.vmin, out.vmax, out.m0 = low, high, block_sum / block.size
        else:
            out.vmin, out.vmax = min(out.vmin, low), max(out.vmax, high)
        out.total += block_sum
        np.subtract(d, out.m0, out=d)
        np.multiply(d, d, out=d)
        out.w2 += float(np.add.reduce(d))
    return out


class _Pool:
    """The pixels imagestats iterates over.

    ``values`` holds every non-NaN pixel (finite only with ``finite_only``) in file order;
    NaN never satisfies a range test, so dropping it changes nothing except the first pixel,
    which is kept separately as ``first``. One pass gives the min, max and double sum
    (``total``) of ``values``.
    """

    def __init__(self, flat: np.ndarray, finite_only: bool) -> None:
        self.scratch = _Scratch()
        with np.errstate(all="ignore"):
            sweep = _sweep(flat, self.scratch)
        vmin, vmax = sweep.vmin, sweep.vmax
        if math.isnan(vmin):  # as numpy's min/max: NaN when any pixel is NaN
            self.global_min = self.global_max = _F32(math.nan)
        else:
            self.global_min, self.global_max = vmin, vmax
        if math.isfinite(vmin) and math.isfinite(vmax):
            values, first = flat, flat[0]
        else:
            values = flat[np.isfinite(flat) if finite_only else ~np.isnan(flat)]
            first = flat[0]
            if finite_only:
                first = values[0] if values.size else _F32(math.nan)
            with np.errstate(all="ignore"):
                sweep = _sweep(values, self.scratch)
            vmin, vmax = sweep.vmin, sweep.vmax
        total = sweep.total
        self.m0, self.w2 = sweep.m0, sweep.w2
        self.values = values
        self.first = first
        self.finite_min, self.finite_max = vmin, vmax
        self.total = total
        # every sum of pixels is finite (no Inf, no overflow): S(selected) = S - S(excluded)
        self.safe = bool(values.size == 0 or (abs(float(vmin)) < 1e18 and abs(float(vmax)) < 1e18))
        self._abs_total: float | None = None
        self.selection: _Selection | None = None  # of the last clipping pass

    def finite_range(self) -> tuple[np.float32, np.float32]:
        """min and max of the kept values (NaN, NaN when none)."""
        return self.finite_min, self.finite_max

    def one_sign(self) -> bool:
        """All values >= 0 or all <= 0 (then sum|v| = |sum v|)."""
        return bool(self.finite_min >= 0 or self.finite_max <= 0)

    def abs_total(self) -> float:
        """An upper bound of sum|v| over every value (a pass over the pool when of both signs)."""
        if self._abs_total is None:
            if self.one_sign():
                self._abs_total = abs(self.total)
            else:
                scratch, total = self.scratch, 0.0
                for start in range(0, self.values.size, _BLOCK):
                    block = self.values[start:start + _BLOCK]
                    total += _sum64(np.abs(block, out=scratch.f[:block.size]), scratch)
                self._abs_total = total * (1.0 + 1e-6)  # numpy's own rounding, covered
        return self._abs_total

    def select(self, c0: np.float32, c1: np.float32, extremes: bool = False) -> _Selection:
        """The pixels v with c0 <= v <= c1 (their min and max found on the way if asked)."""
        return _Selection.of(self, c0, c1, extremes)


@dataclass
class _Excluded:
    """The pixels outside a selection: values, double sums of v, |v| and (v - m0)**2."""

    values: np.ndarray
    total: float
    abs_total: float
    w2: float


@dataclass
class _Selection:
    """The pixels v of ``pool`` with c0 <= v <= c1, and those outside, block by block.

    ``outside`` has one entry per block of ``_BLOCK`` pixels: None when the whole block is
    selected, else the block's excluded pixels as local indices (sparse) or a bool mask
    (True = excluded). It is None when every pixel is selected (``whole``). Operations then
    stay vectorised on whole blocks: an excluded pixel is set to 0 before a sum (exact), or
    to a neutral value before a min/max.
    """

    pool: _Pool
    c0: np.float32
    c1: np.float32
    outside: list[np.ndarray | None] | None
    n: int
    vmin: float = math.nan
    vmax: float = math.nan
    _excluded: _Excluded | None = None
    _near: tuple[float, float] = (math.nan, math.nan)  # selected min below t0, max above t1
    _margins: bool = False  # pixels within the margins were listed (``_near`` is meaningful)

    @classmethod
    def of(cls, pool: _Pool, c0: np.float32, c1: np.float32, extremes: bool = False
           ) -> _Selection:
        """Scan the pool once for the pixels outside [c0, c1].

        With ``extremes`` the scan also lists the selected pixels within a small margin of
        each limit: the smallest (largest) of them is the selection's min (max), found
        without another pass (:meth:`find_extremes` makes one only when a margin is empty).
        """
        values = pool.values
        if bool(c0 <= pool.finite_min and pool.finite_max <= c1):
            return cls(pool, c0, c1, None, values.size)
        if math.isnan(c0) or math.isnan(c1) or c0 > c1:  # C's c0 <= v <= c1 holds for none
            return cls(pool, c0, c1, [np.ones(values[start:start + _BLOCK].size, bool)
                                      for start in range(0, values.size, _BLOCK)], 0)
        t0, t1 = c0, c1
        if extremes:
            with np.errstate(all="ignore"):
                margin = (c1 - c0) * _F32(2.0**-9)
                t0, t1 = c0 + margin, c1 - margin
            if not (math.isfinite(t0) and math.isfinite(t1) and c0 <= t0 <= t1 <= c1):
                t0, t1 = c0, c1
        sel = cls(pool, c0, c1, [], 0)
        sel._scan(t0, t1)
        return sel

    def _scan(self, t0: np.float32, t1: np.float32) -> None:
        """Fill ``outside`` and ``n`` (pixels below t0 or above t1 listed, then filtered:
        those in [c0, t0) and (t1, c1] are selected and give the extremes)."""
        assert self.outside is not None
        values, scratch, c0, c1 = self.pool.values, self.pool.scratch, self.c0, self.c1
        near = t0 != c0 or t1 != c1
        low_near, high_near = math.inf, -math.inf
        n_out = 0
        low_side = bool(t0 > self.pool.finite_min)  # else no pixel lies below t0
        high_side = bool(t1 < self.pool.finite_max)
        for start in range(0, values.size, _BLOCK):
            block = values[start:start + _BLOCK]
            below, above = scratch.a[:block.size], scratch.b[:block.size]
            if low_side:
                np.less(block, t0, out=below)
            if high_side:
                np.greater(block, t1, out=above)
            if low_side and high_side:
                np.logical_or(below, above, out=below)
            listed = np.flatnonzero(below if low_side else above)
            if near and listed.size:
                vals = block[listed]
                out = (vals < c0) | (vals > c1)
                inner = vals[~out]
                if inner.size:
                    low_near = min(low_near, float(np.minimum.reduce(inner)))
                    high_near = max(high_near, float(np.maximum.reduce(inner)))
                listed = listed[out]
            k = listed.size
            if k == 0:
                self.outside.append(None)
            elif k * _SPARSE < block.size:
                self.outside.append(listed)
            else:  # many: a bool mask (True = excluded) is smaller
                mask = np.less(block, c0)
                self.outside.append(np.logical_or(mask, np.greater(block, c1), out=mask))
            n_out += k
        self.n = values.size - n_out
        if near:
            self._margins = True
            self._near = (low_near if low_near < t0 else math.nan,
                          high_near if high_near > t1 else math.nan)

    def widened_to(self, c0: np.float32, c1: np.float32) -> _Selection:
        """The selection of [c0, c1], which contains [self.c0, self.c1]: the pixels it
        adds are among this one's excluded pixels, so no scan is needed."""
        assert self.outside is not None and c0 <= self.c0 and self.c1 <= c1
        values = self.pool.values
        outside: list[np.ndarray | None] = []
        sel = _Selection(self.pool, c0, c1, outside, 0, _margins=self._margins)
        low, high = self._near
        n_out = 0
        for start, out in zip(range(0, values.size, _BLOCK), self.outside, strict=True):
            if out is None:
                outside.append(None)
                continue
            block = values[start:start + _BLOCK]
            if out.dtype == bool:
                mask = np.less(block, c0)
                np.logical_or(mask, np.greater(block, c1), out=mask)
                added = block[out & ~mask]
                k = int(np.count_nonzero(mask))
                kept: np.ndarray = mask
            else:
                vals = block[out]
                still = (vals < c0) | (vals > c1)
                added = vals[~still]
                kept = out[still]
                k = kept.size
            outside.append(kept if k else None)
            n_out += k
            below, above = added[added < self.c0], added[added > self.c1]
            if below.size:  # below every other selected pixel: the new min is among them
                b = float(np.minimum.reduce(below))
                low = b if math.isnan(low) else min(low, b)
            if above.size:
                a = float(np.maximum.reduce(above))
                high = a if math.isnan(high) else max(high, a)
        sel.n = values.size - n_out
        if sel._margins:  # still the extremes: everything else lies inside the old margins
            sel._near = (low, high)
        return sel

    @property
    def whole(self) -> bool:
        return self.outside is None

    def blocks(self) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """(block, its excluded pixels or None), skipping blocks with no selected pixel."""
        values = self.pool.values
        for k, start in enumerate(range(0, values.size, _BLOCK)):
            block = values[start:start + _BLOCK]
            out = None if self.outside is None else self.outside[k]
            if out is not None and out.dtype == bool and out.all():
                continue
            yield block, out

    def excluded_values(self) -> np.ndarray:
        """The excluded pixels' values (file order)."""
        if self.outside is None:
            return self.pool.values[:0]
        values = self.pool.values
        parts = [values[start:start + _BLOCK][out]
                 for start, out in zip(range(0, values.size, _BLOCK), self.outside, strict=True)
                 if out is not None]
        return np.concatenate(parts) if parts else values[:0]

    def excluded(self) -> _Excluded:
        """The excluded pixels' values and double sums (computed once)."""
        if self._excluded is None:
            values = self.excluded_values()
            d = values.astype(np.float64)
            total = float(np.add.reduce(d))
            abs_total = float(np.add.reduce(np.abs(d)))
            np.subtract(d, self.pool.m0, out=d)
            self._excluded = _Excluded(values, total, abs_total,
                                       float(np.add.reduce(np.multiply(d, d, out=d))))
        return self._excluded

    def sum_bound_from_all(self, precise: bool) -> tuple[float, float]:
        """S(all) - S(excluded) and a bound on its distance from the selected pixels'
        sequential (and exact) double sum (safe pools only)."""
        pool, ex = self.pool, self.excluded()
        size = pool.values.size
        total = pool.total - ex.total
        abs_all = (pool.abs_total() if precise else
                   _abs_bound(pool.total, size, float(pool.finite_min), float(pool.finite_max)))
        return total, (_sum_bound(size, abs_all) + _sum_bound(ex.values.size, ex.abs_total)
                       + 2.0 * _U * abs(total))

    def sum_estimates(self) -> Iterator[tuple[float, float]]:
        """(estimate, bound) pairs of the sequential double sum of the selected pixels,
        cheapest first."""
        pool, n = self.pool, self.n
        if pool.safe:  # S(selected) = S(all) - S(excluded): no pass over the pixels
            yield self.sum_bound_from_all(precise=False)
            if not pool.one_sign():
                yield self.sum_bound_from_all(precise=True)
            if self.whole:
                return
        total, abs_total = self._direct_sums()
        yield total, _sum_bound(n, abs_total)

    def _direct_sums(self) -> tuple[float, float]:
        """Blocked double sums of the selected pixels and of their absolute values."""
        scratch = self.pool.scratch
        total = abs_total = 0.0
        with np.errstate(invalid="ignore"):
            for block, out in self.blocks():
                d = scratch.d[:block.size]
                np.copyto(d, block)
                if out is not None:
                    d[out] = 0.0
                total += float(np.add.reduce(d))
                abs_total += float(np.add.reduce(np.abs(d, out=d)))
        return total, abs_total

    def sequential_sum(self) -> float:
        """The selected pixels' double sum in file order, literally (rarely needed)."""
        total = 0.0
        for block, out in self.blocks():
            d = self.pool.scratch.d[:block.size]
            np.copyto(d, block)
            if out is not None:
                d[out] = 0.0  # adding 0.0 leaves a sum unchanged
            total = _accumulate(d, total)
        return total

    def square_sum(self, mean: np.float32, sequential: bool = False) -> float:
        """Double sum of float32((v - mean)**2) over the selected pixels (blocked or literal)."""
        scratch = self.pool.scratch
        total = 0.0
        with np.errstate(over="ignore", invalid="ignore"):
            for block, out in self.blocks():
                f, d = scratch.f[:block.size], scratch.d[:block.size]
                np.subtract(block, mean, out=f)
                np.multiply(f, f, out=f)
                if out is not None:
                    f[out] = 0.0
                np.copyto(d, f)
                total = _accumulate(d, total) if sequential else total + float(np.add.reduce(d))
        return total

    def find_extremes(self) -> None:
        """Exact min and max of the selected pixels into ``vmin``, ``vmax`` (n > 0).

        An excluded pixel is replaced by c1 for the min and by c0 for the max (every
        selected pixel lies in [c0, c1]).
        """
        if self.outside is None:
            self.vmin, self.vmax = float(self.pool.finite_min), float(self.pool.finite_max)
            return
        if self._margins and not (math.isnan(self._near[0]) or math.isnan(self._near[1])):
            self.vmin, self.vmax = self._near
            return
        vmin, vmax = math.inf, -math.inf
        for block, out in self.blocks():
            if out is None:
                low, high = np.minimum.reduce(block), np.maximum.reduce(block)
            else:
                f = self.pool.scratch.f[:block.size]
                np.copyto(f, block)
                f[out] = self.c1
                low = np.minimum.reduce(f)
                f[out] = self.c0
                high = np.maximum.reduce(f)
            vmin, vmax = min(vmin, float(low)), max(vmax, float(high))
        self.vmin, self.vmax = vmin, vmax


def _clipped_mean(sel: _Selection) -> np.float32:
    """float32(sequential double sum / n), as imagestats' computeMean."""
    n = sel.n

    def finish(s: float) -> float:
        return s / n

    mean = _first_agreement(sel.sum_estimates(), finish)
    return mean if mean is not None else _F32(finish(sel.sequential_sum()))


def _clipped_stddev(sel: _Selection, mean: np.float32) -> np.float32:
    """imagestats' stddev: sqrt(sum float32((v - mean)**2) / (n - 1)), float32 result."""
    n = sel.n
    if n == 0:
        return _F32(0.0)
    if n == 1:
        return _F32(math.nan)  # C: 0/0
    total = sel.square_sum(mean)
    if not math.isfinite(total):
        return _F32(math.sqrt(total / (n - 1))) if total > 0 else _F32(math.nan)

    def finish(s: float) -> float:
        return math.sqrt(max(s, 0.0) / (n - 1))

    std = _first_agreement([(total, _sum_bound(n, total))], finish)
    return std if std is not None else _F32(finish(sel.square_sum(mean, sequential=True)))


# --------------------------------------------------------------------------------------------
# The clipping passes
# --------------------------------------------------------------------------------------------


def _stddev_bounds(sel: _Selection, mean: np.float32) -> tuple[np.float32, np.float32] | None:
    """Two float32 values bracketing imagestats' stddev of the selection, without a pass.

    From the sweep's sum of (v - m0)**2 minus the excluded pixels' (exact in reals up to
    rigorously bounded rounding): E = sum (v - m0)**2 - 2 d sum (v - m0) + n d**2 with
    d = mean - m0 is sum (v - mean)**2; imagestats' float32 difference and square change
    each term by at most 3.0001 float32 units and its sequential double sum the total by
    (n - 1) double units. None when the pool is unsuited (huge or infinite values).
    """
    pool, n = sel.pool, sel.n
    if not pool.safe or n < 2 or not math.isfinite(pool.w2):
        return None
    ex = sel.excluded()
    size = pool.values.size
    w2 = pool.w2 - ex.w2
    err_w2 = (3.01 * _U * (pool.w2 + ex.w2) + _sum_bound(size, pool.w2)
              + _sum_bound(ex.values.size, ex.w2) + 2.0 * _U * abs(w2))
    s_sel, err_s = sel.sum_bound_from_all(precise=False)
    w1 = s_sel - n * pool.m0
    err_w1 = err_s + 2.0 * _U * (abs(n * pool.m0) + abs(w1))
    delta = float(mean) - pool.m0
    ad = abs(delta)
    e = w2 - 2.0 * delta * w1 + n * delta * delta
    err_e = (err_w2 + 2.0 * ad * err_w1 + 8.0 * _U * (abs(w2) + 2.0 * ad * abs(w1) + n * ad * ad)
             + 4.0 * _U * ad * (abs(w1) + n * ad) + n * 1e-30)
    g32 = 3.0001 * 2.0**-24  # float32 difference and square, per term
    gseq = 1.01 * (n + 1) * _U + 16 * _U  # sequential sum, and this arithmetic
    d_lo = max(e - err_e, 0.0) * (1.0 - g32) * (1.0 - gseq)
    d_hi = (e + err_e) * (1.0 + g32) * (1.0 + gseq)
    if not math.isfinite(d_hi):
        return None
    return (_F32(math.sqrt(d_lo / (n - 1))), _F32(math.sqrt(d_hi / (n - 1))))


def _next_selection(sel: _Selection, mean: float, lower, upper, lsig: float, usig: float,
                    next_is_last: bool) -> tuple[_Selection | None, _Selection | None]:
    """The next pass's selection when the stddev bounds already decide it, else None; and
    the narrowest candidate selection when one was built (the exact one contains it).

    The next limits lie between those of the two stddev bounds (the arithmetic is
    monotonic); when no pixel lies between the candidate limits, every candidate selects
    the same pixels: the narrowest is built and its excluded pixels are checked. The last
    pass also needs its limits only through the first pixel's seeding, decided when that
    pixel lies inside every candidate range.
    """
    bounds = _stddev_bounds(sel, _F32(mean))
    if bounds is None:
        return None, None
    sd_lo, sd_hi = float(bounds[0]), float(bounds[1])
    c0_lo = _to_f32(max(lower, mean - lsig * sd_hi))
    c0_hi = _to_f32(max(lower, mean - lsig * sd_lo))
    c1_lo = _to_f32(min(upper, mean + usig * sd_lo))
    c1_hi = _to_f32(min(upper, mean + usig * sd_hi))
    limits = (c0_lo, c0_hi, c1_lo, c1_hi)
    if any(math.isnan(c) for c in limits) or not c0_lo <= c0_hi <= c1_lo <= c1_hi:
        return None, None
    x0 = sel.pool.first
    if next_is_last and (c0_lo != c0_hi or c1_lo != c1_hi) and not c0_hi <= x0 <= c1_lo:
        return None, None
    nxt = sel.pool.select(c0_hi, c1_lo, extremes=next_is_last)
    if c0_lo != c0_hi or c1_lo != c1_hi:
        ex = nxt.excluded().values
        if bool(np.any((ex >= c0_lo) & (ex < c0_hi)) or np.any((ex > c1_lo) & (ex <= c1_hi))):
            return None, nxt
    return nxt, nxt


def _pass_results(pool: _Pool, sel: _Selection, last: bool, stddev: bool = True
                  ) -> tuple[int, float, float, float, float]:
    """imagestats' computeMean on a selection: (n, mean, stddev, min, max).

    min and max are only computed for the ``last`` pass (imagestats uses no other); earlier
    passes return NaN for them unless the first pixel is NaN (then they are NaN anyway).
    Without ``stddev`` its slot is NaN (the caller may not need it), unless the first pixel
    is NaN (then it is known without computing).
    """
    n = sel.n
    c0, c1 = sel.c0, sel.c1
    x0 = pool.first
    tmin = c0 if c0 > x0 else x0  # seeding quirk: first pixel, clip limit
    tmax = c1 if c1 < x0 else x0
    if n == 0:
        return 0, math.nan, 0.0, float(tmin), float(tmax)
    if last:
        sel.find_extremes()
    vmin = tmin if math.isnan(tmin) or not last else min(tmin, _F32(sel.vmin))
    vmax = tmax if math.isnan(tmax) or not last else max(tmax, _F32(sel.vmax))
    mean = _clipped_mean(sel)
    # second loop: pixels in [vmin, vmax] == the selected pixels (vmin >= c0, vmax <= c1);
    # a NaN first pixel makes vmin = vmax = NaN, so the C sums nothing: 0 / (n - 1), which
    # is NaN (0/0) for a single pixel
    if math.isnan(x0):
        std = _F32(math.nan) if n == 1 else _F32(0.0)
    elif stddev:
        std = _clipped_stddev(sel, mean)
    else:
        std = _F32(math.nan)
    return n, float(mean), float(std), float(vmin), float(vmax)


def _compute_mean(pool: _Pool, c0: np.float32, c1: np.float32, last: bool
                  ) -> tuple[int, float, float, float, float]:
    """imagestats' computeMean(image, c0, c1): (n, mean, stddev, min, max).

    The selection is kept as ``pool.selection`` (the histogram uses the last pass's).
    """
    sel = pool.selection = pool.select(c0, c1, extremes=last)
    return _pass_results(pool, sel, last)


def _clip_passes(pool: _Pool, lower, upper, nclip: int, lsig: float, usig: float
                 ) -> tuple[int, float, float, float, float]:
    """imagestats' clipping loop: the last pass's (n, mean, stddev, min, max).

    A pass whose stddev only sets the next limits skips its pass over the pixels when
    :func:`_next_selection` shows the bounds decide the next selection.
    """
    sel = pool.select(_to_f32(lower), _to_f32(upper), extremes=nclip == 0)
    for it in range(nclip + 1):
        last = it == nclip
        pool.selection = sel
        exact = last or math.isnan(pool.first)
        npix, mean, stddev, vmin, vmax = _pass_results(pool, sel, last, stddev=exact)
        if npix <= 0:
            raise StatsError("Not enough data points to compute statistics.")
        if last:
            break
        nxt, narrow = (None, None) if exact else _next_selection(
            sel, mean, lower, upper, lsig, usig, next_is_last=it + 1 == nclip)
        if nxt is None:
            if not exact:
                stddev = float(_clipped_stddev(sel, _F32(mean)))
            c0 = _to_f32(max(lower, mean - lsig * stddev))
            c1 = _to_f32(min(upper, mean + usig * stddev))
            if narrow is not None and not narrow.whole and c0 <= narrow.c0 and narrow.c1 <= c1:
                nxt = narrow.widened_to(c0, c1)
            else:
                nxt = pool.select(c0, c1, extremes=it + 1 == nclip)
        sel = nxt
    return npix, mean, stddev, vmin, vmax


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
        inside, below_top = scratch.a[:block.size], scratch.b[:block.size]
        np.greater_equal(block, lo, out=inside)
        np.less(block, top, out=below_top)
        np.logical_and(inside, below_top, out=inside)
        index: np.ndarray = pos.astype(np.uint16 if paired else np.intp)  # truncation, as C's (int)
        index += 1
        np.multiply(index, inside, out=index)  # pixels outside [lo, top) -> slot 0
        _count_block(index, slots, paired, counts)
    if paired:
        grid = counts.reshape(slots, slots)
        counts = grid.sum(axis=1) + grid.sum(axis=0)  # first and second pixel of each pair
    return counts[1:nbins + 1].astype(np.uint32)


def _pool_histogram(pool: _Pool, sel: _Selection, nbins: int, dz: float, zero: float
                    ) -> np.ndarray:
    """:func:`_histogram` of the pool's values, using the last clipping pass's selection.

    The selected pixels lie in [sel.vmin, sel.vmax]; when that is inside the histogram's
    range [lo, top) their bins are computed without range tests (one vectorised pass, the
    excluded pixels set to the discarded slot) and only the excluded pixels go through the
    general :func:`_histogram`. Same counts, by construction.
    """
    width, lo = _F32(dz), _F32(zero)
    with np.errstate(all="ignore"):
        top = lo + width * _F32(nbins)
        scale = _F32(1.0) / width
    fast = (sel.n > 0 and nbins < _MAX_FAST_BINS
            and all(math.isfinite(x) for x in (lo, width, top, scale)) and width > 0
            and lo <= _F32(sel.vmin) and _F32(sel.vmax) < top)
    if not fast:
        return _histogram(pool.values, nbins, dz, zero, pool.scratch)
    scratch = pool.scratch
    counts = np.zeros(nbins + 1, np.int64)  # index nbins: imagestats' discarded slot
    with np.errstate(all="ignore"):
        for block, out in sel.blocks():
            pos, slots = scratch.f[:block.size], scratch.slots[:block.size]
            np.subtract(block, lo, out=pos)
            np.multiply(pos, scale, out=pos)
            np.copyto(slots, pos, casting="unsafe")  # truncation, as C's (int)
            if out is not None:
                slots[out] = nbins  # excluded pixels: counted below
            block_counts = np.bincount(slots)
            used = min(block_counts.size, nbins + 1)  # beyond nbins: discarded, as _histogram
            counts[:used] += block_counts[:used]
    hist = counts[:nbins]
    excluded = sel.excluded().values
    if excluded.size:
        hist += _histogram(excluded, nbins, dz, zero, scratch)
    return hist.astype(np.uint32)


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
    # numpy's floating-point state is per thread (warning filters are not): safe in workers
    with np.errstate(all="ignore"):
        npix, mean, stddev, vmin, vmax = _clip_passes(pool, lower, upper, nclip, lsig, usig)
        hwidth = binwidth * stddev
        nbins, dz = _nbins(vmin, vmax, hwidth)
        assert pool.selection is not None  # set by every pass
        hist = _pool_histogram(pool, pool.selection, nbins, dz, vmin)
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
    arr = np.asanyarray(data)  # nanmin/nanmax without their all-NaN warning
    lower, upper = np.fmin.reduce(arr, axis=None), np.fmax.reduce(arr, axis=None)
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
    if isinstance(bits, str):  # astropy's string forms; astropy.nddata is slow to import
        from astropy.nddata import bitmask

        return bitmask.bitfield_to_boolean_mask(dq, ignore_flags=bits,
                                                flip_bits=flip or None,
                                                good_mask_value=False, dtype=bool)
    ignore = (~int(bits) if flip else int(bits)) & _ALL_BITS  # as bitfield_to_boolean_mask
    return dq_to_bad(dq, ~ignore)
