"""Helpers for the dq_init tests: generated exposures / MASK files and the jwst reference run.

Exposures and MASK files are written with astropy so every keyword and on-disk bit is under
the test's control; jwst then opens the very same files with its own datamodels.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
from astropy.io import fits

NIRCAM = {"TELESCOP": "JWST", "INSTRUME": "NIRCAM", "DETECTOR": "NRCA1",
          "EXP_TYPE": "NRC_IMAGE", "FASTAXIS": -1, "SLOWAXIS": 2, "READPATT": "RAPID"}

#: A DQ_DEF that compresses 6 standard flags into 6 low bits (BIT column deliberately wrong).
GENERATED_DQ_DEF = [(0, 1, "DO_NOT_USE"), (5, 2, "HOT"), (2, 4, "DEAD"), (3, 8, "LOW_QE"),
                    (4, 16, "NON_SCIENCE"), (9, 32, "REFERENCE_PIXEL")]


def write_exposure(path: Path, shape: tuple[int, ...], *, substrt=(1, 1), subsize=None,
                   keys: dict | None = None, drop: tuple[str, ...] = (),
                   sci_dtype=np.uint16, extra_hdus: list | None = None, seed: int = 0) -> Path:
    """A raw exposure: primary header + SCI (+ extra HDUs), like an uncal file."""
    header = fits.Header()
    subsize = subsize or (shape[-1], shape[-2])
    values = dict(NIRCAM, SUBARRAY="GENERIC", SUBSTRT1=substrt[0], SUBSTRT2=substrt[1],
                  SUBSIZE1=subsize[0], SUBSIZE2=subsize[1], NINTS=shape[0], NGROUPS=shape[1])
    values.update(keys or {})
    for key, value in values.items():
        if key not in drop and value is not None:
            header[key] = value
    rng = np.random.default_rng(seed)
    sci = rng.integers(1000, 60000, size=shape, dtype=np.uint16).astype(sci_dtype)
    hdus = [fits.PrimaryHDU(header=header), fits.ImageHDU(sci, name="SCI")]
    hdus += extra_hdus or []
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return Path(path)


def write_raw_mask(path: Path, raw: np.ndarray, *, dq_def=GENERATED_DQ_DEF,
                   keys: dict | None = None, drop: tuple[str, ...] = (),
                   substrt=(1, 1)) -> Path:
    """A MASK reference with exactly these on-disk (compressed) values and DQ_DEF rows."""
    header = fits.Header()
    values = dict(TELESCOP="JWST", REFTYPE="MASK", INSTRUME="NIRCAM", DETECTOR="NRCA1",
                  SUBARRAY="GENERIC", SUBSTRT1=substrt[0], SUBSTRT2=substrt[1],
                  SUBSIZE1=raw.shape[-1], SUBSIZE2=raw.shape[-2], FASTAXIS=-1, SLOWAXIS=2)
    values.update(keys or {})
    for key, value in values.items():
        if key not in drop and value is not None:
            header[key] = value
    hdus = [fits.PrimaryHDU(header=header), fits.ImageHDU(raw.astype(np.uint32), name="DQ")]
    if dq_def is not None:
        cols = [fits.Column("BIT", "J", array=[r[0] for r in dq_def]),
                fits.Column("VALUE", "J", array=[r[1] for r in dq_def]),
                fits.Column("NAME", "40A", array=[r[2] for r in dq_def]),
                fits.Column("DESCRIPTION", "80A", array=["" for _ in dq_def])]
        hdus.append(fits.BinTableHDU.from_columns(cols, name="DQ_DEF"))
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return Path(path)


def random_raw(shape: tuple[int, int], seed: int = 1, density: float = 0.05,
               bits: int = 0x7F) -> np.ndarray:
    """Compressed mask values: ``density`` of the pixels get random bits within ``bits``."""
    rng = np.random.default_rng(seed)
    raw = np.zeros(shape, np.uint32)
    hit = rng.random(shape) < density
    raw[hit] = rng.integers(1, bits + 1, size=int(hit.sum())).astype(np.uint32) & bits
    raw[0, :] |= 32  # a full row of reference pixels (bit 5 -> REFERENCE_PIXEL)
    return raw


def jwst_dqinit(exposure: Path, mask: Path, user_dq: Path | None = None) -> dict[str, np.ndarray]:
    """jwst's own do_dqinit on the file, opened with the class DQInitStep would use."""
    from jwst.dq_init.dq_initialization import do_dqinit
    from jwst.stpipe.core import JwstStep
    from stdatamodels.jwst import datamodels

    with datamodels.RampModel(str(exposure)) as probe:  # _ramp_type(path) needs an ASDF HDU
        cls = JwstStep._ramp_type(probe)
    with cls(str(exposure)) as model, datamodels.MaskModel(str(mask)) as ref:
        user = fits.getdata(user_dq) if user_dq is not None else None
        do_dqinit(model, ref, user_dq=user)
        if isinstance(model, datamodels.GuiderRawModel):
            return {"DQ": np.array(model.dq)}
        return {"PIXELDQ": np.array(model.pixeldq), "GROUPDQ": np.array(model.groupdq)}


def ours(exposure: Path, mask: Path, out: Path, **kw) -> dict[str, np.ndarray]:
    """dqmask's file-level step; returns the DQ extensions of the output."""
    from dqmask.dq_init.files import dq_init_file

    dq_init_file(exposure, mask, out, **kw)
    with fits.open(out) as hdul:
        names = [h.name for h in hdul]
        return {n: np.array(hdul[n].data) for n in ("DQ", "PIXELDQ", "GROUPDQ") if n in names}


def assert_same_as_jwst(tmp_path: Path, exposure: Path, mask: Path,
                        user_dq: Path | None = None, **kw) -> dict[str, np.ndarray]:
    """Run both; every DQ array equal in value, dtype and shape. Returns ours."""
    expected = jwst_dqinit(exposure, mask, user_dq)
    got = ours(exposure, mask, tmp_path / (exposure.stem + "_dqinit.fits"), user_dq=user_dq,
               **kw)
    assert sorted(got) == sorted(expected)
    for name, want in expected.items():
        assert got[name].shape == want.shape, name
        assert got[name].dtype == want.dtype, name
        np.testing.assert_array_equal(got[name], want, err_msg=name)
    return got


def sci_bytes_digest(path: Path, ext: str = "SCI") -> str:
    """sha256 of the raw on-disk bytes of one HDU's data (no decoding)."""
    with fits.open(path) as hdul:
        index = [h.name for h in hdul].index(ext)
        info = hdul.fileinfo(index)
        size = hdul[index]._data_size
    with open(path, "rb") as fh:
        fh.seek(info["datLoc"])
        return hashlib.sha256(fh.read(size)).hexdigest()


def messages(caplog, logger: str = "dqmask.dq_init", level: int = logging.DEBUG) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if (r.name == logger or r.name.startswith(logger + ".")) and r.levelno >= level]
