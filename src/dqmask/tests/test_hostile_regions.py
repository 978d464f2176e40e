"""Hostile DS9 region files (issue 12): bounded work, one line naming the file, input untouched.

Rasterisation is bounded by the image: every shape is drawn only on its bounding box cut to
the image, so a huge or far-away shape costs no more than the image. The tests assert on the
work done (the boxes ``regions`` rasterises, the parser not being called), never on time.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from regions import (
    CirclePixelRegion,
    EllipsePixelRegion,
    PolygonPixelRegion,
    RectanglePixelRegion,
    Regions,
)

import dqmask.io.regions as regmod
from dqmask.apply.tests.test_apply import make_rate
from dqmask.errors import InputError
from dqmask.io.regions import RegionWarning, region_layers, regions_to_mask, require_regular_file
from dqmask.tests.test_regions import _tan_header

IMAGE = (60, 70)  # (ny, nx)
SHAPE = (64, 80)  # make_rate's image


def _reg(tmp_path: Path, name: str, body: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(body, bytes):
        path.write_bytes(body)
    else:
        path.write_text(body)
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def boxes(monkeypatch) -> list[tuple[int, int]]:
    """The ``(ny, nx)`` of every box ``regions`` rasterises (its ``to_mask`` grid)."""
    seen: list[tuple[int, int]] = []
    for cls in (CirclePixelRegion, EllipsePixelRegion, RectanglePixelRegion,
                PolygonPixelRegion):
        original = cls.to_mask

        def to_mask(self, mode="center", subpixels=1, _original=original):
            seen.append(tuple(self.bounding_box.shape))
            return _original(self, mode=mode)

        monkeypatch.setattr(cls, "to_mask", to_mask)
    return seen


# ------------------------------------------------------------------ bounded rasterisation


def test_giant_circle_is_rasterised_only_where_it_meets_the_image(tmp_path, boxes):
    reg = _reg(tmp_path, "giant.reg", "image\ncircle(35,30,3000)\n")
    with pytest.warns(RegionWarning, match="region 1 \\(circle\\) extends far beyond the "
                                           "70x60 image; its 4200 pixels on the image used"):
        include, exclude, (info,) = region_layers(reg, IMAGE)
    assert include.all() and not exclude.any()
    assert boxes and max(ny * nx for ny, nx in boxes) <= IMAGE[0] * IMAGE[1]
    assert info.n_total is None and info.n_on_image == 4200 and info.status == "partial"


def test_long_box_from_far_off_costs_only_the_image(tmp_path, boxes):
    """A box 2 million pixels long whose far end is off the image, crossing it."""
    far = _reg(tmp_path, "far.reg", "image\nbox(1000000,30,2000100,4,0)\n")
    near = _reg(tmp_path, "near.reg", "image\nbox(35.5,30,100,4,0)\n")
    with pytest.warns(RegionWarning, match="extends far beyond"):
        got = regions_to_mask(far, IMAGE)
    assert max(ny * nx for ny, nx in boxes) <= IMAGE[0] * IMAGE[1]
    with pytest.warns(RegionWarning, match="extends beyond"):
        expected = regions_to_mask(near, IMAGE)
    np.testing.assert_array_equal(got, expected)
    assert got.sum() == 3 * IMAGE[1]  # rows whose centres lie strictly inside y = 28..32


def test_shape_cut_by_the_edge_is_counted_whole_when_small(tmp_path, boxes):
    reg = _reg(tmp_path, "edge.reg", "image\ncircle(2,30,10)\n")
    with pytest.warns(RegionWarning, match=r"extends beyond the 70x60 image; \d+ of \d+ pixels used"):
        _, _, (info,) = region_layers(reg, IMAGE)
    assert boxes == [(21, 21)]  # the whole (small) bounding box, to count what is off
    assert info.n_total is not None  # the shape's whole size is known
    assert 0 < info.n_on_image < info.n_total


@pytest.mark.parametrize("mode", ["center", "exact"])
def test_clipped_boxes_give_the_pixels_of_whole_boxes(mode):
    """Shapes far larger than the image: the pixels drawn on the clipped box are those
    ``regions`` draws on the whole bounding box."""
    from regions import CircleAnnulusPixelRegion, PixCoord

    rng = np.random.default_rng(3)
    shape = (40, 50)
    for _ in range(40):
        c = PixCoord(rng.uniform(-300, 350), rng.uniform(-300, 340))
        angle = rng.uniform(0, 360) * u.deg
        for region in (CirclePixelRegion(c, rng.uniform(1, 400)),
                       EllipsePixelRegion(c, rng.uniform(1, 800), rng.uniform(1, 500), angle),
                       RectanglePixelRegion(c, rng.uniform(1, 900), rng.uniform(1, 400), angle),
                       PolygonPixelRegion(PixCoord(rng.uniform(-400, 450, 6),
                                                   rng.uniform(-400, 440, 6))),
                       CircleAnnulusPixelRegion(c, 100, rng.uniform(101, 400))):
            if mode == "exact" and "Annulus" in type(region).__name__:
                continue  # regions itself has no exact mode for annuli
            image = region.to_mask(mode=mode).to_image(shape)  # None: off the image
            whole = np.zeros(shape, bool) if image is None else image > 0
            got = np.zeros(shape, bool)
            regmod._paint(region, got, mode)
            np.testing.assert_array_equal(got, whole, err_msg=str(region))


def test_annulus_in_exact_mode_is_drawn(tmp_path):
    """``regions`` raises NotImplementedError for an annulus in exact mode (a traceback in
    dqmask before): a pixel is in when it overlaps the ring."""
    reg = _reg(tmp_path, "ring.reg", "image\nannulus(30,30,5,10)\n")
    center = regions_to_mask(reg, IMAGE, mode="center")
    exact = regions_to_mask(reg, IMAGE, mode="exact")
    assert (exact >= center).all() and exact.sum() > center.sum()
    assert not exact[29, 29]  # the hole's centre pixel lies wholly inside the inner circle


def test_many_small_circles_rasterise_only_their_boxes(tmp_path, boxes):
    rng = np.random.default_rng(0)
    xy = rng.uniform(1, 60, (2000, 2))  # every circle meets the 70x60 image
    body = "image\n" + "".join(f"circle({x:.2f},{y:.2f},2.5)\n" for x, y in xy)
    reg = _reg(tmp_path, "many.reg", body)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mask = regions_to_mask(reg, IMAGE)
    assert len(boxes) == 2000 and max(ny * nx for ny, nx in boxes) <= 36
    assert 0 < mask.sum() < mask.size
    # shapes cut by the edge: MAX_NOTES lines, then one counting the rest
    lines = [str(w.message) for w in caught]
    assert all(issubclass(w.category, RegionWarning) for w in caught)
    assert len(lines) == regmod.MAX_NOTES + 1
    assert lines[-1].startswith(f"{reg}: ") and "more shapes off or partly off" in lines[-1]


# ------------------------------------------------------------------------------ limits


def test_too_many_shapes_refused_before_parsing(tmp_path, monkeypatch):
    reg = _reg(tmp_path, "six.reg", "image\n" + "circle(10,10,2)\n" * 6)

    def refuse(*args, **kwargs):
        raise AssertionError("parsed")

    monkeypatch.setenv(regmod.MAX_SHAPES_ENV, "5")
    monkeypatch.setattr(Regions, "parse", refuse)
    with pytest.raises(InputError) as exc:
        regions_to_mask(reg, IMAGE)
    assert exc.value.oneline() == (f"{reg}: 6 region shapes, more than the limit of 5 (set "
                                   f"DQMASK_MAX_REGION_SHAPES to raise it)")
    monkeypatch.setenv(regmod.MAX_SHAPES_ENV, "6")
    monkeypatch.undo()  # parse again; the default limit holds 6 shapes
    assert regions_to_mask(reg, IMAGE).sum() == 9


def test_region_file_size_limit(tmp_path, monkeypatch):
    reg = _reg(tmp_path, "big.reg", "image\n" + "circle(10,10,2)\n" * 20)
    monkeypatch.setenv(regmod.MAX_BYTES_ENV, "100")
    with pytest.raises(InputError, match=r"region file of 326 bytes, more than the limit of "
                                         r"100 \(set DQMASK_MAX_REGION_BYTES"):
        regions_to_mask(reg, IMAGE)


def test_polygon_work_limit(tmp_path, monkeypatch):
    reg = _reg(tmp_path, "poly.reg", "image\npolygon(1,1,70,1,70,60,1,60,30,30)\n")
    monkeypatch.setenv(regmod.MAX_POLYGON_WORK_ENV, "1000")
    with pytest.raises(InputError) as exc:
        regions_to_mask(reg, IMAGE)
    assert exc.value.path == str(reg)
    assert exc.value.problem.startswith("region 1 (polygon): a polygon of 5 vertices over "
                                        "70x60 pixels is 2.1e+04 vertex-pixel tests")


@pytest.mark.parametrize("value", ["many", "0", "-3", "nan"])
def test_bad_limit_values_are_usage_errors(tmp_path, monkeypatch, run_cli, value):
    rate = make_rate(tmp_path / "r_rate.fits")
    reg = _reg(tmp_path, "r.reg", "image\ncircle(10,10,2)\n")
    monkeypatch.setenv(regmod.MAX_SHAPES_ENV, value)
    code, _, err = run_cli("apply", rate, "--region", reg, "--in-place")
    assert code == 1
    assert err.splitlines() == [f"dqmask: DQMASK_MAX_REGION_SHAPES must be a positive "
                                f"number, got {value!r}"]


# ------------------------------------------------------------------ the hostile corpus

#: name -> (file content, the one-line problem's start)
CORPUS: dict[str, tuple[str | bytes, str]] = {
    "nul_bytes": (b"image\ncircle(10,10,5)\n\0\0\0garbage", "binary data (a NUL byte at "
                                                           "offset 22)"),
    "png_bytes": (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256)), "binary data"),
    "not_utf8": (b"image\ncircle(10,10,5) # text={\xff\xfe}\n", "not a DS9 region file: "
                                                                "not UTF-8 text (byte 0xff"),
    "radius_1e308": ("image\ncircle(10,10,1e308)\n", "region 1 (circle): radius 1e+308 pixels "
                                                     "is beyond 1e+15"),
    "radius_overflow": ("image\ncircle(10,10,1e999)\n", "region 1 (circle): radius inf is "
                                                        "not a finite number"),
    "nan_centre": ("image\ncircle(nan,10,5)\n", "region 1 (circle): center nan is not a "
                                                "finite number"),
    "nan_vertex": ("image\npolygon(1,1,20,nan,5,9)\n", "region 1 (polygon): vertices nan"),
    "huge_ellipse": ("image\nellipse(10,10,5e20,3,0)\n", "region 1 (ellipse): width 1e+21"),
    "two_vertices": ("image\npolygon(1,1,20,20)\n", "region 1 (polygon) cannot be drawn"),
    "unknown_frame": ("fk6\ncircle(10,10,5)\n", "line 1: unknown coordinate system 'fk6'"),
    "unknown_frame_inline": ("# Region file format: DS9\nimgae; circle(10,10,5)\n",
                             "line 2: unknown coordinate system 'imgae'"),
    "deep_parentheses": ("image\n" + "(" * 50_000 + "\n", "not a readable DS9 region file"),
    "hash_flood": ("x" + "#" * 200_000 + "\n", "no region shape with an area"),
    "huge_line_garbage": ("image\n" + "circle(1,2;" * 100_000 + "\n", ""),
    "prose": ("Dear DS9,\nplease mask the satellite.\n", "no region shape with an area"),
    "empty": ("", "no region shape with an area (the file has no shapes)"),
    "comments_only": ("# Region file format: DS9 version 4.1\n# nothing\n",
                      "no region shape with an area (the file has no shapes)"),
    "points_only": ("image\npoint(10,10)\ntext(5,5) text={hi}\n",
                    "no region shape with an area (only points, lines or text)"),
    "negative_radius": ("image\ncircle(10,10,-5)\n", "not a readable DS9 region file"),
    "latitude_95": ("fk5\ncircle(150.1,95,1)\n", "not a readable DS9 region file"),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_hostile_region_file_is_one_line_and_target_untouched(tmp_path, run_cli, name):
    body, problem = CORPUS[name]
    rate = make_rate(tmp_path / "t_rate.fits")
    reg = _reg(tmp_path, f"{name}.reg", body)
    before = _digest(rate)
    code, _, err = run_cli("apply", rate, "--region", reg, "--in-place")
    assert code == 1, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"dqmask: {reg}: {problem}"), err
    assert _digest(rate) == before
    assert sorted(os.listdir(tmp_path)) == sorted(["t_rate.fits", f"{name}.reg"])


@pytest.mark.parametrize("name", ["nul_bytes", "radius_1e308", "unknown_frame", "empty"])
def test_hostile_region_file_in_detect_and_combine(tmp_path, run_cli, name):
    body, problem = CORPUS[name]
    rate = make_rate(tmp_path / "t_rate.fits")
    reg = _reg(tmp_path, f"{name}.reg", body)
    code, _, err = run_cli("detect", rate, "--include-region", reg)
    assert code == 1 and err.splitlines() == [err.rstrip("\n")], err
    assert err.startswith(f"dqmask: {reg}: {problem}"), err
    if name == "empty":  # combine: an empty region is an empty mask there (warned)
        return
    code, _, err = run_cli("combine", rate, reg, "-o", tmp_path / "c.fits")
    assert code == 1 and len(err.splitlines()) == 1 and f"{reg}: {problem}" in err, err
    assert not (tmp_path / "c.fits").exists()


def test_empty_region_file_never_rewrites_the_target(tmp_path, run_cli):
    """An empty region file given to apply is refused (one line), in place or not: an empty
    mask is almost surely a mistake (a wrong or truncated file)."""
    rate = make_rate(tmp_path / "t_rate.fits")
    reg = _reg(tmp_path, "empty.reg", "# Region file format: DS9 version 4.1\nimage\n")
    stat = os.stat(rate)
    before = _digest(rate)
    code, out, err = run_cli("apply", rate, "--region", reg, "--in-place")
    assert (code, out) == (1, "")
    assert err.splitlines() == [f"dqmask: {reg}: no region shape with an area (the file has "
                                f"no shapes)"]
    assert _digest(rate) == before and os.stat(rate).st_mtime_ns == stat.st_mtime_ns
    code, _, err = run_cli("apply", rate, "--region", reg, "-o", tmp_path / "o.fits")
    assert code == 1 and not (tmp_path / "o.fits").exists()


def test_region_directory_is_one_line(tmp_path, run_cli):
    rate = make_rate(tmp_path / "t_rate.fits")
    folder = tmp_path / "d.reg"
    folder.mkdir()
    code, _, err = run_cli("apply", rate, "--region", folder, "--in-place")
    assert code == 1
    assert err.splitlines() == [f"dqmask: {folder}: is a directory, not a regular region file"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_fifo_as_region_file_is_refused_at_once(tmp_path):
    """A FIFO with no writer blocks whoever opens it for reading: refused, never opened
    blocking (run in a subprocess: a hang fails the test instead of stalling the suite)."""
    rate = make_rate(tmp_path / "t_rate.fits")
    fifo = tmp_path / "pipe.reg"
    os.mkfifo(fifo)
    with pytest.raises(InputError) as exc:
        require_regular_file(fifo)
    assert exc.value.oneline() == f"{fifo}: is a FIFO (named pipe), not a regular region file"
    before = _digest(rate)
    for args in (["apply", str(rate), "--region", str(fifo), "--in-place"],
                 ["detect", str(rate), "--include-region", str(fifo)]):
        proc = subprocess.run([sys.executable, "-m", "dqmask", *args], capture_output=True,
                              text=True, timeout=60, env={**os.environ, "COLUMNS": "300"})
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.splitlines() == [f"dqmask: {fifo}: is a FIFO (named pipe), not a "
                                            f"regular region file"]
    assert _digest(rate) == before


def test_giant_and_far_shapes_in_apply(tmp_path, run_cli):
    rate = make_rate(tmp_path / "t_rate.fits")
    reg = _reg(tmp_path, "g.reg", "image\ncircle(40,30,1e7)\nbox(-5e9,-5e9,10,10,0)\n")
    code, out, err = run_cli("apply", rate, "--region", reg, "--max-fraction", "1",
                             "-o", tmp_path / "o.fits")
    assert code == 0, err
    assert "region 1 (circle) extends far beyond" in err
    assert "region 2 (rectangle) lies entirely off" in err
    with fits.open(tmp_path / "o.fits") as hdul:
        assert (hdul["DQ"].data & 1).all()


# ------------------------------------------------------------------------------ fuzzing

_NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**6, 10**6).map(str),
    st.sampled_from(["1e308", "-1e308", "nan", "inf", "-inf", "1e999", "0", "-0", "", "x",
                     '5"', "3'", "10d", "2r", "1e15", "12:30:00"]),
)
_SHAPE_LINE = st.builds(
    lambda neg, name, args, tail: f"{'-' if neg else ''}{name}({','.join(args)}){tail}",
    st.booleans(),
    st.sampled_from(["circle", "box", "ellipse", "polygon", "annulus", "point", "line",
                     "text", "vector", "panda", "blob", ""]),
    st.lists(_NUMBERS, max_size=9),
    st.sampled_from(["", " # color=red", " # text={a;b}", "; circle(5,5,2)", " ||"]),
)
_LINE = st.one_of(
    _SHAPE_LINE,
    st.sampled_from(["image", "physical", "fk5", "icrs", "galactic", "ecliptic", "linear",
                     "wcs", "wcsa", "fk6", "global color=green", "# Region file format: DS9",
                     "", ";", "#", "{", "(", '"']),
    st.text(max_size=30),
)
#: Cheap by construction: a small image, few shapes of few parameters, a low polygon limit.
_FUZZ = settings(max_examples=150, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow])


def _one_line_or_mask(path: Path, monkeypatch, **kw) -> None:
    """Reading ``path`` gives a mask or one InputError naming it; only RegionWarnings."""
    monkeypatch.setenv(regmod.MAX_POLYGON_WORK_ENV, "100000")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            include, exclude, infos = region_layers(path, (20, 24), _tan_header((20, 24)),
                                                    **kw)
        except InputError as exc:
            assert exc.path == str(path)
            assert "\n" not in exc.oneline() and len(exc.oneline()) < 600
        else:
            assert include.shape == exclude.shape == (20, 24) and include.dtype == bool
            assert all(i.n_on_image <= 480 for i in infos)
    assert [w for w in caught if not issubclass(w.category, RegionWarning)] == []
    assert all("\n" not in str(w.message) for w in caught)


@_FUZZ
@given(lines=st.lists(_LINE, max_size=8), mode=st.sampled_from(["center", "exact"]))
def test_fuzzed_region_text_is_a_mask_or_one_line(tmp_path, monkeypatch, lines, mode):
    path = tmp_path / "fuzz.reg"
    path.write_bytes("\n".join(lines).encode("utf-8", "replace"))  # lone surrogates: '?'
    _one_line_or_mask(path, monkeypatch, mode=mode)


@_FUZZ
@given(data=st.binary(max_size=200))
def test_fuzzed_region_bytes_are_a_mask_or_one_line(tmp_path, monkeypatch, data):
    path = tmp_path / "fuzz.reg"
    path.write_bytes(data)
    _one_line_or_mask(path, monkeypatch)
