"""Atomic, serialised file replacement: a crash at any point leaves the old file whole.

Every file dqmask writes goes through :func:`atomic_output`:

* **Lock.** The writer takes :func:`target_lock` on the target: an advisory ``flock`` on a
  hidden sidecar ``.<name>.dqmask-lock`` beside the target, held for the whole
  read-modify-write (steps that read the target before rewriting it take the lock first;
  it is re-entrant), so two dqmask processes writing one file run one after the other and
  neither update is lost. A writer waits at most ``DQMASK_LOCK_TIMEOUT`` seconds
  (default 60) and then fails with one line naming the process that holds the lock. The
  sidecar is removed when the lock is released; a waiter checks after locking that the
  sidecar it locked is still the one the name holds (else it was removed by the previous
  holder: it retries), so a lock is never taken on a stale file.
* **Temporary file.** The new content goes to ``.<name>.dqmask-tmp-<host>-<pid>-<random>``
  in the target's directory: hidden and not ending in ``.fits``, so globs such as
  ``*_rate.fits`` never pick it up, and naming the process that writes it. It is flushed and
  fsynced (and dropped from the page cache: :func:`drop_cached`), then renamed over the
  target (``os.replace`` is atomic on POSIX), and the directory entry is fsynced. It is
  removed on any error; one left by a writer that was killed (SIGKILL, power cut) is
  removed by the next write of the same target once its process is gone (:func:`remove_stale_temporaries`), as is one left by dqmask 0.1.0
  (``.<name>.dqmask-tmp-<8 random>``, no owner in its name) once provably abandoned.
* **Operating-system failures** (no space left, quota, read-only file system, permission,
  too many open files...) while writing become one :class:`WriteError` line,
  ``FILE: no space left on device while writing OUT``, with the target untouched and no
  partial file left.
* **Links.** A symbolic link is written through: the file it points to is replaced and the
  link stays a link (the lock is that file's lock too, whatever name reaches it).

A rename replaces a file whatever its mode, so a file the user protected would be rewritten
silently. Every write therefore first calls :func:`refuse_read_only`: an existing target with
no write bit for anyone (``chmod a-w``; refused even for root, to whom every file is
writable) or that this user may not write is never replaced; the command says so in one line
(:class:`~dqmask.errors.InputError`) and nothing is written.

An output that is one of the command's inputs under another name (a link, ``.``,
``sub/../sub``) is refused by :func:`refuse_output_is_input` unless the command was asked to
work in place.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import os
import re
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import InputError, WriteError

__all__ = ["atomic_write", "atomic_output", "is_read_only", "refuse_read_only", "READ_ONLY",
           "TMP_MARK", "LOCK_MARK", "LOCK_ENV", "DEFAULT_LOCK_TIMEOUT", "target_lock",
           "remove_stale_temporaries", "WriteError", "os_problem", "same_file",
           "refuse_output_is_input"]

#: The one-line problem every command reports for a protected file it would replace.
READ_ONLY = "file is read-only; not rewritten (make it writable, or write the result elsewhere)"

#: Marker in temporary file names (``.<name>.dqmask-tmp-<host>-<pid>-<random>``).
TMP_MARK = ".dqmask-tmp-"

#: Suffix of the lock sidecar (``.<name>.dqmask-lock``), present only while a write runs.
LOCK_MARK = ".dqmask-lock"

#: Environment variable: seconds a writer waits for another writer of the same file.
LOCK_ENV = "DQMASK_LOCK_TIMEOUT"

#: Default of :data:`LOCK_ENV`.
DEFAULT_LOCK_TIMEOUT = 60.0

def _host_name() -> str:
    """This machine's name (``socket.gethostname()``; ``os.uname`` gives it without
    importing socket, a few ms of every command's start-up)."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()


#: This machine's name as written in temporary file names (safe for a file name).
HOST = re.sub(r"[^A-Za-z0-9._-]", "_", _host_name() or "localhost")[:64]

_NAME_MAX = 255
_WRITE_BUFFER = 1 << 20


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


# WriteError lives in dqmask.errors with every other exception (imported above).


_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EMFILE: "too many open files",
    errno.ENFILE: "too many open files in the system",
    errno.EFBIG: "file too large",
    errno.EIO: "input/output error",
    errno.ENOENT: "no such directory",
    errno.ENOTDIR: "not a directory",
    errno.ENAMETOOLONG: "file name too long",
}


def os_problem(exc: OSError) -> str:
    """One lower-case phrase for an operating-system error (``no space left on device``)."""
    if exc.errno in _REASONS:
        return _REASONS[exc.errno]
    text = exc.strerror or str(exc) or type(exc).__name__
    text = " ".join(text.split())
    return text[:1].lower() + text[1:]


