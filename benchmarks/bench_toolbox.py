"""Batch scale and large-mosaic memory of the toolbox.

Every run is the real command line, ``python -m dqmask ...`` in a subprocess (start-up and
imports included), so the memory figures are the absolute peak RSS of the largest process
(the command, or with ``--jobs`` its largest worker), as a user would see it.

1. ``dqmask apply`` on 50 full-frame (2048x2048) NIRCam rate files with a DS9 claw region,
   ``--jobs 1`` vs ``--jobs 2``: wall time (one run each; the speed-up is the ratio) and
   peak memory.
2. A 20000x20000 float32 i2d mosaic (SCI + WHT, 3.2 GB on disk, written in strips):
   peak RSS of ``dqmask preview`` (with and without a region overlay) and of
   ``dqmask apply`` (jwst writes no DQ in i2d, apply adds one) with a region, with a
   20000x20000 mask file (uint8, ``DQMCONV = 'bad'``), and with a region and
   ``--zero-data`` (SCI rewritten too). The target is < 2 GiB; times are reported, not
   judged.

Run: ``python -m benchmarks.bench_toolbox`` (needs ~9 GB of free disk in the temp folder).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from astropy.io import fits

from benchmarks._util import fmt_bytes, measure, report
from dqmask.datasets import make_rate_batch

N_FILES = 50
MOSAIC = 20000
GIB = 1 << 30
REGION = ("# Region file format: DS9 version 4.1\nimage\n"
          "polygon(300,400,900,520,1100,900,700,1000,350,800)\n-circle(700,700,60)\n")


# --------------------------------------------------------------------------------------------
# Measuring: wall time and peak RSS of the process and of its worker processes
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def _card_block(header: fits.Header) -> bytes:
    return header.tostring().encode("ascii")


def write_mosaic(path: Path, size: int = MOSAIC, strip: int = 500) -> Path:
    """A JWST NIRCam i2d-like mosaic: empty primary (S_RESAMP COMPLETE), SCI float32 MJy/sr
    (noise, stars, NaN outside a tilted footprint) and WHT float32 (0 outside), written strip
    by strip so that this process never holds the whole image."""
    primary = fits.Header()
    primary.update(SIMPLE=True, BITPIX=8, NAXIS=0, EXTEND=True, TELESCOP="JWST",
                   INSTRUME="NIRCAM", DETECTOR="MULTIPLE", EXP_TYPE="NRC_IMAGE",
                   S_RESAMP="COMPLETE", S_PHOTOM="COMPLETE")
    rng = np.random.default_rng(1)
    stars = rng.integers(0, size, size=(2, size * size // 20000))

    def ext(name: str, unit: str) -> fits.Header:
        h = fits.Header()
        h.update(XTENSION="IMAGE", BITPIX=-32, NAXIS=2, NAXIS1=size, NAXIS2=size, PCOUNT=0,
                 GCOUNT=1, EXTNAME=name, BUNIT=unit)
        return h

    def rows(r0: int, r1: int, which: str) -> np.ndarray:
        y, x = np.mgrid[r0:r1, 0:size]
        inside = np.abs((x - size / 2) * 0.98 + (y - size / 2) * 0.2) < 0.45 * size
        if which == "WHT":
            return np.where(inside, np.float32(1200.0), np.float32(0.0)).astype(">f4")
        sci = rng.normal(0.1, 0.02, (r1 - r0, size)).astype(np.float32)
        sel = (stars[0] >= r0) & (stars[0] < r1)
        sci[stars[0][sel] - r0, stars[1][sel]] += 50.0
        sci[~inside] = np.nan
        return sci.astype(">f4")

    with open(path, "wb") as fh:
        fh.write(_card_block(primary))
        for name, unit in (("SCI", "MJy/sr"), ("WHT", "")):
            fh.write(_card_block(ext(name, unit)))
            written = 0
            for r0 in range(0, size, strip):
                block = rows(r0, min(size, r0 + strip), name).tobytes()
                fh.write(block)
                written += len(block)
            fh.write(b"\0" * (-written % 2880))
    return path


def write_mosaic_mask(path: Path, size: int = MOSAIC, strip: int = 1000) -> Path:
    """A ``bad`` mask (uint8, 1 = bad, ``DQMCONV = 'bad'``) for the mosaic: a disc of radius
    3000 pixels (7% of the image), written strip by strip."""
    header = fits.Header()
    header.update(SIMPLE=True, BITPIX=8, NAXIS=2, NAXIS1=size, NAXIS2=size, EXTEND=True,
                  DQMCONV="bad")
    with open(path, "wb") as fh:
        fh.write(_card_block(header))
        written = 0
        for r0 in range(0, size, strip):
            y, x = np.mgrid[r0:min(size, r0 + strip), 0:size]
            block = (((x - size // 2) ** 2 + (y - 0.45 * size) ** 2) < 3000 ** 2)
            data = block.astype(np.uint8).tobytes()
            fh.write(data)
            written += len(data)
        fh.write(b"\0" * (-written % 2880))
    return path


# --------------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------------


def dqmask(*argv: object) -> Callable[[], None]:
    """A call of the ``dqmask`` command line in a subprocess."""
    def run() -> None:
        proc = subprocess.run([sys.executable, "-m", "dqmask", *map(str, argv)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}")
    return run


def _apply_batch(paths: Sequence[Path], region: Path, out: Path, jobs: int
                 ) -> Callable[[], None]:
    return dqmask("apply", *paths, "--region", region, "--output-dir", out, "--jobs", jobs, "-q")


def bench_batch(work: Path) -> tuple[list[tuple[str, float, int]], list[str]]:
    paths = make_rate_batch(work / "in", N_FILES)
    region = work / "claw.reg"
    region.write_text(REGION)
    rows, lines = [], []
    for jobs in (1, 2):
        out = work / f"out{jobs}"
        seconds, _, peak = measure(_apply_batch(paths, region, out, jobs))
        rows.append((f"apply 50 full-frame rate --jobs {jobs}", seconds, peak))
        lines.append(f"  --jobs {jobs}: {seconds:.1f} s, {N_FILES / seconds:.2f} files/s, "
                     f"largest process {fmt_bytes(peak)} (x{jobs} processes at most)")
        shutil.rmtree(out, ignore_errors=True)
    speedup = rows[0][1] / rows[1][1]
    lines.append(f"  speed-up --jobs 2 vs --jobs 1: {speedup:.2f}x")
    shutil.rmtree(work / "in", ignore_errors=True)
    return rows, lines


def bench_mosaic(work: Path) -> tuple[list[tuple[str, float, int]], list[str]]:
    work.mkdir(parents=True, exist_ok=True)
    mosaic = write_mosaic(work / "mosaic_i2d.fits")
    region = work / "mosaic.reg"
    region.write_text("# Region file format: DS9 version 4.1\nimage\n"
                      "polygon(5000,6000,9000,6500,12000,11000,7000,12500)\n")
    mask = write_mosaic_mask(work / "mosaic_mask.fits")
    out = work / "m_masked.fits"
    runs = {
        "preview 20000^2 i2d": dqmask("preview", mosaic, "-o", work / "m.png"),
        "preview 20000^2 i2d --mask region": dqmask("preview", mosaic, "--mask", region,
                                                    "-o", work / "m2.png"),
        "apply 20000^2 i2d --region": dqmask("apply", mosaic, "--region", region, "-o", out),
        "apply 20000^2 i2d --mask (uint8 bad)": dqmask("apply", mosaic, "--mask", mask,
                                                       "-o", out),
        "apply 20000^2 i2d --region --zero-data": dqmask("apply", mosaic, "--region", region,
                                                         "--zero-data", "-o", out),
    }
    rows, lines = [], []
    for label, fn in runs.items():
        try:
            seconds, _, peak = measure(fn)
        except Exception as exc:  # report, do not hide, a failing run
            lines.append(f"  {label}: FAILED ({exc})")
            continue
        finally:
            out.unlink(missing_ok=True)  # 4.8 GB each
        rows.append((label, seconds, peak))
        verdict = "OK" if peak < 2 * GIB else "ABOVE 2 GiB"
        lines.append(f"  {label}: {seconds:.1f} s, peak RSS {fmt_bytes(peak)} ({verdict})")
    return rows, lines


def main() -> None:
    base = Path(os.environ.get("DQMASK_BENCH_TMP", tempfile.gettempdir()))
    work = Path(tempfile.mkdtemp(prefix="dqmask-bench-toolbox-", dir=base))
    try:
        batch_rows, batch_lines = bench_batch(work / "batch")
        mosaic_rows, mosaic_lines = bench_mosaic(work / "mosaic")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end"
    report("bench_toolbox", batch_rows, ["", "batch (50 files):"] + batch_lines
           + [f"  ({load})"])
    if mosaic_rows:
        report("bench_toolbox_mosaic", mosaic_rows,
               ["", "20000x20000 mosaic, absolute peak RSS (target < 2 GiB):"] + mosaic_lines)


if __name__ == "__main__":
    main()
