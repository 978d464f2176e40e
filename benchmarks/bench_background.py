"""Automatic NSClean background mask from 4 full-frame NIRSpec IFU rate files.

Rows:

* ``jwst create_mask x4``: jwst clean_flicker_noise's automatic mask (``create_mask``,
  n_sigma=2, no WCS regions), one per file after ``datamodels.open``, AND-ed -- what a user
  gets from the pipeline without reference files;
* ``dqmask background (4 files)``: ``dqmask.nsclean.files.make_background`` -- read,
  combine (sigma-clipped mean), clip, write the NSClean-format mask.

Time: best of 2. Peak memory: extra resident memory of one run in a freshly spawned
interpreter (after imports), both including reading the 4 files.

Also reported: agreement of each mask with the true footprint of the generated traces.
Run: ``python -m benchmarks.bench_background``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from benchmarks._util import best_time, peak_rss, report

N_FILES = 4


def make_rates(folder: Path) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """4 NIRSpec IFU rates (dqmask.datasets) and the truth: (paths, trace, reference)."""
    from dqmask import datasets as sample

    paths = [sample.make_nirspec_ifu_rate(folder / f"jw09999003001_03101_0000{i + 1}_nrs1_rate"
                                          f".fits", seed=i) for i in range(N_FILES)]
    trace = sample.nirspec_ifu_footprint()
    with_border = np.zeros_like(trace)
    with_border[:4], with_border[-4:], with_border[:, :4], with_border[:, -4:] = (True,) * 4
    return paths, trace, with_border


def jwst_masks(paths: list[Path]) -> np.ndarray:
    """jwst's automatic mask for each file, AND-ed (bool, True = background)."""
    import logging

    from jwst.clean_flicker_noise.clean_flicker_noise import create_mask
    from stdatamodels.jwst import datamodels

    logging.getLogger("jwst").setLevel(logging.ERROR)
    mask = None
    for path in paths:
        with datamodels.open(str(path)) as model:
            one = create_mask(model, n_sigma=2.0, single_mask=True)
        mask = one if mask is None else mask & one
    return mask


def dqmask_mask(paths: list[Path], out: Path) -> None:
    from dqmask.nsclean.files import make_background

    make_background(paths, out, force=True)


def _scores(mask: np.ndarray, trace: np.ndarray, border: np.ndarray) -> str:
    truth = ~trace & ~border
    agree = np.mean(mask == truth)
    leaked = np.count_nonzero(mask & trace) / np.count_nonzero(trace)
    return f"agrees with true background on {100 * agree:.2f}% of pixels, " \
           f"{100 * leaked:.3f}% of trace pixels marked background"


def main() -> None:
    from dqmask.io.background_mask import read_background_mask

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths, trace, border = make_rates(folder)
        out = folder / "mask.fits"
        rows = [
            ("jwst create_mask x4 (per file, AND)", best_time(lambda: jwst_masks(paths), 2),
             peak_rss(lambda: jwst_masks(paths))),
            (f"dqmask background ({N_FILES} files)",
             best_time(lambda: dqmask_mask(paths, out), 2),
             peak_rss(lambda: dqmask_mask(paths, out))),
        ]
        ours = read_background_mask(out).background
        theirs = jwst_masks(paths)
        report("bench_background", rows, [
            f"inputs: {N_FILES} full-frame 2048x2048 NIRSpec IFU rate files (dqmask.datasets)",
            f"jwst mask:   {_scores(theirs, trace, border)}",
            f"dqmask mask: {_scores(ours, trace, border)}",
        ])


if __name__ == "__main__":
    main()
