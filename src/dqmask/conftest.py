"""Shared test fixtures of every test package (``dqmask/**/tests``).

``shared_data`` points at ``../shared/data`` (real JWST/HST files, never committed). Tests
that use it skip with a reason when the folder is absent, as in a user's fresh clone.

Hypothesis profiles: ``ci`` (``derandomize=True``: the same examples on every run, no example
database) is loaded when the environment variable ``CI`` is set, or with
``--hypothesis-profile=ci`` (what ``make test`` passes); a plain local ``pytest`` uses ``dev``,
which draws new random examples each run and keeps failures in ``.hypothesis/``. The profile
in use is printed in the pytest header.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, deadline=None,
                          print_blob=True)
settings.register_profile("dev", deadline=None)
#: The profile of this run (``--hypothesis-profile`` overrides it, see pytest_configure).
HYPOTHESIS_PROFILE = "ci" if os.environ.get("CI") else "dev"
settings.load_profile(HYPOTHESIS_PROFILE)


def pytest_report_header(config: pytest.Config) -> str:
    chosen = config.getoption("hypothesis_profile", None) or HYPOTHESIS_PROFILE
    how = "derandomized: the same examples every run" if settings.get_profile(
        chosen).derandomize else "random examples: each run explores new ones"
    return f"dqmask hypothesis profile: {chosen} ({how})"

def _shared_data() -> Path:
    """``$DQMASK_SHARED_DATA``, else ``../shared/data`` beside the repository (found from this
    file in a source tree, or from the working folder when dqmask is installed)."""
    if os.environ.get("DQMASK_SHARED_DATA"):
        return Path(os.environ["DQMASK_SHARED_DATA"])
    for start in (Path(__file__).resolve().parent, Path.cwd().resolve()):
        for folder in (start, *start.parents):
            if (folder / "pyproject.toml").is_file():
                return folder.parent / "shared" / "data"
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


SHARED_DATA = _shared_data()


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
