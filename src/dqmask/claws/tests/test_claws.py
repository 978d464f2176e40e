"""``dqmask detect``: the claw seed-image detection, against an independent reference."""

from __future__ import annotations

import hashlib
import warnings
from collections import deque
from pathlib import Path

import numpy as np
import pytest
from astropy.convolution import Gaussian2DKernel, convolve
from astropy.io import fits
from astropy.stats import sigma_clipped_stats
from photutils.background import Background2D

from dqmask.apply.files import read_mask
from dqmask.claws import core as claws
from dqmask.claws.core import DetectParams, detect
from dqmask.conftest import shared_file

CRAB_STATS_FLAGS = 1073742391  # DO_NOT_USE|SATURATED|JUMP_DET|OUTLIER|PERSISTENCE|NON_SCIENCE|OBP


# ------------------------------------------------------------------ independent reference


def _pieces_bfs(mask: np.ndarray, minpixarea: int) -> np.ndarray:
    """Drop 8-connected pieces smaller than minpixarea (plain breadth-first search)."""
    out = np.zeros_like(mask)
    seen = np.zeros_like(mask)
    ny, nx = mask.shape
    for y0, x0 in zip(*np.nonzero(mask), strict=True):
        if seen[y0, x0]:
            continue
        piece, queue = [], deque([(y0, x0)])
        seen[y0, x0] = True
        while queue:
            y, x = queue.popleft()
            piece.append((y, x))
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    v, u = y + dy, x + dx
                    if 0 <= v < ny and 0 <= u < nx and mask[v, u] and not seen[v, u]:
                        seen[v, u] = True
                        queue.append((v, u))
        if len(piece) >= minpixarea:
            for y, x in piece:
                out[y, x] = True
    return out


