"""png2fits / fits2png: NSClean's documented png2fits behaviour, pixel by pixel, and round trips.

``nsclean_png2fits`` below restates NSClean's ``util.png2fits`` (Rev. 1.5) from its
documented behaviour (see docs/nsclean.md): Pillow -> numpy array;
background = channel 0 == 255 and channels 1, 2 == 0; 4-pixel border False; rows flipped;
uint8 primary HDU with ``COMMENT Pixels = 1 are background`` and
``HISTORY Created by png2fits Rev. 1.5``.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from dqmask.conftest import shared_file
from dqmask.io.background_mask import read_background_mask
from dqmask.io.fits import step_records
from dqmask.io.png import read_png_rgb
from dqmask.nsclean.core import force_border_false, png_to_background, render_png
from dqmask.nsclean.files import fits2png, png2fits
from dqmask.tests.test_png import write_png16

N = 2048


def nsclean_png2fits(png_path, out_path) -> None:
    """NSClean's png2fits, as documented (reference for the comparisons)."""
    img = np.asarray(Image.open(png_path))
    mask = (img[:, :, 0] == 255) & (img[:, :, 1] == 0) & (img[:, :, 2] == 0)
    rb = 4
    mask[:rb, :] = False
    mask[-rb:, :] = False
    mask[:, :rb] = False
    mask[:, -rb:] = False
    mask = mask[::-1, :]
    hdu = fits.PrimaryHDU(mask.astype(np.uint8))
    hdu.header["COMMENT"] = "Pixels = 1 are background"
    hdu.header["HISTORY"] = "Created by png2fits Rev. 1.5"
    hdu.writeto(out_path)


def painted_picture(seed: int = 0, n: int = N) -> np.ndarray:
    """An n x n RGB picture (n >= 1700): gray noise, red blocks, near-red, red in the border."""
    rng = np.random.default_rng(seed)
    gray = rng.integers(0, 256, (n, n), dtype=np.uint8)
    rgb = np.repeat(gray[:, :, None], 3, axis=2)
    rgb[100:400, 200:1600] = (255, 0, 0)           # background blocks
    rgb[900:1000, 0:n] = (255, 0, 0)               # crosses both side borders
    rgb[0:10, 500:600] = (255, 0, 0)               # top border (PNG top = last FITS rows)
    rgb[n - 3:, 700:720] = (255, 0, 0)             # bottom border
    rgb[1500:1510, 300:310] = (254, 0, 0)          # near-red: not background
    rgb[1510:1520, 300:310] = (255, 1, 0)
    rgb[1520:1530, 300:310] = (255, 0, 1)
    rgb[1530:1540, 300:310] = (0, 0, 255)          # the painter's "light" layer
    rgb[1600, 1601] = (255, 0, 0)                  # one isolated pixel
    return rgb


@pytest.fixture(scope="module")
def painted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("painted")
    rgb = painted_picture()
    Image.fromarray(rgb, "RGB").save(folder / "mask.png")
    nsclean_png2fits(folder / "mask.png", folder / "nsclean.fits")
    return folder, rgb


def test_png2fits_matches_nsclean_pixel_by_pixel(painted, tmp_path):
    folder, rgb = painted
    png2fits(folder / "mask.png", tmp_path / "ours.fits")
    with fits.open(folder / "nsclean.fits") as ref, fits.open(tmp_path / "ours.fits") as ours:
        assert len(ours) == 1 and ours[0].data.dtype == np.uint8
        np.testing.assert_array_equal(ours[0].data, ref[0].data)
        # NSClean's header card for card, then dqmask's provenance
        ref_cards = [c.image for c in ref[0].header.cards]
        our_cards = [c.image for c in ours[0].header.cards]
        assert our_cards[: len(ref_cards)] == ref_cards
        assert step_records(ours[0].header, "png2fits")
        assert "DQM_VER" in ours[0].header
    data = fits.getdata(tmp_path / "ours.fits")
    # orientation: PNG row r -> FITS row N-1-r; columns unchanged
    assert data[N - 1 - 200, 1000] == 1 and data[N - 1 - 1600, 1601] == 1
    assert data[N - 1 - 1505, 305] == 0 and data[N - 1 - 1535, 305] == 0
    # reference border is 0 even where painted red
    assert not data[:4].any() and not data[-4:].any()
    assert not data[:, :4].any() and not data[:, -4:].any()
    assert data[N - 1 - 950, 4] == 1 and data[N - 1 - 950, N - 5] == 1


