"""The ``dqmask`` command line.

Each command family lives in its job package (``dqmask.<job>.cli``), listed in
:data:`COMMAND_FAMILIES`; the module defines

* ``register(subparsers) -> argparse.ArgumentParser`` adding its sub-parser, and
* ``run(args) -> int`` returning the exit code;

and optionally ``demo(workdir, sample, say) -> None`` used by ``make demo``.
Adding a command family adds one line to :data:`COMMAND_FAMILIES` and one per command to
:data:`COMMANDS`.

Start-up stays light: the top-level parser is built from :data:`COMMANDS` alone, so
``dqmask --version`` and ``dqmask --help`` import no command module (nor numpy, astropy);
a command's family module is imported only when that command runs or its ``--help`` is
asked (``tests/test_cli_lazy.py`` asserts the import sets).

Exit codes: 0 success, 1 failure on some input (the others still processed), 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from .. import __version__
from ..errors import AlreadyDoneError, DqmaskError, InputError, ParameterError, UsageError

__all__ = ["main", "build_parser", "command_modules", "COMMAND_FAMILIES", "COMMANDS"]

#: Exit codes (as :mod:`dqmask.cli._common`, which is only imported to run a command).
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

log = logging.getLogger("dqmask")


#: command family (the ``make demo`` folder name) -> module defining its commands
COMMAND_FAMILIES: dict[str, str] = {
    "apply": "dqmask.apply.cli",
    "background": "dqmask.nsclean.cli",
    "detect": "dqmask.claws.cli",
    "dolphot": "dqmask.dolphot.cli",
    "dqinit": "dqmask.dq_init.cli",
    "edit": "dqmask.editor.cli",
    "explain": "dqmask.toolbox.cli_explain",
    "preview": "dqmask.toolbox.cli_preview",
    "static": "dqmask.static.cli",
    "toolbox": "dqmask.toolbox.cli",
}


#: command, its family, its one-line help in ``dqmask --help`` (in that order; the family
#: modules register each command with this help: ``_common.command_parser``).
_COMMAND_TABLE = """
apply       apply      OR DQ flags into rate/cal/flt files where a mask or DS9 regions are set
png2fits    background convert a painted PNG (pure red = background) into an NSClean/jwst mask
fits2png    background write the zscale picture of a rate image to paint a mask on
bgconvert   background rewrite a background mask in the NSClean or jwst user_mask layout
background  background automatic NSClean background mask from rate files of one detector
detect      detect     detect claws/wisps above the background inside DS9 regions
nircammask  dolphot    prepare JWST NIRCam cal/crf/i2d images for DOLPHOT
nirissmask  dolphot    prepare JWST NIRISS cal/crf/i2d images for DOLPHOT
acsmask     dolphot    prepare HST ACS flt/flc/crj/drz/drc images for DOLPHOT
wfc3mask    dolphot    prepare HST WFC3 UVIS/IR flt/flc/drz/drc images for DOLPHOT
splitgroups dolphot    split multi-extension FITS files into <name>.chip<N>.fits, one image each
dolphot     dolphot    prepare each file with the DOLPHOT mask routine its header calls for
dqinit      dqinit     apply a JWST MASK reference file to raw ramps (jwst dq_init, same numbers)
edit        edit       draw regions, paint, detect and save masks in the browser
explain     explain    decode a DQ value, or count each flag in a file's DQ extensions
preview     preview    PNG quick-look: zscaled image with the mask overlaid, per chip
static      static     drizzlepac static masks: pixels more than SIG rms below each chip's mode
combine     toolbox    combine masks of any convention with or / and / not
grow        toolbox    grow the bad pixels of a mask
convert     toolbox    rewrite a mask in another convention
regions     toolbox    write the outlines of a mask as DS9 polygons
"""

#: command -> (family, its one-line help in ``dqmask --help``), in help order. A test keeps
#: each help equal to what the family module registers.
COMMANDS: dict[str, tuple[str, str]] = {
    name: (family, text) for name, family, text in
    (line.split(None, 2) for line in _COMMAND_TABLE.strip().splitlines())
}


def command_modules() -> list[ModuleType]:
    """The command modules of :data:`COMMAND_FAMILIES`, in family-name order."""
    return [importlib.import_module(COMMAND_FAMILIES[name]) for name in sorted(COMMAND_FAMILIES)]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"dqmask: error: {message}\n")


def build_parser(command: str | None = None, *, lazy: bool = False
                 ) -> argparse.ArgumentParser:
    """The ``dqmask`` parser.

    Every family module is imported and registers its commands, unless ``lazy``: then only
    the family of ``command`` (none if ``command`` is None or unknown) does, and the other
    commands are listed from :data:`COMMANDS` without importing anything.
    """
    parser = _Parser(
        prog="dqmask",
        description="Make, combine and apply pixel masks to JWST and HST images.",
    )
    parser.add_argument("--version", action="version", version=f"dqmask {__version__}")
    # -v / -q are accepted before the command too (``dqmask -v explain ...``); separate dests
    # because a sub-parser's defaults would overwrite the main parser's values.
    parser.add_argument("-v", "--verbose", action="count", default=0, dest="_verbose_global",
                        help="more output; tracebacks on errors")
    parser.add_argument("-q", "--quiet", action="store_true", dest="_quiet_global",
                        help="only errors")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=0,
                        help="more output; tracebacks on errors")
    common.add_argument("-q", "--quiet", action="store_true", help="only errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    wanted = COMMANDS.get(command or "", ("", ""))[0]
    for family in sorted(COMMAND_FAMILIES):
        if lazy and family != wanted:
            for name, (fam, text) in COMMANDS.items():
                if fam == family:
                    sub.add_parser(name, help=text, add_help=False)
            continue
        mod = importlib.import_module(COMMAND_FAMILIES[family])
        p = mod.register(sub, common)
        p.set_defaults(_run=mod.run)
    return parser


def _command_in(argv: Sequence[str]) -> str | None:
    """The command word of ``argv``: the first that is not an option (the options before
    the command take no value)."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dqmask`` console script."""
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(_command_in(argv), lazy=True)
    args = parser.parse_args(argv)
    from ._common import configure_logging, console_err, flag_of, held_warnings, set_flag_names

    args.verbose = getattr(args, "verbose", 0) + args._verbose_global
    args.quiet = getattr(args, "quiet", False) or args._quiet_global
    configure_logging(args.verbose, args.quiet)
    set_flag_names(getattr(args, "_flag_names", {}))
    try:
        with held_warnings(args.verbose) as held:  # a failure is one line, no warnings
            _expand_file_lists(args)
            code = int(args._run(args) or EXIT_OK)
            held.failed = code != EXIT_OK
            return code
    except (UsageError, ParameterError, InputError, AlreadyDoneError, DqmaskError, OSError,
            KeyboardInterrupt) as exc:
        code, line = _outcome(exc, flag_of)
        if code == EXIT_FAILURE and args.verbose:
            log.error("traceback", exc_info=exc)
        if line and not (code == EXIT_OK and args.quiet):
            console_err(line)
        return code


