"""Timing and peak-memory helpers shared by the benchmarks.

* :func:`best_time` - best wall time of N calls (``time.perf_counter``).
* :func:`peak_rss` - peak resident memory of one call, measured in a forked child process
  (``ru_maxrss`` of the child minus its size before the call), so C allocations, memory
  maps that are touched and Python objects all count.
* :func:`report` - print a table of name / time / peak memory and the ratios, and save it.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def best_time(fn: Callable[[], object], repeat: int = 3) -> float:
    """Best wall-clock seconds of ``repeat`` calls of ``fn()``."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)  # pragma: no cover


def _reset_peak() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:  # pragma: no cover - other kernels
        return False


def _child(fn: Callable[[], object], conn) -> None:
    # A forked child inherits the parent's high-water mark; reset it so the peak measured
    # is this call's own, then report the rise above the size at the start of the call.
    try:
        _reset_peak()
        before = _status_kib("VmRSS") * 1024
        t0 = time.perf_counter()
        fn()
        seconds = time.perf_counter() - t0
        own = _status_kib("VmHWM") * 1024 - before
        # worker processes started by fn (--jobs N, subprocesses): the largest one
        workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        conn.send(("ok", (seconds, max(own, 0), workers)))
    except BaseException as exc:  # report, never leave the parent waiting
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def measure(fn: Callable[[], object]) -> tuple[float, int, int]:
    """Run ``fn()`` once in a forked child: (seconds, its own peak RSS rise, peak RSS of the
    largest process it started).

    The child resets its high-water mark (``/proc/self/clear_refs``) first, so what the
    parent holds or held earlier does not count. Memory-mapped file pages that are touched
    count as resident; pages never touched do not. A failure in the child is raised here as
    RuntimeError (the parent never hangs).
    """
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(fn, child))
    proc.start()
    child.close()  # so recv() sees EOF if the child dies without sending
    try:
        status, value = parent.recv()
    except EOFError:
        proc.join()
        raise RuntimeError(f"measuring child died (exit code {proc.exitcode})") from None
    proc.join()
    if status != "ok":
        raise RuntimeError(f"measured call failed in the child: {value}")
    seconds, own, workers = value
    return float(seconds), int(own), int(workers)


def peak_rss(fn: Callable[[], object]) -> int:
    """Peak extra resident bytes of one call of ``fn()``: the larger of its own rise and
    its largest worker process (see :func:`measure`)."""
    _, own, workers = measure(fn)
    return max(own, workers)


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def report(name: str, rows: list[tuple[str, float, int | None]], lines: list[str] | None = None
           ) -> str:
    """Format rows of (label, seconds, peak bytes) with ratios to the first row; save it."""
    base_t, base_m = rows[0][1], rows[0][2]
    out = [f"# {name}", f"{'run':<40s} {'time':>10s} {'peak mem':>12s} {'time ratio':>11s} "
           f"{'mem ratio':>10s}"]
    for label, t, m in rows:
        tr = base_t / t if t else float("nan")
        mr = (base_m / m) if (m and base_m) else float("nan")
        out.append(f"{label:<40s} {t:>9.3f}s {fmt_bytes(m) if m is not None else '-':>12s} "
                   f"{tr:>10.2f}x {mr:>9.2f}x")
    out += lines or []
    return publish(name, out)


def publish(name: str, lines: list[str], figures: list[dict] | None = None) -> str:
    """Print a benchmark's report, save it as ``results/<name>.txt`` and, when given, its
    issue figures as ``results/<name>.json`` (:func:`save_figures`); return the text."""
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.txt").write_text(text + "\n")
    if figures is not None:
        save_figures(name, figures)
    return text


# --------------------------------------------------------------------------------------------
# Whole processes (what a user times at the shell)
# --------------------------------------------------------------------------------------------


