"""``dqmask edit`` without a browser: the server's safety, its JSON API, and that every
result equals the command line's cores on the same inputs."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from regions import Regions

from dqmask import datasets as sample
from dqmask.claws.core import DetectParams
from dqmask.conftest import shared_file
from dqmask.editor import paint, shapes
from dqmask.editor.document import Document
from dqmask.editor.pixels import Plane
from dqmask.editor.server import MAX_BODY, EditorServer
from dqmask.io import png as render
from dqmask.io.mask_file import WRITE_CONVENTIONS, read_fits_mask
from dqmask.toolbox.morphology import grow

#: The sample cal of these tests (conftest.py: cal_master, cal).
CAL = ("ed_cal.fits", 5)

POLYGON: dict[str, Any] = {"shape": "polygon", "include": True,
                           "points": [[30.0, 30.0], [200.0, 40.0], [215.0, 210.0],
                                      [50.0, 190.0]]}


def sky_wcs(path: Path):
    from astropy.wcs import WCS, FITSFixedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        return WCS(fits.getheader(path, "SCI"))


def get(app: EditorServer, path: str, host: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=30)
    headers = {"Host": host} if host else {}
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, body


def post(app: EditorServer, what: str, body: dict) -> dict:
    req = urllib.request.Request(app.url + "api/" + what, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:
        with exc:  # closes the connection
            return {"status": exc.code, **json.loads(exc.read())}


# --------------------------------------------------------------------------------------------
# Safety
# --------------------------------------------------------------------------------------------


def test_listens_on_loopback_with_a_token_on_every_path(server, cal):
    app = server([cal])
    assert app.httpd.server_address[0] == "127.0.0.1"
    assert len(app.token) >= 20
    t = app.token
    assert get(app, f"/{t}/")[0] == 200
    assert get(app, f"/{t}/api/state")[0] == 200
    for path in ("/", "/index.html", "/api/state", f"/{t[:-1]}/api/state",
                 f"/{t}x/api/state", "/editor.js", f"/api/{t}/state"):
        status, body = get(app, path)
        assert status == 403, path
        assert json.loads(body) == {"error": "missing or wrong token"}
    status, body = get(app, f"/{t}/api/tile?layer=image&z=0&tx=0&ty=0", host="evil.example:80")
    assert status == 403 and b"Host" in body


def test_request_bodies_are_bounded(server, cal):
    app = server([cal])
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=30)
    conn.putrequest("POST", f"/{app.token}/api/action")
    conn.putheader("Content-Length", str(MAX_BODY + 1))
    conn.endheaders()
    r = conn.getresponse()
    assert r.status == 413
    conn.close()
    assert post(app, "action", {"op": "nonsense"})["status"] == 400


def test_other_host_only_when_asked(run_cli, cal, monkeypatch):
    from dqmask.editor import server as srv

    seen = {}

    class Fake:
        def __init__(self, paths, **kw):
            seen.update(kw)
            self.url = "http://x/"

        def serve_forever(self):
            return None

    monkeypatch.setattr(srv, "EditorServer", Fake)
    code, out, err = run_cli("edit", cal, "--no-browser")
    assert code == 0 and seen["host"] == "127.0.0.1" and "warning" not in err
    code, out, err = run_cli("edit", cal, "--no-browser", "--host", "0.0.0.0")
    assert code == 0 and seen["host"] == "0.0.0.0"
    assert "warning: listening on 0.0.0.0" in err


def test_missing_input_is_one_line_exit_1(run_cli, tmp_path):
    code, out, err = run_cli("edit", tmp_path / "nope.fits", "--no-browser")
    assert code == 1
    assert err.strip() == f"dqmask: {tmp_path / 'nope.fits'}: no such file"


# --------------------------------------------------------------------------------------------
# Seeing
# --------------------------------------------------------------------------------------------


def test_state_lists_controls_defaults_and_outputs(server, cal, run_cli):
    from dqmask.cli import build_parser

    app = server([cal])
    st = json.loads(get(app, f"/{app.token}/api/state")[1])
    assert st["shape"] == [256, 256] and st["product"] == "cal" and st["has_wcs"]
    assert st["conventions"] == list(WRITE_CONVENTIONS)
    assert {"bad", "background", "user_mask", "dq"} <= set(st["conventions"])
    args = build_parser().parse_args(["detect", str(cal), "--include-region", "r.reg"])
    assert st["detect_defaults"] == {"sigma": args.sigma, "smooth": args.smooth,
                                     "minpixarea": DetectParams().minpixarea
                                     if args.minpixarea is None else args.minpixarea,
                                     "ignore_background": args.ignore_background,
                                     "box_size": args.box_size}
    assert st["outputs"]["background"] == str(cal.parent / "ed_cal_mask_background.fits")
    assert st["outputs"]["regions"] == str(cal.parent / "ed_cal_regions.reg")
    flags = {f["name"]: f for f in st["flags"]}
    with fits.open(cal) as hdul:
        dq = hdul["DQ"].data
        assert flags["DO_NOT_USE"]["count"] == int(np.count_nonzero(dq & 1))
    assert flags["DO_NOT_USE"]["color"] == "#ff0000"


def test_tiles_are_fits_orientation_and_sampled_when_zoomed_out(server, tmp_path):
    import io

    from PIL import Image

    data = np.arange(300 * 400, dtype=np.float32).reshape(300, 400)
    path = tmp_path / "ramp.fits"
    fits.PrimaryHDU(data).writeto(path)
    app = server([path])
    t = app.token
    status, png = get(app, f"/{t}/api/tile?layer=image&z=0&tx=1&ty=0&limits=minmax")
    assert status == 200
    tile = np.asarray(Image.open(io.BytesIO(png)))
    assert tile.shape == (256, 400 - 256, 4)  # rows 0..255, columns 256..399
    lo, hi = render.display_limits(data, "minmax")
    expect = render.grey_rgba(render.stretch(data[0:256, 256:400], lo, hi, "linear"))
    np.testing.assert_array_equal(tile, expect)
    assert tile[0, 0, 0] > tile[-1, 0, 0]  # top row of the picture = last image row
    status, png = get(app, f"/{t}/api/tile?layer=image&z=1&tx=0&ty=0&limits=minmax")
    tile = np.asarray(Image.open(io.BytesIO(png)))
    assert tile.shape == (150, 200, 4)  # every other row and column
    expect = render.grey_rgba(render.stretch(data[0:300:2, 0:400:2], lo, hi, "linear"))
    np.testing.assert_array_equal(tile, expect)


def test_masked_and_flagged_pixels_survive_zooming_out(cal):
    doc = Document(str(cal), None, str(cal.parent))
    doc.paint(0, [[3, 5]], 1, False)  # one pixel
    assert np.argwhere(doc.chips[0].mask).tolist() == [[5, 3]]
    import io

    from PIL import Image

    tile = np.asarray(Image.open(io.BytesIO(doc.tile(0, "mask", 2, 0, 0))))
    assert tile.shape == (64, 64, 4)
    assert np.argwhere(tile[..., 3] > 0).tolist() == [[63 - 5 // 4, 3 // 4]]
    dq = np.array(fits.getdata(cal, "DQ"))
    flagged = render.flag_rgba(paint.block_or(dq, 4), 1)
    tile = np.asarray(Image.open(io.BytesIO(doc.tile(0, "dq", 2, 0, 0, flags=1))))
    np.testing.assert_array_equal(tile, flagged)
    assert (tile[..., 3] > 0).sum() == paint.block_any((dq & 1) != 0, 4).sum()
    doc.close()


def test_pixel_readout(server, cal):
    app = server([cal])
    with fits.open(cal) as hdul:
        dq = np.array(hdul["DQ"].data)
        sci = np.array(hdul["SCI"].data)
    y, x = (int(v) for v in np.argwhere(dq != 0)[0])
    r = json.loads(get(app, f"/{app.token}/api/pixel?x={x}&y={y}")[1])
    assert (r["x1"], r["y1"]) == (x + 1, y + 1)
    assert r["dq"] == int(dq[y, x])
    from dqmask.flags import decode

    assert r["flags"] == decode(int(dq[y, x]))
    if np.isfinite(sci[y, x]):
        assert r["sci"] == float(sci[y, x])
    ra, dec = sky_wcs(cal).pixel_to_world_values(x, y)
    assert r["ra"] == pytest.approx(float(ra), abs=1e-12)
    assert r["dec"] == pytest.approx(float(dec), abs=1e-12)


def test_nan_has_its_own_colour_and_stretches_are_monotonic():
    values = np.array([[np.nan, 0.0, 0.25, 1.0]], np.float32)
    for kind in render.STRETCHES:
        t = render.stretch(values, 0.0, 1.0, kind)
        assert np.isnan(t[0, 0]) and t[0, 1] == 0 and t[0, 3] == pytest.approx(1.0, abs=1e-6)
    assert render.stretch(values, 0, 1, "sqrt")[0, 2] == pytest.approx(0.5)
    assert render.stretch(values, 0, 1, "log")[0, 2] == pytest.approx(np.log10(251) /
                                                                      np.log10(1001))
    rgba = render.grey_rgba(render.stretch(values, 0, 1, "linear"))
    assert tuple(rgba[0, 0, :3]) == render.NAN_COLOR
    assert tuple(rgba[0, 1, :3]) == (0, 0, 0)
    assert render.display_limits(np.array([1.0, np.nan, 5.0]), "minmax") == (1.0, 5.0)
    assert render.display_limits(np.arange(101.0), "percentile", 90) == (5.0, 95.0)


@pytest.mark.parametrize("kind", ["float32", "uint32", "int16", "scaled", "gz"])
def test_plane_reads_what_astropy_reads(tmp_path, kind):
    rng = np.random.default_rng(1)
    if kind == "uint32":
        data = rng.integers(0, 1 << 32, (37, 53), dtype=np.uint32)
    elif kind in ("int16", "scaled"):
        data = rng.integers(-30000, 30000, (37, 53)).astype(np.int16)
    else:
        data = rng.normal(size=(37, 53)).astype(np.float32)
    hdu = fits.ImageHDU(data, name="SCI")
    if kind == "scaled":
        hdu.scale("int16", bscale=0.5, bzero=3.0)
    path = tmp_path / ("x.fits.gz" if kind == "gz" else "x.fits")
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    with fits.open(path) as hdul:
        expect = np.array(hdul[1].data)
        plane = Plane(str(path), hdul, 1)
    np.testing.assert_array_equal(plane.read(0, 37, 0, 53), expect)
    np.testing.assert_array_equal(plane.read(3, 30, 5, 50, 4), expect[3:30:4, 5:50:4])
    assert plane.read(0, 37, 0, 53).dtype == expect.dtype.newbyteorder("=")
    plane.close()


# --------------------------------------------------------------------------------------------
# Regions
# --------------------------------------------------------------------------------------------


ALL_SHAPES = [
    POLYGON,
    {"shape": "box", "include": True, "x": 60.5, "y": 70.25, "width": 30, "height": 12,
     "angle": 30},
    {"shape": "circle", "include": False, "x": 100, "y": 100, "r": 7.5},
    {"shape": "ellipse", "include": True, "x": 150, "y": 60, "width": 40, "height": 16,
     "angle": -20},
    {"shape": "polygon", "include": False, "points": [[5, 5], [15, 5], [10, 20]]},
]


def test_ds9_written_is_read_back_by_regions_as_the_same_shapes(tmp_path):
    text = shapes.to_ds9(ALL_SHAPES)
    back = list(Regions.parse(text, format="ds9"))
    assert [type(r).__name__ for r in back] == ["PolygonPixelRegion", "RectanglePixelRegion",
                                                 "CirclePixelRegion", "EllipsePixelRegion",
                                                 "PolygonPixelRegion"]
    assert [r.meta.get("include", True) for r in back] == [s["include"] for s in ALL_SHAPES]
    np.testing.assert_allclose(back[0].vertices.x, [p[0] for p in POLYGON["points"]])
    np.testing.assert_allclose(back[0].vertices.y, [p[1] for p in POLYGON["points"]])
    assert (back[1].center.x, back[1].center.y, back[1].width, back[1].height) == pytest.approx(
        (60.5, 70.25, 30, 12))
    assert back[1].angle.to_value("deg") == pytest.approx(30)
    assert (back[2].center.x, back[2].center.y, back[2].radius) == pytest.approx((100, 100, 7.5))
    assert (back[3].width, back[3].height) == pytest.approx((40, 16))
    reg = tmp_path / "r.reg"
    reg.write_text(text)
    again, skipped = shapes.from_ds9_text(text, None, str(tmp_path))
    assert skipped == [] and len(again) == len(ALL_SHAPES)
    for got, want in zip(again, map(shapes.normalise, ALL_SHAPES), strict=True):
        assert got.keys() == want.keys()
        for key in want:
            assert got[key] == (pytest.approx(want[key], abs=1e-12)
                                if key != "points" else
                                [pytest.approx(p, abs=1e-12) for p in want[key]])


def test_real_crab_regions_round_trip_to_the_same_pixels(tmp_path):
    from dqmask.io.regions import RegionWarning, regions_to_mask

    folder = shared_file("crab_claws")
    image_frame = [r for r in sorted(folder.glob("*.pix.reg"))
                   if "\nfk5" not in r.read_text()]  # one file is in fk5, without its image
    assert len(image_frame) >= 4
    for reg in image_frame:
        found, skipped = shapes.from_ds9_text(reg.read_text(), None, str(tmp_path))
        assert found and not skipped, reg.name
        saved = tmp_path / reg.name
        saved.write_text(shapes.to_ds9(found))
        masks, notes = [], []
        for path in (reg, saved):
            with warnings.catch_warnings(record=True) as caught:  # shapes off the image
                warnings.simplefilter("always", RegionWarning)
                masks.append(regions_to_mask([path], (2048, 2048)))
            notes.append([str(w.message).split(": ", 1)[1] for w in caught])
        np.testing.assert_array_equal(masks[1], masks[0], err_msg=reg.name)
        assert notes[1] == notes[0]  # the same shapes clipped by the same pixels
        originals = list(Regions.read(reg, format="ds9"))
        back = list(Regions.read(saved, format="ds9"))
        assert len(back) == len(originals)
        for a, b in zip(originals, back, strict=True):
            np.testing.assert_allclose(b.vertices.x, a.vertices.x, rtol=0, atol=1e-9)
            np.testing.assert_allclose(b.vertices.y, a.vertices.y, rtol=0, atol=1e-9)


def test_regions_given_at_start_are_loaded_including_sky_shapes(server, cal, tmp_path):
    ra, dec = sky_wcs(cal).pixel_to_world_values(100.0, 120.0)
    reg = tmp_path / "start.reg"
    reg.write_text(f"# Region file format: DS9 version 4.1\nimage\nbox(11,21,5,7,0)\n"
                   f"icrs\ncircle({float(ra)},{float(dec)},0.5\")\nannulus(1,1,2,3)\n")
    app = server([cal], regions=str(reg))
    st = app.state(0, 0)
    assert st["shapes"][0] == {"shape": "box", "include": True, "x": 10.0, "y": 20.0,
                               "width": 5.0, "height": 7.0, "angle": 0.0}  # 1-based -> 0
    assert st["shapes"][1]["shape"] == "circle"
    assert st["shapes"][1]["x"] == pytest.approx(100, abs=1e-3)
    assert st["shapes"][1]["y"] == pytest.approx(120, abs=1e-3)
    assert any("cannot be edited" in m for m in st["messages"])


# --------------------------------------------------------------------------------------------
# Editing and the cores
# --------------------------------------------------------------------------------------------


def test_brush_eraser_grow_invert_undo_redo(cal):
    doc = Document(str(cal), None, str(cal.parent))
    m = doc.chips[0].mask
    doc.paint(0, [[10, 20]], 1, False)
    assert np.argwhere(m).tolist() == [[20, 10]]
    doc.paint(0, [[10, 20], [30, 20]], 3, False)
    hit = paint.stroke([[10, 20], [30, 20]], 3, m.shape)
    assert hit is not None  # the stroke is on the image
    box, covered = hit
    expect = np.zeros(m.shape, bool)
    expect[20, 10] = True
    expect[box[0]:box[1], box[2]:box[3]] |= covered
    np.testing.assert_array_equal(m, expect)
    # a 21-pixel line three rows thick, and round caps of 3 pixels (centres within 1.5)
    assert covered.sum() == 21 * 3 + 2 * 3
    before_grow = m.copy()
    doc.grow_by(0, 2)
    np.testing.assert_array_equal(doc.chips[0].mask, grow(before_grow, 2))
    doc.grow_by(0, -2)
    np.testing.assert_array_equal(doc.chips[0].mask, ~grow(~grow(before_grow, 2), 2))
    doc.paint(0, [[20, 20]], 5, True)
    assert not doc.chips[0].mask[18:23, 18:23].any()
    doc.invert(0)
    assert doc.chips[0].mask[20, 20]
    states = []
    for _ in range(5):
        doc.undo()
        states.append(doc.chips[0].mask.copy())
    np.testing.assert_array_equal(states[3], before_grow)  # invert, erase, shrink, grow undone
    assert np.argwhere(states[4]).tolist() == [[20, 10]]  # and the stroke
    assert doc.undo().startswith("undid") and not doc.chips[0].mask.any()
    assert doc.undo() == "nothing to undo"
    for _ in range(6):
        doc.redo_last()
    assert doc.chips[0].mask[20, 20] and doc.redo_last() == "nothing to redo"
    doc.close()


def test_detect_equals_dqmask_detect_and_consecutive_runs_replace_each_other(server, cal,
                                                                           tmp_path, run_cli):
    app = server([cal])
    post(app, "action", {"op": "shapes", "shapes": [POLYGON, {"shape": "circle",
                                                              "include": False, "x": 120,
                                                              "y": 120, "r": 15}]})
    painted = post(app, "action", {"op": "paint", "points": [[5, 250]], "size": 3})
    assert painted["masked"] == 9
    r = post(app, "action", {"op": "detect", "params": {"sigma": 2.0, "smooth": 1.5,
                                                        "minpixarea": 3}})
    assert r["message"].startswith("detect:")
    r = post(app, "action", {"op": "detect", "params": {"sigma": 2.5, "smooth": 1.0,
                                                        "minpixarea": 4}})
    saved = post(app, "save", {"what": "regions"})["saved"]
    code, _, err = run_cli("detect", cal, "--include-region", saved, "--sigma", "2.5",
                           "--smooth", "1", "--minpixarea", "4", "--output-dir",
                           tmp_path / "cli")
    assert code == 0, err
    cli = fits.getdata(tmp_path / "cli" / "ed_cal_seed_image_zeroonemask.fits").astype(bool)
    # the exclude circle is a hole (the smoothing spreads the mask ~3 pixels into it)
    assert cli.any() and not cli[105:136, 105:136][np.hypot(*np.mgrid[-15:16, -15:16]) < 11].any()
    mask = app.document(0).chips[0].mask
    expect = cli.copy()
    expect[249:252, 4:7] = True
    np.testing.assert_array_equal(mask, expect)
    r = post(app, "action", {"op": "undo"})  # one undo removes the (replaced) detection
    assert r["masked"] == 9


def test_detect_needs_an_include_region(server, cal):
    app = server([cal])
    r = post(app, "action", {"op": "detect", "params": {}})
    assert r["status"] == 422 and "include region" in r["error"]


def test_automatic_background_equals_dqmask_background(server, tmp_path, run_cli):
    rate = sample.make_nircam_rate(tmp_path / "bg_rate.fits", shape=(256, 256), seed=2)
    app = server([rate])
    r = post(app, "action", {"op": "background", "params": {}})
    assert "automatic background" in r["message"]
    code, _, err = run_cli("background", rate, "-o", tmp_path / "cli_bg.fits")
    assert code == 0, err
    cli = fits.getdata(tmp_path / "cli_bg.fits").astype(bool)  # 1 = background
    np.testing.assert_array_equal(app.document(0).chips[0].mask, ~cli)
    saved = post(app, "save", {"what": "mask", "convention": "background"})["saved"]
    np.testing.assert_array_equal(fits.getdata(saved), fits.getdata(tmp_path / "cli_bg.fits"))


# --------------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("convention", WRITE_CONVENTIONS)
def test_saved_mask_reads_back_in_its_convention(server, cal, convention):
    app = server([cal])
    post(app, "action", {"op": "shapes", "shapes": [POLYGON]})
    post(app, "action", {"op": "fill"})
    mask = app.document(0).chips[0].mask.copy()
    assert 0 < mask.sum() < mask.size
    r = post(app, "save", {"what": "mask", "convention": convention})
    path = Path(r["saved"])
    assert path.parent == cal.parent and path.name == f"ed_cal_mask_{convention}.fits"
    back = read_fits_mask(path)  # auto: the file says (or shows) its convention
    assert back.convention == convention
    np.testing.assert_array_equal(back.planes[0], mask)
    if convention == "dq":
        assert fits.getdata(path).dtype == np.uint32
    r = post(app, "save", {"what": "mask", "convention": convention})
    assert r["saved"] == str(path)  # its own output is replaced


def test_existing_file_is_not_replaced_unless_asked(server, cal):
    target = cal.parent / "ed_cal_mask_bad.fits"
    target.write_bytes(b"precious")
    app = server([cal])
    r = post(app, "save", {"what": "mask", "convention": "bad"})
    assert r["status"] == 409 and r["exists"] == str(target)
    assert target.read_bytes() == b"precious"
    r = post(app, "save", {"what": "mask", "convention": "bad", "overwrite": True})
    assert r["saved"] == str(target) and fits.getdata(target).shape == (256, 256)


def test_outputs_go_to_output_dir(server, cal, tmp_path):
    out = tmp_path / "out"
    app = server([cal], outdir=str(out))
    post(app, "action", {"op": "paint", "points": [[1, 1]], "size": 1})
    for what in ({"what": "mask", "convention": "bad"}, {"what": "regions"}):
        assert Path(post(app, "save", what)["saved"]).parent == out
    assert sorted(os.listdir(cal.parent)) == ["ed_cal.fits"]


def test_apply_to_dq_through_apply_with_backup_and_record(server, cal):
    original = np.array(fits.getdata(cal, "DQ"))
    app = server([cal])
    post(app, "action", {"op": "paint", "points": [[50, 60], [80, 60]], "size": 4})
    mask = app.document(0).chips[0].mask.copy()
    r = post(app, "save", {"what": "apply"})
    assert "newly flagged" in r["message"] and r["saved"] == str(cal)
    dq = np.array(fits.getdata(cal, "DQ"))
    flags = 1 | 1073741824  # DO_NOT_USE + OTHER_BAD_PIXEL, apply's JWST default
    np.testing.assert_array_equal(dq, np.where(mask, original | flags, original))
    assert fits.getdata(cal.parent / "ed_cal_orig.fits", "DQ").tolist() == original.tolist()
    assert any(k.startswith("DQMR") for k in fits.getheader(cal))
    r = post(app, "save", {"what": "apply"})
    assert r["status"] == 422 and "already applied" in r["error"]
    # the page reads the new DQ
    y, x = np.argwhere(mask)[0]
    pix = app.document(0).pixel(0, int(x), int(y))
    assert pix["dq"] & flags == flags


# --------------------------------------------------------------------------------------------
# Autosave
# --------------------------------------------------------------------------------------------


def test_session_autosaved_and_offered_back(server, cal):
    app = server([cal])
    post(app, "action", {"op": "shapes", "shapes": [POLYGON]})
    post(app, "action", {"op": "paint", "points": [[9, 9]], "size": 3})
    session = cal.parent / "ed_cal_edit_session.npz"
    end = time.monotonic() + 10
    while not session.exists() and time.monotonic() < end:
        time.sleep(0.1)
    assert session.exists()
    mask = app.document(0).chips[0].mask.copy()
    app.shutdown()
    app2 = server([cal])
    st = app2.state(0, 0)
    assert st["offer"]["path"] == str(session) and st["offer"]["masked"] == 9
    assert st["masked"] == 0 and st["shapes"] == []
    r = post(app2, "action", {"op": "restore"})
    assert r["shapes"] == [shapes.normalise(POLYGON)] and r["offer"] is None
    np.testing.assert_array_equal(app2.document(0).chips[0].mask, mask)


def test_unanswered_offer_keeps_the_earlier_session(server, cal):
    doc = Document(str(cal), None, str(cal.parent))
    doc.paint(0, [[9, 9]], 3, False)
    first = doc.autosave()
    assert first is not None  # the painted session was written
    doc.close()
    app = server([cal])
    post(app, "action", {"op": "paint", "points": [[100, 100]], "size": 1})
    app.autosave_all()
    kept = Path(first.removesuffix(".npz") + "_previous.npz")
    assert kept.exists()
    with np.load(kept) as npz:
        assert json.loads(bytes(npz["meta"]).decode())["masked"] == 9


def test_initial_mask_is_read_with_its_convention_reported(server, cal, tmp_path):
    bg = np.ones((256, 256), np.uint8)
    bg[10:20, 30:40] = 0  # not background
    path = tmp_path / "bg.fits"
    fits.PrimaryHDU(bg).writeto(path)
    app = server([cal], mask=str(path))
    st = app.state(0, 0)
    assert st["masked"] == 100
    assert "read as background" in st["mask_note"]


def test_real_hst_file_with_two_chips(server, tmp_path):
    src = shared_file("hst_wfc3_uvis_f555w_ib4606c6q_flc_10x10.fits")
    flc = Path(shutil.copy(src, tmp_path / src.name))
    app = server([flc])
    st = app.state(0, 1)
    assert st["chips"] == 2 and st["extver"] == 2 and st["shape"] == [10, 10]
    assert st["telescope"] == "HST"
    with fits.open(flc) as hdul:
        dq2 = np.array(hdul["DQ", 2].data)
    y, x = (int(v) for v in np.argwhere(dq2 != 0)[0]) if dq2.any() else (0, 0)
    assert app.document(0).pixel(1, x, y)["dq"] == int(dq2[y, x])
    post(app, "action", {"op": "paint", "chip": 1, "points": [[2, 3]], "size": 1})
    path = post(app, "save", {"what": "mask", "convention": "bad"})["saved"]
    back = read_fits_mask(path)
    assert len(back.planes) == 2 and not back.planes[0].any()
    assert np.argwhere(back.planes[1]).tolist() == [[3, 2]]


def test_page_carries_the_documented_testids():
    from importlib import resources

    html = (resources.files("dqmask.editor") / "static" / "index.html").read_text()
    for name in ("image", "tool-polygon", "tool-box", "tool-circle", "tool-ellipse",
                 "tool-brush", "tool-eraser", "brush-size", "detect", "detect-sigma",
                 "detect-smooth", "grow", "undo", "redo", "save-mask", "save-regions",
                 "convention", "cursor-readout", "flag-legend"):
        assert f'data-testid="{name}"' in html, name
    doc = (Path(__file__).resolve().parents[4] / "docs" / "editor.md").read_text()
    for name in ("tool-ellipse", "cursor-readout", "flag-legend", "api/tile", "api/action"):
        assert name in doc


def test_saved_mask_is_read_back_by_dqmask_convert(server, cal, tmp_path, run_cli):
    app = server([cal])
    post(app, "action", {"op": "paint", "points": [[40, 40], [90, 70]], "size": 6})
    mask = app.document(0).chips[0].mask.copy()
    saved = post(app, "save", {"what": "mask", "convention": "user_mask"})["saved"]
    code, _, err = run_cli("convert", saved, tmp_path / "bad.fits", "--to", "bad")
    assert code == 0, err
    np.testing.assert_array_equal(fits.getdata(tmp_path / "bad.fits").astype(bool), mask)


def test_mask_reference_file_shows_its_dq(server):
    ref = shared_file("jwst_nircam_mask_0026_nrca1_MASK_ref.fits")
    app = server([ref])
    st = app.state(0, 0)
    assert st["shape"] == [2048, 2048] and st["has_dq"]
    with fits.open(ref) as hdul:
        dq = np.array(hdul["DQ"].data)
    y, x = (int(v) for v in np.argwhere(dq != 0)[0])
    from dqmask.flags import decode

    assert app.document(0).pixel(0, x, y)["flags"] == decode(int(dq[y, x]))
    assert {f["name"]: f["count"] for f in st["flags"]}["DO_NOT_USE"] == 7401


def test_hst_full_size_chips_open_through_tiles(server):
    import io

    from PIL import Image

    acs = shared_file("hst_acs_wfc_j94f05bgq_flt_ZEROED_DATA.fits.gz")
    app = server([acs])
    st = app.state(0, 1)
    assert st["chips"] == 2 and st["shape"] == [2048, 4096]
    png = app.document(0).tile(1, "image", 4, 0, 0)  # 1:16, the whole chip in one tile
    assert Image.open(io.BytesIO(png)).size == (256, 128)


def test_command_prints_the_url_serves_and_autosaves_when_terminated(cal, tmp_path):
    import signal
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    proc = subprocess.Popen([sys.executable, "-m", "dqmask", "-q", "edit", str(cal),
                             "--no-browser", "--output-dir", str(tmp_path / "o")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None  # opened with PIPE
        url = proc.stdout.readline().split()[2]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        body = json.dumps({"op": "paint", "points": [[5, 5]], "size": 1}).encode()
        req = urllib.request.Request(url + "api/action", data=body)
        with urllib.request.urlopen(req, timeout=60) as r:
            assert json.loads(r.read())["masked"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert (tmp_path / "o" / "ed_cal_edit_session.npz").exists()


def test_stroke_is_rasterised_segment_by_segment_and_bounded():
    shape = (5000, 5000)
    hit = paint.stroke([[10, 10], [4000, 4000], [4000, 10]], 3, shape)
    assert hit is not None  # the stroke is on the image
    box, covered = hit
    assert box == (9, 4002, 9, 4002)
    yy, xx = np.mgrid[box[0]:box[1], box[2]:box[3]]
    on_diagonal = np.abs(xx - yy) / np.sqrt(2) <= 1.5
    on_vertical = (np.abs(xx - 4000) <= 1.5) & (yy >= 10) & (yy <= 4000)
    assert (covered[on_diagonal & (xx >= 10) & (xx <= 4000)]).all()
    assert covered[on_vertical].all()
    assert not covered[2000, 100]
    with pytest.raises(ValueError, match="at most"):
        paint.stroke([[0, 0], [9000, 9000]], 3, (10000, 10000))


def test_an_edit_that_changes_nothing_is_no_undo_step(cal):
    doc = Document(str(cal), None, str(cal.parent))
    doc.paint(0, [[7, 7]], 1, False)
    doc.grow_by(0, -3)  # shrinks the single pixel away: a change
    doc.grow_by(0, 2)  # grows nothing: no change
    assert [e.label for e in doc.history] == ["paint", "grow -3"]
    doc.close()


def test_real_nircam_cutout_detect_equals_the_command_line(server, tmp_path, run_cli):
    src = shared_file("jwst_nircam_nrcalong_f444w_cal_cutout_starbug2.fits")
    image = Path(shutil.copy(src, tmp_path / src.name))  # a private copy in tmp, not the repo
    app = server([image])
    polygon = {"shape": "polygon", "include": True,
               "points": [[5.2, 4.9], [94.3, 8.1], [90.6, 93.7], [9.4, 88.2]]}
    post(app, "action", {"op": "shapes", "shapes": [polygon]})
    r = post(app, "action", {"op": "detect", "params": {"sigma": 3, "minpixarea": 2}})
    assert r["masked"] > 0, r
    reg = post(app, "save", {"what": "regions"})["saved"]
    code, _, err = run_cli("detect", image, "--include-region", reg, "--minpixarea", "2",
                           "--output-dir", tmp_path / "cli")
    assert code == 0, err
    name = image.name.removesuffix(".fits")
    cli = fits.getdata(tmp_path / "cli" / f"{name}_seed_image_zeroonemask.fits").astype(bool)
    np.testing.assert_array_equal(app.document(0).chips[0].mask, cli)
    with fits.open(image) as hdul:
        y, x = (int(v) for v in np.argwhere(np.isnan(hdul["SCI"].data))[0])
    pix = app.document(0).pixel(0, x, y)
    assert pix["sci"] is None and pix["sci_text"] == "nan"


def test_requests_that_would_stall_the_server_are_refused(server, cal):
    app = server([cal])
    r = post(app, "action", {"op": "grow", "pixels": 51})
    assert r["status"] == 400 and "at most 50" in r["error"]
    r = post(app, "action", {"op": "detect", "params": {"smooth": 1e6}})
    assert r["status"] == 400 and "smooth" in r["error"]
    deep = ("[" * 100000 + "]" * 100000).encode()
    req = urllib.request.Request(app.url + "api/action", data=deep)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=30)
    with err.value:
        assert err.value.code == 400
    assert get(app, f"/{app.token}/api/state")[0] == 200  # still serving


def test_host_header_checked_against_the_address_listened_on(server, cal):
    app = server([cal])
    t = app.token
    for host, status in ((f"127.0.0.1:{app.port}", 200), (f"localhost:{app.port}", 200),
                         (f"127.0.0.1:{app.port + 1}", 403), ("attacker.example", 403)):
        assert get(app, f"/{t}/api/state", host=host)[0] == status, host
    everywhere = server([cal], host="0.0.0.0")
    assert everywhere.url.startswith("http://127.0.0.1:")
    assert get(everywhere, f"/{everywhere.token}/api/state", host="my-box.lan:1")[0] == 200
    assert get(everywhere, "/api/state", host="my-box.lan:1")[0] == 403


def test_a_file_that_cannot_be_opened_leaves_no_descriptor_open(cal, tmp_path):
    small = tmp_path / "small.fits"
    fits.PrimaryHDU(np.zeros((4, 4), np.uint8)).writeto(small)
    import gc

    gc.collect()  # descriptors other tests left to the garbage collector
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(Exception, match="differs from"):
        Document(str(cal), None, str(tmp_path), mask=str(small))
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) == before
