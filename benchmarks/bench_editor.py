"""``dqmask edit``: time from start to the first drawn image, and the server's peak memory.

For a 2048x2048 NIRCam cal (``dqmask.datasets``) and a 20000x20000 float32 i2d mosaic
(:func:`benchmarks.bench_toolbox.write_mosaic`, 3.2 GB on disk):

1. headless Chromium is started first (not timed; it is the user's browser);
2. the clock starts, ``python -m dqmask edit FILE --no-browser`` is launched and the page
   opened as soon as the server prints its URL;
3. *first image*: the first tile is on the canvas (``body[data-first-draw]``); *full view*:
   every tile of the fitted view is drawn;
4. the view is then panned and zoomed (1:1 at the centre and at two corners, 1:4, fit), a
   brush stroke is painted, the mask saved (``bad``) and an autosave happens; the server's
   peak RSS (``VmHWM``) is read before it is stopped. Target: under 1 GiB for the mosaic.

Run: ``python -m benchmarks.bench_editor`` (needs the chromium and chromium-driver
packages and selenium).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from ._util import RESULTS

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
TARGET_BYTES = 1 << 30


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def _wait(driver, script: str, timeout: float = 300.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if driver.execute_script(script):
            return
        time.sleep(0.01)
    raise TimeoutError(script)


def _hwm(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise KeyError("VmHWM")


def measure(driver, image: Path, env: dict) -> dict:
    """Start the editor on ``image`` and time the page until its first drawn image."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "dqmask", "edit", str(image),
                             "--no-browser", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        url = line.split()[2]
        t_url = time.perf_counter() - t0
        driver.get(url)
        _wait(driver, "return document.body.dataset.firstDraw !== undefined")
        t_first = time.perf_counter() - t0
        _wait(driver, "return document.body.dataset.drawn === '1' && dqmaskEditor.idle()")
        t_full = time.perf_counter() - t0
        ny, nx = driver.execute_script("return dqmaskEditor.state.info.shape")
        views = [(nx / 2, ny / 2, 1), (10, 10, 1), (nx - 10, ny - 10, 1), (nx / 3, ny / 3, 0.25)]
        for cx, cy, scale in views:
            driver.execute_script("dqmaskEditor.setView(arguments[0], arguments[1], "
                                  "arguments[2])", cx, cy, scale)
            _wait(driver, "return document.body.dataset.drawn === '1' && dqmaskEditor.idle()")
        driver.execute_script("dqmaskEditor.fit()")
        _wait(driver, "return document.body.dataset.drawn === '1' && dqmaskEditor.idle()")
        body = json.dumps({"op": "paint", "points": [[nx / 2, ny / 2], [nx / 2 + 300, ny / 2]],
                           "size": 25}).encode()
        req = urllib.request.Request(url + "api/action", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=600) as r:
            r.read()
        save = urllib.request.Request(url + "api/save", data=json.dumps(
            {"what": "mask", "convention": "bad"}).encode())
        with urllib.request.urlopen(save, timeout=600) as r:
            r.read()
        time.sleep(6)  # an autosave of the changed session happens meanwhile
        peak = _hwm(proc.pid)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {"url": t_url, "first": t_first, "full": t_full, "peak": peak}


def main() -> None:
    from dqmask import datasets as sample

    from .bench_toolbox import write_mosaic

    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        print("bench_editor: skipped (needs chromium and chromium-driver)")
        return
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = dict(os.environ, PYTHONPATH=src + os.pathsep + os.environ.get("PYTHONPATH", ""))
    lines = ["# bench_editor",
             "image                          server up   first image   full view   peak RSS"]
    driver = _browser()
    try:
        with tempfile.TemporaryDirectory(prefix="bench_editor_") as tmp:
            work = Path(tmp)
            cases = [("2048x2048 NIRCam cal", sample.make_nircam_cal(work / "full_cal.fits")),
                     ("20000x20000 i2d mosaic", write_mosaic(work / "mosaic_i2d.fits"))]
            for name, path in cases:
                r = measure(driver, path, env)
                ok = "OK" if r["peak"] < TARGET_BYTES else "OVER 1 GiB"
                lines.append(f"{name:<30} {r['url']:8.2f}s   {r['first']:10.2f}s "
                             f"{r['full']:10.2f}s  {r['peak'] / 2**20:7.1f} MiB  {ok}")
                print(lines[-1], flush=True)
    finally:
        driver.quit()
    lines += ["", "server up: the URL printed; first image: first tile on the canvas; full "
              "view: every tile of the fitted view drawn (all from the command's start, "
              "browser already running). Peak RSS: the server's VmHWM after panning, zooming "
              "to 1:1, painting, saving the mask and an autosave."]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_editor.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
