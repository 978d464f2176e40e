"""Atomic writes survive crashes at any point (dqmask.io.atomic)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pytest
from astropy.io import fits

from dqmask.io import atomic
from dqmask.io.atomic import TMP_MARK, atomic_output, atomic_write
from dqmask.io.fits import FitsUpdate, write_hdulist

OLD = b"the original content\n" * 1000
NEW = bytes(range(256)) * 4096  # 1 MiB


class Crash(Exception):
    """Stands for a crash (power cut, kill) in the middle of a write."""


def _temps(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if TMP_MARK in p.name]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def target(tmp_path) -> Path:
    path = tmp_path / "data.fits"
    path.write_bytes(OLD)
    return path


def test_success_replaces_content(target):
    atomic_write(target, lambda fh: fh.write(NEW))
    assert target.read_bytes() == NEW
    assert _temps(target.parent) == []


def test_new_file_is_created_with_umask_permissions(tmp_path):
    path = tmp_path / "new.fits"
    old_umask = os.umask(0o022)
    try:
        atomic_write(path, lambda fh: fh.write(b"x"))
    finally:
        os.umask(old_umask)
    assert path.read_bytes() == b"x"
    assert (path.stat().st_mode & 0o777) == 0o644


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644, 0o755])
def test_permissions_of_existing_target_are_kept(target, mode):
    # (a target without any write bit is refused instead: dqmask/tests/test_readonly.py)
    target.chmod(mode)
    atomic_write(target, lambda fh: fh.write(NEW))
    assert (target.stat().st_mode & 0o777) == mode
    assert target.read_bytes() == NEW


def test_temp_file_lives_beside_target_until_the_end(target):
    with atomic_output(target) as fh:
        fh.write(NEW)
        temps = _temps(target.parent)
        assert len(temps) == 1 and temps[0].parent == target.parent
        assert temps[0].name.startswith("." + target.name + TMP_MARK)
        assert target.read_bytes() == OLD  # not replaced before the block ends
    assert target.read_bytes() == NEW and _temps(target.parent) == []


@pytest.mark.parametrize("exc", [Crash, KeyboardInterrupt, OSError])
def test_writer_crashing_half_way_leaves_original(target, exc):
    digest = _digest(target)

    def writer(fh: BinaryIO) -> None:
        fh.write(NEW[: len(NEW) // 2])
        fh.flush()
        raise exc("crash after half the bytes")

    with pytest.raises(exc):
        atomic_write(target, writer)
    assert _digest(target) == digest
    assert _temps(target.parent) == []


@pytest.mark.parametrize("where", ["fsync", "replace", "chmod"])
def test_crash_in_commit_steps_leaves_original(target, monkeypatch, where):
    digest = _digest(target)

    def boom(*args, **kwargs):
        raise Crash(where)

    monkeypatch.setattr(atomic.os, where, boom)
    with pytest.raises(Crash):
        atomic_write(target, lambda fh: fh.write(NEW))
    monkeypatch.undo()
    assert _digest(target) == digest
    assert _temps(target.parent) == []


def test_write_hdulist_crash_mid_write(target, monkeypatch):
    digest = _digest(target)
    hdul = fits.HDUList([fits.PrimaryHDU(np.zeros((64, 64), np.float32))])

    def half_then_crash(self, fileobj, **kwargs):
        fileobj.write(b"SIMPLE  =                    T" + b" " * 2850)
        raise Crash("disk full")

    monkeypatch.setattr(fits.HDUList, "writeto", half_then_crash)
    with pytest.raises(Crash):
        write_hdulist(hdul, target)
    assert _digest(target) == digest and _temps(target.parent) == []


def test_fits_update_crash_in_writer(tmp_path, monkeypatch):
    path = tmp_path / "x_rate.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((8, 8), np.float32), name="SCI"),
                  fits.ImageHDU(np.zeros((8, 8), np.uint32), name="DQ")]).writeto(path)
    digest = _digest(path)
    real_writeto = fits.HDUList.writeto

    def partial_writeto(self, fileobj, **kwargs):
        real_writeto(self, fileobj, **kwargs)
        fileobj.truncate(3000)  # half-written output
        raise Crash("killed")

    monkeypatch.setattr(fits.HDUList, "writeto", partial_writeto)
    with pytest.raises(Crash), FitsUpdate(path) as up:
        up.set_data("DQ", np.ones((8, 8), np.uint32))
    assert _digest(path) == digest and _temps(tmp_path) == []


_KILLED_WRITER = textwrap.dedent("""
    import sys, time
    from dqmask.io.atomic import atomic_output
    chunk = bytes(range(256)) * 4096
    with atomic_output(sys.argv[1]) as fh:
        for i in range(10_000):
            fh.write(chunk)
            if i == 4:
                fh.flush()
                print("writing", flush=True)
            time.sleep(0.01)
