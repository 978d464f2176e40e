"""Step parameters declared once: the stpipe ``spec`` is generated from these descriptions.

Each step module lists its :class:`Option` objects; :func:`spec` turns them into the
configobj text stpipe validates (``name = type(default=..., min=...)  # help``). The names
are the ``dqmask`` command-line option names with ``_`` for ``-`` (``--mask-flags`` is
``mask_flags``). The command-line parsers still declare their options themselves; building
them from these descriptions (``Option.cli_flag`` gives the flag name) is the next step of
the one-source-of-truth work (issue 13).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Option", "spec", "defaults"]

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
        Default value (None: not set).
    help : str
        One line, shown by ``strun --help`` and in parameter files.
    choices : tuple of str
        Allowed values of an ``option``.
    min, max : float, optional
        Range of a number.
    """

    name: str
    kind: str
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"option {self.name}: unknown kind {self.kind!r}")
        if self.kind == "option" and self.default not in self.choices:
            raise ValueError(f"option {self.name}: default {self.default!r} not in choices")

    @property
    def cli_flag(self) -> str:
        """The command-line flag of the same parameter (``--mask-flags``)."""
        return "--" + self.name.replace("_", "-")

    def spec_line(self) -> str:
        """``name = kind(args, default=...)  # help`` for an stpipe spec."""
        args = [repr(c) for c in self.choices]
        if self.min is not None:
            args.append(f"min={self.min!r}")
        if self.max is not None:
            args.append(f"max={self.max!r}")
        args.append(f"default={self.default!r}")
        return f"{self.name} = {self.kind}({', '.join(args)})  # {self.help}"


def spec(options: Iterable[Option]) -> str:
    """The stpipe ``spec`` text of ``options`` (one line each)."""
    return "\n" + "\n".join("    " + o.spec_line() for o in options) + "\n"


def defaults(options: Sequence[Option]) -> dict[str, Any]:
    """``{name: default}``."""
    return {o.name: o.default for o in options}
