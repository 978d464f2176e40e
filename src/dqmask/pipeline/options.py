"""Parameters declared once: default, range and help of each, for every interface.

Each job lists its :class:`Option` objects in a light module, ``dqmask.<job>.options``
(``PARAMETERS``: the step's and its command's; the command-line-only ones beside them), and the
parameters several jobs share are here; from the same descriptions

* :func:`spec` writes the configobj text stpipe validates for the job's step
  (``name = type(default=..., min=...)  # help``), and
* :func:`add_arguments` adds the ``dqmask`` command's argparse options (flag
  :attr:`Option.cli_flag`, deprecated old spellings :attr:`Option.aliases`, the range checked
  while parsing, the default said in the help), and
* :meth:`Option.check` checks a value a Python caller passes (a
  :class:`~dqmask.errors.ParameterError` naming the parameter).

The names are the command-line option names with ``_`` for ``-`` (``--n-sigma`` is
``n_sigma``) unless ``flag`` says otherwise. This module (and every ``<job>/options.py``)
imports neither numpy nor astropy: command modules build their parsers from it at start-up,
so ``dqmask CMD --help`` stays light. Where a choice list or a default also lives in a heavy
module (``io.png.LIMITS``, ``claws.core.DetectParams``), it is written here as a literal and
``tests/test_cli_lazy.py`` keeps the two equal.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from ..errors import InputError, ParameterError

__all__ = ["Option", "spec", "defaults", "add_arguments", "by_name", "UNSET", "BAD_FLAGS",
           "FLAGS", "MAX_FRACTION", "MASK_CONVENTION", "READ_CONVENTIONS", "FORCE", "OUTPUT",
           "OUTPUT_DIR", "IN_PLACE", "OUTPUT_SUFFIX", "JOBS", "SCHEDULER", "LIMITS", "PERCENT",
           "STRETCH"]

#: ``cli_default`` not given: the command line uses ``default``.
UNSET: Any = type("Unset", (), {"__repr__": lambda self: "UNSET"})()

_KINDS = ("string", "integer", "float", "boolean", "option", "force_list")


@dataclass(frozen=True)
class Option:
    """One parameter of a step (and of the command it mirrors).

    Attributes
    ----------
    name : str
        Python / stpipe name (``mask_flags``).
    kind : str
        configobj type: ``string``, ``integer``, ``float``, ``boolean``, ``option`` (one of
        ``choices``) or ``force_list`` (a string or a list of strings).
    default : object
        Default value (None: not set; an ``option`` may be unset too).
    help : str
        One line, shown by ``strun --help`` and in parameter files.
    choices : tuple of str
        Allowed values of an ``option``.
    min, max : float, optional
        Range of a number (inclusive).
    above : float, optional
        Exclusive lower bound of a number (``sigma`` must be > 0).
    flag : str, optional
        Command-line flag when it is not ``--`` + the name with ``-`` (``--include-region``).
    aliases : tuple of str
        Old spellings of the flag, still accepted; ``--help`` and the docs call them
        deprecated.
    metavar : str, optional
        argparse metavar.
    cli_help : str, optional
        Longer help for ``dqmask CMD --help`` (default ``help``).
    cli_default : object
        Command-line default when it differs from ``default`` (e.g. None to tell "not given"
        from the default); :data:`UNSET`: ``default``.
    short : str, optional
        Short command-line flag (``-o``).
    parse : callable, optional
        Command-line converter of a value the configobj kinds cannot say (``WIDTHxHEIGHT``,
        a colour); it raises :class:`argparse.ArgumentTypeError`.
    required : bool
        The command line needs it.
    """

    name: str
    kind: str
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    above: float | None = None
    flag: str | None = None
    aliases: tuple[str, ...] = ()
    metavar: str | None = None
    cli_help: str | None = None
    cli_default: Any = UNSET
    short: str | None = None
    parse: Callable[[str], Any] | None = None
    required: bool = False

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"option {self.name}: unknown kind {self.kind!r}")
        if self.kind == "option" and self.default not in (*self.choices, None):
            raise ValueError(f"option {self.name}: default {self.default!r} not in choices")

    @property
    def cli_flag(self) -> str:
        """The command-line flag of the same parameter (``--n-sigma``)."""
        return self.flag or "--" + self.name.replace("_", "-")

    def but(self, **changes: Any) -> Option:
        """A copy with ``changes`` (a job sharing another job's parameter, e.g. another help)."""
        return replace(self, **changes)

    # -- values ---------------------------------------------------------------------------

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is out of range (phrased to follow the name), or None."""
        if self.kind == "option" and value not in self.choices and not (
                value is None and self.default is None):
            return f"must be one of {', '.join(map(str, self.choices))}, got {value!r}"
        if self.kind not in ("integer", "float") or value is None:
            return None
        if self.above is not None and not value > self.above:
            return f"must be > {self.above:g}, got {value:g}"
        if self.min is not None and not value >= self.min:
            return f"must be >= {self.min:g}, got {value:g}"
        if self.max is not None and not value <= self.max:
            return f"must be <= {self.max:g}, got {value:g}"
        return None

    def check(self, value: Any) -> Any:
        """``value`` if in range, else a :class:`ParameterError` naming the parameter."""
        problem = self.problem(value)
        if problem:
            raise ParameterError(self.name, problem)
        return value

    # -- command line ---------------------------------------------------------------------

    def _parse(self) -> Callable[[str], Any]:
        convert = int if self.kind == "integer" else float

        def parse(text: str) -> Any:
            try:
                value = convert(text)
            except ValueError:
                what = "an integer" if convert is int else "a number"
                raise argparse.ArgumentTypeError(f"wants {what}, not {text!r}") from None
            problem = self.problem(value)
            if problem:
                raise argparse.ArgumentTypeError(problem.rsplit(", got", 1)[0])
            return value

        parse.__name__ = self.kind  # argparse names the type in its messages
        return parse

    def cli_help_text(self) -> str:
        """The ``--help`` line: help, default, deprecated old spellings."""
        text = self.cli_help or self.help
        default = self.default if self.cli_default is UNSET else self.cli_default
        if not (default is None or default is False or default in ((), [])) \
                and "default" not in text:
            text += f" (default {default})"
        if self.aliases:
            text += f"; {' / '.join(self.aliases)}: old name, deprecated"
        return text

    def add_to(self, parser: argparse.ArgumentParser | Any, **overrides: Any) -> argparse.Action:
        """Add this parameter's option to ``parser`` (a parser or an argument group)."""
        default = self.default if self.cli_default is UNSET else self.cli_default
        kwargs: dict[str, Any] = {"dest": self.name, "help": self.cli_help_text()}
        if self.kind == "boolean":
            kwargs.update(action="store_true", default=bool(default))
        elif self.kind == "force_list":
            kwargs.update(action="append", default=list(default or []))
        else:
            kwargs["default"] = default
            if self.kind == "option":
                kwargs["choices"] = self.choices
            elif self.kind in ("integer", "float"):
                kwargs["type"] = self._parse()
            if self.parse is not None:
                kwargs["type"] = self.parse
        if self.metavar and self.kind != "boolean":
            kwargs["metavar"] = self.metavar
        if self.required:
            kwargs["required"] = True
        kwargs.update(overrides)
        flags = (self.short,) if self.short else ()
        return parser.add_argument(*flags, self.cli_flag, *self.aliases, **kwargs)

    def spec_line(self) -> str:
        """``name = kind(args, default=...)  # help`` for an stpipe spec."""
        args = [repr(c) for c in self.choices]
        low = self.min if self.min is not None else self.above
        if low is not None:
            args.append(f"min={low!r}")
        if self.max is not None:
            args.append(f"max={self.max!r}")
        args.append(f"default={self.default!r}")
        return f"{self.name} = {self.kind}({', '.join(args)})  # {self.help}"


class _Coverage(Protocol):
    @property
    def fraction(self) -> float: ...


def refuse_above_max_fraction(path: str, stats: _Coverage, max_fraction: float) -> None:
    """:data:`MAX_FRACTION`: refuse a mask covering more than ``max_fraction`` of its pixels.

    Shared by ``apply`` (the mask on a target) and ``dqinit`` (the user DQ); here, with no
    array code, so that a job checking a fraction imports no other job's file-level module.

    Parameters
    ----------
    path : str
        The mask's file (or a label for an array), named by the error.
    stats : MaskStats
        Anything with the ``fraction`` of pixels masked
        (:func:`dqmask.apply.core.mask_stats`).
    max_fraction : float
        The largest fraction accepted.

    Raises
    ------
    InputError
        ``stats.fraction > max_fraction``, naming ``path``.
    """
    if stats.fraction > max_fraction:
        raise InputError(path, f"mask covers {100 * stats.fraction:.1f}% of the pixels, "
                               f"above {{max_fraction}} {max_fraction:g}; refused",
                         mentions=("max_fraction",))


# --------------------------------------------------------------------------------------------
# Parameters several jobs share (one vocabulary: the same name for the same idea everywhere)
# --------------------------------------------------------------------------------------------

#: The DQ bits that make a pixel of a ``dq``-convention mask bad (every command reading
#: masks: apply, combine/grow/convert/regions, preview). Old spellings: ``--mask-flags``
#: (apply), ``--dq`` (toolbox), ``--mask-dq`` (preview).
BAD_FLAGS = Option("bad_flags", "string", None,
                   "dq-convention masks: DQ bits that make a pixel bad (default any)",
                   metavar="FLAGS")

#: The DQ flags written on bad pixels (apply, detect, the toolbox's ``--to dq``).
FLAGS = Option("flags", "string", None, "DQ flags to set on bad pixels", metavar="FLAGS")

#: Largest fraction of a file a mask may cover before it is refused (apply, detect, dqinit's
#: user DQ, the editor).
MAX_FRACTION = Option("max_fraction", "float", 0.5,
                      "refuse a mask covering more than this fraction", above=0.0, min=0.0,
                      max=1.0, metavar="F",
                      cli_help="refuse a mask covering more than this fraction of a file")


#: How a mask file may be read (``io.mask_file.READ_CONVENTIONS``; a test keeps them equal).
READ_CONVENTIONS = ("bad", "good", "background", "user_mask", "dq", "seed")

#: ``--mask-convention``: how every command reading mask files reads them (apply, the
#: toolbox, preview; the same as a ``PATH@CONV`` suffix).
MASK_CONVENTION = Option(
    "mask_convention", "option", "auto", "how to read mask (default: guessed)",
    choices=("auto", *READ_CONVENTIONS), metavar="CONV",
    cli_help="how to read mask files: " + ", ".join(READ_CONVENTIONS) + " or auto (default: "
             "guessed from keywords and dtype, and said); the same as writing PATH@CONV")

#: Replace what is there, or redo what a header record says was done (each job words it).
FORCE = Option("force", "boolean", False, "replace an existing output")

# Outputs of the commands that write one file per input.
OUTPUT = Option("output", "string", None, "output file (only with a single input)",
                short="-o", metavar="FILE")
OUTPUT_DIR = Option("output_dir", "string", None, "write outputs into DIR", metavar="DIR")
IN_PLACE = Option("in_place", "boolean", False, "rewrite the input file (atomically)")
OUTPUT_SUFFIX = Option("output_suffix", "string", None, "output name suffix", metavar="S")

# Commands that can show what they would do (apply, the DOLPHOT commands).
DRY_RUN = Option("dry_run", "boolean", False, "do everything but write")

# Steps used as a jwst pipeline hook (``dqmask_user_dq``, ``dqmask_background``).
PASS_THROUGH = Option("pass_through", "boolean", False,
                      "return the input unchanged and save the result (for use as a hook)")

# Multi-file commands (``cli._common.add_batch_options``).
JOBS = Option("jobs", "integer", 1, "process files in N worker processes", short="-j",
              metavar="N")
SCHEDULER = Option("scheduler", "string", None,
                   "run on a dask.distributed cluster, e.g. tcp://host:8786",
                   metavar="ADDRESS")

# How an image is drawn as a picture (fits2png, preview): ``io.png`` choices.
LIMITS = Option("limits", "option", "zscale", "display limits",
                choices=("zscale", "minmax", "percentile"),
                cli_help="display limits (default zscale; percentile uses --percent)")
PERCENT = Option("percent", "float", 99.5,
                 "central per cent of the values for --limits percentile", above=0.0,
                 max=100.0)
STRETCH = Option("stretch", "option", "linear", "grey stretch between the limits",
                 choices=("linear", "sqrt", "log", "asinh"))


def spec(options: Iterable[Option]) -> str:
    """The stpipe ``spec`` text of ``options`` (one line each)."""
    return "\n" + "\n".join("    " + o.spec_line() for o in options) + "\n"


def defaults(options: Sequence[Option]) -> dict[str, Any]:
    """``{name: default}``."""
    return {o.name: o.default for o in options}


def by_name(options: Iterable[Option]) -> dict[str, Option]:
    """``{name: option}``."""
    return {o.name: o for o in options}


def add_arguments(parser: argparse.ArgumentParser | Any, options: Iterable[Option]) -> None:
    """Add each of ``options`` to an argparse parser (see :meth:`Option.add_to`)."""
    for option in options:
        option.add_to(parser)
