"""Atomic file replacement: a crash at any point leaves the old file whole.

The new content goes to a temporary file in the target's directory, which is flushed and
fsynced, then renamed over the target (``os.replace`` is atomic on POSIX), and finally the
directory entry is fsynced. The temporary file is removed on any error.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from typing import BinaryIO

__all__ = ["atomic_write", "atomic_output", "TMP_MARK"]

#: Marker in temporary file names (``.<name>.dqmask-tmp-XXXX``), for clean-up tools.
TMP_MARK = ".dqmask-tmp-"


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Context manager yielding a binary file that replaces ``path`` on success.

    If the block raises, ``path`` is untouched and the temporary file deleted.
    A pre-existing target keeps its permission bits. A symbolic link is written through:
    the file it points to is replaced and the link stays a link.
    """
    path = os.path.realpath(os.fspath(path))
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + TMP_MARK, dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        except FileNotFoundError:
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def atomic_write(path: str | os.PathLike, writer: Callable[[BinaryIO], None]) -> None:
    """Call ``writer(fileobj)`` and atomically replace ``path`` with what it wrote."""
    with atomic_output(path) as fh:
        writer(fh)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
