"""The package layering (DEVELOPING.md) holds: import-linter contracts of pyproject.toml."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dqmask.dq_init.core import FGS_GUIDE_EXP_TYPES
from dqmask.io.fits import JWST_FGS_GUIDER_TYPES

REPO = Path(__file__).resolve().parents[3]


def test_io_knows_the_same_fgs_guider_exposure_types_as_dq_init():
    # io.fits keeps its own copy so that shared I/O imports no job package
    assert JWST_FGS_GUIDER_TYPES == {t.upper() for t in FGS_GUIDE_EXP_TYPES}


def test_import_contracts_are_kept():
    pytest.importorskip("importlinter")
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None or not (REPO / "pyproject.toml").is_file():
        pytest.skip("lint-imports or the source tree's pyproject.toml is absent")
    proc = subprocess.run([lint, str(REPO / "pyproject.toml"), "--no-cache"],
                          cwd=REPO, capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout
