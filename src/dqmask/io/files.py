"""Input files: only regular files are read, and how much work one may cost is bounded.

* :func:`require_regular_file` refuses, before anything opens it, a path that is not a
  regular file (FIFO, character or block device, socket, directory, missing). Every reader
  (FITS, PNG, mask, region and list files) calls it, so a named pipe given as an input never
  blocks a command.
* :func:`open_regular` opens a file for reading *non-blocking* and checks what it opened
  (``fstat``), so a path swapped for a FIFO between the check and the open cannot hang
  either; the returned file object is an ordinary blocking binary file.
* Limits on what an input may make dqmask do, each with an environment variable:

  ``DQMASK_MAX_DECOMPRESSED`` (default ``2G``)
      Bytes a compressed input (``.gz``, ``.bz2``, ``.xz``, ``.zip``) may expand to. The
      FITS headers are read from the stream first and the file is refused as soon as the
      sizes they claim pass the limit, before any data is decompressed; a stream longer
      than its headers say is refused when it passes the limit too. Compressed data is
      decoded into memory, never memory-mapped, so this also bounds memory.
  ``DQMASK_MAX_PNG_PIXELS`` (default ``67108864``, 8192 x 8192)
      Pixels (width x height, from the PNG header) a painted picture may have.

  Sizes accept a ``K``, ``M``, ``G`` or ``T`` suffix (powers of 1024); ``0`` or ``none``
  lifts the limit.
"""

from __future__ import annotations

import fcntl
import os
import re
import stat
from typing import BinaryIO

from ..errors import InputError

__all__ = [
    "require_regular_file",
    "open_regular",
    "MAX_DECOMPRESSED_ENV",
    "MAX_PNG_PIXELS_ENV",
    "DEFAULT_MAX_DECOMPRESSED",
    "DEFAULT_MAX_PNG_PIXELS",
    "max_decompressed",
    "max_png_pixels",
    "human_bytes",
]

MAX_DECOMPRESSED_ENV = "DQMASK_MAX_DECOMPRESSED"
MAX_PNG_PIXELS_ENV = "DQMASK_MAX_PNG_PIXELS"
DEFAULT_MAX_DECOMPRESSED = 2 << 30
DEFAULT_MAX_PNG_PIXELS = 8192 * 8192

_KINDS = (
    (stat.S_ISFIFO, "is a FIFO (named pipe), not a regular {what}"),
    (stat.S_ISCHR, "is a character device, not a regular {what}"),
    (stat.S_ISBLK, "is a block device, not a regular {what}"),
    (stat.S_ISSOCK, "is a socket, not a regular {what}"),
    (stat.S_ISDIR, "is a directory, not a regular {what}"),
)


def _not_regular(mode: int, what: str = "file") -> str | None:
    """Why a file of this ``st_mode`` cannot be read as a ``what`` (None: it can)."""
    if stat.S_ISREG(mode):
        return None
    why = next((why for test, why in _KINDS if test(mode)), "is not a regular {what}")
    return why.format(what=what)


def require_regular_file(path: str | os.PathLike, what: str = "file") -> str:
    """Check that ``path`` is a regular file (links followed) without opening it.

    Parameters
    ----------
    path : path-like
        An input named by the user.
    what : str
        What the input is, for the message of a missing file (``"region file"``...).

    Returns
    -------
    str
        ``path`` as a string.

    Raises
    ------
    InputError
        ``no such <what>``, ``permission denied`` (a folder on the way cannot be searched),
        or ``is a FIFO (named pipe) / device / socket / directory``.
    """
    path = os.fspath(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputError(path, f"no such {what}") from None
    except PermissionError:
        raise InputError(path, "permission denied") from None
    except OSError as exc:  # ENAMETOOLONG, ELOOP, ENOTDIR...
        raise InputError(path, " ".join((exc.strerror or str(exc)).split())) from None
    why = _not_regular(mode, what)
    if why is not None:
        raise InputError(path, why)
    return path


def _opener(path: str, flags: int, what: str = "file") -> int:
    """``os.open`` for :func:`open_regular`: non-blocking, then checked, then blocking."""
    fd = os.open(path, flags | os.O_NONBLOCK)
    try:
        why = _not_regular(os.fstat(fd).st_mode, what)
        if why is not None:
            raise InputError(path, why)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


#: A file's identity as :func:`file_identity` gives it.
FileIdentity = tuple[int, int, int, int]


def file_identity(st: os.stat_result) -> FileIdentity:
    """(device, inode, size, modification time in ns): equal for the same, unchanged file,
    different once it is replaced, truncated or rewritten."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def open_regular(path: str | os.PathLike, what: str = "file") -> BinaryIO:
    """Open a regular file for binary reading, never blocking on what the path turns out to be.

    :func:`require_regular_file` first (the clear message), then a non-blocking open whose
    descriptor is checked with ``fstat`` (the file actually opened).

    Raises
    ------
    InputError
        As :func:`require_regular_file`; ``permission denied`` when it cannot be read.
    """
    path = require_regular_file(path, what)
    try:
        return open(path, "rb",  # noqa: SIM115 - the caller closes it
                    opener=lambda name, flags: _opener(name, flags, what))
    except InputError:
        raise
    except PermissionError:
        raise InputError(path, "permission denied") from None
    except FileNotFoundError:
        raise InputError(path, f"no such {what}") from None
    except OSError as exc:
        raise InputError(path, " ".join((exc.strerror or str(exc)).split())) from None


_SIZE_RE = re.compile(r"^\s*(\d+)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def _limit(env: str, default: int) -> int | None:
    """A size limit from the environment (None: no limit)."""
    text = os.environ.get(env)
    if text is None or not text.strip():
        return default
    if text.strip().lower() in ("0", "none", "off", "unlimited"):
        return None
    m = _SIZE_RE.match(text)
    if m is None:
        raise InputError(None, f"{env}={text!r} is not a size (e.g. 2G, 500M, 0 for no limit)")
    return int(m.group(1)) << (10 * " kmgt".index((m.group(2) or " ").lower()))


def max_decompressed() -> int | None:
    """Bytes a compressed input may expand to (``DQMASK_MAX_DECOMPRESSED``; None: no limit)."""
    return _limit(MAX_DECOMPRESSED_ENV, DEFAULT_MAX_DECOMPRESSED)


def max_png_pixels() -> int | None:
    """Pixels a PNG input may have (``DQMASK_MAX_PNG_PIXELS``; None: no limit)."""
    return _limit(MAX_PNG_PIXELS_ENV, DEFAULT_MAX_PNG_PIXELS)


def human_bytes(n: int) -> str:
    """``4294967296`` -> ``4.0 GiB`` (for messages)."""
    if n < 1024:
        return f"{n} bytes"
    value, unit = float(n) / 1024, "KiB"
    for bigger in ("MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit}"