""")


@contextlib.contextmanager
def _writer_killed_mid_write(target: Path) -> Iterator[int]:
    """Start a writer of ``target``; once it says "writing", yield its pid (the temporary is
    on disk), then SIGKILL it and wait."""
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(target)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "writing"
        yield proc.pid
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_sigkill_mid_write_leaves_target_whole(target):
    digest = _digest(target)
    with _writer_killed_mid_write(target):
        temps = _temps(target.parent)
        assert len(temps) == 1 and temps[0].stat().st_size >= 5 * len(NEW)
    assert _digest(target) == digest  # the target is whole; a temp file may remain
    for leftover in _temps(target.parent):
        assert leftover.name.startswith("." + target.name + TMP_MARK)


def test_symlink_is_written_through_and_stays_a_link(tmp_path):
    from dqmask.io.atomic import atomic_write

    real = tmp_path / "data" / "real.fits"
    real.parent.mkdir()
    real.write_bytes(b"old")
    link = tmp_path / "link.fits"
    link.symlink_to(real)
    atomic_write(link, lambda fh: fh.write(b"new"))
    assert link.is_symlink()
    assert real.read_bytes() == b"new"
    assert sorted(p.name for p in real.parent.iterdir()) == ["real.fits"]


# --------------------------------------------------------------------------------------------
# Temporaries left by a killed writer (issue 12, item 2)
# --------------------------------------------------------------------------------------------


def _killed_writer_leftover(target: Path) -> tuple[Path, int]:
    """Run a writer, SIGKILL it mid-write; return its temporary file and its pid."""
    with _writer_killed_mid_write(target) as pid:
        pass
    (temp,) = _temps(target.parent)
    return temp, pid


def test_temporary_names_its_host_and_process_and_escapes_fits_globs(target):
    temp, pid = _killed_writer_leftover(target)
    assert temp.name.startswith(f".{target.name}{TMP_MARK}{atomic.HOST}-{pid}-")
    assert not temp.name.endswith((".fits", ".gz"))
    assert [p.name for p in target.parent.glob("*.fits")] == [target.name]


def test_next_write_of_the_target_removes_a_killed_writers_leftovers(target):
    temp, _ = _killed_writer_leftover(target)
    assert temp.stat().st_size >= 5 * len(NEW)
    other = target.parent / "other.fits"
    atomic_write(other, lambda fh: fh.write(b"x"))  # another target: not its business
    assert temp.exists()
    atomic_write(target, lambda fh: fh.write(NEW))
    assert target.read_bytes() == NEW
    # neither the temporary nor the killed writer's lock file is left
    assert sorted(p.name for p in target.parent.iterdir()) == ["data.fits", "other.fits"]


def test_a_live_writers_temporary_and_other_hosts_ones_are_kept(target):
    live = target.parent / f".{target.name}{TMP_MARK}{atomic.HOST}-{os.getppid()}-abcd1234"
    remote = target.parent / f".{target.name}{TMP_MARK}other-host.example-1-abcd1234"
    foreign = target.parent / f".{target.name}{TMP_MARK}not-ours"
    for p in (live, remote, foreign):
        p.write_bytes(b"partial")
    assert atomic.remove_stale_temporaries(target) == []
    assert live.exists() and remote.exists() and foreign.exists()


def test_a_dead_writers_temporary_is_removed_and_reported(target):
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = int(proc.stdout)
    stale = target.parent / f".{target.name}{TMP_MARK}{atomic.HOST}-{dead}-abcd1234"
    stale.write_bytes(b"partial")
    assert atomic.remove_stale_temporaries(target) == [str(stale)]
    assert not stale.exists() and target.read_bytes() == OLD
