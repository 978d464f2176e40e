"""dqmask preview: PNGs read back (size, overlay colour where masked, grey elsewhere)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from dqmask.tests.helpers import jwst_image
from dqmask.toolbox.preview import block_any, block_reduce, preview_file

RED = (255, 0, 0)


def _hst(path: Path, chips: list[tuple[np.ndarray, np.ndarray]]) -> Path:
    p = fits.PrimaryHDU()
    p.header.update(TELESCOP="HST", INSTRUME="ACS", DETECTOR="WFC")
    hdus = [p]
    for ver, (sci, dq) in enumerate(chips, start=1):
        hdus += [fits.ImageHDU(sci.astype(np.float32), name="SCI", ver=ver),
                 fits.ImageHDU(dq.astype(np.int16), name="DQ", ver=ver)]
    fits.HDUList(hdus).writeto(path)
    return path


def _noise(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).normal(10, 1, shape)


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def test_masked_pixels_drawn_in_overlay_colour(tmp_path, run_cli):
    dq = np.zeros((120, 160), np.uint32)
    dq[20:40, 100:130] = 1  # DO_NOT_USE
    dq[80:90, 10:20] = 4  # JUMP_DET: not selected below
    src, out = jwst_image(tmp_path / "r_rate.fits", _noise(dq.shape), dq), tmp_path / "p.png"
    res = preview_file(src, out, dq="DO_NOT_USE", alpha=1.0)
    png = _png(out)
    assert (png.shape[1], png.shape[0]) == res.size
    (panel,) = res.panels
    assert panel.box[2:] == (160, 120) and panel.factor == 1 and panel.masked == 600
    for r, c in [(20, 100), (39, 129), (30, 115)]:
        x, y = panel.to_png(r, c)
        assert tuple(png[y, x]) == RED
    for r, c in [(19, 100), (85, 15), (60, 60)]:
        x, y = panel.to_png(r, c)
        assert png[y, x, 0] == png[y, x, 1] == png[y, x, 2]  # grey
    # red appears exactly on the masked pixels, nowhere else in the panel
    x0, y0, w, h = panel.box
    red = np.all(png[y0:y0 + h, x0:x0 + w] == RED, axis=2)
    assert red.sum() == 600
    # CLI, default alpha 0.5: blended towards red
    code, stdout, _ = run_cli("preview", src, "--dq", "DO_NOT_USE", "-o", tmp_path / "c.png")
    assert code == 0 and "600 masked pixels drawn" in stdout
    x, y = panel.to_png(30, 115)
    r, g, b = _png(tmp_path / "c.png")[y, x]
    assert r >= 127 and g == b < 128


def test_two_chips_and_block_reduction_keeps_single_bad_pixels(tmp_path):
    shape = (700, 500)
    dq1, dq2 = np.zeros(shape, np.int16), np.zeros(shape, np.int16)
    dq1[3, 4] = 16  # one hot pixel
    dq2[600:700, 0:100] = 4
    src = _hst(tmp_path / "x_flt.fits", [(_noise(shape, 1), dq1), (_noise(shape, 2), dq2)])
    out = tmp_path / "p.png"
    res = preview_file(src, out, dq="any", max_size=100, alpha=1.0, color=(0, 255, 0))
    png = _png(out)
    assert len(res.panels) == 2 and [p.factor for p in res.panels] == [7, 7]
    assert [p.box[2:] for p in res.panels] == [(72, 100), (72, 100)]
    assert [p.masked for p in res.panels] == [1, 10000]
    x, y = res.panels[0].to_png(3, 4)
    assert tuple(png[y, x]) == (0, 255, 0)
    x, y = res.panels[1].to_png(650, 50)
    assert tuple(png[y, x]) == (0, 255, 0)
    assert "[SCI,2]" in res.panels[1].title


def test_mask_file_and_region_overlay(tmp_path, run_cli):
    shape = (50, 60)
    src = jwst_image(tmp_path / "i_rate.fits", _noise(shape), np.zeros(shape))
    reg = tmp_path / "c.reg"
    reg.write_text("image\nbox(31,21,5,5,0)\n")  # 0-based rows 18..22, cols 28..32
    out = tmp_path / "p.png"
    code, _, err = run_cli("preview", src, "--mask", reg, "--alpha", "1", "-o", out)
    assert code == 0, err
    png = _png(out)
    res = preview_file(src, tmp_path / "again.png", mask=str(reg), alpha=1.0)
    (panel,) = res.panels
    assert panel.masked == 25
    assert tuple(png[panel.to_png(20, 30)[1], panel.to_png(20, 30)[0]]) == RED
    assert tuple(png[panel.to_png(17, 30)[1], panel.to_png(17, 30)[0]]) != RED


def test_before_after_pair_shows_what_changed(tmp_path, run_cli):
    shape = (64, 64)
    dq = np.zeros(shape, np.uint32)
    dq[0:4] = 1
    before = jwst_image(tmp_path / "a_rate.fits", _noise(shape), dq)
    dq2 = dq.copy()
    dq2[30:34, 30:34] |= 1024
    after = jwst_image(tmp_path / "a_masked.fits", _noise(shape), dq2)
    out = tmp_path / "pair.png"
    code, _, err = run_cli("preview", after, "--before", before, "--alpha", "1", "-o", out)
    assert code == 0, err
    res = preview_file(after, tmp_path / "p2.png", before=str(before), alpha=1.0)
    top, bottom = res.panels
    assert top.title.startswith("before: a_rate.fits") and top.masked == 0
    assert bottom.title.startswith("after: a_masked.fits") and bottom.masked == 16
    assert bottom.box[1] > top.box[1] + top.box[3]
    png = _png(out)
    x, y = bottom.to_png(31, 31)
    assert tuple(png[y, x]) == RED
    x, y = top.to_png(31, 31)
    assert tuple(png[y, x]) != RED


@pytest.mark.parametrize("has_dq, extra, problem", [
    (False, ["--dq", "DO_NOT_USE"], "has no DQ extension"),
    (True, ["--mask", "{small}@bad"], "do not match"),  # @bad: no polarity warning
    (True, ["--dq", "NOT_A_FLAG"], "unknown flag name"),
])
def test_preview_errors(tmp_path, run_cli, has_dq, extra, problem):
    src = jwst_image(tmp_path / "n_rate.fits", _noise((20, 20)),
                np.zeros((20, 20)) if has_dq else None)
    small = tmp_path / "small.fits"
    fits.PrimaryHDU(np.zeros((4, 4), np.uint8)).writeto(small)
    code, _, err = run_cli("preview", src, *[a.format(small=small) for a in extra],
                           "-o", tmp_path / "o.png")
    assert code == 1 and problem in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.png").exists()


def test_block_helpers():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    a[0, 0] = np.nan
    assert np.allclose(block_reduce(a, 2), [[10 / 3, 4.5], [8.5, 10.5]])
    bad = np.zeros((3, 5), bool)
    bad[2, 4] = True
    assert block_any(bad, 2).tolist() == [[False, False, False], [False, False, True]]


def test_many_files_jobs_and_a_corrupt_one(tmp_path, run_cli):
    files = [jwst_image(tmp_path / f"m{k}_rate.fits", _noise((30, 40), k), np.ones((30, 40)))
             for k in range(3)]
    files[1].write_bytes(files[1].read_bytes()[:4000])  # truncated
    out = tmp_path / "png"
    code, stdout, err = run_cli("preview", *files, "--dq", "any", "--output-dir", out, "--jobs", "2")
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == ["m0_rate_preview.png", "m2_rate_preview.png"]
    assert err.strip().splitlines()[-1] == f"dqmask: 1 of 3 inputs failed: {files[1]}"
    assert stdout.count("1200 masked pixels drawn") == 2
    with Image.open(out / "m0_rate_preview.png") as im:
        # 40x30 enlarged x6 (to about 256) + y-axis labels 34 + 2 gaps of 8;
        # 180 + title 32 + x-axis labels 16 + 2 gaps of 8
        assert im.size == (40 * 6 + 34 + 16, 30 * 6 + 32 + 16 + 16)
