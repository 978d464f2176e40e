"""``python -m dqmask.demo OUTDIR`` (what ``make demo`` runs).

1. Writes the generated samples (:func:`dqmask.datasets.make_all`) to ``OUTDIR/samples``
   (full size; ``--small`` for quick ones).
2. Runs ``dqmask explain`` on a few samples.
3. For every CLI command module that defines ``demo(workdir, samples, say)``, calls it with
   ``workdir = OUTDIR/<command>``, under a heading, printing what it says.

A hook that raises is reported (one line, traceback with ``-v``) and the demo goes on; the
exit code is 1 if any step failed, else 0.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

from rich.console import Console
from rich.table import Table

from . import __version__
from . import datasets as sample

__all__ = ["main", "run_demo", "hooks"]

EXPLAIN_SAMPLES = ("nircam_cal", "acs_wfc_flt")


def hooks(modules: Sequence[ModuleType] | None = None
          ) -> list[tuple[str, Callable[..., None]]]:
    """``(command name, demo function)`` of every command module that has a demo hook."""
    if modules is None:
        from .cli import command_modules

        modules = command_modules()
    out = []
    for mod in modules:
        fn = getattr(mod, "demo", None)
        if callable(fn):
            out.append((_family(mod), fn))
    return out


def _family(mod: ModuleType) -> str:
    from .cli import COMMAND_FAMILIES

    for name, path in COMMAND_FAMILIES.items():
        if path == mod.__name__:
            return name
    return mod.__name__.rsplit(".", 1)[-1].removeprefix("cmd_")


def _explain(console: Console, samples: dict[str, Path]) -> None:
    from .cli import main as cli_main

    paths = [str(samples[k]) for k in EXPLAIN_SAMPLES if k in samples]
    for argv in (["explain", "DO_NOT_USE+SATURATED", "1073741825"], ["explain", *paths]):
        console.print(f"$ dqmask {' '.join(Path(a).name if '/' in a else a for a in argv)}",
                      style="bold", markup=False)
        code = cli_main(argv)
        if code != 0:
            raise RuntimeError(f"dqmask {argv[0]} exited {code}")


def run_demo(outdir: str | Path, *, small: bool = False, verbose: bool = False,
             modules: Sequence[ModuleType] | None = None,
             console: Console | None = None,
             samples: dict[str, Path] | None = None) -> int:
    """Run the whole demo into ``outdir``; return the exit code (0 ok, 1 some step failed).

    Parameters
    ----------
    outdir : path-like
        Output folder (created); samples go to ``outdir/samples``, each command's output to
        ``outdir/<command>``.
    small : bool
        Small samples (fast).
    verbose : bool
        Print tracebacks of failing hooks.
    modules : sequence of modules, optional
        Command modules to take hooks from (default: :func:`dqmask.cli.command_modules`).
    console : rich Console, optional
        Where to print.
    samples : dict, optional
        Already written samples (as :func:`dqmask.datasets.make_all` returns) to use instead of
        writing new ones.
    """
    if console is None:  # wide enough for the sample table when output is not a terminal
        console = Console(highlight=False, width=None if sys.stdout.isatty() else 130)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []

    console.rule(f"dqmask {__version__} demo: samples")
    t0 = time.perf_counter()
    if samples is None:
        samples = sample.make_all(out / "samples", small=small)
    elapsed = time.perf_counter() - t0
    _sample_table(console, samples, elapsed, small)

    console.rule("dqmask explain")
    try:
        _explain(console, samples)
    except Exception as exc:  # reported; the demo goes on
        failures.append("explain")
        _report_failure(console, "explain", exc, verbose)

    for name, fn in hooks(modules):
        console.rule(f"dqmask {name}")
        workdir = out / name
        workdir.mkdir(parents=True, exist_ok=True)

        def say(message: str) -> None:
            console.print(f"  {message}", markup=False, highlight=False)

        t1 = time.perf_counter()
        try:
            fn(workdir, dict(samples), say)
        except Exception as exc:  # reported; the demo goes on
            failures.append(name)
            _report_failure(console, name, exc, verbose)
        else:
            console.print(f"  [green]ok[/green] ({time.perf_counter() - t1:.1f} s, "
                          f"outputs in {workdir})", highlight=False)

    console.rule("summary")
    n = len(hooks(modules)) + 1
    if failures:
        console.print(f"[red]{len(failures)} of {n} demo steps failed:[/red] "
                      + ", ".join(failures), highlight=False)
        return 1
    console.print(f"[green]all {n} demo steps ran[/green]; outputs in {out}", highlight=False)
    return 0


def _sample_table(console: Console, samples: dict[str, Path], elapsed: float,
                  small: bool) -> None:
    from .io.fits import classify

    table = Table(title=f"{'small' if small else 'full-size'} samples written in "
                        f"{elapsed:.1f} s", show_lines=False)
    for col in ("key", "file", "classified as", "MB"):
        table.add_column(col)
    for key, path in samples.items():
        try:
            what = classify(path).describe()
        except Exception as exc:  # shown in the table
            what = f"[red]{exc}[/red]"
        table.add_row(key, path.name, what, f"{path.stat().st_size / 1e6:.1f}")
    console.print(table)


def _report_failure(console: Console, name: str, exc: BaseException, verbose: bool) -> None:
    text = " ".join(str(exc).split()) or type(exc).__name__
    console.print(f"  [red]FAILED[/red] {name}: {type(exc).__name__}: {text}",
                  highlight=False)
    if verbose:
        console.print(traceback.format_exc(), markup=False, highlight=False)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: ``python -m dqmask.demo OUTDIR [--small] [-v]``."""
    parser = argparse.ArgumentParser(
        prog="python -m dqmask.demo",
        description="Write sample JWST/HST files and run every dqmask command's demo on them.")
    parser.add_argument("outdir", nargs="?", default="demo-output",
                        help="output folder (default demo-output)")
    parser.add_argument("--small", action="store_true", help="small samples (fast)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="tracebacks of failing steps")
    args = parser.parse_args(argv)
    return run_demo(args.outdir, small=args.small, verbose=args.verbose)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
