"""Same-target writes are serialised (issue 12, item 1).

Two ``dqmask apply --in-place`` on one file used to lose one mask in about a third of the
rounds (both read the old file, the last rename won, both exited 0). A write now holds an
advisory lock on its target for the whole read-modify-write (:func:`dqmask.io.atomic.target_lock`),
so both land in some order, or the second one waits at most ``DQMASK_LOCK_TIMEOUT`` seconds
and fails with one line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import IO

import numpy as np
import pytest
from astropy.io import fits

from dqmask.errors import InputError
from dqmask.io import atomic
from dqmask.io.atomic import LOCK_ENV, LOCK_MARK, TMP_MARK, atomic_write, target_lock
from dqmask.io.fits import step_records

ROUNDS = 20
SHAPE = (256, 256)

# A worker imports dqmask once, then applies its mask in place each time the test says "go"
# (both workers are told at the same moment), and answers with the exit code.
_WORKER = textwrap.dedent("""
    import sys
    from dqmask.cli import main
    mask = sys.argv[1]
    for line in sys.stdin:
        target = line.strip()
        code = main(["-q", "apply", target, "--mask", mask, "--in-place"])
        print(code, flush=True)
""")


def _mask(path: Path, rows: slice) -> Path:
    bad = np.zeros(SHAPE, np.uint8)
    bad[rows, 10:40] = 1
    hdu = fits.PrimaryHDU(bad)
    hdu.header["DQMCONV"] = "bad"
    hdu.writeto(path)
    return path


@pytest.fixture(scope="module")
def rate(tmp_path_factory) -> Path:
    from dqmask.datasets import make_nircam_rate

    return make_nircam_rate(tmp_path_factory.mktemp("lock") / "orig_rate.fits", shape=SHAPE)


def _pipe(stream: IO[str] | None) -> IO[str]:
    """A stream the test opened with ``subprocess.PIPE`` (so Popen made it, never None)."""
    assert stream is not None
    return stream


def _env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(Path(atomic.__file__).resolve().parents[2])
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_two_concurrent_in_place_applies_both_land_every_time(tmp_path, rate):
    masks = [_mask(tmp_path / "a.fits", slice(10, 20)), _mask(tmp_path / "b.fits",
                                                                slice(50, 60))]
    workers = [subprocess.Popen([sys.executable, "-c", _WORKER, str(m)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=_env()) for m in masks]
    lost: list[int] = []
    try:
        for n in range(ROUNDS):
            target = tmp_path / f"r{n:02d}_rate.fits"
            shutil.copyfile(rate, target)
            for w in workers:  # both start together
                _pipe(w.stdin).write(f"{target}\n")
            for w in workers:
                _pipe(w.stdin).flush()
            codes = [_pipe(w.stdout).readline().strip() for w in workers]
            assert codes == ["0", "0"], [_pipe(w.stderr).read() for w in workers if w.poll()]
            records = step_records(fits.getheader(target), "apply")
            dq = fits.getdata(target, "DQ")
            if len(records) != 2 or not (dq[15, 20] and dq[55, 20]):
                lost.append(n)
    finally:
        for w in workers:
            _pipe(w.stdin).close()
            w.wait(timeout=60)
            _pipe(w.stdout).close()
            _pipe(w.stderr).close()
    assert lost == []
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []  # neither temporaries nor lock files stay behind


_HOLDER = textwrap.dedent("""
    import sys, time
    from dqmask.io.atomic import target_lock
    with target_lock(sys.argv[1]):
        print("locked", flush=True)
        sys.stdin.readline()
