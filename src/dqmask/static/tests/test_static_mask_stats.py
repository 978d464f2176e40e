"""The imagestats-compatible statistics and the mask functions, against stsci.imagestats."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

import dqmask.static.core as sm

imagestats = pytest.importorskip(
    "stsci.imagestats", reason="stsci.imagestats is not importable: these tests compare with it")


def reference(data: np.ndarray, **kw):
    """stsci.imagestats.ImageStats(fields="mode"), with drizzlepac's limits by default."""
    if "lower" not in kw:
        kw = dict(nclip=3, lower=np.nanmin(data), upper=np.nanmax(data)) | kw
    with contextlib.redirect_stdout(io.StringIO()):
        return imagestats.ImageStats(data, fields="mode", **kw)


def assert_matches(ours: sm.ClipStats, ref) -> None:
    assert ours.npix == ref.npix
    assert ours.mean == ref.mean
    assert ours.stddev == ref.stddev
    assert ours.min == ref.min and ours.max == ref.max
    assert ours.nbins == len(ref.histogram)
    np.testing.assert_array_equal(ours.histogram, ref.histogram)
    assert ours.mode == ref.mode
    assert type(ours.mode) is type(ref.mode)


def random_image(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(20, 160)), int(rng.integers(20, 160)))
    data = rng.normal(rng.uniform(-20, 800), rng.uniform(0.05, 40), shape).astype(np.float32)
    kind = seed % 7
    flat = data.reshape(-1)
    if kind == 1:  # first pixel above the clip range: imagestats' max seeding quirk
        flat[0] = data.max() + 500
    elif kind == 2:  # first pixel below the clip range
        flat[0] = data.min() - 500
    elif kind == 3:  # NaNs away from pixel 0
        flat[1 + rng.choice(flat.size - 1, flat.size // 50, replace=False)] = np.nan
    elif kind == 4:  # cosmic rays and over-subtracted pixels
        flat[rng.choice(flat.size, flat.size // 30)] *= 40
        flat[rng.choice(flat.size, flat.size // 100)] -= 300
    elif kind == 5:  # integer-valued data: many ties in the histogram
        data = np.round(data / 3).astype(np.float32)
    elif kind == 6:  # sky near zero: values of both signs
        data -= np.float32(np.median(data))
    return data


@pytest.mark.parametrize("seed", range(42))
def test_chip_statistics_equal_imagestats(seed):
    data = random_image(seed)
    ref = reference(data)
    assert_matches(sm.chip_statistics(data, finite_only=False), ref)
    assert_matches(sm.chip_statistics(data), ref)  # finite_only changes nothing here


@pytest.mark.parametrize("dtype", [np.int16, np.float64, ">f4", np.uint16])
def test_other_dtypes_like_imagestats(dtype):
    rng = np.random.default_rng(7)
    data = rng.normal(300, 20, (70, 90)).astype(dtype)
    assert_matches(sm.chip_statistics(data, finite_only=False), reference(data))


@pytest.mark.parametrize("kw", [dict(nclip=0), dict(nclip=5, lsig=2.0, usig=2.5),
                                dict(nclip=2, binwidth=0.5), dict(nclip=1, lower=90, upper=110)])
def test_imagestats_parameters(kw):
    data = np.random.default_rng(3).normal(100, 5, (80, 80)).astype(np.float32)
    ref = reference(data, **kw)
    assert_matches(sm.imagestats(data, **kw), ref)


def test_sequential_fallback_gives_the_same_numbers(monkeypatch):
    monkeypatch.setattr(sm, "_sum_bound", lambda n, abs_sum: float("inf"))
    for seed in (4, 6, 11):
        data = random_image(seed)
        assert_matches(sm.chip_statistics(data), reference(data))


def test_sequential_sum_is_a_c_loop():
    rng = np.random.default_rng(5)
    values = (rng.normal(0, 1, 3000) * 10.0 ** rng.uniform(-4, 7, 3000)).astype(np.float32)
    total = 0.0
    for v in values.tolist():
        total += v
    assert sm._sequential_sum(values) == total


def test_constant_image_one_bin_like_imagestats():
    data = np.full((30, 40), 2.5, np.float32)
    ours, ref = sm.chip_statistics(data), reference(data)
    assert_matches(ours, ref)
    assert ours.nbins == 1 and ours.mode == 2.5


def test_nan_first_pixel_fails_in_imagestats_parity_mode_only():
    data = random_image(0)
    data[0, 0] = np.nan
    with pytest.raises(ValueError):
        reference(data)
    with pytest.raises(ValueError):
        sm.chip_statistics(data, finite_only=False)
    # default: statistics of the same pixels, seeded from the first finite one
    rest = data.reshape(-1)[1:]
    assert_matches(sm.chip_statistics(data), reference(rest))


def test_infinite_pixels_are_ignored():
    data = random_image(1)
    data[3, 4], data[10, 2] = np.inf, -np.inf
    finite = data.reshape(-1)[np.isfinite(data.reshape(-1))]
    assert_matches(sm.chip_statistics(data), reference(finite))


def test_all_nan_chip_raises_stats_error():
    with pytest.raises(sm.StatsError):
        sm.chip_statistics(np.full((5, 5), np.nan, np.float32))


def test_threshold_and_mask_follow_numpy_promotion():
    data = random_image(8)
    stats = sm.chip_statistics(data)
    thr = sm.threshold(stats, 4.0)
    assert type(thr) is np.float64  # interior histogram peak: float64 comparison
    np.testing.assert_array_equal(sm.low_pixels(data, thr), np.less(data, thr))
    # values straddling a float64 threshold that is not a float32 number
    t = np.float64(100.0) + 1e-9
    probe = np.array([np.nextafter(np.float32(100), 0), 100.0, np.nextafter(np.float32(100), 200),
                      np.nan], np.float32)
    assert sm.low_pixels(probe, t).tolist() == [True, True, False, False]
    assert sm.low_pixels(probe, float(t)).tolist() == [True, False, False, False]  # float32


def test_update_good_ands_in_place_equality_and_nan_are_good():
    data = np.random.default_rng(9).normal(50, 2, (60, 60)).astype(np.float32)
    stats = sm.chip_statistics(data)
    thr = sm.threshold(stats, 3.0)
    ceiling = sm._float32_ceiling(float(thr))  # smallest float32 >= thr
    data[0, 1] = np.nextafter(ceiling, np.float32(-np.inf))  # below: bad
    data[0, 2] = ceiling  # not below: good
    data[0, 3] = np.nan  # never below: good
    good = np.ones(data.shape, np.int16)
    good[5, 5] = 0  # already bad stays bad
    n = sm.update_good(good, data, stats, 3.0)
    below = np.less(data, thr)
    np.testing.assert_array_equal(good, np.where(below, 0, 1) * (np.arange(3600) != 305
                                                                  ).reshape(60, 60))
    assert good.dtype == np.int16
    assert (good[0, 1], good[0, 2], good[0, 3]) == (0, 1, 1)
    assert n == int(np.count_nonzero(below))


def test_update_good_skips_one_bin_chips():
    good = np.ones((4, 4), np.int16)
    const = np.full((4, 4), 1.0, np.float32)
    assert sm.update_good(good, const, sm.chip_statistics(const)) == 0
    assert (good == 1).all()


def test_dq_bad_bitfield_semantics_full_width():
    dq = np.array([0, 4, 8, 12, 16384, -32768], np.int16)
    assert sm.dq_bad(dq, None).tolist() == [False] * 6
    assert sm.dq_bad(dq, 0).tolist() == [False, True, True, True, True, True]
    assert sm.dq_bad(dq, 4).tolist() == [False, False, True, True, True, True]
    assert sm.dq_bad(dq, 4, flip=True).tolist() == [False, True, False, True, False, False]
    wide = np.array([65536, 65536 + 4, 4], np.uint32)  # drizzlepac's uint16 cast drops bit 16
    assert sm.dq_bad(wide, 4).tolist() == [True, True, False]
    with pytest.raises(TypeError):
        sm.dq_bad(np.zeros(3, np.float32), 0)


def test_many_histogram_bins_without_clipping():
    data = np.random.default_rng(21).normal(0, 1, (200, 300)).astype(np.float32)
    data[7, 9] = 1000.0  # no clipping: the histogram spans the outlier, thousands of bins
    ref = reference(data, nclip=0, lower=None)
    ours = sm.imagestats(data, nclip=0)
    assert ours.nbins > 1000
    assert_matches(ours, ref)


def _reference_error(data: np.ndarray, **kw) -> str:
    with contextlib.redirect_stdout(io.StringIO()), pytest.raises(ValueError) as ref:
        imagestats.ImageStats(data, fields="mode", **kw)
    return str(ref.value)


@pytest.mark.parametrize("nclip", [0, 3])
def test_nan_first_pixel_with_one_pixel_in_range_is_nan_stddev_like_imagestats(nclip):
    # C computeMean: min = max = NaN, so its second loop sums nothing and divides 0 by
    # N - 1 = 0: stddev NaN (not 0); the histogram then fails on int(NaN)
    data = np.array([np.nan, 5.0, 20.0], np.float32)
    limits = {"lower": 0.0, "upper": 10.0, "nclip": nclip}
    with contextlib.redirect_stdout(io.StringIO()):
        ref = imagestats.ImageStats(data, fields="npix,mean,stddev,min,max", **limits)
    pool = sm._Pool(data, finite_only=False)
    n, mean, stddev, vmin, vmax = sm._compute_mean(pool, np.float32(0), np.float32(10), True)
    assert (n, mean) == (ref.npix, ref.mean) == (1, 5.0)
    assert np.isnan(ref.stddev) and np.isnan(stddev)
    assert np.isnan(vmin) and np.isnan(vmax) and np.isnan(ref.min) and np.isnan(ref.max)
    message = _reference_error(data, **limits)
    with pytest.raises(sm.StatsError, match=f"^{message}$"):
        sm.imagestats(data, **limits)


def test_nan_first_pixel_with_two_pixels_in_range_is_zero_stddev_like_imagestats():
    data = np.array([np.nan, 5.0, 6.0, 20.0], np.float32)
    ref = reference(data, lower=0.0, upper=10.0, nclip=0)
    ours = sm.imagestats(data, lower=0.0, upper=10.0, nclip=0)
    assert (ours.npix, ours.mean, ours.stddev) == (ref.npix, ref.mean, ref.stddev) == (2, 5.5, 0)
    assert ours.nbins == len(ref.histogram) == 1


@pytest.mark.parametrize("seed", range(14))
def test_block_bookkeeping_equal_imagestats_with_tiny_blocks(monkeypatch, seed):
    """Many blocks: some wholly selected, some with a few excluded pixels (listed by index),
    some mostly excluded (a bool mask), some with none selected; same numbers."""
    monkeypatch.setattr(sm, "_BLOCK", 64)
    data = random_image(seed)
    flat = data.reshape(-1)
    flat[64:128] = data.max() + 1000  # one block entirely above every clip range
    flat[200:240] = -5000  # a block mostly below
    ref = reference(data)
    assert_matches(sm.chip_statistics(data, finite_only=False), ref)
    assert_matches(sm.chip_statistics(data), ref)


def test_large_chip_with_stars_and_cold_pixels_equal_imagestats():
    rng = np.random.default_rng(17)
    data = rng.normal(80, 10, (600, 500)).astype(np.float32)  # several 65536-pixel blocks
    flat = data.reshape(-1)
    flat[rng.choice(flat.size, 3000, replace=False)] *= 50  # stars / cosmic rays
    flat[rng.choice(flat.size, 500, replace=False)] = -400  # cold pixels
    flat[70000:140000] += 300  # a bright block: its pixels are listed as a bool mask
    flat[5] = np.nan
    ref = reference(data)
    assert_matches(sm.chip_statistics(data), ref)


def test_histogram_beyond_the_fast_path_equal_imagestats():
    data = np.random.default_rng(22).normal(0, 1, (200, 300)).astype(np.float32)
    data[3, 3] = 2.0e4  # narrow bins over the outlier's range: more than uint16 slots hold
    ref = reference(data, nclip=0, lower=None, binwidth=0.002)
    ours = sm.imagestats(data, nclip=0, binwidth=0.002)
    assert ours.nbins > sm._MAX_FAST_BINS
    assert_matches(ours, ref)


def test_pool_histogram_equals_the_general_histogram():
    """The fast histogram (bins of selected pixels without range tests) against the
    general one, on a pass with excluded pixels on both sides."""
    data = random_image(4)
    pool = sm._Pool(data.reshape(-1), finite_only=True)
    lo, hi = np.float32(np.percentile(data, 5)), np.float32(np.percentile(data, 93))
    sm._compute_mean(pool, lo, hi, last=True)
    sel = pool.selection
    assert sel is not None and 0 < sel.n < data.size
    nbins, dz = sm._nbins(sel.vmin, sel.vmax, 0.05 * float(hi - lo))
    fast = sm._pool_histogram(pool, sel, nbins, dz, sel.vmin)
    np.testing.assert_array_equal(fast, sm._histogram(pool.values, nbins, dz, sel.vmin))


@pytest.mark.parametrize("seed", range(0, 42, 3))
def test_stddev_bounds_bracket_the_exact_stddev(seed):
    data = random_image(seed)
    pool = sm._Pool(data.reshape(-1), finite_only=True)
    lo, hi = np.percentile(pool.values, [2, 97]).astype(np.float32)
    for c0, c1 in ((pool.finite_min, pool.finite_max), (lo, hi)):
        sel = pool.select(np.float32(c0), np.float32(c1))
        mean = sm._clipped_mean(sel)
        bounds = sm._stddev_bounds(sel, mean)
        assert bounds is not None
        exact = sm._clipped_stddev(sel, mean)
        assert bounds[0] <= exact <= bounds[1]
        assert bounds[1] <= np.nextafter(bounds[0], np.float32(np.inf)) * np.float32(1 + 1e-6)


@pytest.mark.parametrize("widen", [1e-3, 0.05])
def test_undecided_next_selection_falls_back_to_the_exact_stddev(monkeypatch, widen):
    """Bounds too wide to decide the next limits: the exact pass is made, same numbers."""
    real = sm._stddev_bounds

    def wide(sel, mean):
        bounds = real(sel, mean)
        return None if bounds is None else (np.float32(bounds[0] * (1 - widen)),
                                            np.float32(bounds[1] * (1 + widen)))

    monkeypatch.setattr(sm, "_stddev_bounds", wide)
    made: list[int] = []
    real_stddev, real_widened = sm._clipped_stddev, sm._Selection.widened_to

    def counted_stddev(sel, mean):
        made.append(1)
        return real_stddev(sel, mean)

    widened: list[int] = []

    def counted_widened(self, c0, c1):
        widened.append(1)
        return real_widened(self, c0, c1)

    monkeypatch.setattr(sm, "_clipped_stddev", counted_stddev)
    monkeypatch.setattr(sm._Selection, "widened_to", counted_widened)
    data = np.random.default_rng(31).normal(100, 5, (300, 400)).astype(np.float32)
    assert_matches(sm.chip_statistics(data), reference(data))
    assert len(made) > 1  # some intermediate pass needed its exact stddev
    assert widened  # and its selection grew from the narrow candidate, without a scan


def test_last_scan_finds_the_extremes_of_the_selection():
    rng = np.random.default_rng(8)
    values = rng.normal(50, 4, 200_000).astype(np.float32)
    pool = sm._Pool(values, finite_only=True)
    c0, c1 = np.float32(41.5), np.float32(58.25)
    inside = values[(values >= c0) & (values <= c1)]
    sel = pool.select(c0, c1, extremes=True)
    assert not np.isnan(sel._near).any()  # both found in the margins, no extra pass
    sel.find_extremes()
    assert (sel.vmin, sel.vmax) == (float(inside.min()), float(inside.max()))
    c0, c1 = np.float32(45), np.float32(75)  # nothing near the top limit: one more pass
    inside = values[(values >= c0) & (values <= c1)]
    sparse = pool.select(c0, c1, extremes=True)
    assert not sparse.whole and np.isnan(sparse._near[1])
    sparse.find_extremes()
    assert (sparse.vmin, sparse.vmax) == (float(inside.min()), float(inside.max()))


@pytest.mark.parametrize("extremes", [False, True])
def test_widened_selection_equals_a_fresh_scan(monkeypatch, extremes):
    monkeypatch.setattr(sm, "_BLOCK", 4096)  # sparse and dense (bool) blocks
    rng = np.random.default_rng(12)
    values = rng.normal(30, 3, 60_000).astype(np.float32)
    values[8192:12288] = 80  # one block wholly above
    values[20000:20600] = -50  # a dense block below
    pool = sm._Pool(values, finite_only=True)
    narrow = pool.select(np.float32(25.5), np.float32(34.25), extremes=extremes)
    wide = narrow.widened_to(np.float32(25.25), np.float32(34.5))
    fresh = pool.select(np.float32(25.25), np.float32(34.5), extremes=extremes)
    assert wide.n == fresh.n
    np.testing.assert_array_equal(np.sort(wide.excluded_values()),
                                  np.sort(fresh.excluded_values()))
    wide.find_extremes()
    fresh.find_extremes()
    assert (wide.vmin, wide.vmax) == (fresh.vmin, fresh.vmax)
    assert wide.square_sum(np.float32(30)) == fresh.square_sum(np.float32(30))


def test_widening_one_side_keeps_the_other_sides_extreme():
    """Regression: a selection widened on its top side only, with no pixel in its bottom
    margin, took the lowest *added* (top-side) pixel as its min (stress seed 313)."""
    values = np.concatenate([np.linspace(10, 20, 5000, dtype=np.float32),
                             np.array([20.5, 20.75, 9.0], dtype=np.float32)])
    pool = sm._Pool(values, finite_only=True)
    narrow = pool.select(np.float32(9.5), np.float32(20.25), extremes=True)
    assert np.isnan(narrow._near[0])  # nothing within the margin above 9.5
    wide = narrow.widened_to(np.float32(9.5), np.float32(21.0))
    wide.find_extremes()
    assert (wide.vmin, wide.vmax) == (10.0, 20.75)


def test_narrow_sky_with_bright_outliers_equal_imagestats():
    """The stress case behind the regression above: the last pass widened its candidate
    selection on one side only."""
    rng = np.random.default_rng(313)
    rng.choice(4), rng.integers(30, 400), rng.integers(30, 400), rng.choice(6), rng.choice(5)
    data = rng.normal(80.0, 0.01, (263, 110)).astype(np.float32)
    flat = data.reshape(-1)
    flat[rng.choice(flat.size, flat.size // 50)] *= rng.uniform(2, 100)
    assert_matches(sm.chip_statistics(data, finite_only=False), reference(data))
