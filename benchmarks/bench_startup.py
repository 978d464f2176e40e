"""Start-up: what a ``dqmask`` process costs before (and apart from) its work.

Whole processes, medians of ``DQMASK_BENCH_REPEAT`` (default 7) interleaved runs:

* ``dqmask --version`` and ``dqmask CMD --help`` for one command of every command family
  (``acsmask`` for DOLPHOT's) against ``python -c "import numpy"`` (target: faster, ratio
  numpy / dqmask >= 1.0; the table shows ``--version``, ``acsmask --help`` and the slowest
  ``--help``);
* a command's fixed cost: ``dqmask wfc3mask --dry-run`` on one WFC3/IR flt (its work is a
  few tens of ms) against ``python -c "import numpy, astropy.io.fits"`` (target:
  dqmask / that <= 1.2);
* the import sets: whether ``numpy`` / ``astropy`` are imported by ``--version``, which of
  numpy, astropy, rich, stdatamodels, asdf, scipy, regions, photutils each ``--help``
  imports, and which heavy packages (stdatamodels, asdf, scipy, photutils, regions,
  matplotlib) the HST command imports (target: none of them).

Run: ``python -m benchmarks.bench_startup``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ._util import dqmask_argv, load, median, publish, run_process

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("stdatamodels", "asdf", "scipy", "photutils", "regions", "matplotlib", "jwst",
         "rich", "dask")
#: What no ``dqmask CMD --help`` may import.
NOT_FOR_HELP = ("numpy", "astropy", "rich", "stdatamodels", "asdf", "scipy", "regions",
                "photutils")
#: ``python -c PROBE MODULES ARGS...``: the module list is taken off argv *before* ``main``
#: parses it (taken at exit, it reached argparse as a command and the run ended in a usage
#: error having imported nothing).
PROBE = ("import atexit, sys\n"
         "wanted = sys.argv.pop(1).split(',')\n"
         "atexit.register(lambda: sys.stderr.write('MODULES ' + ' '.join(m for m in "
         "wanted if m in sys.modules) + '\\n'))\n"
         "from dqmask.cli import main\nsys.exit(main(sys.argv[1:]))")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"),
                                                      env.get("PYTHONPATH")]))
    return env


def imported(args: list[str], modules: tuple[str, ...], env: dict[str, str]) -> list[str]:
    """Which of ``modules`` a ``dqmask`` process with ``args`` has imported at exit."""
    proc = subprocess.run([sys.executable, "-c", PROBE, ",".join(modules), *args],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:  # a failed run imports little: never report it as light
        raise RuntimeError(f"dqmask {' '.join(args)}: exit {proc.returncode}: "
                           f"{proc.stderr.strip()[-300:]}")
    line = next((s for s in proc.stderr.splitlines() if s.startswith("MODULES")), "MODULES")
    return line.split()[1:]


def help_commands() -> list[str]:
    """One command of each command family (its first; ``acsmask`` for DOLPHOT's)."""
    from dqmask.cli import COMMAND_FAMILIES, COMMANDS

    first = {}
    for name, (family, _) in COMMANDS.items():
        first.setdefault(family, name)
    first["dolphot"] = "acsmask"
    return [first[family] for family in sorted(COMMAND_FAMILIES)]


def _help_figures(t: dict[str, float], numpy_t: float, help_sets: dict[str, list[str]]
                  ) -> list[dict]:
    """The slowest ``--help`` against ``import numpy``, and the ``--help`` import sets."""
    helps = {label: seconds for label, seconds in t.items() if label.endswith("--help")}
    slowest = max(helps, key=helps.__getitem__)
    ratio = numpy_t / helps[slowest]
    heavy = {cmd: mods for cmd, mods in help_sets.items() if mods}
    return [
        {"item": "1 start-up", "what": f"slowest --help ({slowest}): 'import numpy' / dqmask",
         "value": ratio, "unit": "x", "target": ">= 1.0", "met": ratio >= 1.0,
         "why": "" if ratio >= 1.0 else f"{helps[slowest]:.2f} s against {numpy_t:.2f} s"},
        {"item": "1 start-up", "what": f"families (of {len(help_sets)}) whose --help imports "
                                       "numpy/astropy/...",
         "value": float(len(heavy)), "unit": "commands", "target": "0", "met": not heavy,
         "why": "; ".join(f"{cmd}: {' '.join(mods)}" for cmd, mods in heavy.items())},
    ]


def main(repeat: int | None = None) -> str:
    from dqmask.datasets import make_wfc3_ir_flt

    repeat = repeat or int(os.environ.get("DQMASK_BENCH_REPEAT", "7"))
    env = _env()
    before = load()
    with tempfile.TemporaryDirectory(prefix="dqmask-bench-startup-") as tmp:
        ir = make_wfc3_ir_flt(Path(tmp) / "istart01q_flt.fits")
        runs = {
            "python -c 'import numpy'": [sys.executable, "-c", "import numpy"],
            "python -c 'import numpy, astropy.io.fits'":
                [sys.executable, "-c", "import numpy, astropy.io.fits"],
            "dqmask --version": [*dqmask_argv(), "--version"],
            **{f"dqmask {cmd} --help": [*dqmask_argv(), cmd, "--help"]
               for cmd in help_commands()},
            "dqmask wfc3mask --dry-run (1 IR flt)":
                [*dqmask_argv(), "wfc3mask", "--dry-run", "-q", str(ir)],
        }
        times: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(repeat):
            for label, argv in runs.items():
                times[label].append(run_process(argv, env=env)[0])
        version_set = imported(["--version"], ("numpy", "astropy"), env)
        help_sets = {cmd: imported([cmd, "--help"], NOT_FOR_HELP, env)
                     for cmd in help_commands()}
        hst_set = imported(["wfc3mask", "--dry-run", "-q", str(ir)], HEAVY, env)
    t = {k: median(v) for k, v in times.items()}
    numpy_t, fits_t = t["python -c 'import numpy'"], t["python -c 'import numpy, astropy.io.fits'"]
    out = [f"# bench_startup: whole process, medians of {repeat} (seconds)"]
    out += [f"{label:<44s} {seconds:7.3f}" for label, seconds in t.items()]
    figures = []
    for label in ("dqmask --version", "dqmask acsmask --help"):
        ratio = numpy_t / t[label]
        figures.append({"item": "1 start-up", "what": f"{label}: 'import numpy' / dqmask time",
                        "value": ratio, "unit": "x", "target": ">= 1.0", "met": ratio >= 1.0,
                        "why": "" if ratio >= 1.0 else f"{t[label]:.2f} s against "
                        f"{numpy_t:.2f} s for 'import numpy'"})
    fixed = t["dqmask wfc3mask --dry-run (1 IR flt)"] / fits_t
    figures.append({"item": "1 start-up", "what": "HST command fixed cost / 'import numpy, "
                    "astropy.io.fits'", "value": fixed, "unit": "x", "target": "<= 1.2",
                    "met": fixed <= 1.2, "why": "" if fixed <= 1.2 else
                    f"{t['dqmask wfc3mask --dry-run (1 IR flt)']:.2f} s against {fits_t:.2f} s; "
                    f"it imports {' '.join(hst_set) or 'no heavy package'}"})
    figures += _help_figures(t, numpy_t, help_sets)
    figures.append({"item": "1 start-up", "what": "dqmask --version imports numpy/astropy",
                    "value": float(len(version_set)), "unit": "packages", "target": "0",
                    "met": not version_set, "why": " ".join(version_set)})
    figures.append({"item": "1 start-up", "what": "HST command imports heavy packages",
                    "value": float(len(hst_set)), "unit": "packages", "target": "0",
                    "met": not hst_set, "why": " ".join(hst_set)})
    out += ["",
            f"--version / 'import numpy': {t['dqmask --version'] / numpy_t:.1f}x the time; "
            f"imports {' '.join(version_set) or 'neither numpy nor astropy'}",
            f"HST command fixed cost: {fixed:.2f}x 'import numpy, astropy.io.fits' "
            "(target <= 1.2)",
            f"heavy packages the HST command imports: {' '.join(hst_set) or 'none'}",
            *(f"dqmask {cmd} --help imports: "
              + (" ".join(mods) or "none of " + "/".join(NOT_FOR_HELP))
              for cmd, mods in help_sets.items()),
            f"load: before {before}; after {load()}"]
    return publish("bench_startup", out, figures)


if __name__ == "__main__":
    main()