""")


def _hold_lock(path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=_env())
    assert _pipe(proc.stdout).readline().strip() == "locked"
    return proc


def _release(proc: subprocess.Popen[str]) -> None:
    _pipe(proc.stdin).close()
    proc.wait(timeout=30)
    _pipe(proc.stdout).close()


def test_a_writer_waits_for_the_lock_then_fails_with_one_line(tmp_path, rate, run_cli,
                                                                monkeypatch):
    target = tmp_path / "x_rate.fits"
    shutil.copyfile(rate, target)
    before = target.read_bytes()
    mask = _mask(tmp_path / "m.fits", slice(10, 20))
    holder = _hold_lock(target)
    try:
        monkeypatch.setenv(LOCK_ENV, "0.5")
        start = time.monotonic()
        code, _, err = run_cli("-q", "apply", target, "--mask", mask, "--in-place")
        waited = time.monotonic() - start
    finally:
        _release(holder)
    assert code == 1
    assert err.splitlines() == [
        f"dqmask: {target}: another process is writing this file (pid {holder.pid} on "
        f"{atomic.HOST}); gave up after 0.5 s (set {LOCK_ENV} to wait longer)"]
    assert waited >= 0.5
    assert target.read_bytes() == before
    code, _, err = run_cli("-q", "apply", target, "--mask", mask, "--in-place")
    assert code == 0, err  # once the other writer is done, the same command works


def test_a_waiting_writer_proceeds_when_the_holder_finishes(tmp_path):
    target = tmp_path / "t.fits"
    target.write_bytes(b"old")
    holder = _hold_lock(target)
    threading.Timer(0.3, _release, [holder]).start()
    start = time.monotonic()
    atomic_write(target, lambda fh: fh.write(b"new"))
    assert time.monotonic() - start >= 0.25
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.fits"]


def test_lock_is_reentrant_and_shared_by_every_name_of_the_target(tmp_path, monkeypatch):
    target = tmp_path / "t.fits"
    target.write_bytes(b"old")
    link = tmp_path / "link.fits"
    link.symlink_to(target)
    monkeypatch.setenv(LOCK_ENV, "0.2")
    with target_lock(target), target_lock(tmp_path / "sub" / ".." / "t.fits"):
        atomic_write(link, lambda fh: fh.write(b"new"))  # the same lock: no wait
        names = sorted(p.name for p in tmp_path.iterdir())
        assert names == [f".t.fits{LOCK_MARK}", "link.fits", "t.fits"]
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.fits", "t.fits"]


def test_lock_file_renamed_away_is_not_trusted(tmp_path, monkeypatch):
    """A lock taken on a lock file that another writer has since removed is stale: the
    writer must lock the file the name now holds (else two writers run at once)."""
    target = tmp_path / "t.fits"
    target.write_bytes(b"old")
    sidecar = tmp_path / f".t.fits{LOCK_MARK}"
    real_flock = atomic.fcntl.flock
    calls: list[int] = []

    def flock_then_replace(fd, op):
        real_flock(fd, op)
        if not calls and op & atomic.fcntl.LOCK_EX:
            calls.append(fd)  # between our open and our check, the file is replaced
            os.unlink(sidecar)
            sidecar.write_bytes(b"")

    monkeypatch.setattr(atomic.fcntl, "flock", flock_then_replace)
    with target_lock(target):
        held = atomic._held()[os.path.realpath(target)]
        assert os.fstat(held.fd).st_ino == os.stat(sidecar).st_ino
    assert len(calls) == 1


def test_bad_lock_timeout_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv(LOCK_ENV, "soon")
    with pytest.raises(InputError, match=f"{LOCK_ENV}='soon'"), target_lock(tmp_path / "t"):
        pass


def test_temporary_and_lock_names_escape_fits_globs(tmp_path):
    target = tmp_path / "jw_nrca1_rate.fits"
    target.write_bytes(b"old")
    with target_lock(target), atomic.atomic_output(target) as fh:
        fh.write(b"new")
        hidden = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
        assert len(hidden) == 2
        assert sorted(p.name for p in tmp_path.glob("*_rate.fits")) == ["jw_nrca1_rate.fits"]
        assert sorted(p.name for p in tmp_path.glob("*.fits")) == ["jw_nrca1_rate.fits"]
        assert all(not n.endswith((".fits", ".fits.gz")) for n in hidden)
        assert any(TMP_MARK in n for n in hidden) and any(LOCK_MARK in n for n in hidden)