def _two_pass_found(image, valid, include, exclude, *, sigma, ignore_background):
    """Crab's two passes: statistics from ``valid`` pixels (box n/10), again without the bright
    ones (box n/30); True where the image is above background + sigma x rms inside the regions."""
    n = min(image.shape)

    def stats(use, box):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if ignore_background:
                return 0.0, sigma_clipped_stats(image, mask=~use)[2]
            b = Background2D(image, box, mask=~use, exclude_percentile=50)
            return b.background, np.nanmean(b.background_rms)

    bkg, rms = stats(valid, n // 10)
    with np.errstate(invalid="ignore"):
        nonbright = (bkg - sigma * rms < image) & (image < bkg + sigma * rms)
        bkg, rms = stats(valid & nonbright, n // 30)
        return (image > bkg + sigma * rms) & include & ~exclude


def _smoothed(found, smooth):
    """Crab's last step: Gaussian smoothing, values below 1e-3 set to 0; (seed, seed > 0)."""
    seed = np.asarray(found).astype(float)
    if smooth > 0:
        seed = convolve(seed, Gaussian2DKernel(x_stddev=smooth))
        seed[seed < 1e-3] = 0
    return seed, (seed > 0).astype(int)


def reference_detection(image, include, exclude, dq, *, sigma, smooth, minpixarea,
                        ignore_background):
    """Crab's detection written out directly, with dqmask's corrections (issue 7): DQ-flagged and
    NaN pixels never enter the statistics, ``minpixarea`` is a connected area."""
    valid = np.isfinite(image) & ((dq & CRAB_STATS_FLAGS) == 0) & include & ~exclude
    found = _two_pass_found(image, valid, include, exclude, sigma=sigma,
                            ignore_background=ignore_background)
    return _smoothed(_pieces_bfs(found, minpixarea), smooth)


def scene(seed: int = 0, shape=(150, 180), sky: float = 0.5):
    """A sloped sky (``sky`` at the centre) with noise, a faint claw arc, stars, NaNs, flagged pixels; the include
    polygon around the arc and a small exclude box."""
    rng = np.random.default_rng(seed)
    ny, nx = shape
    yy, xx = np.mgrid[:ny, :nx].astype(float)
    image = sky + 0.002 * (xx - nx / 2) - 0.001 * (yy - ny / 2) + rng.normal(0, 0.05, shape)
    r = np.hypot(xx - 20, yy - 160)
    arc = (np.abs(r - 110) < 6) & (xx > 30) & (yy < 140)
    image += np.where(arc, 0.5 * (1 - np.abs(r - 110) / 6), 0)
    for _ in range(25):
        sx, sy = rng.uniform(0, nx), rng.uniform(0, ny)
        image += 3 * np.exp(-((xx - sx) ** 2 + (yy - sy) ** 2) / 2.0)
    dq = np.zeros(shape, np.uint32)
    dq[rng.integers(0, ny, 40), rng.integers(0, nx, 40)] = 1 | 2
    image[rng.integers(0, ny, 15), rng.integers(0, nx, 15)] = np.nan
    include = (np.abs(r - 110) < 18) & (xx > 20) & (yy < 145)
    exclude = (np.abs(xx - 100) < 6) & (np.abs(yy - 85) < 6)
    return image.astype(np.float32), include, exclude, dq


PARAMS = [
    dict(sigma=3.0, smooth=0.0, minpixarea=1, ignore_background=False),
    dict(sigma=2.0, smooth=1.0, minpixarea=3, ignore_background=True),  # Crab claws recipe
    dict(sigma=2.5, smooth=2.0, minpixarea=5, ignore_background=False),
    dict(sigma=1.5, smooth=0.7, minpixarea=2, ignore_background=False),
]


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: "-".join(f"{v}" for v in p.values()))
@pytest.mark.parametrize("seed", [0, 1])
def test_detection_equals_the_reference_algorithm(params, seed):
    # Crab's claw recipe (ignore_background) is for sky-subtracted images: sky ~ 0
    image, include, exclude, dq = scene(seed, sky=0.0 if params["ignore_background"] else 0.5)
    ref_seed, ref_mask = reference_detection(image.astype(float), include, exclude, dq,
                                             **params)
    det = detect(image, include, exclude, dq, DetectParams(**params))
    assert not det.notes
    np.testing.assert_array_equal(det.zeroonemask, ref_mask)
    np.testing.assert_allclose(det.seed, ref_seed, rtol=0, atol=1e-12)
    assert det.zeroonemask.dtype == np.uint8 and det.seed.min() >= 0 and det.seed.max() <= 1
    assert 50 < det.detected.sum() < include.sum()
    assert not (det.detected & (~include | exclude)).any()


def crab_reference(image, include, exclude, *, sigma, smooth, minpixarea, ignore_background):
    """Crab.Toolkit.JWST's valid pixels and detection, as its script does them: the include
    region makes every pixel inside it valid (DQ-flagged and NaN ones too); minpixarea counts
    the 8 neighbours (zero padding)."""
    arr = _two_pass_found(image, include & ~exclude, include, exclude, sigma=sigma,
                          ignore_background=ignore_background).astype(int)
    padded = np.pad(arr, 1)
    ny, nx = arr.shape
    n8 = sum(padded[1 + dy: 1 + dy + ny, 1 + dx: 1 + dx + nx]
             for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0))
    return _smoothed(arr * (n8 >= minpixarea), smooth)


@pytest.mark.parametrize("params", [
    dict(sigma=2.0, smooth=1.0, minpixarea=1, ignore_background=True),  # the claws recipe
    dict(sigma=3.0, smooth=0.0, minpixarea=2, ignore_background=False),
], ids=["recipe", "background"])
def test_compat_crab_equals_the_crab_reference(params):
    image, include, exclude, dq = scene(4, sky=0.0 if params["ignore_background"] else 0.5)
    ref_seed, ref_mask = crab_reference(image.astype(float), include, exclude, **params)
    det = detect(image, include, exclude, dq, DetectParams(**params, compat="crab"))
    np.testing.assert_array_equal(det.zeroonemask, ref_mask)
    np.testing.assert_allclose(det.seed, ref_seed, rtol=0, atol=1e-12)
    ours = detect(image, include, exclude, dq, DetectParams(**params))
    assert not np.array_equal(ours.zeroonemask, det.zeroonemask)  # the modes differ


