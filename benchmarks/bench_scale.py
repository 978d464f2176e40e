"""Scale: ``dqmask apply`` on batches of 10, 50 and 200 full-frame NIRCam rate files.

Every run is the real command line (the ``dqmask`` console script, this checkout's ``src``
first on ``PYTHONPATH``), start-up included, flagging a DS9 claw region into each file's DQ
(``--output-dir``; outputs removed, untimed, after each run). Three ways of running:

* ``--jobs 1``: one process;
* ``--jobs 2``: the command's process pool (2 workers, the machine's 2 cores);
* dask: ``--scheduler`` pointed at a ``dask.distributed.LocalCluster`` of 2 worker
  processes with 1 thread each, started once by this benchmark (its start-up not timed).

Reported per run: files per second, seconds per file, and the peak resident memory of the
largest *worker* (``--jobs 1``: the command itself; ``--jobs 2``: the largest pool process;
dask: the largest worker process). Peaks are each process's ``VmHWM`` read every 50 ms
while it runs (dask workers: their high-water mark is reset before the run), so a peak
reached in a process's last 50 ms can be missed.

Per-file cost must not grow with the batch: the *marginal* cost per file from 50 to 200
files is compared with that from 10 to 50 (the fixed start-up cancels); target <= 1.2x.
The same is measured for the I/O floor (a Python process reading each input and writing its
bytes as dqmask does: temporary, fsync, pages dropped from the page cache, rename, folder
fsync), so a growth that belongs to the disk is told from one that belongs to dqmask.
The batch sizes run interleaved (10, 50, 200 for each mode, modes in turn), ``REPEAT`` rounds
(``DQMASK_BENCH_REPEAT``, default 3); seconds are the medians, peaks the largest.

Inputs: :func:`dqmask.datasets.make_rate_batch` (PRIMARY, SCI, DQ, ASDF; 33 MiB each, 6.6 GB
for 200; ``DQMASK_BENCH_TMP`` chooses the folder). Run: ``python -m benchmarks.bench_scale``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ._util import dqmask_argv, fmt_bytes, load, publish

REPO = Path(__file__).resolve().parents[1]
SIZES = tuple(int(n) for n in os.environ.get("DQMASK_BENCH_SCALE_SIZES", "10,50,200").split(","))
REGION = ("# Region file format: DS9 version 4.1\nimage\n"
          "polygon(300,400,900,520,1100,900,700,1000,350,800)\n-circle(700,700,60)\n")
GROWTH_TARGET = 1.2
#: Rounds of every (mode, size) run; each figure is the median (a disk-bound run of 10 files
#: varies by tens of percent from one run to the next on this machine).
REPEAT = int(os.environ.get("DQMASK_BENCH_REPEAT", "3"))
#: The I/O floor as a whole process: read each input and write its bytes to the output folder
#: as dqmask writes a file (``_util.write_durably``: temporary, fsync, pages dropped from the
#: page cache, rename, folder fsync), nothing else. Its per-file cost growing with the batch is
#: the disk's, not dqmask's.
FLOOR = ("import os, sys\n"
         f"sys.path.insert(0, {str(REPO)!r})\n"
         "from benchmarks._util import write_durably\n"
         "out = sys.argv[1]\n"
         "os.makedirs(out, exist_ok=True)\n"
         "for path in sys.argv[2:]:\n"
         "    with open(path, 'rb') as fh:\n"
         "        data = fh.read()\n"
         "    write_durably(os.path.join(out, os.path.basename(path)), data)\n")


def _hwm(pid: int) -> int:
    """Peak resident bytes (VmHWM) of a live process; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _reset_hwm(pid: int) -> None:
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:  # pragma: no cover - not permitted / other kernels
        pass


