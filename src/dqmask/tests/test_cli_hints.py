"""One-line hints the CLI owes a user at the seams (issue 11 item 12): the GIMP hint of
``fits2png``, ``detect``'s global-statistics fallback and Crab's ``--minpixarea 1``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

GIMP_HINT = ("(touch up in GIMP: paint background pure red FF0000, anything else is not "
             "background)")


def _nirspec_rate(path: Path, shape=(64, 64)) -> Path:
    primary = fits.PrimaryHDU()
    primary.header.update(TELESCOP="JWST", INSTRUME="NIRSPEC", DETECTOR="NRS1",
                          EXP_TYPE="NRS_IFU", SUBARRAY="FULL", DATAMODL="ImageModel")
    sci = fits.ImageHDU(np.random.default_rng(1).normal(0.0, 1.0, shape).astype(np.float32),
                        name="SCI")
    fits.HDUList([primary, sci, fits.ImageHDU(np.zeros(shape, np.uint32), name="DQ")]
                 ).writeto(path)
    return path


def test_fits2png_prints_the_gimp_hint_of_the_docs(tmp_path, run_cli):
    rate = _nirspec_rate(tmp_path / "x_rate.fits")
    code, out, err = run_cli("fits2png", rate, tmp_path / "x.png")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{tmp_path / 'x.png'}: 64x64 picture")
    assert lines[1] == "  " + GIMP_HINT
    docs = (Path(__file__).resolve().parents[3] / "docs" / "nsclean.md").read_text()
    assert "  " + GIMP_HINT in docs.splitlines()  # the docs show the same line