def console() -> None:
    """The ``dqmask`` console script (and ``python -m dqmask``): :func:`main`, then exit.

    Tearing down numpy's and astropy's modules when the interpreter exits takes about 50 ms,
    as long as some commands' whole work. Once :func:`main` has returned, every output is
    already closed and in place (writes are atomic: an output is renamed over its target only
    after it is closed and fsynced), so the process runs the ``atexit`` functions (logging's
    flush, finalizers of temporary folders, dask's), flushes stdout and stderr and leaves
    with :func:`os._exit`, skipping only the module teardown (:func:`_leave`). The
    interpreter exits the usual way when another thread still runs, under a tracer or
    profiler (coverage, cProfile), or when a standard stream cannot be flushed.
    """
    _leave(main())


def _leave(code: int) -> None:
    threading = sys.modules.get("threading")
    if (threading is not None and threading.active_count() > 1) or sys.gettrace() \
            or sys.getprofile():
        sys.exit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # e.g. a closed pipe: Python's own exit reports it
        sys.exit(code)
    import atexit

    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _outcome(exc: BaseException, flag_of) -> tuple[int, str]:
    """Exit code and the one line that says why, for an error a command raised."""
    if isinstance(exc, UsageError):
        return EXIT_USAGE, f"dqmask: error: {exc}"
    if isinstance(exc, ParameterError):  # a Python parameter: named by its flag here
        return EXIT_USAGE, f"dqmask: error: {exc.oneline(flag_of)}"
    if isinstance(exc, InputError):
        return EXIT_FAILURE, f"dqmask: {exc.oneline(flag_of)}"
    if isinstance(exc, AlreadyDoneError):  # reported (unless -q), not a failure: as run_batch
        return EXIT_OK, f"dqmask: {exc}"
    if isinstance(exc, DqmaskError):
        return EXIT_FAILURE, f"dqmask: {exc}"
    if isinstance(exc, OSError):  # e.g. an output folder that cannot be written
        problem = " ".join((exc.strerror or str(exc)).split())
        return EXIT_FAILURE, (f"dqmask: {exc.filename}: {problem}" if exc.filename
                              else f"dqmask: {problem}")
    return 130, "dqmask: interrupted"  # KeyboardInterrupt


#: Positional arguments that hold many input files: @list, association JSON and _asn.fits
#: expand there (dqmask.io.inputs), before a command counts or opens them.
_FILE_LISTS = ("targets", "inputs", "rates", "files", "images")


def _expand_file_lists(args: argparse.Namespace) -> None:
    from ..io.inputs import expand_inputs

    for name in _FILE_LISTS:
        value = getattr(args, name, None)
        if isinstance(value, list):
            setattr(args, name, expand_inputs(value))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