class TreePeak:
    """Poll a process and its descendants (and ``extra`` pids) for their VmHWM."""

    def __init__(self, root: int, extra: list[int] | None = None, every: float = 0.05):
        import psutil

        self._root = psutil.Process(root)
        self._extra = list(extra or [])
        self._every = every
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                pids = [self._root.pid] + [p.pid for p in self._root.children(recursive=True)]
            except psutil.Error:
                pids = []
            for pid in pids + self._extra:
                self.peaks[pid] = max(self.peaks.get(pid, 0), _hwm(pid))
            self._stop.wait(self._every)

    def stop(self) -> dict[int, int]:
        self._stop.set()
        self._thread.join()
        for pid in self._extra:  # dask workers outlive the run: read them once more
            self.peaks[pid] = max(self.peaks.get(pid, 0), _hwm(pid))
        return self.peaks


def run_apply(paths: list[Path], region: Path, out: Path, env: dict[str, str],
              mode: str, scheduler: str | None, worker_pids: list[int]) -> tuple[float, int]:
    """One batch: (seconds, peak bytes of the largest worker process)."""
    shutil.rmtree(out, ignore_errors=True)
    extra = ["--jobs", "1"] if mode == "jobs1" else ["--jobs", "2"] if mode == "jobs2" else \
        ["--scheduler", str(scheduler)]
    argv = [*dqmask_argv(), "apply", *map(str, paths), "--region", str(region),
            "--output-dir", str(out), "-q", *extra]
    if mode == "floor":
        argv = [sys.executable, "-c", FLOOR, str(out), *map(str, paths)]
    for pid in worker_pids:
        _reset_hwm(pid)
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    poll = TreePeak(proc.pid, worker_pids)
    _, err = proc.communicate()
    seconds = time.perf_counter() - t0
    peaks = poll.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"apply {mode} exit {proc.returncode}: {err.decode()[-300:]}")
    done = len(list(out.glob("*.fits")))
    if done != len(paths):
        raise RuntimeError(f"apply {mode}: {done} outputs for {len(paths)} inputs")
    shutil.rmtree(out, ignore_errors=True)
    if mode in ("jobs1", "floor"):
        peak = peaks.get(proc.pid, 0)
    elif mode == "jobs2":  # the pool's workers (the command's children, not the parent)
        peak = max((v for k, v in peaks.items() if k != proc.pid), default=0)
    else:
        peak = max((peaks.get(pid, 0) for pid in worker_pids), default=0)
    return seconds, peak


def main() -> str:
    from dask.distributed import LocalCluster

    from dqmask.datasets import make_rate_batch

    # this checkout's dqmask, in the command and in the dask workers started from here
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"),
                                                             os.environ.get("PYTHONPATH")]))
    env = dict(os.environ)
    load_before = load()
    with tempfile.TemporaryDirectory(prefix="dqmask-bench-scale-",
                                     dir=os.environ.get("DQMASK_BENCH_TMP")) as tmp:
        tmp = Path(tmp)
        paths = make_rate_batch(tmp / "in", max(SIZES))
        region = tmp / "claw.reg"
        region.write_text(REGION)
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        try:
            from dask.distributed import Client

            with Client(cluster) as client:
                workers = [int(pid) for pid in client.run(os.getpid).values()]
                # the workers import dqmask on their first task; do it before timing
                cmd = [*dqmask_argv(), "apply", str(paths[0]), "--region", str(region),
                       "--output-dir", str(tmp / "warm"), "-q", "--scheduler",
                       cluster.scheduler_address]
                subprocess.run(cmd, env=env, check=True, capture_output=True)
                runs: dict[tuple[str, int], list[tuple[float, int]]] = {}
                for _ in range(REPEAT):  # rounds interleaved: a slow spell hits every mode
                    for mode in ("floor", "jobs1", "jobs2", "dask"):
                        for n in SIZES:
                            runs.setdefault((mode, n), []).append(run_apply(
                                paths[:n], region, tmp / "out", env, mode,
                                cluster.scheduler_address, workers if mode == "dask" else []))
                results = {key: (statistics.median(t for t, _ in got), max(p for _, p in got))
                           for key, got in runs.items()}
        finally:
            cluster.close()
    return _report(results, load_before, load())


