"""One renderer for ``dqmask edit`` and ``dqmask preview`` (:mod:`dqmask.io.png`): stretches,
per-flag colours with a legend, NaN colour, pixel ticks, small images enlarged, MASK
reference files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from dqmask.conftest import shared_file
from dqmask.io import png as render
from dqmask.tests.helpers import jwst_image
from dqmask.toolbox.preview import preview_file


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def test_preview_grey_is_the_editor_renderer_with_nan_colour_and_stretch(tmp_path):
    sci = np.tile(np.linspace(0, 100, 300, dtype=np.float32), (280, 1))
    sci[5, 7] = np.nan
    src = jwst_image(tmp_path / "ramp_rate.fits", sci)
    for stretch in ("linear", "sqrt"):
        res = preview_file(src, tmp_path / f"{stretch}.png", limits="minmax", stretch=stretch)
        png = _png(tmp_path / f"{stretch}.png")
        (panel,) = res.panels
        x0, y0, w, h = panel.box
        expect = render.grey_rgba(render.stretch(sci, 0.0, 100.0, stretch))[..., :3]
        np.testing.assert_array_equal(png[y0:y0 + h, x0:x0 + w], expect)
        x, y = panel.to_png(5, 7)
        assert tuple(png[y, x]) == render.NAN_COLOR  # not black like the low sky
    x, y = panel.to_png(100, 150)
    assert _png(tmp_path / "sqrt.png")[y, x, 0] > _png(tmp_path / "linear.png")[y, x, 0]


def test_flag_colours_and_legend(tmp_path, run_cli):
    dq = np.zeros((300, 300), np.uint32)
    dq[10:20, 10:20] = 1  # DO_NOT_USE (bit 0)
    dq[100:110, 200:210] = 4  # JUMP_DET (bit 2)
    dq[200:205, 50:55] = 1 | 4  # both: the lowest bit's colour
    src = jwst_image(tmp_path / "f_rate.fits", np.random.default_rng(0).normal(10, 1, dq.shape), dq)
    out = tmp_path / "f.png"
    code, stdout, err = run_cli("preview", src, "--flag-colors", "--alpha", "1", "-o", out)
    assert code == 0, err
    res = preview_file(src, tmp_path / "g.png", flag_colors=True, alpha=1.0)
    png = _png(out)
    (panel,) = res.panels
    for (r, c), bit in (((15, 15), 0), ((105, 205), 2), ((202, 52), 0)):
        x, y = panel.to_png(r, c)
        assert tuple(png[y, x]) == render.flag_color(bit)
    below = png[panel.box[1] + panel.box[3] + 16:]  # the legend, under the x-axis labels
    colours = {tuple(p) for p in below.reshape(-1, 3)}
    assert render.flag_color(0) in colours and render.flag_color(2) in colours
    assert render.flag_color(1) not in colours  # SATURATED: absent, not in the legend


def test_small_images_are_enlarged_and_have_pixel_ticks(tmp_path):
    src = jwst_image(tmp_path / "tiny_rate.fits", np.arange(100, dtype=np.float32).reshape(10, 10))
    res = preview_file(src, tmp_path / "t.png", limits="minmax")
    (panel,) = res.panels
    assert panel.zoom == 25 and panel.box[2:] == (250, 250)
    png = _png(tmp_path / "t.png")
    x, y = panel.to_png(0, 0)
    assert y == panel.box[1] + 249 and x == panel.box[0]
    block = png[y - 24:y + 1, x:x + 25]
    assert (block == block[0, 0]).all()  # one image pixel = a 25x25 square
    x0, y0, w, h = panel.box
    left = png[y0:y0 + h, x0 - 5:x0]
    assert (left.sum(axis=2) < 200).any()  # tick marks left of the panel
    plain = preview_file(src, tmp_path / "n.png", axes=False, min_size=0)
    assert plain.panels[0].zoom == 1 and plain.size == (10 + 16, 10 + 32 + 16)


def test_mask_reference_file_is_previewable(tmp_path):
    ref = shared_file("jwst_nircam_mask_0026_nrca1_MASK_ref.fits")
    res = preview_file(ref, tmp_path / "ref.png", max_size=512, flag_colors=True)
    (panel,) = res.panels
    with fits.open(ref) as hdul:
        assert panel.masked == int(np.count_nonzero(hdul["DQ"].data))
    assert panel.factor == 4 and _png(tmp_path / "ref.png").shape[0] > 512


@pytest.mark.parametrize("kind", ["zscale", "minmax", "percentile"])
def test_limits_ignore_nan_and_inf(kind):
    values = np.array([np.nan, np.inf, 1.0, 2.0, 3.0, 4.0, 100.0])
    lo, hi = render.display_limits(values, kind, 80)
    assert np.isfinite(lo) and np.isfinite(hi) and lo < hi


def test_fits2png_averages_several_rates_with_the_shared_renderer(tmp_path, run_cli):
    from dqmask import datasets as sample
    from dqmask.io.png import read_png_rgb
    from dqmask.nsclean.core import combine_exposures, png_to_background

    rates = [sample.make_nircam_rate(tmp_path / f"r{k}_rate.fits", shape=(64, 64), seed=k)
             for k in range(3)]
    with fits.open(rates[0], mode="update") as hdul:
        hdul["SCI"].data[0, 0] = np.nan  # stays NaN only if NaN in every file
    out = tmp_path / "mean.png"
    code, stdout, err = run_cli("fits2png", *rates, out, "--stretch", "asinh", "--limits",
                                "percentile", "--percent", "98")
    assert code == 0, err
    assert "the mean of 3 files" in stdout
    planes = [np.array(fits.getdata(r, "SCI"), np.float32) for r in rates]
    image = combine_exposures(planes, [np.isfinite(p) for p in planes])
    lo, hi = render.display_limits(image, "percentile", 98)
    expect = render.grey_rgba(render.stretch(image, lo, hi, "asinh"))[..., :3]
    rgb, _ = read_png_rgb(out)
    np.testing.assert_array_equal(rgb, expect)
    assert not png_to_background(rgb, 255, 0).any()  # no grey is pure red


def test_fits2png_nan_has_its_own_colour(tmp_path):
    from dqmask import datasets as sample
    from dqmask.io.png import read_png_rgb
    from dqmask.nsclean.files import fits2png

    rate = sample.make_nircam_rate(tmp_path / "n_rate.fits", shape=(64, 64), seed=1)
    with fits.open(rate, mode="update") as hdul:
        hdul["SCI"].data[10, 20] = np.nan
    fits2png(rate, tmp_path / "n.png")
    rgb, _ = read_png_rgb(tmp_path / "n.png")
    assert tuple(rgb[63 - 10, 20]) == render.NAN_COLOR