def test_detection_finds_the_arc_not_the_sky():
    image, include, exclude, dq = scene(3)
    det = detect(image, include, exclude, dq, DetectParams(sigma=3.0, minpixarea=4))
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
    r = np.hypot(xx - 20, yy - 160)
    core = (np.abs(r - 110) < 2) & (xx > 35) & (yy < 135) & include & ~exclude
    sky = include & (np.abs(r - 110) > 9) & ~exclude
    assert det.detected[core].mean() > 0.8
    assert det.detected[sky].mean() < 0.02


def test_smoothing_grows_by_about_three_sigma_and_is_bounded():
    mask = np.zeros((41, 41), bool)
    mask[20, 20] = True
    seed = claws.smooth_mask(mask, 1.0)
    ref = convolve(mask.astype(float), Gaussian2DKernel(x_stddev=1.0))
    ref[ref < 1e-3] = 0
    np.testing.assert_allclose(seed, ref, atol=1e-15)
    yy, xx = np.nonzero(seed)
    # sigma 1: an isolated pixel's exp(-r^2/2)/2pi stays >= 1e-3 only for r < 3.18 px
    assert np.hypot(yy - 20, xx - 20).max() <= 3.18
    # a pixel vanishes for sigma >~ 12.6 (peak below the cutoff)
    assert not claws.smooth_mask(mask, 13.0).any()
    edge = np.zeros((40, 40), bool)
    edge[:, :3] = True  # touches the image border: zeros outside, as astropy
    ref = convolve(edge.astype(float), Gaussian2DKernel(x_stddev=2.0))
    ref[ref < 1e-3] = 0
    np.testing.assert_allclose(claws.smooth_mask(edge, 2.0), ref, atol=1e-15)


def test_minpixarea_is_a_connected_area():
    mask = np.zeros((10, 10), bool)
    mask[1, 1] = True  # 1 px
    mask[5, 5] = mask[6, 6] = True  # 2 px, diagonal = connected
    mask[2, 7:10] = True  # 3 px
    assert claws.drop_small_pieces(mask, 1).sum() == 6
    assert claws.drop_small_pieces(mask, 2).sum() == 5
    assert claws.drop_small_pieces(mask, 3).sum() == 3
    assert claws.drop_small_pieces(mask, 4).sum() == 0


def test_box_sizes_follow_the_image_size():
    assert claws.box_sizes((2048, 2048)) == (204, 68)
    assert claws.box_sizes((100, 120)) == (10, 3)
    assert claws.box_sizes((100, 120), 7) == (7, 7)


def test_thin_region_falls_back_instead_of_crashing():
    image, _, _, dq = scene(0)
    thin = np.zeros(image.shape, bool)
    thin[70:73, 20:160] = True  # every Background2D box is > 50% masked
    det = detect(image, thin, None, dq, DetectParams(sigma=3.0))
    assert det.notes and "Background2D impossible" in det.notes[0]
    assert not (det.detected & ~thin).any()


def test_ignore_background_on_a_sky_far_from_zero_keeps_pass_one():
    image, include, exclude, dq = scene(0, sky=5.0)
    det = detect(image, include, exclude, dq, DetectParams(sigma=2.0, ignore_background=True))
    assert det.notes and "pass-1 statistics used" in det.notes[0]
    assert np.isfinite(det.rms) and det.rms > 0


def test_stats_ignore_flagged_pixels_inside_the_include_region():
    image, include, exclude, dq = scene(0, sky=0.0)
    hot = image.copy()
    hot[include & ~exclude & (np.arange(image.size).reshape(image.shape) % 7 == 0)] = 1e4
    flagged = dq.copy()
    flagged[hot == 1e4] |= 1  # DO_NOT_USE: must not enter the statistics
    a = detect(image, include, exclude, dq, DetectParams(ignore_background=True))
    b = detect(hot, include, exclude, flagged, DetectParams(ignore_background=True))
    assert a.rms == pytest.approx(b.rms, rel=0.05)


# --------------------------------------------------------------------------------- the CLI