def _growth(results, mode: str) -> tuple[float, float, float]:
    """(marginal s/file small->middle, middle->large, their ratio) of one mode."""
    (t10, _), (t50, _), (t200, _) = (results[mode, n] for n in SIZES)
    early = (t50 - t10) / (SIZES[1] - SIZES[0])
    late = (t200 - t50) / (SIZES[2] - SIZES[1])
    return early, late, late / early if early > 0 else float("nan")


def _report(results, load_before: str, load_after: str) -> str:
    labels = {"floor": "I/O floor (copy + fsync)", "jobs1": "--jobs 1", "jobs2": "--jobs 2",
              "dask": "dask LocalCluster (2x1)"}
    floor_growth = _growth(results, "floor")
    out = [f"# bench_scale: dqmask apply, full-frame NIRCam rate files, whole process, "
           f"medians of {REPEAT}",
           f"{'mode':<26s} {'files':>5s} {'seconds':>8s} {'files/s':>8s} {'s/file':>7s} "
           f"{'worker peak':>12s}"]
    figures = []
    for mode, label in labels.items():
        for n in SIZES:
            t, peak = results[mode, n]
            out.append(f"{label:<26s} {n:5d} {t:8.2f} {n / t:8.2f} {t / n:7.3f} "
                       f"{fmt_bytes(peak):>12s}")
        t200, p200 = results[mode, SIZES[2]]
        early, late, growth = _growth(results, mode)
        if mode == "floor":
            out.append(f"{'':<26s} marginal s/file {SIZES[0]}->{SIZES[1]} {early:.3f}, "
                       f"{SIZES[1]}->{SIZES[2]} {late:.3f}: growth {growth:.2f}x (the disk's)")
            figures.append(
                {"item": "5 scale", "what": f"I/O floor (read + write the same bytes with fsync, "
                                            f"{SIZES[2]} files): marginal s/file growth",
                 "value": growth, "unit": "x", "target": "reported", "met": None, "why": ""})
            continue
        out.append(f"{'':<26s} marginal s/file {SIZES[0]}->{SIZES[1]} {early:.3f}, "
                   f"{SIZES[1]}->{SIZES[2]} {late:.3f}: "
                   f"growth {growth:.2f}x (target <= {GROWTH_TARGET}x: "
                   f"{'met' if growth <= GROWTH_TARGET else 'NOT met'}; the I/O floor's "
                   f"{floor_growth[2]:.2f}x)")
        figures += [
            {"item": "5 scale", "what": f"apply {SIZES[2]} files {label}: files per second",
             "value": SIZES[2] / t200, "unit": "files/s", "target": "reported", "met": None,
             "why": ""},
            {"item": "5 scale", "what": f"apply {SIZES[2]} files {label}: peak memory per "
                                        "worker",
             "value": p200 / 2**20, "unit": "MiB", "target": "reported", "met": None,
             "why": ""},
            {"item": "5 scale", "what": f"apply {label}: marginal s/file "
                                        f"{SIZES[1]}->{SIZES[2]} / {SIZES[0]}->{SIZES[1]}",
             "value": growth, "unit": "x", "target": f"<= {GROWTH_TARGET}",
             "met": bool(growth <= GROWTH_TARGET),
             "why": "" if growth <= GROWTH_TARGET else
             f"per-file cost grows with the batch; the I/O floor alone (same bytes read and "
             f"written with fsync) grows {floor_growth[2]:.2f}x (see bench_scale.txt)"},
        ]
    t1 = results["jobs1", SIZES[2]][0]
    out += ["",
            f"speed-up at {SIZES[2]} files: --jobs 2 {t1 / results['jobs2', SIZES[2]][0]:.2f}x,"
            f" dask {t1 / results['dask', SIZES[2]][0]:.2f}x (vs --jobs 1; 2 cores shared)",
            "worker peak: --jobs 1 the command; --jobs 2 the largest pool process; dask the "
            "largest worker (VmHWM polled every 50 ms)",
            f"load: before {load_before}; after {load_after}"]
    return publish("bench_scale", out, figures)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
