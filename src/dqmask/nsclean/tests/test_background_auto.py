"""``dqmask background``: automatic masks on generated NIRSpec rates with known footprints.

Requirement: the mask agrees with the true background footprint on >= 95% of the pixels and
marks < 1% of the trace pixels as background. Scenes: dqmask.datasets's IFU rate (30 slices +
fixed slits), and the denser IFU (traces on ~60% of the detector) and MOS scenes of
test_background_scenes.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from astropy.io import fits
from scipy import ndimage

from dqmask.io.background_mask import read_background_mask
from dqmask.nsclean import core as bg
from dqmask.nsclean.files import UNUSABLE_FLAGS
from dqmask.nsclean.tests.test_background_scenes import (
    DNU,
    REFERENCE_PIXEL,
    SHAPE,
    agreement,
    ifu_scene,
    mos_scene,
    rate_planes,
    write_rate,
    write_rate_fits,
)

REF = bg.reference_pixels(SHAPE)


def combined(scis, dqs) -> tuple[np.ndarray, np.ndarray]:
    """The step's combination of in-memory planes: (image, usable; True = usable everywhere)."""
    stack = np.stack(scis)
    usable = bg.usable_pixels(stack, np.stack(dqs), REF, UNUSABLE_FLAGS)
    return bg.combine_exposures(stack, usable), np.asarray(usable.all(axis=0))


def automatic(scis, dqs, **kw) -> np.ndarray:
    """The step's computation on in-memory planes: bool, True = background."""
    return bg.automatic_background(*combined(scis, dqs), **kw)


def test_unusable_flags_are_the_scene_flags():
    assert UNUSABLE_FLAGS == DNU | REFERENCE_PIXEL


@pytest.fixture(scope="module")
def dense_ifu():
    scene = ifu_scene()
    scis, dqs = rate_planes(scene, 4, seed=21)
    return scene, scis, dqs, combined(scis, dqs)


def test_sample_ifu_rates_footprint():
    sample = pytest.importorskip("dqmask.datasets")
    scenes = [sample.nirspec_ifu_scene(SHAPE, seed=s) for s in range(2)]
    trace = scenes[0].truth["trace"]
    refpix = scenes[0].truth["refpix"]
    assert all((s.truth["trace"] == trace).all() for s in scenes)
    mask = automatic([s.sci for s in scenes], [s.dq for s in scenes])
    truth = ~trace & ~refpix
    agree = np.mean(mask == truth)
    leaked = np.count_nonzero(mask & trace) / np.count_nonzero(trace)
    assert agree >= 0.95, agree
    assert leaked < 0.01, leaked
    assert not mask[refpix].any()


def test_dense_ifu_footprint(dense_ifu):
    scene, _, _, (image, usable) = dense_ifu
    assert scene.footprint.mean() > 0.55  # traces outnumber the background
    agree, leaked = agreement(bg.automatic_background(image, usable), scene)
    assert agree >= 0.95, agree
    assert leaked < 0.01, leaked


def test_dense_ifu_defeats_one_pass_of_jwst_stats(dense_ifu):
    """Why the statistics come from the background peak: jwst's median/sigma over all
    candidates sit inside the trace light, and nearly every trace pixel passes."""
    scene, _, _, (image, usable) = dense_ifu
    _, leaked = agreement(bg.automatic_background(image, usable, stats="all"), scene)
    assert leaked > 0.5


def test_single_exposure_also_meets_the_bar(dense_ifu):
    scene, scis, dqs, _ = dense_ifu
    agree, leaked = agreement(automatic(scis[:1], dqs[:1]), scene)
    assert agree >= 0.95 and leaked < 0.01, (agree, leaked)


@pytest.fixture(scope="module")
def mos_files(tmp_path_factory):
    scene = mos_scene()
    scis, dqs = rate_planes(scene, 4, seed=31)
    folder = tmp_path_factory.mktemp("mos")
    paths = [write_rate_fits(folder / f"jw02_{i}_nrs1_rate.fits", sci, dq)
             for i, (sci, dq) in enumerate(zip(scis, dqs, strict=True))]
    return scene, scis, dqs, paths, combined(scis, dqs)