def _write_cal(path: Path, image, dq) -> Path:
    prim = fits.PrimaryHDU()
    prim.header.update(TELESCOP="JWST", INSTRUME="NIRCAM", DETECTOR="NRCB1")
    sci = fits.ImageHDU(image, name="SCI")
    sci.header.update(CTYPE1="RA---TAN", CTYPE2="DEC--TAN", CRVAL1=150.0, CRVAL2=2.0,
                      CRPIX1=90.0, CRPIX2=75.0, CD1_1=-8.6e-6, CD1_2=0.0, CD2_1=0.0,
                      CD2_2=8.6e-6, BUNIT="MJy/sr")
    fits.HDUList([prim, sci, fits.ImageHDU(dq, name="DQ")]).writeto(path)
    return path


def test_cli_writes_seed_and_zeroonemask(tmp_path, run_cli):
    image, include, exclude, dq = scene(2)
    cal = _write_cal(tmp_path / "x_cal.fits", image, dq)
    reg = tmp_path / "claw.reg"
    reg.write_text("image\npolygon(30,5,175,5,175,120,30,120)\n-box(100,85,12,12,0)\n")
    before = hashlib.sha256(cal.read_bytes()).hexdigest()
    code, out, err = run_cli("detect", cal, "--include-region", reg, "--sigma", "2",
                             "--smooth", "1", "--minpixarea", "3", "--output-dir",
                             tmp_path / "out", "--save-intermediate")
    assert code == 0, err
    seed_path = tmp_path / "out" / "x_cal_seed_image.fits"
    mask_path = tmp_path / "out" / "x_cal_seed_image_zeroonemask.fits"
    with fits.open(seed_path) as s, fits.open(mask_path) as m:
        seed, mask = s[0].data, m[0].data
        assert seed.dtype.kind == "f" and 0 <= seed.min() and seed.max() <= 1
        assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}
        np.testing.assert_array_equal(mask, (seed > 0).astype(np.uint8))
        assert m[0].header["DQMCONV"] == "bad" and s[0].header["DQMCONV"] == "seed"
        assert m[0].header["SMOOTH"] == 1.0 and m[0].header["MPIXAREA"] == 3
        assert m[0].header["CTYPE1"] == "RA---TAN" and "dqmask" in str(m[0].header["HISTORY"])
    for role in ("bkg2d", "rms2d", "valid_pixels"):
        assert (tmp_path / "out" / f"x_cal_seed_image_{role}.fits").exists()
    assert f"{int(mask.sum())} in the mask" in out
    assert hashlib.sha256(cal.read_bytes()).hexdigest() == before
    assert read_mask(mask_path).convention == "bad"
    assert read_mask(seed_path).convention == "seed"
    # existing outputs are refused without --overwrite
    code, _, err = run_cli("detect", cal, "--include-region", reg, "--output-dir",
                           tmp_path / "out")
    assert code == 1 and "output exists" in err
    assert run_cli("detect", cal, "--include-region", reg, "--output-dir", tmp_path / "out",
                   "--overwrite")[0] == 0


def test_cli_compat_crab_outputs_and_exclude_shapes(tmp_path, run_cli):
    image, _, _, dq = scene(2)
    cal = _write_cal(tmp_path / "z_cal.fits", image, dq)
    reg = tmp_path / "claw.reg"
    reg.write_text("image\nbox(60.5,60.5,40,40,0)\n-box(60.5,60.5,10,10,0)\n")
    for mode in ("crab", "dqmask"):
        code, _, err = run_cli("detect", cal, "--include-region", reg, "--ignore-background",
                               "--sigma", "0.5", "--compat", mode, "--output-suffix", f"_{mode}")
        assert code == 0, err
    crab = fits.getdata(tmp_path / "z_cal_crab_zeroonemask.fits")
    ours = fits.getdata(tmp_path / "z_cal_dqmask_zeroonemask.fits")
    assert crab.dtype == np.dtype(">i8") and ours.dtype == np.uint8
    assert fits.getdata(tmp_path / "z_cal_crab.fits").dtype == np.dtype(">f8")
    hole = (slice(56, 65), slice(56, 65))
    assert crab[hole].all() and not ours[hole].any()  # Crab ignores DS9 '-' shapes


