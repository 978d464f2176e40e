"""Atomic file replacement: a crash at any point leaves the old file whole.

The new content goes to a temporary file in the target's directory, which is flushed and
fsynced, then renamed over the target (``os.replace`` is atomic on POSIX), and finally the
directory entry is fsynced. The temporary file is removed on any error.

A rename replaces a file whatever its mode, so a file the user protected would be rewritten
silently. Every write therefore first calls :func:`refuse_read_only`: an existing target with
no write bit for anyone (``chmod a-w``; refused even for root, to whom every file is
writable) or that this user may not write is never replaced; the command says so in one line
(:class:`~dqmask.errors.InputError`) and nothing is written.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from typing import BinaryIO

from ..errors import InputError

__all__ = ["atomic_write", "atomic_output", "is_read_only", "refuse_read_only", "READ_ONLY",
           "TMP_MARK"]

#: The one-line problem every command reports for a protected file it would replace.
READ_ONLY = "file is read-only; not rewritten (make it writable, or write the result elsewhere)"

#: Marker in temporary file names (``.<name>.dqmask-tmp-XXXX``), for clean-up tools.
TMP_MARK = ".dqmask-tmp-"


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Context manager yielding a binary file that replaces ``path`` on success.

    If the block raises, ``path`` is untouched and the temporary file deleted.
    A pre-existing target keeps its permission bits. A symbolic link is written through:
    the file it points to is replaced and the link stays a link.

    Raises
    ------
    InputError
        ``path`` exists and is read-only (:func:`refuse_read_only`); nothing is written.
    """
    refuse_read_only(path)
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


def is_read_only(path: str | os.PathLike) -> bool:
    """True if ``path`` exists and the user protected it from writing.

    That is: no write bit for anyone in its mode (``chmod a-w``), which counts even when
    running as root (root may write anything, so ``os.access`` alone would never refuse), or
    no write access for this user. A symbolic link is judged by the file it points to. A
    missing file is not read-only.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)) or not os.access(
        path, os.W_OK)


def refuse_read_only(path: str | os.PathLike) -> None:
    """Raise ``InputError(path, READ_ONLY)`` if :func:`is_read_only` (else nothing).

    Called by :func:`atomic_output` and :class:`dqmask.io.fits.FitsUpdate` (so every command
    refuses the same way); a step may call it earlier, before a long computation or a backup.
    """
    if is_read_only(path):
        raise InputError(path, READ_ONLY)


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
