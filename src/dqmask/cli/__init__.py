"""The ``dqmask`` command line.

Each command lives in a module ``dqmask.cli.cmd_<name>`` that defines

* ``register(subparsers) -> argparse.ArgumentParser`` adding its sub-parser, and
* ``run(args) -> int`` returning the exit code;

and optionally ``demo(workdir, sample, say) -> None`` used by ``make demo``.
Commands are discovered, so adding one never edits this file.

Exit codes: 0 success, 1 failure on some input (the others still processed), 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

from .. import __version__
from ..errors import AlreadyDoneError, DqmaskError, InputError, UsageError
from ..io.inputs import expand_inputs
from ._common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    configure_logging,
    console_err,
    held_warnings,
)

__all__ = ["main", "build_parser", "command_modules"]

log = logging.getLogger("dqmask")


def command_modules() -> list[ModuleType]:
    """The ``cmd_*`` modules in this package, in name order."""
    mods = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            mods.append(importlib.import_module(f"{__name__}.{info.name}"))
    return mods


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"dqmask: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
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
    for mod in command_modules():
        p = mod.register(sub, common)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dqmask`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.verbose = getattr(args, "verbose", 0) + args._verbose_global
    args.quiet = getattr(args, "quiet", False) or args._quiet_global
    configure_logging(args.verbose, args.quiet)
    try:
        with held_warnings(args.verbose) as held:  # a failure is one line, no warnings
            _expand_file_lists(args)
            code = int(args._run(args) or EXIT_OK)
            held.failed = code != EXIT_OK
            return code
    except UsageError as exc:
        console_err(f"dqmask: error: {exc}")
        return EXIT_USAGE
    except InputError as exc:
        if args.verbose:
            log.exception("traceback")
        console_err(f"dqmask: {exc.oneline()}")
        return EXIT_FAILURE
    except AlreadyDoneError as exc:  # reported, not a failure (as in run_batch)
        if not args.quiet:
            console_err(f"dqmask: {exc}")
        return EXIT_OK
    except DqmaskError as exc:
        if args.verbose:
            log.exception("traceback")
        console_err(f"dqmask: {exc}")
        return EXIT_FAILURE
    except OSError as exc:  # e.g. an output folder that cannot be written
        if args.verbose:
            log.exception("traceback")
        problem = " ".join((exc.strerror or str(exc)).split())
        console_err(f"dqmask: {exc.filename}: {problem}" if exc.filename
                    else f"dqmask: {problem}")
        return EXIT_FAILURE
    except KeyboardInterrupt:
        console_err("dqmask: interrupted")
        return 130


#: Positional arguments that hold many input files: @list, association JSON and _asn.fits
#: expand there (dqmask.io.inputs), before a command counts or opens them.
_FILE_LISTS = ("targets", "inputs", "rates", "files", "images")


def _expand_file_lists(args: argparse.Namespace) -> None:
    for name in _FILE_LISTS:
        value = getattr(args, name, None)
        if isinstance(value, list):
            setattr(args, name, expand_inputs(value))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