def test_cli_says_in_one_line_when_a_thin_polygon_forces_global_statistics(tmp_path, run_cli):
    """Issue 11 item 12: the fallback is a line of its own on stderr (not the tail of the
    result line, hidden by -q), once even when both passes fall back."""
    image, _, _, dq = scene(0)
    cal = _write_cal(tmp_path / "t_cal.fits", image, dq)
    thin = tmp_path / "thin.reg"
    thin.write_text("image\nbox(90.5,71.5,140,2,0)\n")  # rows 70-71: every box > 50% masked
    code, out, err = run_cli("detect", cal, "--include-region", thin)
    assert code == 0, err
    text = " ".join(err.split())  # rich wraps a long log message at the console width
    assert text.count("WARNING") == 1 and f"{cal}:" in "".join(err.split()), err
    assert "global sigma-clipped median and std" in text and "box 15 (pass 1)" in text
    assert "box 5 (pass 2)" in text and "more than half masked" in text and "--box-size" in text
    assert "global" not in out
    # a region Background2D can work with says nothing
    wide = tmp_path / "wide.reg"
    wide.write_text("image\nbox(90.5,75.5,160,120,0)\n")
    code, out, err = run_cli("detect", cal, "--include-region", wide, "--overwrite")
    assert code == 0 and err.strip() == "", err


def test_cli_crab_minpixarea_one_is_explained_once(tmp_path, run_cli):
    """Issue 11 item 12: Crab's claw recipe says --minpixarea 1 (drop isolated pixels); here
    1 keeps everything. Pasting it says so, once; --compat crab follows Crab silently."""
    image, _, _, dq = scene(1)
    cal = _write_cal(tmp_path / "m_cal.fits", image, dq)
    reg = tmp_path / "claw.reg"
    reg.write_text("image\npolygon(30,5,175,5,175,120,30,120)\n")
    recipe = ["--minpixarea", "1", "--ignore-background", "--sigma", "2", "--smooth", "1",
              "--overwrite"]
    code, _, err = run_cli("detect", cal, "--include-region", reg, *recipe)
    assert code == 0, err
    text = " ".join(err.split())
    assert text.count("--minpixarea 1") == 1 and "--compat crab" in text
    assert "--minpixarea 2" in text and text.count("WARNING") == 1
    for args in ([*recipe, "--compat", "crab"], recipe[2:]):  # Crab's meaning / the default
        code, _, err = run_cli("detect", cal, "--include-region", reg, *args)
        assert code == 0 and err.strip() == "", err


def test_cli_errors(tmp_path, run_cli):
    image, _, _, dq = scene(0)
    cal = _write_cal(tmp_path / "y_cal.fits", image, dq)
    off = tmp_path / "off.reg"
    off.write_text("image\ncircle(900,900,5)\n")
    code, _, err = run_cli("detect", cal, "--include-region", off)
    lines = err.strip().splitlines()  # one line: the error says why, no separate warning
    assert code == 1 and len(lines) == 1 and lines[0].startswith(f"dqmask: {off}: "), err
    assert "cover no pixel" in err and "region 1 (circle) lies entirely off the 180x150" in err
    assert run_cli("detect", cal)[0] == 2  # --include-region is required
    cube = tmp_path / "cube.fits"
    fits.PrimaryHDU(np.zeros((2, 5, 5), np.float32)).writeto(cube)
    code, _, err = run_cli("detect", cube, "--include-region", off)
    assert code == 1 and "2-D" in err


def test_cli_sky_include_region_on_the_far_side_of_the_sky_is_one_line(tmp_path, run_cli):
    """Issue 11 item 4: an fk5 region ~180 degrees from the pointing (no TAN pixel) was a
    traceback ('cannot convert float NaN to integer')."""
    image, _, _, dq = scene(0)
    cal = _write_cal(tmp_path / "f_cal.fits", image, dq)  # pointing (150, +2)
    far = tmp_path / "far.reg"
    far.write_text('fk5\ncircle(330.0,-2.0,3")\n')
    code, out, err = run_cli("detect", cal, "--include-region", far)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and lines[0].startswith(f"dqmask: {far}: "), err
    assert "region 1 (circle) falls outside the 180x150 image" in err
    assert "far side of the sky" in err and "Traceback" not in err and out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f_cal.fits", "far.reg"]


# ------------------------------------------------------------------- real NIRCam cal cutout

CUTOUT = "jwst_nircam_nrcalong_f444w_cal_cutout_starbug2.fits"