def run_process(argv: list[str], *, cwd: str | Path | None = None,
                env: dict[str, str] | None = None) -> tuple[float, int]:
    """Run ``argv`` as a new process: (wall seconds, its peak resident bytes).

    The peak is the process's own maximum resident set size. A child forked from this
    (large) benchmark process would inherit its high-water mark across ``exec``, so the
    command is started through ``/usr/bin/time`` (a small C program; its ``%M``) when
    present, else through a small Python launcher that reports its child's
    ``ru_maxrss`` (the launcher's own ~10 MiB is then the floor of the figure). Output is
    discarded; a non-zero exit raises RuntimeError with the end of its stderr.
    """
    import os
    import subprocess
    import sys
    import tempfile

    with tempfile.NamedTemporaryFile("r", suffix=".rss") as report_file:
        if os.access(GNU_TIME, os.X_OK):
            wrapped = [GNU_TIME, "-q", "-f", "%M", "-o", report_file.name, *argv]
        else:  # pragma: no cover - machines without GNU time
            wrapped = [sys.executable, "-c", _LAUNCHER, report_file.name, *argv]
        t0 = time.perf_counter()
        proc = subprocess.run(wrapped, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            tail = proc.stderr.decode(errors="replace").strip()[-300:]
            raise RuntimeError(f"{' '.join(map(str, argv[:3]))}... exit {proc.returncode}: "
                               f"{tail}")
        kib = int(report_file.read().split()[-1])
    return seconds, kib * 1024


GNU_TIME = "/usr/bin/time"
_LAUNCHER = (
    "import os, subprocess, sys\n"
    "p = subprocess.Popen(sys.argv[2:])\n"
    "_, status, usage = os.wait4(p.pid, 0)\n"
    "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n")


def median(values: list[float]) -> float:
    """The median (the mean of the middle two for an even count)."""
    s = sorted(values)
    n = len(s)
    if not n:
        return float("nan")
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def load() -> str:
    """``"2 cores, load 3.1 2.4 1.2"``: how busy the machine was (1, 5, 15 min averages)."""
    import os

    one, five, fifteen = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {one:.1f} {five:.1f} {fifteen:.1f}"


def save_figures(name: str, figures: list[dict]) -> Path:
    """Save the issue's ratios of one benchmark as ``results/<name>.json`` for
    :mod:`benchmarks.table`.

    Each figure: ``{"item": "2 DOLPHOT", "what": ..., "value": float, "unit": "x" | "s" | ...,
    "target": "C/dqmask >= 1.0", "met": bool | None, "why": "..."}`` (``met`` None: reported,
    no target).
    """
    import json

    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "load": load(), "figures": figures},
                               indent=1) + "\n")
    return path


def ensure_bytecode() -> None:
    """Compile ``src/dqmask``'s bytecode (``__pycache__``, git-ignored), as ``pip install``
    leaves an installed package.

    numpy, astropy, jwst and drizzlepac start from their compiled bytecode in site-packages.
    Without ``__pycache__`` in the source tree, and with ``PYTHONDONTWRITEBYTECODE`` set (as
    on the machine the results come from), every ``dqmask`` process would compile each of its
    modules again (50-100 ms), a cost no installed copy pays. Python still *reads* bytecode
    under ``PYTHONDONTWRITEBYTECODE``, and recompiles in memory a module whose source changed.
    """
    import compileall

    if not compileall.compile_dir(Path(__file__).resolve().parents[1] / "src" / "dqmask",
                                  quiet=1):
        raise RuntimeError("compileall failed on src/dqmask")


def dqmask_argv() -> list[str]:
    """The ``dqmask`` console script of this interpreter (``python -m dqmask`` without it);
    bytecode compiled first (:func:`ensure_bytecode`)."""
    import sys

    ensure_bytecode()
    script = Path(sys.executable).with_name("dqmask")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dqmask"]


def write_durably(path: str | Path, data: bytes | memoryview) -> None:
    """Write ``data`` to ``path`` as dqmask writes a file, and nothing more: a temporary
    beside it, fsync, its pages dropped from the page cache (``dqmask.io.atomic.drop_cached``),
    rename, fsync of the folder. The I/O floors of the benchmarks are made of this."""
    path = Path(path)
    tmp = path.with_name(path.name + ".floor-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
