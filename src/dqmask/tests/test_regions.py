"""DS9 region files -> pixel masks (dqmask.io.regions)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from regions import PixCoord, PolygonPixelRegion

from dqmask.conftest import shared_file
from dqmask.errors import InputError
from dqmask.io.regions import RegionWarning, read_ds9, region_layers, regions_to_mask
from dqmask.toolbox.morphology import grow

HEAD = "# Region file format: DS9 version 4.1\n"
GLOBAL = ('global color=green dashlist=8 3 width=1 font="helvetica 10 normal roman" '
          "select=1 highlite=1 dash=0 fixed=0 edit=1 move=1 delete=1 include=1 source=1\n")
VERTS = [(10.3, 12.7), (40.6, 15.2), (45.1, 38.9), (20.2, 44.4), (8.8, 30.1)]  # DS9 1-based


def _write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(HEAD + GLOBAL + body)
    return path


def _poly(verts, frame="image") -> str:
    return f"{frame}\npolygon(" + ",".join(f"{x:.10f},{y:.10f}" for x, y in verts) + ")\n"


def _reference_polygon(shape, verts) -> np.ndarray:
    """Centre-mode polygon mask computed directly with matplotlib-free ray casting."""
    vx = np.array([v[0] for v in verts]) - 1.0  # to 0-based
    vy = np.array([v[1] for v in verts]) - 1.0
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    inside = np.zeros(shape, dtype=bool)
    j = len(vx) - 1
    for i in range(len(vx)):
        crosses = (vy[i] > yy) != (vy[j] > yy)
        xint = (vx[j] - vx[i]) * (yy - vy[i]) / (vy[j] - vy[i] + 1e-300) + vx[i]
        inside ^= crosses & (xx < xint)
        j = i
    return inside


def _tan_header(shape=(60, 70)) -> fits.Header:
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.1, 2.3]
    w.wcs.crpix = [shape[1] / 2, shape[0] / 2]
    ang = np.radians(25.0)
    scale = 0.031 / 3600
    w.wcs.cd = scale * np.array([[-np.cos(ang), np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    h = w.to_header()
    h["NAXIS1"], h["NAXIS2"] = shape[1], shape[0]
    return h


# ------------------------------------------------------------------------------ image frame


def test_image_polygon_matches_an_independent_point_in_polygon(tmp_path):
    reg = _write(tmp_path, "p.reg", _poly(VERTS))
    mask = regions_to_mask(reg, (60, 70))
    assert mask.dtype == bool and mask.shape == (60, 70)
    np.testing.assert_array_equal(mask, _reference_polygon((60, 70), VERTS))
    assert 700 < mask.sum() < 1200


def test_several_shapes_and_files_are_a_union(tmp_path):
    a = _write(tmp_path, "a.reg", "image\ncircle(20,20,5.2)\nbox(50.5,40.5,10,6,0)\n")
    b = _write(tmp_path, "b.reg", "image;ellipse(10,50,6.3,3.2,0)\n")
    both = regions_to_mask([a, b], (60, 70))
    yy, xx = np.mgrid[:60, :70]
    circle = (xx - 19) ** 2 + (yy - 19) ** 2 < 5.2**2
    box = (np.abs(xx - 49.5) < 5) & (np.abs(yy - 39.5) < 3)
    ellipse = ((xx - 9) / 6.3) ** 2 + ((yy - 49) / 3.2) ** 2 < 1
    np.testing.assert_array_equal(both, circle | box | ellipse)


def test_exclude_shapes_are_subtracted_whatever_the_order(tmp_path):
    reg = _write(tmp_path, "x.reg", "image\n-circle(30,30,4)\nbox(30,30,20,20,0)\n")
    mask = regions_to_mask(reg, (60, 70))
    include, exclude, infos = region_layers(reg, (60, 70))
    assert [i.include for i in infos] == [False, True]
    assert exclude.sum() > 40 and not (mask & exclude).any()
    np.testing.assert_array_equal(mask, include & ~exclude)
    assert not mask[29, 29] and mask[22, 22]


def test_exclude_in_a_second_file_applies_to_the_first(tmp_path):
    inc = _write(tmp_path, "inc.reg", "image\nbox(30.5,30.5,20,20,0)\n")
    exc = _write(tmp_path, "exc.reg", "image\n-box(30.5,30.5,4,4,0)\n")
    mask = regions_to_mask([inc, exc], (60, 70))
    assert mask.sum() == 400 - 16


def test_region_partly_off_image_warns_and_keeps_on_image_part(tmp_path):
    reg = _write(tmp_path, "edge.reg", "image\nbox(1.5,1.5,10,10,0)\n")
    with pytest.warns(RegionWarning, match=r"extends beyond the 70x60 image; 36 of 100"):
        mask = regions_to_mask(reg, (60, 70))
    assert mask.sum() == 36 and mask[:6, :6].all()


def test_region_wholly_off_image_warns_not_crashes(tmp_path):
    reg = _write(tmp_path, "off.reg", "image\ncircle(500,500,5)\npolygon(-50,-50,-40,-50,-45,-30)"
                                      "\ncircle(10,10,2)\n")
    with pytest.warns(RegionWarning, match="entirely off") as rec:
        include, _, infos = region_layers(reg, (60, 70))
    assert sum("entirely off" in str(w.message) for w in rec) == 2
    assert [i.status for i in infos] == ["off", "off", "inside"]
    assert include.sum() == infos[2].n_on_image > 0


def test_point_and_text_have_no_area(tmp_path):
    reg = _write(tmp_path, "pt.reg", "image\npoint(5,5) # point=circle\ncircle(10,10,2)\n")
    with pytest.warns(RegionWarning, match="no area"):
        mask = regions_to_mask(reg, (60, 70))
    assert not mask[4, 4] and mask[9, 9]


def test_exact_mode_counts_any_overlap(tmp_path):
    reg = _write(tmp_path, "c.reg", "image\ncircle(20.5,20.5,3)\n")
    centre = regions_to_mask(reg, (60, 70))
    exact = regions_to_mask(reg, (60, 70), mode="exact")
    assert exact.sum() > centre.sum() and (exact | centre).sum() == exact.sum()


# --------------------------------------------------------------------------- physical frame


def test_physical_frame_with_ltv_offset(tmp_path):
    header = fits.Header({"LTV1": -100.0, "LTV2": -50.0})
    shifted = [(x + 100.0, y + 50.0) for x, y in VERTS]
    reg = _write(tmp_path, "phys.reg", _poly(shifted, "physical"))
    img = _write(tmp_path, "img.reg", _poly(VERTS))
    mask = regions_to_mask(reg, (60, 70), header)
    np.testing.assert_array_equal(mask, regions_to_mask(img, (60, 70)))
    assert mask.sum() > 700


def test_physical_frame_binned_ltm_scales_radii(tmp_path):
    header = fits.Header({"LTM1_1": 0.5, "LTM2_2": 0.5, "LTV1": 0.5, "LTV2": 0.5})
    # image = 0.5 * physical + 0.5 -> physical (59, 39) r=10 is image (30, 20) r=5
    reg = _write(tmp_path, "bin.reg", "physical\ncircle(59,39,10)\n")
    ref = _write(tmp_path, "ref.reg", "image\ncircle(30,20,5)\n")
    np.testing.assert_array_equal(regions_to_mask(reg, (60, 70), header),
                                  regions_to_mask(ref, (60, 70)))


def test_physical_is_the_default_frame_and_identity_without_keywords(tmp_path):
    reg = _write(tmp_path, "noframe.reg", "circle(20,20,5)\n")
    ref = _write(tmp_path, "ref.reg", "image\ncircle(20,20,5)\n")
    np.testing.assert_array_equal(regions_to_mask(reg, (60, 70)), regions_to_mask(ref, (60, 70)))
    assert regions_to_mask(reg, (60, 70)).sum() > 60


def test_physical_rotated_ltm_refused_for_circles(tmp_path):
    header = fits.Header({"LTM1_1": 0.0, "LTM1_2": 1.0, "LTM2_1": 1.0, "LTM2_2": 0.0})
    reg = _write(tmp_path, "rot.reg", "physical\ncircle(20,20,5)\n")
    with pytest.raises(InputError, match="isotropic"):
        regions_to_mask(reg, (60, 70), header)


# -------------------------------------------------------------------------------- sky frame


def test_sky_polygon_through_the_wcs_equals_the_pixel_polygon(tmp_path):
    header = _tan_header()
    w = WCS(header)
    sky = w.pixel_to_world([x - 1 for x, _ in VERTS], [y - 1 for _, y in VERTS])
    # the WCS is ICRS (no RADESYS); an fk5 file would be shifted by the FK5-ICRS offset
    body = "icrs\npolygon(" + ",".join(f"{c.ra.deg:.12f},{c.dec.deg:.12f}" for c in sky) + ")\n"
    reg = _write(tmp_path, "sky.reg", body)
    mask = regions_to_mask(reg, (60, 70), header)
    np.testing.assert_array_equal(mask, _reference_polygon((60, 70), VERTS))
    # the same with an explicit WCS object
    np.testing.assert_array_equal(regions_to_mask(reg, (60, 70), wcs=w), mask)


def test_sky_region_without_wcs_is_an_input_error(tmp_path):
    reg = _write(tmp_path, "sky.reg", 'fk5\ncircle(150.1,2.3,1")\n')
    with pytest.raises(InputError, match="WCS"):
        regions_to_mask(reg, (60, 70), fits.Header({"LTV1": 0}))
    with pytest.raises(InputError, match="WCS"):
        regions_to_mask(reg, (60, 70))


FAR_SIDE = [  # the _tan_header pointing is (150.1, +2.3): these are ~180 degrees away
    'circle(330.1,-2.3,2")',
    "polygon(330.1,-2.3,330.2,-2.3,330.2,-2.2)",
    'ellipse(330.1,-2.3,2",1",30)',  # regions' own conversion fails (SVD) here
    'box(330.1,-2.3,2",1",30)',
    'annulus(330.1,-2.3,2",3")',
]


@pytest.mark.parametrize("shape", FAR_SIDE, ids=lambda s: s.split("(")[0])
def test_sky_shape_on_the_far_side_of_the_sky_is_off_the_image(tmp_path, shape):
    """Issue 11 item 4: no pixel in the TAN projection = wholly off the image, said in one
    warning naming the file (it was a NaN traceback / a cryptic line)."""
    reg = _write(tmp_path, "far.reg", f"fk5\n{shape}\nimage\ncircle(20,20,3)\n")
    with pytest.warns(RegionWarning) as caught:
        include, exclude, infos = region_layers(reg, (60, 70), _tan_header())
    (w,) = [str(c.message) for c in caught]
    assert w.startswith(f"{reg}: region 1 (") and "falls outside the 70x60 image" in w
    assert "far side of the sky" in w and w.endswith("; ignored")
    assert infos[0].far_side and infos[0].status == "off" and infos[1].status == "inside"
    assert include.sum() == infos[1].n_on_image == 25 and not exclude.any()  # r=3: 25 centres


def test_sky_polygon_only_partly_projectable_is_an_input_error(tmp_path):
    reg = _write(tmp_path, "half.reg", "fk5\npolygon(150.1,2.3,150.1001,2.3,330.2,-2.2)\n")
    with pytest.raises(InputError, match=r"region 1 \(polygon\): 1 of its 3 positions have "
                                         r"no pixel") as exc:
        regions_to_mask(reg, (60, 70), _tan_header())
    assert exc.value.path == str(reg)


def test_shape_far_off_the_image_is_not_rasterised(tmp_path, monkeypatch):
    """A shape whose bounding box misses the image costs nothing, however large (a sky
    circle near 90 degrees from a TAN pointing is millions of pixels wide)."""
    from regions import CirclePixelRegion

    def refuse(self, mode="center"):
        raise AssertionError("rasterised")

    monkeypatch.setattr(CirclePixelRegion, "to_mask", refuse)
    reg = _write(tmp_path, "big.reg", "image\ncircle(5e7,5e7,3e6)\n")
    with pytest.warns(RegionWarning, match="lies entirely off the 70x60 image"):
        _, _, (info,) = region_layers(reg, (60, 70))
    assert info.status == "off" and info.n_total == 0


def test_mixed_frames_in_one_file(tmp_path):
    header = _tan_header()
    header["LTV1"] = -10.0
    c = WCS(header).pixel_to_world(39, 29)
    body = (f"image\ncircle(10,10,3)\nphysical\ncircle(30,30,3)\n"
            f'icrs\ncircle({c.ra.deg:.10f},{c.dec.deg:.10f},0.124")\n')
    reg = _write(tmp_path, "mix.reg", body)
    _, _, infos = region_layers(reg, (60, 70), header)
    assert len(infos) == 3
    mask = regions_to_mask(reg, (60, 70), header)
    assert mask[9, 9] and mask[29, 19] and mask[29, 39]  # image, physical (x-10), sky (r=4px)
    assert not mask[29, 29]


# ------------------------------------------------------------------------------- bad input


def test_missing_and_malformed_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such region file"):
        read_ds9(tmp_path / "nope.reg")
    bad = tmp_path / "bin.reg"
    bad.write_bytes(b"\xff\xfe\x00garbage\x89PNG")
    with pytest.raises(InputError, match="region file"):
        read_ds9(bad)


def test_empty_file_warns(tmp_path):
    reg = _write(tmp_path, "empty.reg", "image\n")
    with pytest.warns(RegionWarning, match="no region shapes"):
        assert not regions_to_mask(reg, (10, 10)).any()


def test_read_ds9_returns_pixel_regions_with_include_meta(tmp_path):
    reg = _write(tmp_path, "r.reg", _poly(VERTS) + "-circle(20,20,2)\n")
    shapes = read_ds9(reg)
    assert isinstance(shapes[0], PolygonPixelRegion)
    assert [bool(s.meta.get("include", True)) for s in shapes] == [True, False]
    assert shapes[0].vertices[0] == PixCoord(VERTS[0][0] - 1, VERTS[0][1] - 1)


# ---------------------------------------------------------------- real Crab.Toolkit.JWST files

CRAB = [
    "jw01727044001_04101_00001_nrcb1_cal_claws",
    "jw01727044001_04101_00003_nrcb1_cal_claws",
    "jw01837004002_08201_00002_nrcb1_cal_claws",  # fk5 polygons (through the mask's SIP WCS)
]


@pytest.mark.parametrize("stem", CRAB)
def test_real_crab_masks_lie_within_the_kernel_reach_of_their_polygons(stem):
    """Crab's masks were detected inside these polygons then smoothed with sigma = 1 (a 9x9
    kernel): every mask pixel must lie within 4 pixels (Chebyshev) of a polygon pixel, and
    most inside. A polygon read 3 pixels off would break the first property."""
    reg = shared_file(f"crab_claws/{stem}.pix.reg")
    data, header = fits.getdata(shared_file(f"crab_claws/{stem}_seed_image_zeroonemask.fits.gz"),
                                header=True)
    mask = data > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", RegionWarning)  # every polygon lies on the detector
        poly = regions_to_mask(reg, data.shape, header)
    assert not (mask & ~grow(poly, 4, "square")).any()
    assert (mask & poly).sum() / mask.sum() > 0.95
    for shift in ((3, 3), (-3, -3)):  # the check discriminates a 3-pixel misreading
        moved = np.roll(poly, shift, axis=(0, 1))
        assert (mask & ~grow(moved, 4, "square")).sum() > 50


def test_real_crab_snowball_polygon_partly_off_the_detector_warns():
    reg = shared_file("crab_claws/jw01837003008_02201_00001_nrca2_big_snowball.pix.reg")
    with pytest.warns(RegionWarning, match="extends beyond the 2048x2048 image"):
        include, _, infos = region_layers(reg, (2048, 2048))
    assert infos[0].status == "partial" and include.sum() == infos[0].n_on_image > 5000
    assert include[:, :3].any() and not include[:, 200:].any()


# --------------------------------------------------------------------------------------------
# Large regions are rasterised in bands (bounded memory), with the same pixels
# --------------------------------------------------------------------------------------------


def _random_shapes(rng: np.random.Generator) -> list:
    import astropy.units as u
    from regions import (
        CircleAnnulusPixelRegion,
        CirclePixelRegion,
        EllipsePixelRegion,
        PixCoord,
        PolygonPixelRegion,
        RectanglePixelRegion,
    )

    c = PixCoord(*rng.uniform(-20, 190, 2))
    angle = rng.uniform(0, 180) * u.deg
    return [CirclePixelRegion(c, rng.uniform(1, 80)),
            EllipsePixelRegion(c, rng.uniform(1, 120), rng.uniform(1, 60), angle=angle),
            RectanglePixelRegion(c, rng.uniform(1, 120), rng.uniform(1, 60), angle=angle),
            PolygonPixelRegion(PixCoord(rng.uniform(-30, 200, 7), rng.uniform(-30, 180, 7))),
            CircleAnnulusPixelRegion(c, 5, 40)]


@pytest.mark.parametrize("mode", ["center", "exact"])
def test_banded_rasterisation_gives_the_same_pixels(monkeypatch, mode):
    import dqmask.io.regions as regmod

    rng = np.random.default_rng(12)
    shape = (150, 170)
    for _ in range(25):
        for region in _random_shapes(rng):
            if mode == "exact" and "Annulus" in type(region).__name__:
                continue  # regions' compound shapes only do "center"
            monkeypatch.setattr(regmod, "BAND_PIXELS", 1 << 30)
            whole = np.zeros(shape, bool)
            counts = regmod._paint(region, whole, mode)
            monkeypatch.setattr(regmod, "BAND_PIXELS", 97)  # bands of a few rows
            banded = np.zeros(shape, bool)
            total, on = regmod._paint(region, banded, mode)
            # a shape cut by the edge with a box above BAND_PIXELS: its total is not counted
            assert on == counts[1] and total in (counts[0], None), region
            np.testing.assert_array_equal(banded, whole, err_msg=str(region))


def test_banded_regions_file_and_exclude_match_unbanded(tmp_path, monkeypatch):
    import dqmask.io.regions as regmod

    reg = tmp_path / "trail.reg"
    reg.write_text("image\npolygon(-5,2,160,140,175,150,2,-8)\n-circle(80,70,12)\n"
                   "box(40,100,50,20,30)\n")
    monkeypatch.setattr(regmod, "BAND_PIXELS", 1 << 30)
    with pytest.warns(regmod.RegionWarning):
        include, exclude, _ = regmod.region_layers([reg], (150, 170))
    expected = include & ~exclude
    monkeypatch.setattr(regmod, "BAND_PIXELS", 50)
    with pytest.warns(regmod.RegionWarning):
        got = regmod.regions_to_mask([reg], (150, 170))
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == bool and 0 < got.sum() < got.size
