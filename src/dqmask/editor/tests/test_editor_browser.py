"""``dqmask edit`` in a real browser: headless Chromium driven through Selenium.

The browser is the system's (Debian packages ``chromium`` and ``chromium-driver``; ``make
test`` installs them when run as root on Debian); nothing here downloads a browser. Without
them, or without the ``selenium`` package, every test skips with that reason.

Each test draws with mouse events, then compares what the editor saved with the output of
the command-line cores (``dqmask detect``, the brush rasteriser) for the shapes the editor
holds, pixel for pixel.
"""

from __future__ import annotations

import io
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from dqmask import datasets as sample
from dqmask.editor import paint
from dqmask.editor.server import EditorServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
_WHY = ("headless-browser tests need the Debian packages chromium and chromium-driver "
        "(`apt-get install -y chromium chromium-driver`; `make test` does it as root) and "
        "the selenium package (test extra)")

#: The sample cal of these tests (conftest.py: cal_master, cal).
CAL = ("claw_cal.fits", 11)


@pytest.fixture(scope="module")
def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip(_WHY)
    webdriver = pytest.importorskip("selenium.webdriver", reason=_WHY)
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def served(server):
    """The shared ``server`` fixture (conftest.py) under this module's name."""
    return server


def wait_idle(driver, timeout: float = 60.0) -> None:
    """Until the page has no request in flight and every visible tile is drawn."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if driver.execute_script("return window.dqmaskEditor && dqmaskEditor.idle() && "
                                 "document.body.dataset.drawn === '1'"):
            return
        time.sleep(0.05)
    raise AssertionError("the editor page did not settle")


def open_page(driver, app: EditorServer) -> None:
    driver.get(app.url)
    wait_idle(driver)


def by_testid(driver, name: str):
    return driver.find_element("css selector", f"[data-testid='{name}']")


def to_screen(driver, x: float, y: float) -> tuple[int, int]:
    sx, sy = driver.execute_script("return dqmaskEditor.imageToScreen(arguments[0], "
                                   "arguments[1])", x, y)
    return int(round(sx)), int(round(sy))


def canvas_offset(driver, canvas, x: float, y: float) -> tuple[int, int]:
    """Selenium 4 offsets are from the element's centre."""
    sx, sy = to_screen(driver, x, y)
    return sx - canvas.size["width"] // 2, sy - canvas.size["height"] // 2


def state(app: EditorServer) -> dict:
    return app.state(0, 0)


def test_polygon_detect_paint_erase_undo_save_equal_the_cores(browser, served, cal, tmp_path,
                                                              run_cli):
    from selenium.webdriver.common.action_chains import ActionChains

    work = tmp_path / "in"
    work.mkdir()
    image = work / cal.name
    shutil.copy(cal, image)
    app = served([image])
    open_page(browser, app)
    canvas = by_testid(browser, "image")

    # detect's controls start at the command line's defaults
    assert by_testid(browser, "detect-sigma").get_attribute("value") == "3"
    assert by_testid(browser, "detect-smooth").get_attribute("value") == "0"

    # a polygon drawn with clicks, closed with a double-click
    by_testid(browser, "tool-polygon").click()
    vertices = [(40, 40), (200, 50), (210, 200), (60, 180)]
    actions = ActionChains(browser)
    for x, y in vertices[:-1]:
        actions.move_to_element_with_offset(canvas, *canvas_offset(browser, canvas, x, y))
        actions.click()
    actions.move_to_element_with_offset(canvas, *canvas_offset(browser, canvas, *vertices[-1]))
    actions.double_click()
    actions.perform()
    wait_idle(browser)
    shapes_now = state(app)["shapes"]
    assert len(shapes_now) == 1 and shapes_now[0]["shape"] == "polygon"
    assert len(shapes_now[0]["points"]) == 4
    for (x, y), (px, py) in zip(vertices, shapes_now[0]["points"], strict=True):
        assert abs(px - x) < 1 and abs(py - y) < 1  # within a screen pixel of the clicks

    # detect with sigma 2.5
    sigma = by_testid(browser, "detect-sigma")
    sigma.clear()
    sigma.send_keys("2.5")
    by_testid(browser, "detect").click()
    wait_idle(browser)
    after_detect = state(app)["masked"]
    assert after_detect > 0

    # paint a stroke, erase across it, undo the erase
    size = by_testid(browser, "brush-size")
    size.clear()
    size.send_keys("3")
    by_testid(browser, "tool-brush").click()
    ActionChains(browser).move_to_element_with_offset(
        canvas, *canvas_offset(browser, canvas, 20, 230)).click_and_hold().move_to_element_with_offset(
        canvas, *canvas_offset(browser, canvas, 120, 235)).release().perform()
    wait_idle(browser)
    after_paint = state(app)["masked"]
    assert after_paint > after_detect
    by_testid(browser, "tool-eraser").click()
    ActionChains(browser).move_to_element_with_offset(
        canvas, *canvas_offset(browser, canvas, 60, 215)).click_and_hold().move_to_element_with_offset(
        canvas, *canvas_offset(browser, canvas, 60, 250)).release().perform()
    wait_idle(browser)
    assert state(app)["masked"] < after_paint
    by_testid(browser, "undo").click()
    wait_idle(browser)
    assert state(app)["masked"] == after_paint

    # save the mask (bad convention) and the regions; the page lists both paths
    by_testid(browser, "save-mask").click()
    wait_idle(browser)
    by_testid(browser, "save-regions").click()
    wait_idle(browser)
    listed = by_testid(browser, "saved-paths").text
    assert listed, by_testid(browser, "status").text
    mask_path, reg_path = work / "claw_cal_mask_bad.fits", work / "claw_cal_regions.reg"
    assert str(mask_path) in listed and str(reg_path) in listed

    # the same shapes through the command line: dqmask detect on the saved regions file
    out = tmp_path / "cli"
    code, _, err = run_cli("detect", image, "--include-region", reg_path, "--sigma", "2.5",
                           "--output-dir", out)
    assert code == 0, err
    detected = fits.getdata(out / "claw_cal_seed_image_zeroonemask.fits").astype(bool)
    strokes = [a for a in browser.execute_script("return dqmaskEditor.state.sent")
               if a["op"] == "paint"]
    assert [s["erase"] for s in strokes] == [False, True]
    hit = paint.stroke(strokes[0]["points"], strokes[0]["size"], detected.shape)
    assert hit is not None  # the stroke was drawn on the image
    box, covered = hit
    expected = detected.copy()
    expected[box[0]:box[1], box[2]:box[3]] |= covered
    saved = fits.getdata(mask_path)
    assert saved.dtype == np.uint8
    np.testing.assert_array_equal(saved.astype(bool), expected)
    assert fits.getheader(mask_path)["DQMCONV"] == "bad"


def _asymmetric(path: Path, shape=(200, 300)) -> Path:
    """Bright block at the bottom-left (first rows, first columns), mid-grey bar at the top."""
    ny, nx = shape
    data = np.zeros(shape, np.float32)
    data[: ny // 4, : nx // 4] = 100.0  # rows 0.. = bottom in FITS orientation
    data[-ny // 10:, :] = 50.0  # top rows
    fits.PrimaryHDU(data).writeto(path)
    return path


def test_image_drawn_in_fits_orientation(browser, served, tmp_path):
    from PIL import Image

    image = _asymmetric(tmp_path / "asym.fits")
    app = served([image])
    open_page(browser, app)
    by_testid(browser, "limits").send_keys("minmax")
    browser.execute_script("dqmaskEditor.fit()")
    wait_idle(browser)
    shot = np.asarray(Image.open(io.BytesIO(by_testid(browser, "image").screenshot_as_png))
                      .convert("RGB"))

    def grey(x, y):
        sx, sy = to_screen(browser, x, y)
        return int(shot[sy, sx, 0])

    assert grey(10, 10) == 255  # bottom-left block: bright, at the bottom left of the screen
    assert grey(290, 10) == 0  # bottom-right: dark
    assert grey(10, 120) == 0  # above the block: dark
    assert grey(150, 195) == 128  # the top bar is at the top (50 of 0..100 in grey)
    sx_left, sy_bottom = to_screen(browser, 10, 10)
    sx_right, sy_top = to_screen(browser, 290, 195)
    assert sx_left < sx_right and sy_bottom > sy_top  # x grows rightwards, y upwards


def test_cursor_readout_shows_ds9_coordinates_flags_and_sky(browser, served, cal):
    from selenium.webdriver.common.action_chains import ActionChains

    from dqmask.flags import decode

    with fits.open(cal) as hdul:
        dq = np.array(hdul["DQ"].data)
    y, x = (int(v) for v in np.argwhere((dq & 1) != 0)[0])  # a DO_NOT_USE pixel
    value = int(dq[y, x])
    app = served([cal])
    open_page(browser, app)
    canvas = by_testid(browser, "image")
    browser.execute_script("dqmaskEditor.setView(arguments[0], arguments[1], 8)", x, y)
    ActionChains(browser).move_to_element_with_offset(
        canvas, *canvas_offset(browser, canvas, x, y)).perform()
    end = time.monotonic() + 20
    text = ""
    while time.monotonic() < end and f"x {x + 1} y {y + 1}" not in text:
        time.sleep(0.05)
        text = by_testid(browser, "cursor-readout").text
    assert f"x {x + 1} y {y + 1} (0-based {x}, {y})" in text
    assert f"DQ {value} {'+'.join(decode(value))}" in text
    assert "DO_NOT_USE" in text
    assert "RA " in text and "Dec " in text
    legend = by_testid(browser, "flag-legend").text
    assert "DO_NOT_USE (1)" in legend


def test_page_without_token_is_refused(browser, served, cal):
    app = served([cal])
    browser.get(f"http://127.0.0.1:{app.port}/")
    assert "missing or wrong token" in browser.page_source
    browser.get(f"http://127.0.0.1:{app.port}/{'x' * len(app.token)}/")
    assert "missing or wrong token" in browser.page_source
    assert "dqmask edit" not in browser.title
    open_page(browser, app)
    assert browser.title == "dqmask edit"


def drag(browser, canvas, a, b) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(browser).move_to_element_with_offset(
        canvas, *canvas_offset(browser, canvas, *a)).click_and_hold().move_to_element_with_offset(
        canvas, *canvas_offset(browser, canvas, *b)).release().perform()
    wait_idle(browser)


def test_box_circle_ellipse_exclude_move_vertex_delete(browser, served, cal, tmp_path):
    image = Path(shutil.copy(cal, tmp_path / cal.name))
    app = served([image])
    open_page(browser, app)
    canvas = by_testid(browser, "image")
    by_testid(browser, "tool-box").click()
    drag(browser, canvas, (20, 20), (80, 60))
    by_testid(browser, "tool-circle").click()
    drag(browser, canvas, (150, 150), (170, 150))
    by_testid(browser, "region-exclude").click()
    by_testid(browser, "tool-ellipse").click()
    drag(browser, canvas, (100, 20), (180, 60))
    got = state(app)["shapes"]
    assert [(s["shape"], s["include"]) for s in got] == [("box", True), ("circle", True),
                                                          ("ellipse", False)]
    box, circle, ellipse = got
    assert (box["x"], box["y"], box["width"], box["height"]) == pytest.approx((50, 40, 60, 40),
                                                                              abs=1)
    assert (circle["x"], circle["y"], circle["r"]) == pytest.approx((150, 150, 20), abs=1)
    assert (ellipse["width"], ellipse["height"]) == pytest.approx((80, 40), abs=1)

    # select the circle with the pan tool, drag it; drag the box's corner handle; delete
    by_testid(browser, "tool-pan").click()
    drag(browser, canvas, (150, 150), (140, 130))
    moved = state(app)["shapes"][1]
    assert (moved["x"], moved["y"], moved["r"]) == pytest.approx((140, 130, 20), abs=1)
    drag(browser, canvas, (50, 40), (50, 40.01))  # select the box (no move)
    drag(browser, canvas, (80, 60), (90, 70))  # its corner handle
    resized = state(app)["shapes"][0]
    assert (resized["x"], resized["width"], resized["height"]) == pytest.approx((50, 80, 60),
                                                                                abs=1)
    by_testid(browser, "delete-shape").click()
    wait_idle(browser)
    assert [s["shape"] for s in state(app)["shapes"]] == ["circle", "ellipse"]
    by_testid(browser, "undo").click()
    wait_idle(browser)
    assert [s["shape"] for s in state(app)["shapes"]] == ["box", "circle", "ellipse"]

    # regions -> mask, saved in the user_mask convention, equals the rasterised regions
    by_testid(browser, "regions-to-mask").click()
    wait_idle(browser)
    from selenium.webdriver.support.ui import Select

    Select(by_testid(browser, "convention")).select_by_value("user_mask")
    by_testid(browser, "save-regions").click()
    wait_idle(browser)
    by_testid(browser, "save-mask").click()
    wait_idle(browser)
    from dqmask.io.mask_file import read_fits_mask
    from dqmask.io.regions import regions_to_mask

    expect = regions_to_mask([tmp_path / "claw_cal_regions.reg"], (256, 256))
    saved = tmp_path / "claw_cal_mask_user_mask.fits"
    back = read_fits_mask(saved)
    assert back.convention == "user_mask"
    np.testing.assert_array_equal(back.planes[0], expect)  # user_mask: 1.0 = background
    np.testing.assert_array_equal(fits.getdata(saved, "SCI"), (~expect).astype(np.float32))


def test_load_regions_file_and_step_through_files_carrying_them(browser, served, cal, tmp_path):
    second = sample.make_nircam_cal(tmp_path / "second_cal.fits", shape=(256, 256), seed=12)
    reg = tmp_path / "drawn.reg"
    reg.write_text("# Region file format: DS9 version 4.1\nimage\npolygon(11,11,51,11,31,41)\n"
                   "-circle(101,101,5)\n")
    app = served([cal, second])
    open_page(browser, app)
    by_testid(browser, "load-regions").send_keys(str(reg))
    wait_idle(browser)
    first_shapes = app.state(0, 0)["shapes"]
    assert [(s["shape"], s["include"]) for s in first_shapes] == [("polygon", True),
                                                                   ("circle", False)]
    assert first_shapes[0]["points"] == [[10, 10], [50, 10], [30, 40]]
    by_testid(browser, "carry-regions").click()
    by_testid(browser, "file-next").click()
    wait_idle(browser)
    assert "second_cal.fits" in by_testid(browser, "file-name").text
    assert app.state(1, 0)["shapes"] == first_shapes
    by_testid(browser, "file-prev").click()
    wait_idle(browser)
    assert "claw_cal.fits" in by_testid(browser, "file-name").text


def test_regions_given_on_the_command_line_are_drawn(browser, served, cal, tmp_path):
    from PIL import Image

    reg = tmp_path / "start.reg"
    reg.write_text("image\nbox(128.5,128.5,100,100,0)\n")
    app = served([cal], regions=str(reg))
    open_page(browser, app)
    assert len(browser.execute_script("return dqmaskEditor.state.shapes")) == 1
    shot = np.asarray(Image.open(io.BytesIO(by_testid(browser, "image").screenshot_as_png))
                      .convert("RGB"))
    sx, sy = to_screen(browser, 77.5, 128)  # the box's left edge (x = 127.5 - 50)
    edge = shot[sy - 2:sy + 3, sx - 2:sx + 3].reshape(-1, 3)
    assert any(tuple(p) == (51, 255, 51) for p in edge)  # drawn in include green (#3f3)


def test_flag_legend_toggles_the_dq_overlay(browser, served, cal):
    from PIL import Image

    from dqmask.io.png import flag_color

    with fits.open(cal) as hdul:
        dq = np.array(hdul["DQ"].data)
    y, x = (int(v) for v in np.argwhere(dq == 4)[0])  # JUMP_DET only
    app = served([cal])
    open_page(browser, app)
    browser.execute_script("const s = document.querySelector('[data-testid=dq-opacity]');"
                           "s.value = 1; s.dispatchEvent(new Event('input'));")
    browser.execute_script("dqmaskEditor.setView(arguments[0], arguments[1], 8)", x, y)
    wait_idle(browser)

    def colour():
        shot = np.asarray(Image.open(io.BytesIO(by_testid(browser, "image").screenshot_as_png))
                          .convert("RGB"))
        sx, sy = to_screen(browser, x, y)
        return tuple(int(v) for v in shot[sy, sx])

    box = by_testid(browser, "flag-JUMP_DET")
    assert not box.is_selected()  # DO_NOT_USE only at start
    assert colour() != flag_color(2)
    box.click()
    wait_idle(browser)
    assert colour() == flag_color(2)
    box.click()
    wait_idle(browser)
    assert colour() != flag_color(2)


def test_autosave_offer_restored_from_the_page_and_canvas_follows_the_banner(
        browser, served, cal, tmp_path):
    from dqmask.editor.document import Document

    image = Path(shutil.copy(cal, tmp_path / cal.name))
    doc = Document(str(image), None, str(tmp_path))
    doc.paint(0, [[30, 30]], 3, False)
    doc.autosave()
    doc.close()
    app = served([image])
    open_page(browser, app)
    offer = by_testid(browser, "autosave-offer")
    assert offer.is_displayed() and "9 masked pixels" in offer.text

    def canvas_matches_its_box():
        return browser.execute_script(
            "const c = document.querySelector('[data-testid=image]');"
            "const r = c.getBoundingClientRect();"
            "return c.width === Math.round(r.width) && c.height === Math.round(r.height);")

    assert canvas_matches_its_box()
    by_testid(browser, "autosave-restore").click()
    wait_idle(browser)
    assert not offer.is_displayed()
    assert state(app)["masked"] == 9
    assert canvas_matches_its_box()


def test_polygon_vertex_moved_with_the_mouse(browser, served, cal):
    app = served([cal])
    app.action({"op": "shapes", "shapes": [{"shape": "polygon", "include": True,
                                            "points": [[50, 50], [200, 60], [120, 200]]}]})
    open_page(browser, app)
    canvas = by_testid(browser, "image")
    by_testid(browser, "tool-pan").click()
    drag(browser, canvas, (120, 100), (120, 100.01))  # a click inside selects it
    drag(browser, canvas, (200, 60), (220, 30))  # its second vertex's handle
    points = state(app)["shapes"][0]["points"]
    assert points[0] == [50, 50] and points[2] == [120, 200]
    assert points[1] == [pytest.approx(220, abs=1), pytest.approx(30, abs=1)]
    by_testid(browser, "undo").click()
    wait_idle(browser)
    assert state(app)["shapes"][0]["points"][1] == [200, 60]
