"""Shared CLI plumbing: logging, one-line errors, output paths and the batch runner.

Light at import (every command module imports it to build its parser, ``--help`` included):
argparse, the :mod:`dqmask.pipeline.options` and the errors only. rich is imported only to
draw on a terminal: the progress bar of a batch, and the log handler when stderr is a tty;
otherwise log records are plain ``LEVEL    message`` lines.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AlreadyDoneError, DqmaskError, InputError, ParameterError, UsageError
from ..io.atomic import WriteError, os_problem
from ..pipeline.options import IN_PLACE, JOBS, MASK_CONVENTION, OUTPUT, OUTPUT_DIR, SCHEDULER

if TYPE_CHECKING:
    from ..io.mask_file import MaskSpec

__all__ = [
    "EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE",
    "configure_logging", "console_err", "say", "add_output_options", "output_path",
    "add_batch_options", "batch_options", "run_batch", "Outcome", "SCHEDULER_ENV",
    "add_max_fraction_option",
    "add_mask_convention_option", "mask_arg", "mask_args", "os_message", "held_warnings",
    "show_held_warnings", "flag_of", "error_line", "set_flag_names", "command_parser",
    "demo_sample", "demo_run",
]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

_state: dict = {"quiet": False, "verbose": 0, "flag_names": {}}
log = logging.getLogger("dqmask")


class _HoldingHandler(logging.Handler):
    """Passes records to ``target``, except while :func:`held_warnings` holds them.

    A warning logged while an input is read, followed by the failure of that input, would
    print as several lines where the error policy promises one: such warnings are kept back
    and shown only if the input succeeds (or with ``-v``).
    """

    def __init__(self, target: logging.Handler) -> None:
        super().__init__()
        self.target = target
        self.stack: list[list[logging.LogRecord]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if self.stack and record.levelno < logging.ERROR:
            self.stack[-1].append(record)
        else:
            self.target.handle(record)


_holder: dict[str, _HoldingHandler | None] = {"handler": None}


@dataclass
class Held:
    """Warnings held back by :func:`held_warnings`; ``failed = True`` drops them at the end."""

    records: list[logging.LogRecord]
    failed: bool = False


@contextlib.contextmanager
def held_warnings(verbose: int = 0) -> Iterator[Held]:
    """Hold back the warnings logged inside the block: shown when it ends normally (or with
    ``verbose``), dropped when it raises or sets ``failed`` (its error is then the one line
    the user sees). :func:`show_held_warnings` shows them earlier."""
    handler = _holder["handler"]
    held = Held([])
    if handler is None:
        yield held
        return
    handler.stack.append(held.records)
    try:
        yield held
    except BaseException:
        held.failed = True
        raise
    finally:
        handler.stack.remove(held.records)
        if not held.failed or verbose:
            for record in held.records:
                handler.target.handle(record)


def show_held_warnings() -> None:
    """Show the warnings held so far (an input succeeded: they concern its result)."""
    handler = _holder["handler"]
    if handler is None:
        return
    for records in handler.stack:
        for record in records:
            handler.target.handle(record)
        records.clear()


class _StderrHandler(logging.StreamHandler):
    """``LEVEL    message`` on whatever ``sys.stderr`` is when a record comes (a test's
    capture, or a live progress bar's proxy)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(levelname)-8s %(message)s"))

    @property  # the stream is looked up, never stored
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _terminal_console():
    """The one rich console of stderr (log records and the progress bar share it, so records
    print above the bar); made, and rich imported, on first use."""
    if _terminal["console"] is None:
        from rich.console import Console

        _terminal["console"] = Console(stderr=True, highlight=False, soft_wrap=True)
    return _terminal["console"]


_terminal: dict = {"console": None}


class _TerminalHandler(logging.Handler):
    """rich's log handler, made (rich imported) when the first record comes."""

    def __init__(self) -> None:
        super().__init__()
        self.rich: logging.Handler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.rich is None:
            from rich.logging import RichHandler

            self.rich = RichHandler(console=_terminal_console(), show_time=False,
                                    show_path=False, rich_tracebacks=True, markup=False)
            self.rich.setFormatter(logging.Formatter("%(message)s"))
        self.rich.handle(record)


def _log_handler() -> logging.Handler:
    """rich's handler on a terminal (rich imported at its first record); plain lines
    otherwise."""
    return _TerminalHandler() if sys.stderr.isatty() else _StderrHandler()


def configure_logging(verbose: int = 0, quiet: bool = False) -> None:
    """Route the ``dqmask`` logger (and warnings) to stderr: one line per record."""
    _state.update(quiet=quiet, verbose=verbose)
    level = logging.ERROR if quiet else logging.DEBUG if verbose >= 2 else (
        logging.INFO if verbose else logging.WARNING)
    root = logging.getLogger("dqmask")
    root.handlers.clear()
    handler = _HoldingHandler(_log_handler())
    _holder["handler"] = handler
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    # Python warnings (e.g. a region partly off the image) must reach the user. Some
    # dependencies attach a NullHandler to "py.warnings", which would swallow them, so the
    # handler is attached there explicitly.
    logging.captureWarnings(True)
    pywarn = logging.getLogger("py.warnings")
    pywarn.handlers = [h for h in pywarn.handlers if not isinstance(h, _HoldingHandler)]
    pywarn.addHandler(handler)
    pywarn.setLevel(logging.ERROR if quiet else logging.WARNING)
    pywarn.propagate = False


#: Python parameter -> command-line flag, where the flag is not ``--`` + the name with ``-``
#: for ``_`` (the only place parameter names meet flag names).
_FLAGS: dict[str, str] = {
    "fmt": "--format",
    "out": "-o/--output",
    "output": "-o/--output",
}


def flag_of(parameter: str, names: dict[str, str] | None = None) -> str:
    """The command-line flag of a Python parameter (``n_sigma`` -> ``--n-sigma``).

    ``names`` (default: the running command's, :func:`set_flag_names`) overrides the rule
    where a command's flag differs from its function's parameter name.
    """
    names = _state["flag_names"] if names is None else names
    return names.get(parameter) or _FLAGS.get(parameter) or "--" + parameter.replace("_", "-")


def set_flag_names(names: dict[str, str]) -> None:
    """The running command's ``{parameter: flag}`` exceptions (``main`` sets them from the
    sub-parser's ``_flag_names`` default)."""
    _state["flag_names"] = dict(names)


def error_line(exc: BaseException, names: dict[str, str] | None = None) -> str:
    """One line for an error, its parameter names spelled as flags."""
    if isinstance(exc, (InputError, ParameterError)):
        return exc.oneline(lambda name: flag_of(name, names))
    return " ".join(str(exc).split()) or type(exc).__name__


def console_err(message: str) -> None:
    """One line on stderr, as written (above a live progress bar, which proxies stderr)."""
    print(message, file=sys.stderr, flush=True)


def say(message: str) -> None:
    """A result line on stdout (silenced by ``--quiet``)."""
    if not _state["quiet"]:
        print(message, file=sys.stdout, flush=True)


def command_parser(sub, common: argparse.ArgumentParser, name: str, description: str,
                   **kwargs) -> argparse.ArgumentParser:
    """The sub-parser of command ``name``: its one-line help is the one of
    :data:`dqmask.cli.COMMANDS` (written once, shown by ``dqmask --help``); ``description``
    is a paragraph (argparse refills its lines)."""
    from . import COMMANDS

    return sub.add_parser(name, parents=[common], help=COMMANDS[name][1],
                          description=description, **kwargs)


def demo_sample(samples: dict[str, Path], name: str, say: Callable[[str], None],
                demo: str) -> Path | None:
    """Sample ``name`` a family's ``make demo`` hook works on, or None (said: skipped)."""
    path = samples.get(name)
    if path is None:
        say(f"{demo} demo: no {name} sample; skipped")
    return path


def demo_run(say: Callable[[str], None], *commands: Sequence[object]) -> None:
    """Say and run each ``dqmask`` command line of a ``make demo`` hook."""
    from . import main

    for argv in commands:
        words = [str(word) for word in argv]
        say("$ dqmask " + " ".join(words))
        main(words)


# --------------------------------------------------------------------------------------------
# Output paths
# --------------------------------------------------------------------------------------------


def add_output_options(parser: argparse.ArgumentParser, *, in_place: bool = True,
                       default_suffix: str | None = None) -> None:
    """Add the mutually exclusive ``-o/--output``, ``--output-dir`` and ``--in-place``."""
    group = parser.add_mutually_exclusive_group()
    for option in (OUTPUT, OUTPUT_DIR, IN_PLACE)[:3 if in_place else 2]:
        option.add_to(group)
    if default_suffix:
        parser.set_defaults(_default_suffix=default_suffix)


def output_path(args: argparse.Namespace, path: str, *, suffix: str | None = None,
                n_inputs: int = 1) -> str:
    """Where the result for input ``path`` goes, from ``-o``, ``--output-dir``, ``--in-place``.

    Default: ``<root><suffix>.fits`` beside the input, where ``<root>`` is the input name
    without ``.fits`` (and without ``.gz``).
    """
    suffix = suffix if suffix is not None else getattr(args, "_default_suffix", "_dqmask")
    if getattr(args, "output", None):
        if n_inputs != 1:
            raise UsageError("-o/--output needs exactly one input; use --output-dir")
        return args.output
    if getattr(args, "in_place", False):
        return path
    name = os.path.basename(path)
    for ext in (".gz", ".fits", ".fit", ".fts"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
    directory = getattr(args, "output_dir", None)
    if directory:
        os.makedirs(directory, exist_ok=True)
        return os.path.join(directory, os.path.basename(path).removesuffix(".gz"))
    return os.path.join(os.path.dirname(path), f"{name}{suffix}.fits")


def os_message(exc: OSError) -> str:
    """One line for an operating-system error: ``permission denied: out/``."""
    problem = os_problem(exc)
    return f"{problem}: {exc.filename}" if exc.filename else problem


# --------------------------------------------------------------------------------------------
# Mask inputs: PATH[CHIP]@CONV and --mask-convention, one spelling for every command
# --------------------------------------------------------------------------------------------


def add_mask_convention_option(parser: argparse.ArgumentParser) -> None:
    """``--mask-convention CONV`` for a command that reads mask files.

    Read the option's mask inputs with :func:`mask_arg` / :func:`mask_args`; they accept the
    ``PATH[CHIP]@CONV`` suffixes too (:func:`dqmask.io.mask_file.mask_spec`).
    """
    MASK_CONVENTION.add_to(parser)


def mask_arg(text: str, args: argparse.Namespace) -> MaskSpec:
    """One mask input of the command line, with ``--mask-convention`` applied."""
    from ..io.mask_file import mask_spec

    return mask_spec(text, getattr(args, "mask_convention", None))


def mask_args(texts: Sequence[str], args: argparse.Namespace) -> list[str]:
    """Mask inputs with ``--mask-convention`` applied, spelled ``PATH[CHIP]@CONV`` again
    (for functions that take input strings)."""
    return [str(mask_arg(t, args)) for t in texts]


# --------------------------------------------------------------------------------------------
# Batch runner
# --------------------------------------------------------------------------------------------


#: Environment variable giving the default ``--scheduler`` address.
SCHEDULER_ENV = "DQMASK_SCHEDULER"


def add_batch_options(parser: argparse.ArgumentParser) -> None:
    """``--jobs N`` (process pool) and ``--scheduler ADDRESS`` (dask) for multi-file commands.

    Commands pass them on with ``run_batch(..., **batch_options(args))``.
    """
    JOBS.add_to(parser)
    SCHEDULER.but(cli_default=os.environ.get(SCHEDULER_ENV) or None,
                  cli_help=f"{SCHEDULER.help} (default ${SCHEDULER_ENV}; needs the 'cluster' "
                           "extra)").add_to(parser)


def batch_options(args: argparse.Namespace) -> dict:
    """``{"jobs": ..., "scheduler": ...}`` from parsed :func:`add_batch_options` arguments."""
    return {"jobs": getattr(args, "jobs", 1) or 1, "scheduler": getattr(args, "scheduler", None)}


@dataclass
class Outcome:
    """What happened to one input of a batch."""

    path: str
    status: str  # "ok", "skipped", "failed"
    message: str


def _one(worker: Callable[[str], str | None], path: str, verbose: int = 0,
         names: dict[str, str] | None = None) -> Outcome:
    names = names or {}

    def spell(name: str) -> str:
        return flag_of(name, names)

    try:
        with held_warnings(verbose):  # a failed input's warnings would be extra lines
            return Outcome(path, "ok", worker(path) or f"{path}: done")
    except AlreadyDoneError as exc:
        return Outcome(path, "skipped", str(exc))
    except WriteError as exc:  # "IN: no space left on device while writing OUT"
        return Outcome(path, "failed", exc.for_input(path).oneline(spell) + _tb(verbose))
    except InputError as exc:
        return Outcome(path, "failed", exc.oneline(spell) + _tb(verbose))
    except OSError as exc:  # e.g. an output folder that cannot be made: one phrase, no errno
        return Outcome(path, "failed", f"{path}: {os_message(exc)}" + _tb(verbose))
    except (DqmaskError, ValueError, TypeError, KeyError) as exc:
        text = error_line(exc, names)
        return Outcome(path, "failed", f"{path}: {text}" + _tb(verbose))
    except Exception as exc:  # a bug met on this input: report it, go on with the others
        text = " ".join(str(exc).split())
        return Outcome(path, "failed", f"{path}: internal error ({type(exc).__name__}"
                       + (f": {text}" if text else "") + "); -v shows the traceback"
                       + _tb(verbose))


def _tb(verbose: int) -> str:
    return ("\n" + traceback.format_exc().rstrip()) if verbose else ""


def run_batch(paths: Sequence[str], worker: Callable[[str], str | None], *,
              jobs: int = 1, label: str = "processing", scheduler: str | None = None) -> int:
    """Run ``worker(path)`` on every input; report each; return the exit code.

    ``worker`` returns a one-line summary (printed on stdout as each file finishes) or
    raises. An :class:`AlreadyDoneError` (the file's header record says it was done) is
    reported and counts as success. Every other error is collected and printed at the end as
    ``dqmask: FILE: problem`` lines (in input order) followed, for several inputs, by
    ``dqmask: N of M inputs failed``; the other inputs are still processed and the exit code
    is 1 if any failed.

    Parameters
    ----------
    paths : sequence of str
        Inputs, one task each.
    worker : callable
        ``worker(path) -> str | None``. With ``jobs > 1`` or a scheduler it must be picklable
        (a module-level function or a ``functools.partial`` of one).
    jobs : int
        Worker processes (1: run here, in order).
    label : str
        Progress-bar text.
    scheduler : str, optional
        Address of a dask.distributed scheduler; overrides ``jobs``. dask is imported only
        here.
    """
    outcomes: dict[int, Outcome] = {}
    verbose = _state["verbose"]
    show = len(paths) > 1 and not _state["quiet"]
    with _progress(label, len(paths), show) as advance:
        names = _state["flag_names"]
        for index, outcome in _iterate(paths, worker, jobs, verbose, scheduler, names):
            if outcome.status != "failed":
                show_held_warnings()  # e.g. how a shared mask was read: it made this result
                _report(outcome)
            outcomes[index] = outcome
            advance()
    failed = [outcomes[i] for i in sorted(outcomes) if outcomes[i].status == "failed"]
    for outcome in failed:
        _report(outcome)
    if failed and len(paths) > 1:
        console_err(f"dqmask: {len(failed)} of {len(paths)} inputs failed: "
                    + ", ".join(o.path for o in failed))
    return EXIT_FAILURE if failed else EXIT_OK


@contextlib.contextmanager
def _progress(label: str, total: int, show: bool) -> Iterator[Callable[[], None]]:
    """``advance()`` of a transient progress bar on a terminal's stderr (rich is imported
    only then); a no-op elsewhere. Lines printed meanwhile go above the bar."""
    if not (show and sys.stderr.isatty()):
        yield lambda: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), transient=True,
                  console=_terminal_console()) as progress:
        task = progress.add_task(label, total=total)
        yield lambda: progress.advance(task)