def test_png2fits_rgba_palette_and_16bit_agree(tmp_path):
    # NSClean has no size check: an 800x800 cut (red band across both side borders, the
    # near-red patches) keeps the test quick
    rgb = painted_picture(1)[850:1650, 0:800].copy()
    n = rgb.shape[0]
    Image.fromarray(rgb, "RGB").save(tmp_path / "rgb.png")
    nsclean_png2fits(tmp_path / "rgb.png", tmp_path / "nsclean.fits")
    expected = fits.getdata(tmp_path / "nsclean.fits").astype(bool)
    alpha = np.random.default_rng(3).integers(0, 256, (n, n, 1), dtype=np.uint8)
    Image.fromarray(np.concatenate([rgb, alpha], axis=2), "RGBA").save(tmp_path / "a.png")
    few = np.where(rgb == 255, 255, rgb // 64 * 64).astype(np.uint8)  # <= 256 colours
    Image.fromarray(few, "RGB").convert("P", palette=Image.Palette.ADAPTIVE,
                                        colors=256).save(tmp_path / "p.png")
    png16 = np.where(rgb == 255, 65535, rgb.astype(np.uint16) * 257)
    png16[300:310, 40:50] = (65280, 0, 0)  # high byte 255: Pillow alone would call it red
    write_png16(tmp_path / "s.png", png16)
    with Image.open(tmp_path / "p.png") as im:
        assert im.mode == "P"
        pal_red = (np.asarray(im.convert("RGB")) == (255, 0, 0)).all(axis=2)
    assert pal_red.sum() > 0
    for name, want in (("a.png", expected), ("s.png", expected),
                       ("p.png", force_border_false(pal_red)[::-1])):
        png2fits(tmp_path / name, tmp_path / f"{name}.fits", shape=None)
        got = fits.getdata(tmp_path / f"{name}.fits").astype(bool)
        np.testing.assert_array_equal(got, want, err_msg=name)


def test_png2fits_cli_errors_are_one_line(tmp_path, run_cli):
    Image.new("L", (N, N)).save(tmp_path / "gray.png")
    Image.new("RGB", (100, 50)).save(tmp_path / "small.png")
    code, _, err = run_cli("png2fits", tmp_path / "gray.png", tmp_path / "g.fits")
    assert code == 1 and "grayscale PNG (mode L)" in err and err.count("\n") == 1
    assert not (tmp_path / "g.fits").exists()
    code, _, err = run_cli("png2fits", tmp_path / "small.png", tmp_path / "s.fits")
    assert code == 1 and "PNG is 100x50 pixels, expected 2048x2048" in err
    assert not (tmp_path / "s.fits").exists()
    # --size any converts any size, as NSClean does
    code, out, _ = run_cli("png2fits", tmp_path / "small.png", tmp_path / "s.fits",
                           "--size", "any")
    assert code == 0 and fits.getdata(tmp_path / "s.fits").shape == (50, 100)
    # never overwrite without --force (NSClean: overwrite=False)
    code, _, err = run_cli("png2fits", tmp_path / "small.png", tmp_path / "s.fits",
                           "--size", "any")
    assert code == 2 and "exists" in err


def test_png2fits_border_option(tmp_path):
    Image.new("RGB", (20, 10), (255, 0, 0)).save(tmp_path / "r.png")
    png2fits(tmp_path / "r.png", tmp_path / "b0.fits", border=0, shape=None)
    png2fits(tmp_path / "r.png", tmp_path / "b2.fits", border=2, shape=None)
    assert fits.getdata(tmp_path / "b0.fits").all()
    b2 = fits.getdata(tmp_path / "b2.fits")
    assert b2.sum() == (20 - 4) * (10 - 4) and b2[2:-2, 2:-2].all()


def test_render_then_read_is_exact_for_any_mask():
    rng = np.random.default_rng(5)
    image = rng.normal(0, 1, (64, 48)).astype(np.float32)
    image[3, 3] = np.nan
    image[10:20, 10:20] = 1e6  # saturates to white, never red
    background = force_border_false(rng.random((64, 48)) < 0.5)
    rgb = render_png(image, background)
    assert not ((rgb == (255, 0, 0)).all(axis=2) & ~background[::-1]).any()
    np.testing.assert_array_equal(png_to_background(rgb), background)


@pytest.fixture(scope="module")
def rate(tmp_path_factory):
    """A full-frame NIRSpec rate with a bright 'trace' in rows 500-599."""
    from dqmask.nsclean.tests.test_background_scenes import write_rate

    rng = np.random.default_rng(7)
    data = rng.normal(0.01, 0.01, (N, N)).astype(np.float32)
    data[500:600, :] += 1.0
    path = tmp_path_factory.mktemp("rate") / "x_rate.fits"
    return write_rate(path, data, np.zeros((N, N), dtype=np.uint32))


def test_fits2png_paint_png2fits_round_trip(tmp_path, rate):
    fits2png(rate, tmp_path / "blank.png")
    rgb, _ = read_png_rgb(tmp_path / "blank.png", (N, N))
    assert not (rgb == (255, 0, 0)).all(axis=2).any()  # nothing is background yet
    # the picture is the rate in PNG orientation: the trace rows are bright
    assert rgb[N - 1 - 550, :, 0].mean() > 200 and rgb[N - 1 - 1500, :, 0].mean() < 200
    # paint: a drawn region in pure red, as in GIMP
    drawn = np.zeros((N, N), dtype=bool)
    drawn[50:450, 100:1900] = True
    drawn[700:1600:3, 30:2030:7] = True
    painted = rgb.copy()
    painted[drawn[::-1]] = (255, 0, 0)
    Image.fromarray(painted, "RGB").save(tmp_path / "painted.png")
    png2fits(tmp_path / "painted.png", tmp_path / "mask.fits")
    back = read_background_mask(tmp_path / "mask.fits").background
    np.testing.assert_array_equal(back, force_border_false(drawn))
    # and the mask drawn again by fits2png --mask comes back unchanged
    fits2png(rate, tmp_path / "again.png", mask=tmp_path / "mask.fits")
    png2fits(tmp_path / "again.png", tmp_path / "again.fits")
    np.testing.assert_array_equal(fits.getdata(tmp_path / "again.fits"),
                                  fits.getdata(tmp_path / "mask.fits"))


@pytest.mark.parametrize("name", ["nrs1_ifu_mask_thorough.fits.gz",
                                  "nrs2_ifu_mask_thorough.fits.gz",
                                  "20230306_nrs1_ifu_mask.fits.gz",
                                  "20230306_nrs2_ifu_mask.fits.gz"])
def test_real_nsclean_masks_survive_fits2png_png2fits(name, tmp_path, rate):
    real = shared_file(f"nsclean_masks/{name}")
    fits2png(rate, tmp_path / "m.png", mask=real)
    png2fits(tmp_path / "m.png", tmp_path / "m.fits")
    with fits.open(real) as ref, fits.open(tmp_path / "m.fits") as ours:
        np.testing.assert_array_equal(ours[0].data, ref[0].data)
        assert ours[0].data.dtype == ref[0].data.dtype == np.uint8
        # same cards as the shipped mask, apart from the NSClean revision
        ref_cards = [c.image.replace("Rev. 1.2", "Rev. 1.5") for c in ref[0].header.cards]
        assert [c.image for c in ours[0].header.cards][: len(ref_cards)] == ref_cards