def test_mos_rates_footprint_through_the_cli(mos_files, tmp_path, run_cli):
    scene, _, _, paths, (image, usable) = mos_files
    code, out, err = run_cli("background", *paths, "-o", tmp_path / "mos_mask.fits")
    assert code == 0, err
    assert "mos_mask.fits" in out and "nsclean format" in out
    with fits.open(tmp_path / "mos_mask.fits") as hdul:
        assert len(hdul) == 1 and hdul[0].data.dtype == np.uint8
        assert hdul[0].header["COMMENT"] == "Pixels = 1 are background"
    mask = read_background_mask(tmp_path / "mos_mask.fits").background
    # 4 files are streamed (a 3-sigma clip cannot reject 1 of 4 values): same mask as the
    # in-memory combination, but for float rounding at the limits
    assert np.mean(mask == bg.automatic_background(image, usable)) > 0.9999
    agree, leaked = agreement(mask, scene)
    assert agree >= 0.95, agree
    assert leaked < 0.01, leaked


def test_grow_widens_traces_not_noise_peaks(mos_files):
    scene, _, _, _, (image, usable) = mos_files
    plain = bg.automatic_background(image, usable)
    grown = bg.automatic_background(image, usable, grow_pixels=2)
    agree, leaked = agreement(grown, scene)
    assert leaked == 0.0 and agree >= 0.90
    lost = plain & ~grown
    assert lost.any() and not (grown & ~plain).any()  # growing only ever removes pixels
    # the pixels lost lie near a trace: noise peaks are not grown ...
    near_trace = ndimage.maximum_filter(scene.footprint.astype(np.uint8), size=9) > 0
    assert np.count_nonzero(lost & ~near_trace) < 0.001 * np.count_nonzero(plain)
    # ... growing them too (min_region=1) would cost ~20% of the background
    naive = bg.automatic_background(image, usable, grow_pixels=2, min_region=1)
    assert np.count_nonzero(plain & ~naive & ~near_trace) > 0.1 * np.count_nonzero(plain)


def test_n_sigma_zero_only_drops_unusable_pixels(mos_files):
    _, scis, _, _, (image, usable) = mos_files
    mask = bg.automatic_background(image, usable, n_sigma=0)
    np.testing.assert_array_equal(mask, usable)
    assert not mask[REF].any() and not mask[np.isnan(np.stack(scis)).any(axis=0)].any()


def test_background_input_errors(mos_files, tmp_path, run_cli):
    _, scis, dqs, paths, _ = mos_files
    nrs2 = write_rate(tmp_path / "x_nrs2_rate.fits", scis[0], dqs[0], detector="NRS2")
    code, _, err = run_cli("background", paths[0], nrs2, "-o", tmp_path / "m.fits")
    assert code == 1 and "detector NRS2 differs from NRS1" in err
    assert not (tmp_path / "m.fits").exists()
    fits.PrimaryHDU(np.ones((8, 8), np.uint8)).writeto(tmp_path / "mask.fits")
    code, _, err = run_cli("background", tmp_path / "mask.fits", "-o", tmp_path / "m.fits")
    assert code == 1 and "not a JWST rate" in err and err.count("\n") == 1
    code, _, err = run_cli("background", paths[0], "-o", paths[0])
    assert code == 2 and "also an input" in err
    code, _, err = run_cli("background", paths[0], "-o", tmp_path / "m.fits", "--grow", "-1")
    assert code == 2
    assert not (tmp_path / "m.fits").exists()


def test_jwst_statistics_option(mos_files, tmp_path, run_cli):
    scene, _, _, paths, _ = mos_files
    code, _, err = run_cli("background", paths[0], "-o", tmp_path / "m.fits",
                           "--stats", "all")
    assert code == 0, err
    header = fits.getheader(tmp_path / "m.fits")
    params = header.get("DQMP0001") or str(header["HISTORY"][-1]).split(": ", 1)[1]
    assert "stats=all" in params.split(", ")
    agree, leaked = agreement(read_background_mask(tmp_path / "m.fits").background, scene)
    assert agree > 0.95  # on this background-dominated scene jwst's statistics do well too



@pytest.mark.parametrize("n", [1, 2, 4, 6, 12])
def test_combination_is_astropys_sigma_clipped_mean(n):
    from astropy.stats import sigma_clip

    rng = np.random.default_rng(n)
    stack = rng.normal(size=(n, 300, 40)).astype(np.float32)
    stack[0, 5, 5] += 100.0  # a cosmic ray in one exposure
    usable = rng.random(stack.shape) > 0.2
    got = bg.combine_exposures(stack, usable, block_rows=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sigma_clip(np.ma.masked_array(stack, ~usable), sigma=3, maxiters=5, axis=0,
                         cenfunc="median", stdfunc="std").mean(axis=0).filled(np.nan)
    np.testing.assert_allclose(got, ref, rtol=0, atol=2e-6)
    # fewer than 6 values can never be 3-sigma outliers: the clipping loop is skipped
    assert bg.clipping_possible(n, 3.0) == (n >= 6)