def _iterate(paths: Sequence[str], worker, jobs: int, verbose: int, scheduler: str | None,
             names: dict[str, str] | None = None) -> Iterable[tuple[int, Outcome]]:
    """``(input index, outcome)`` pairs, in completion order."""
    if scheduler:
        yield from _iterate_dask(paths, worker, verbose, scheduler, names)
        return
    if jobs <= 1 or len(paths) <= 1:
        for i, p in enumerate(paths):
            yield i, _one(worker, p, verbose, names)
        return
    with cf.ProcessPoolExecutor(max_workers=min(jobs, len(paths))) as pool:
        futures = {pool.submit(_one, worker, p, verbose, names): i
                   for i, p in enumerate(paths)}
        for fut in cf.as_completed(futures):
            i = futures[fut]
            yield i, _collect(fut.result, paths[i])


def _collect(result: Callable[[], Outcome], path: str) -> Outcome:
    try:
        return result()
    except Exception as exc:  # the worker process died, or the cluster lost the task
        text = " ".join(str(exc).split()) or type(exc).__name__
        return Outcome(path, "failed", f"{path}: worker failed ({text})")


def _iterate_dask(paths: Sequence[str], worker, verbose: int, scheduler: str,
                  names: dict[str, str] | None = None) -> Iterable[tuple[int, Outcome]]:
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise UsageError("--scheduler needs dask.distributed: "
                         "pip install 'dqmask[cluster]'") from None
    try:
        client = Client(scheduler, set_as_default=False)  # distributed.comm.timeouts.connect
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageError(f"cannot reach the dask scheduler {scheduler}: "
                         + (" ".join(str(exc).split()) or type(exc).__name__)) from None
    with client:
        futures = client.map(_one, [worker] * len(paths), list(paths),
                             [verbose] * len(paths), [names] * len(paths), pure=False)
        index = {fut.key: i for i, fut in enumerate(futures)}
        for fut in as_completed(futures, loop=client.loop):
            i = index[fut.key]
            yield i, _collect(fut.result, paths[i])
            fut.release()


def _report(outcome: Outcome) -> None:
    if outcome.status == "failed":
        console_err(f"dqmask: {outcome.message}")
    elif outcome.status == "skipped":
        if not _state["quiet"]:
            console_err(f"dqmask: {outcome.message}")
    else:
        say(outcome.message)


def add_max_fraction_option(parser: argparse.ArgumentParser,
                            what: str = "a mask covering") -> None:
    """``--max-fraction F`` (:data:`dqmask.pipeline.options.MAX_FRACTION`: default, range in
    (0, 1] and help declared there); ``dqinit`` shares it for its user DQ."""
    from ..pipeline.options import MAX_FRACTION

    MAX_FRACTION.but(cli_help=f"refuse {what} more than this fraction of a file").add_to(parser)