def _write_error(exc: OSError, out: str) -> WriteError:
    return WriteError(out, os_problem(exc), exc.errno)


# --------------------------------------------------------------------------------------------
# Same file
# --------------------------------------------------------------------------------------------


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True if ``a`` and ``b`` name one file: same inode (links, ``.``, ``sub/../sub``,
    hard links), or the same resolved path when either does not exist."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return os.path.realpath(a) == os.path.realpath(b)


def refuse_output_is_input(output: str | os.PathLike, inputs: Iterable[str | os.PathLike],
                           hint: str = "choose another output name") -> None:
    """Refuse an output that is one of the inputs under any name (:func:`same_file`:
    a link to it, its folder spelled ``.`` or ``$PWD`` or ``sub/../sub``, a hard link).

    For commands not asked to work in place; an explicit in-place command writes through a
    link to the file it points to (:func:`atomic_output`).

    Raises
    ------
    InputError
        Naming the input: ``IN: output would overwrite an input: OUT is this file; <hint>``.
    """
    output = os.fspath(output)
    for src in inputs:
        src = os.fspath(src)
        if same_file(output, src):
            how = ("" if os.path.abspath(output) == os.path.abspath(src)
                   else " under another name")
            raise InputError(src, f"output would overwrite an input: {output} is this "
                                  f"file{how}; {hint}")


# --------------------------------------------------------------------------------------------
# Lock
# --------------------------------------------------------------------------------------------


@dataclass
class _Held:
    fd: int
    sidecar: str


_local = threading.local()


def _held() -> dict[str, _Held]:
    """This thread's held locks, by resolved target path."""
    held = getattr(_local, "held", None)
    if held is None:
        held = _local.held = {}
    return held


def _forget_inherited_locks() -> None:  # a forked child does not own its parent's locks
    held = getattr(_local, "held", None)
    if held:
        for h in held.values():
            with contextlib.suppress(OSError):
                os.close(h.fd)
        held.clear()


os.register_at_fork(after_in_child=_forget_inherited_locks)


def lock_timeout() -> float:
    """Seconds to wait for another writer (``DQMASK_LOCK_TIMEOUT``, default 60).

    Raises
    ------
    InputError
        The variable is not a number of seconds >= 0.
    """
    text = os.environ.get(LOCK_ENV, "").strip()
    if not text:
        return DEFAULT_LOCK_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise InputError(None, f"{LOCK_ENV}={text!r}: not a number of seconds")
    return value


def _sidecar(real: str) -> str:
    directory, name = os.path.split(real)
    return os.path.join(directory, "." + _fit_name(name, len(LOCK_MARK) + 1) + LOCK_MARK)


def _fit_name(name: str, extra: int) -> str:
    """``name`` shortened (its start kept) so that ``extra`` more characters still make a
    valid file name."""
    room = _NAME_MAX - extra
    return name if len(name.encode()) <= room else name.encode()[:room].decode(errors="ignore")


