"""Written outputs leave the page cache once fsynced (dqmask.io.atomic.drop_cached)."""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
import sys

import pytest

from dqmask.io import atomic
from dqmask.io.atomic import atomic_output

PAYLOAD = bytes(range(256)) * (16 * 1024)  # 4 MiB


def test_output_bytes_are_fsynced_then_dropped_before_the_rename(tmp_path, monkeypatch):
    calls: list[tuple[str, object]] = []
    out = tmp_path / "out.fits"
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        calls.append(("fsync", fd))
        return real_fsync(fd)

    def advise(fd, offset, length, advice):
        calls.append(("fadvise", (offset, length, advice)))

    def replace(src, dst):
        calls.append(("replace", os.path.basename(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    monkeypatch.setattr(atomic.os, "posix_fadvise", advise, raising=False)
    monkeypatch.setattr(atomic.os, "replace", replace)
    with atomic_output(out) as fh:
        fh.write(PAYLOAD)
    kinds = [kind for kind, _ in calls]
    # the file's fsync, its pages dropped, the rename, then the folder's fsync
    assert kinds == ["fsync", "fadvise", "replace", "fsync"]
    assert calls[1][1] == (0, 0, os.POSIX_FADV_DONTNEED)
    assert out.read_bytes() == PAYLOAD


def test_a_refused_advice_changes_nothing(tmp_path, monkeypatch):
    def refuse(*_):
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(atomic.os, "posix_fadvise", refuse, raising=False)
    out = tmp_path / "out.fits"
    with atomic_output(out) as fh:
        fh.write(PAYLOAD)
    assert out.read_bytes() == PAYLOAD


def _resident_pages(path) -> int:
    """How many pages of ``path`` are in the page cache, by mincore(2)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    size = os.path.getsize(path)
    n = -(-size // mmap.PAGESIZE)
    vec = (ctypes.c_ubyte * n)()
    with open(path, "rb") as fh:
        # a private map: its untouched pages are the file's page-cache pages
        mapped = mmap.mmap(fh.fileno(), size, access=mmap.ACCESS_COPY)
        try:
            first = ctypes.c_char.from_buffer(mapped)
            rc = libc.mincore(ctypes.c_void_p(ctypes.addressof(first)), ctypes.c_size_t(size),
                              vec)
            del first
            assert rc == 0, os.strerror(ctypes.get_errno())
        finally:
            mapped.close()
    return sum(b & 1 for b in vec)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mincore(2) page residency "
                    "as Linux reports it; elsewhere the advice may be ignored")
def test_written_output_is_not_left_in_the_page_cache(tmp_path):
    control = tmp_path / "plain.fits"  # written without the advice: its pages stay cached
    with open(control, "wb") as fh:
        fh.write(PAYLOAD)
        fh.flush()
        os.fsync(fh.fileno())
    out = tmp_path / "out.fits"
    with atomic_output(out) as fh:
        fh.write(PAYLOAD)
    pages = len(PAYLOAD) // mmap.PAGESIZE
    assert _resident_pages(control) == pages  # the measurement sees cached pages
    assert _resident_pages(out) == 0
    assert out.read_bytes() == PAYLOAD
