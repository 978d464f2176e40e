"""Shared test fixtures.

``shared_data`` points at ``../shared/data`` (real JWST/HST files, never committed). Tests
that use it skip with a reason when the folder is absent, as in a user's fresh clone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of real JWST/HST files (../shared/data); skips the test when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real-data folder {SHARED_DATA} is absent (fresh clone without ../shared)")
    return SHARED_DATA


def shared_file(name: str) -> Path:
    """One file of ../shared/data, or skip with a reason."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"real-data file {path} is absent (fresh clone without ../shared)")
    return path


@pytest.fixture
def run_cli(capsys):
    """Run ``dqmask ARGS...`` in-process; returns (exit code, stdout, stderr)."""
    from dqmask.cli import main

    def _run(*args: str) -> tuple[int, str, str]:
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse usage errors / --help / --version
            code = exc.code if isinstance(exc.code, int) else 1
        out = capsys.readouterr()
        return code, out.out, out.err

    return _run