@contextlib.contextmanager
def target_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold the write lock of ``path`` (the file a link points to) for the ``with`` block.

    Re-entrant in one thread. Other processes (and threads) writing the same file wait for
    it, at most :func:`lock_timeout` seconds.

    Raises
    ------
    InputError
        The lock was not free within the timeout (naming the holder), or a bad
        ``DQMASK_LOCK_TIMEOUT``.
    WriteError
        The lock file cannot be created (read-only file system, permission...).
    """
    real = os.path.realpath(os.fspath(path))
    held = _held()
    if real in held:  # this thread holds it already (a step around its own writes)
        yield
        return
    held[real] = _acquire(real, os.fspath(path))
    try:
        yield
    finally:
        _release(held.pop(real))


def _acquire(real: str, shown: str) -> _Held:
    timeout = lock_timeout()
    deadline = time.monotonic() + timeout
    sidecar = _sidecar(real)
    delay = 0.005
    while True:
        try:
            fd = os.open(sidecar, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise _write_error(exc, shown) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _owner(fd)
            os.close(fd)
            if time.monotonic() >= deadline:
                raise InputError(shown, f"another process is writing this file ({owner}); "
                                        f"gave up after {timeout:g} s (set {LOCK_ENV} to "
                                        "wait longer)") from None
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 0.1)
            continue
        except OSError as exc:
            os.close(fd)
            raise _write_error(exc, shown) from None
        if _still_named(fd, sidecar):
            _claim(fd)
            return _Held(fd, sidecar)
        os.close(fd)  # the previous holder removed it after we opened it: lock the new one


def _still_named(fd: int, sidecar: str) -> bool:
    try:
        now, mine = os.stat(sidecar), os.fstat(fd)
    except OSError:
        return False
    return (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino)


def _claim(fd: int) -> None:
    """Write who holds the lock into the sidecar (for the waiters' message)."""
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {HOST}\n".encode(), 0)


def _owner(fd: int) -> str:
    try:
        words = os.pread(fd, 200, 0).decode(errors="replace").split()
    except OSError:
        words = []
    if len(words) >= 2 and words[0].isdigit():
        return f"pid {words[0]} on {words[1]}"
    return "another dqmask run"


def _release(h: _Held) -> None:
    # remove the sidecar while still holding it: a waiter that then locks the removed file
    # sees it is no longer the one the name holds and retries
    with contextlib.suppress(OSError):
        if _still_named(h.fd, h.sidecar):
            os.unlink(h.sidecar)
    with contextlib.suppress(OSError):
        fcntl.flock(h.fd, fcntl.LOCK_UN)
    os.close(h.fd)


# --------------------------------------------------------------------------------------------
# Temporary files
# --------------------------------------------------------------------------------------------


def _temp_prefix(real: str) -> str:
    """``.<name>.dqmask-tmp-`` for target ``real`` (its name shortened if need be)."""
    name = os.path.basename(real)
    own = len(HOST) + 1 + 10 + 1 + 8  # <host>-<pid>-<random>, whatever the pid's width
    return "." + _fit_name(name, 1 + len(TMP_MARK) + own) + TMP_MARK


def _temp_owner(name: str, prefix: str) -> tuple[str, int] | None:
    """``(host, pid)`` of a temporary file name of this target, else None."""
    if not name.startswith(prefix):
        return None
    parts = name[len(prefix):].rsplit("-", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: it exists
        return True
    return True


#: Seconds without a write after which a dqmask 0.1.0 temporary may be abandoned (its
#: writer wrote it in one go, then renamed it at once; see :func:`_abandoned_v010`).
V010_STALE_AGE = 3600.0


def _v010_name(real: str) -> re.Pattern[str]:
    """Names dqmask 0.1.0 gave the temporaries of target ``real``:
    ``tempfile.mkstemp(prefix="." + basename + TMP_MARK)``, so the whole base name, the
    marker and exactly 8 of mkstemp's characters (no ``-``: never a current name)."""
    return re.compile(re.escape("." + os.path.basename(real) + TMP_MARK) + r"[a-z0-9_]{8}")


def _abandoned_v010(path: str) -> bool:
    """True when a dqmask 0.1.0 temporary is provably abandoned.

    Its name holds no host or pid, so instead: a regular file of this user, not written
    for :data:`V010_STALE_AGE` seconds, that no process has open (Linux: a write lease is
    granted only on a file nobody else has open). Where that cannot be told (another
    user's file, no lease support, e.g. NFS or not Linux) the file is kept.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:  # a symbolic link, gone, or unreadable
        return False
    try:
        st = os.fstat(fd)
        if (not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid()
                or time.time() - st.st_mtime < V010_STALE_AGE
                or not hasattr(fcntl, "F_SETLEASE")):
            return False
        try:
            fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)  # EAGAIN: someone has it open
        except OSError:
            return False
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
        return True
    finally:
        os.close(fd)


def _stale(directory: str, name: str, prefix: str, v010: re.Pattern[str]) -> bool:
    """True when ``name`` is a temporary of this target whose writer has gone."""
    owner = _temp_owner(name, prefix)
    if owner is not None:
        return owner[0] == HOST and not _alive(owner[1])
    return v010.fullmatch(name) is not None and _abandoned_v010(os.path.join(directory, name))


def remove_stale_temporaries(path: str | os.PathLike) -> list[str]:
    """Remove temporary files of target ``path`` whose writer has gone; return their paths.

    Only files named as :func:`atomic_output` names them for this target, written on this
    host by a process that no longer exists (a writer on another host cannot be checked and
    its file is left); and files named as dqmask 0.1.0 named them (``.<name>.dqmask-tmp-``
    and 8 random characters) that are provably abandoned (:func:`_abandoned_v010`).
    Called by :func:`atomic_output` under the target's lock.
    """
    real = os.path.realpath(os.fspath(path))
    directory = os.path.dirname(real)
    prefix = _temp_prefix(real)
    v010 = _v010_name(real)
    old_prefix = "." + os.path.basename(real) + TMP_MARK
    removed: list[str] = []
    try:
        entries = [e.name for e in os.scandir(directory)
                   if e.name.startswith(prefix) or e.name.startswith(old_prefix)]
    except OSError:
        return removed
    for name in entries:
        if not _stale(directory, name, prefix, v010):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(directory, name))
            removed.append(os.path.join(directory, name))
    return removed


class _TempFile(io.RawIOBase):
    """The temporary output: plain ``os.write`` calls, remembering the first OS error.

    Deliberately not an ``io.FileIO``: astropy writes arrays to a real file with
    ``ndarray.tofile``, whose failures carry no ``errno`` (``65536 requested and 29392
    written``); through this class every byte goes through :func:`os.write`, so a full
    disk is known as ENOSPC whatever library wrote.
    """

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd
        self.error: OSError | None = None
        self.name = fd  # as os.fdopen's file: gzip and PIL embed no temporary name

    def _guard(self, call, *args):
        try:
            return call(*args)
        except OSError as exc:
            if self.error is None:
                self.error = exc
            raise

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            done += self._guard(os.write, self._fd, view[done:])
        return done

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._guard(os.lseek, self._fd, offset, whence)

    def tell(self) -> int:
        return self.seek(0, os.SEEK_CUR)

    def truncate(self, size: int | None = None) -> int:
        size = self.tell() if size is None else size
        self._guard(os.ftruncate, self._fd, size)
        return size

    def sync(self) -> None:
        """fsync the bytes, then let them leave the page cache (:func:`drop_cached`)."""
        self._guard(os.fsync, self._fd)
        drop_cached(self._fd)

    def close(self) -> None:
        if not self.closed:
            try:
                os.close(self._fd)
            finally:
                super().close()


def drop_cached(fd: int) -> None:
    """Tell the kernel the (already fsynced) bytes of ``fd`` will not be read again soon.

    ``posix_fadvise(POSIX_FADV_DONTNEED)`` on clean pages frees them at once: a batch that
    writes gigabytes does not fill the page cache with outputs nobody reads in this process
    (evicting the user's working set), and each new output reuses the pages the previous one
    left instead of making the kernel find fresh memory, which can get slower as the cache
    fills (``benchmarks/bench_scale.py`` measures the per-file cost of a 200-file batch). A
    later read of the output comes from the disk. No-op where the call does not exist; a
    refusal is ignored (it is advice).
    """
    advise = getattr(os, "posix_fadvise", None)
    if advise is not None:
        with contextlib.suppress(OSError):
            advise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


# --------------------------------------------------------------------------------------------
# Atomic output
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Context manager yielding a binary file that replaces ``path`` on success.

    If the block raises, ``path`` is untouched and the temporary file deleted.
    A pre-existing target keeps its permission bits. A symbolic link is written through:
    the file it points to is replaced and the link stays a link. The target's lock
    (:func:`target_lock`) is held throughout, and stale temporary files of the target are
    removed first (:func:`remove_stale_temporaries`).

    Raises
    ------
    InputError
        ``path`` exists and is read-only (:func:`refuse_read_only`), or another process
        holds its lock past the timeout; nothing is written.
    WriteError
        The system refused the write (no space, quota, read-only file system, permission,
        too many open files...); the target is untouched, no partial file is left.
    """
    refuse_read_only(path)
    shown = os.fspath(path)
    real = os.path.realpath(shown)
    directory = os.path.dirname(real)
    with target_lock(real):
        remove_stale_temporaries(real)
        try:
            fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(real) + f"{HOST}-{os.getpid()}-",
                                       dir=directory)
        except OSError as exc:
            raise _write_error(exc, shown) from None
        raw = _TempFile(fd)
        fh = io.BufferedWriter(raw, _WRITE_BUFFER)
        try:
            try:
                yield fh
            except BaseException as exc:
                _discard(fh, tmp)
                if raw.error is not None:  # the system refused bytes of the output
                    raise _write_error(raw.error, shown) from exc
                raise
            try:
                _commit(fh, tmp, real)
            except BaseException as exc:
                _discard(fh, tmp)
                failure = raw.error or (exc if isinstance(exc, OSError) and exc.errno
                                        else None)
                if failure is not None:
                    raise _write_error(failure, shown) from exc
                raise
        finally:
            raw.error = None  # no reference cycle through the traceback
    _fsync_dir(directory)


def _commit(fh: io.BufferedWriter[_TempFile], tmp: str, real: str) -> None:
    """Flush and fsync the temporary file, give it the target's mode, rename it over."""
    fh.flush()
    fh.raw.sync()
    try:
        os.chmod(tmp, stat.S_IMODE(os.stat(real).st_mode))
    except FileNotFoundError:
        os.chmod(tmp, 0o666 & ~_umask())
    fh.close()
    os.replace(tmp, real)


def _discard(fh: io.BufferedWriter[_TempFile], tmp: str) -> None:
    """Close (without flushing what a full disk refused) and delete the temporary file."""
    with contextlib.suppress(OSError, ValueError):
        fh.raw.close()
    with contextlib.suppress(OSError, ValueError):
        fh.close()
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def atomic_write(path: str | os.PathLike, writer: Callable[[BinaryIO], object]) -> None:
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
