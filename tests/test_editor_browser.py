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

from dqmask import sample
from dqmask.editor import paint
from dqmask.editor.server import EditorServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
_WHY = ("headless-browser tests need the Debian packages chromium and chromium-driver "
        "(`apt-get install -y chromium chromium-driver`; `make test` does it as root) and "
        "the selenium package (test extra)")


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
def served(tmp_path):
    """Start an editor on given files; stopped (and autosaved) after the test."""
    apps = []

    def start(paths, **kwargs) -> EditorServer:
        app = EditorServer([str(p) for p in paths], **kwargs)
        app.start()
        apps.append(app)
        return app

    yield start
    for app in apps:
        app.shutdown()


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


@pytest.fixture(scope="module")
def cal(tmp_path_factory) -> Path:
    return sample.make_nircam_cal(tmp_path_factory.mktemp("cal") / "claw_cal.fits",
                                  shape=(256, 256), seed=11)


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
    box, covered = paint.stroke(strokes[0]["points"], strokes[0]["size"], detected.shape)
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
