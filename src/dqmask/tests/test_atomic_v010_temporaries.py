"""Temporaries left by dqmask 0.1.0 (``.<name>.dqmask-tmp-<8 random>``: mkstemp's name, no
host or pid in it) are removed by the next write of their target once provably abandoned:
not written for an hour and open in no process. Anything else is kept."""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from pathlib import Path

import pytest

from dqmask.io import atomic
from dqmask.io.atomic import TMP_MARK, atomic_write

OLD = b"the original content\n"
HOURS_AGO = time.time() - 2 * 3600  # twice atomic.V010_STALE_AGE

pytestmark = pytest.mark.skipif(not hasattr(fcntl, "F_SETLEASE"),
                                reason="no file leases here: 0.1.0 temporaries are kept")


@pytest.fixture
def target(tmp_path) -> Path:
    path = tmp_path / "jw01_rate.fits"
    path.write_bytes(OLD)
    return path


def _v010_leftover(target: Path, *, mtime: float | None = HOURS_AGO) -> Path:
    """A temporary exactly as dqmask 0.1.0's atomic_output made it, its writer killed."""
    fd, name = tempfile.mkstemp(prefix="." + target.name + TMP_MARK, dir=target.parent)
    os.write(fd, b"partial")
    os.close(fd)
    if mtime is not None:
        os.utime(name, (mtime, mtime))
    return Path(name)


def test_an_abandoned_v010_temporary_is_removed_by_the_next_write(target):
    """Before: the cleaner wanted ``<host>-<pid>-<random>`` after the marker and kept this
    file for ever."""
    _v010_leftover(target)
    atomic_write(target, lambda fh: fh.write(b"new"))
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]


def test_removal_is_reported(target):
    leftover = _v010_leftover(target)
    assert atomic.remove_stale_temporaries(target) == [str(leftover)]


def test_a_recently_written_v010_temporary_is_kept(target):
    """A 0.1.0 writer may still be running (it takes no lock): within the hour, kept."""
    leftover = _v010_leftover(target, mtime=None)
    assert atomic.remove_stale_temporaries(target) == []
    assert leftover.exists()


def test_a_v010_temporary_some_process_has_open_is_kept(target):
    """Old but still open (a 0.1.0 writer stopped mid-write, e.g. suspended): kept."""
    leftover = _v010_leftover(target)
    with open(leftover, "rb"):
        assert atomic.remove_stale_temporaries(target) == []
    assert leftover.exists()


@pytest.mark.parametrize("suffix", ["abc1234", "abc123456", "ABCD1234", "abcd.234", "abcd-234"])
def test_names_not_exactly_mkstemps_are_kept(target, suffix):
    """Only the marker followed by exactly 8 of mkstemp's characters [a-z0-9_]."""
    other = target.parent / f".{target.name}{TMP_MARK}{suffix}"
    other.write_bytes(b"partial")
    os.utime(other, (HOURS_AGO, HOURS_AGO))
    assert atomic.remove_stale_temporaries(target) == []
    assert other.exists()


def test_another_targets_and_non_files_are_kept(target, tmp_path):
    sibling = tmp_path / "jw02_rate.fits"
    theirs = _v010_leftover(sibling)
    folder = tmp_path / f".{target.name}{TMP_MARK}abcd_123"
    folder.mkdir()
    link = tmp_path / f".{target.name}{TMP_MARK}link0123"
    link.symlink_to(theirs)
    for p in (folder, link):
        os.utime(p, (HOURS_AGO, HOURS_AGO), follow_symlinks=False)
    assert atomic.remove_stale_temporaries(target) == []
    assert theirs.exists() and folder.is_dir() and link.is_symlink()