def test_real_cutout_detect_then_apply_end_to_end(tmp_path, run_cli):
    from stdatamodels.jwst import datamodels

    cal = shared_file(CUTOUT)
    before = hashlib.sha256(cal.read_bytes()).hexdigest()
    reg = tmp_path / "cut.reg"  # a polygon over the upper-right part of the 100x100 cutout
    reg.write_text("# Region file format: DS9 version 4.1\nimage\n"
                   "polygon(40.5,35.5,98.5,45.5,96.5,97.5,52.5,90.5)\n")
    code, out, err = run_cli("detect", cal, "--include-region", reg, "--sigma", "3",
                             "--smooth", "1", "--minpixarea", "2", "--output-dir", tmp_path)
    assert code == 0, err
    mask_path = tmp_path / "jwst_nircam_nrcalong_f444w_cal_cutout_starbug2_seed_image_zeroonemask.fits"
    mask = fits.getdata(mask_path).astype(bool)
    assert 20 < mask.sum() < 2500 and not mask[:30, :30].any()
    out_file = tmp_path / "cut_cal.fits"
    code, out, err = run_cli("apply", cal, "--mask", mask_path, "-o", out_file)
    assert code == 0, err
    assert hashlib.sha256(cal.read_bytes()).hexdigest() == before  # input untouched
    with fits.open(cal) as a, fits.open(out_file) as b:
        dq0, dq1 = a["DQ"].data, b["DQ"].data
        assert dq1.dtype == np.uint32
        np.testing.assert_array_equal(dq1, np.where(mask, dq0 | 1073741825, dq0))
        np.testing.assert_array_equal(a["SCI"].data, b["SCI"].data)
        for name in ("ERR", "AREA", "VAR_POISSON", "ASDF"):
            assert a[name].header == b[name].header
    with datamodels.open(out_file) as model:
        assert model.meta.instrument.filter == "F444W"
        assert model.meta.observation.program_number == "01227"
        assert ((model.dq & 1073741825) == 1073741825)[mask].all()
    first = hashlib.sha256(out_file.read_bytes()).hexdigest()
    code, _, err = run_cli("apply", out_file, "--mask", mask_path, "--in-place")
    assert code == 0 and "already processed" in err
    assert hashlib.sha256(out_file.read_bytes()).hexdigest() == first


@pytest.mark.filterwarnings("ignore::dqmask.io.regions.RegionWarning")  # arcs cross the edge
def test_demo_hooks_run_on_small_samples(tmp_path):
    from dqmask.apply import cli as cmd_apply
    from dqmask.claws import cli as cmd_detect
    from dqmask.datasets import make_nircam_cal, make_nircam_rate

    samples = {"nircam_cal": make_nircam_cal(tmp_path / "s_cal.fits", shape=(320, 320)),
               "nircam_rate": make_nircam_rate(tmp_path / "s_rate.fits", shape=(320, 320))}
    lines: list[str] = []
    cmd_detect.demo(tmp_path, samples, lines.append)
    cmd_apply.demo(tmp_path, samples, lines.append)
    mask = fits.getdata(tmp_path / "s_cal_seed_image_zeroonemask.fits").astype(bool)
    assert 0.01 < mask.mean() < 0.2
    dq = fits.getdata(tmp_path / "detect_demo_rate.fits", "DQ")
    assert ((dq & 1073741825) == 1073741825)[mask].all()
    assert ((fits.getdata(tmp_path / "apply_demo_rate.fits", "DQ") & 1073741824) != 0).any()
    assert any("dqmask detect" in line for line in lines)


def test_valid_pixels_jwst_flags_and_hst_any_flag():
    image = np.ones((1, 4))
    image[0, 3] = np.nan
    jwst = np.array([[0, 4, 1 << 19, 0]], np.uint32)  # JUMP_DET bad; LOW_QE (bit 19) fine
    np.testing.assert_array_equal(claws.valid_pixels(image, jwst), [[1, 0, 1, 0]])
    hst = np.array([[0, 4096, 64, 0]], np.int16)
    np.testing.assert_array_equal(claws.valid_pixels(image, hst), [[1, 0, 0, 0]])
