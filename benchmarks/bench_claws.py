"""Claw masks: ``detect`` on a 2048x2048 cal and ``apply`` on 10 full-frame rate files.

Baselines are Crab.Toolkit.JWST's seed-image procedure written out here as its scripts do it
(the toolkit is a set of scripts, not an installable package). That procedure finds claws
inside a DS9 include region: it estimates the sky twice with photutils ``Background2D`` (the
second pass leaving out pixels beyond 2 rms of the first), keeps the pixels above sky + 2 rms
that have a bright 8-neighbour, smooths them with a Gaussian into a "seed image" and
flags (DQ) and zeroes the rate-file pixels wherever the seed is positive. Step by step:

* detection: regions ``to_mask().to_image()`` per shape, two Background2D passes, 8-neighbour
  count, astropy ``convolve`` with ``Gaussian2DKernel``, float64 outputs;
* application: ``stdatamodels`` ``ImageModel`` open, ``dq[mask] |= value``, ``data[mask] = 0``,
  history entry, ``model.save`` to a new file.

Run: ``python -m benchmarks.bench_claws`` (writes ~1 GB of temporary files; cleans up).
"""

from __future__ import annotations

import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from ._util import best_time, fmt_bytes, peak_rss, report

N_RATES = 10
#: A quadrilateral covering about a quarter of the 2048x2048 detector (DS9 image frame).
QUARTER_POLYGON = "polygon(200,300,1250,150,1350,1200,300,1150)"


def _crab_detect(cal: Path, reg: Path, outdir: Path) -> None:
    """Crab.Toolkit.JWST seed-image detection, as its script does it (baseline)."""
    from astropy.convolution import Gaussian2DKernel, convolve
    from astropy.io import fits
    from photutils.background import Background2D
    from regions import Regions
    from scipy.ndimage import convolve as nconvolve

    with fits.open(cal) as h:
        image = np.array(h["SCI"].data, dtype=float)
        header = h["SCI"].header
        dq = np.array(h["DQ"].data)
    valid = ((dq & 1073742391) == 0) & np.isfinite(image)
    inc = np.zeros(image.shape, bool)
    for r in Regions.read(str(reg), format="ds9"):
        inc |= r.to_mask().to_image(image.shape) > 0
    valid = inc.copy()  # Crab: inside the include region -> valid = 1
    n = min(image.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = Background2D(image, n // 10, mask=~valid, exclude_percentile=50)
        bkg, rms = b.background, np.nanmean(b.background_rms)
        nonbright = (bkg - 2 * rms < image) & (image < bkg + 2 * rms)
        b = Background2D(image, n // 30, mask=~(valid & nonbright), exclude_percentile=50)
        bkg, rms = b.background, np.nanmean(b.background_rms)
        mask = (image > bkg + 2 * rms) & inc
    arr = mask.astype(int)
    k = np.ones((3, 3), int)
    k[1, 1] = 0
    arr = arr * (nconvolve(arr, k, mode="constant") >= 1)
    arr = convolve(arr.astype(float), Gaussian2DKernel(x_stddev=1.0))
    arr[arr < 1e-3] = 0
    for name, data in (("bkg2d", bkg), ("seed", arr), ("zeroonemask", (arr > 0).astype(int))):
        fits.PrimaryHDU(data, header=header).writeto(outdir / f"crab_{name}.fits",
                                                     overwrite=True)


def _dqmask_detect(cal: Path, reg: Path, outdir: Path) -> None:
    from dqmask.claws.core import DetectParams
    from dqmask.claws.files import detect_file

    detect_file(cal, [reg], params=DetectParams(sigma=2.0, smooth=1.0, minpixarea=2),
                output_dir=outdir, overwrite=True)


def _crab_apply(rates: list[Path], mask_path: Path, outdir: Path) -> None:
    """Crab.Toolkit.JWST application (util_mask_rate_data_with_seed_image style, baseline)."""
    from astropy.io import fits
    from stdatamodels import util
    from stdatamodels.jwst import datamodels

    mask = fits.getdata(mask_path) > 1e-6
    warnings.filterwarnings("ignore", message="The history attribute")
    for rate in rates:
        with datamodels.ImageModel(str(rate)) as model:
            model.dq[mask] |= np.uint32(1115947011)
            model.data[mask] = 0.0
            model.history.append(util.create_history_entry("Removed claws (bench)"))
            model.save(str(outdir / rate.name))


def _dqmask_apply(rates: list[Path], mask_path: Path, outdir: Path, jobs: int = 1) -> None:
    from dqmask.cli import main

    code = main(["apply", *map(str, rates), "--mask", str(mask_path), "--zero-data",
                 "--output-dir", str(outdir), "--jobs", str(jobs), "-q"])
    assert code == 0


def main() -> None:
    from dqmask.datasets import make_nircam_cal, make_nircam_rate

    work = Path(tempfile.mkdtemp(prefix="bench_claws_"))
    try:
        t0 = time.perf_counter()
        cal = make_nircam_cal(work / "jw_bench_nrcb1_cal.fits", detector="NRCB1")
        rate0 = make_nircam_rate(work / "r00_nrcb1_rate.fits", detector="NRCB1")
        rates = [rate0]
        for i in range(1, N_RATES):
            rates.append(Path(shutil.copyfile(rate0, work / f"r{i:02d}_nrcb1_rate.fits")))
        print(f"inputs generated in {time.perf_counter() - t0:.1f}s")
        reg = work / "quarter.reg"
        reg.write_text("# Region file format: DS9 version 4.1\nimage\n" + QUARTER_POLYGON + "\n")
        det_out = work / "det"
        det_out.mkdir()

        rows = []
        for label, fn in (
            ("detect: Crab seed-image script", lambda: _crab_detect(cal, reg, det_out)),
            ("detect: dqmask detect", lambda: _dqmask_detect(cal, reg, det_out)),
        ):
            rows.append((label, best_time(fn, repeat=2), peak_rss(fn)))
        mask_path = det_out / "jw_bench_nrcb1_cal_seed_image_zeroonemask.fits"
        from astropy.io import fits

        frac = float(fits.getdata(mask_path).mean())
        report("claws_detect", rows, [f"2048x2048 cal, quarter-detector polygon, sigma 2, "
                                      f"smooth 1: mask covers {100 * frac:.2f}% of the detector"])

        rows = []
        for label, fn in (
            (f"apply x{N_RATES}: Crab-style ImageModel", lambda: _crab_apply(
                rates, mask_path, _fresh(work / "crab_apply"))),
            (f"apply x{N_RATES}: dqmask apply", lambda: _dqmask_apply(
                rates, mask_path, _fresh(work / "dq_apply"))),
            (f"apply x{N_RATES}: dqmask apply --jobs 2", lambda: _dqmask_apply(
                rates, mask_path, _fresh(work / "dq_apply2"), jobs=2)),
        ):
            rows.append((label, best_time(fn, repeat=1), peak_rss(fn)))
        size = rate0.stat().st_size
        report("claws_apply", rows, [f"{N_RATES} full-frame NIRCam rate files of "
                                     f"{fmt_bytes(size)} each, --zero-data, new output files",
                                     "peak memory of --jobs 2 is its largest worker process (imports included)"])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    return path


if __name__ == "__main__":
    main()
