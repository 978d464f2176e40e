"""Small file builders shared by the tests of several job packages.

Each writes a minimal, valid file of one kind with astropy alone (not with the dqmask writer
under test), so a test of a reader does not lean on the writer it could share a defect with.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

__all__ = ["digest", "jwst_image", "bad_mask_file", "fresh_interpreter_json"]


def digest(path: Path) -> str:
    """SHA-256 of the file's bytes: equal digests before and after = the input is untouched."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def jwst_image(path: Path, sci: np.ndarray, dq: np.ndarray | None = None) -> Path:
    """A NIRCam NRCA1 image: SCI (float32) and, when given, DQ (uint32, ``dq`` convention)."""
    primary = fits.PrimaryHDU()
    primary.header.update(TELESCOP="JWST", INSTRUME="NIRCAM", DETECTOR="NRCA1",
                          EXP_TYPE="NRC_IMAGE")
    hdus: list[fits.PrimaryHDU | fits.ImageHDU] = [
        primary, fits.ImageHDU(sci.astype(np.float32), name="SCI")]
    if dq is not None:
        hdus.append(fits.ImageHDU(dq.astype(np.uint32), name="DQ"))
    fits.HDUList(hdus).writeto(path)
    return path


def bad_mask_file(path: Path, bad: np.ndarray) -> Path:
    """A dqmask mask file in the ``bad`` convention (uint8, 1 = bad; ``DQMCONV = 'bad'``)."""
    hdu = fits.PrimaryHDU(bad.astype(np.uint8))
    hdu.header["DQMCONV"] = "bad"
    hdu.writeto(path)
    return path


def fresh_interpreter_json(code: str, *, cwd: Path | None = None, timeout: float = 120
                           ) -> Any:
    """Run ``code`` in a new Python process (this checkout's ``src`` first on the path, in
    ``cwd``) and return the JSON its last stdout line holds: what start-up tests read back
    (exit code, ``sorted(sys.modules)``...) without this process's imports mixing in."""
    src = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
