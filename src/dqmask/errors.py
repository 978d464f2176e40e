"""Exceptions shared by every dqmask layer.

Policy: any problem with an input file is raised as :class:`InputError` carrying the
file name and a one-line description. The CLI prints it as ``dqmask: FILE: problem`` on
stderr and exits non-zero; the input file is never modified before the error is raised.

A bad argument of a Python function raises :class:`ParameterError` (a ``ValueError``) whose
message names the *parameter* as Python spells it (``border must be >= 0, got -1``); an
:class:`InputError` about one parameter carries it too (``parameter="dq_bits"``). Only the
command line turns parameter names into its flags (``--border``), with
:meth:`ParameterError.oneline` / :meth:`InputError.oneline` given a ``spell`` function.
Every exception here is also a builtin exception, so callers can catch what they know.
"""

from __future__ import annotations

import os
from collections.abc import Callable

__all__ = ["DqmaskError", "InputError", "ParameterError", "UsageError", "AlreadyDoneError",
           "WriteError", "FlagSpecError", "ShapeMismatch", "StatsError", "UserDqError",
           "UserDqShapeError", "named", "spelled"]

#: How a parameter name is spelled in a message (the identity for Python callers).
Spell = Callable[[str], str]


def spelled(problem: str, spell: Spell, mentions: tuple[str, ...] = ()) -> str:
    """``problem`` with each ``{name}`` of ``mentions`` spelled by ``spell``."""
    for name in mentions:
        problem = problem.replace("{" + name + "}", spell(name))
    return problem


def named(name: str, problem: str) -> str:
    """``name`` followed by ``problem`` (no space before ``:`` or ``,``)."""
    return name + ("" if problem[:1] in ":," else " ") + problem


def _same(name: str) -> str:
    return name


class DqmaskError(Exception):
    """Base class of every error dqmask raises on purpose."""


class InputError(DqmaskError, ValueError):
    """A bad input file: not FITS, truncated, missing extension or keyword, wrong shape...

    Also a :class:`ValueError`, as the errors jwst's steps raise for the same inputs (code
    that catches ``ValueError`` around a jwst step catches dqmask's too). Code that turns a
    ``ValueError`` into an ``InputError`` must therefore re-raise an ``InputError`` as it is
    (``except InputError: raise`` first), or the message would name the file twice.

    Parameters
    ----------
    path : str or os.PathLike or None
        The offending file (``None`` when the problem is not tied to one file).
    problem : str
        One line saying what is wrong, without the file name (nor the parameter name, when
        ``parameter`` is given: the message is then ``parameter problem``). Another
        parameter it mentions is written ``{name}`` (``use {ignore_detector} to apply it
        anyway``) and listed in ``mentions``, so that the command line can spell it as its
        flag.
    mentions : tuple of str
        Parameters written ``{name}`` in ``problem``.
    parameter : str, optional
        The parameter (Python name) whose value made the input fail, e.g. ``dq_bits`` when a
        flag name is not one of the file's mission.
    """

    def __init__(self, path: str | os.PathLike | None, problem: str, *,
                 parameter: str | None = None, mentions: tuple[str, ...] = ()) -> None:
        self.path = None if path is None else os.fspath(path)
        self.parameter = parameter
        self.mentions = tuple(mentions)
        self.problem = " ".join(str(problem).split())  # always one line
        super().__init__(self.oneline())

    def oneline(self, spell: Spell = _same) -> str:
        """The message as the CLI prints it (``FILE: problem``).

        ``spell`` maps the parameter name to what the reader knows (the CLI gives its flag).
        """
        problem = spelled(self.problem, spell, self.mentions)
        if self.parameter:
            problem = named(spell(self.parameter), problem)
        return f"{self.path}: {problem}" if self.path else problem


class ParameterError(DqmaskError, ValueError):
    """A parameter value a function cannot use (not tied to one input file).

    The message names the parameter as the caller spelled it: ``border must be >= 0, got -1``
    for Python; the command line prints ``--border must be >= 0, got -1`` and exits 2.

    Parameters
    ----------
    parameter : str
        Python name of the parameter (``n_sigma``).
    problem : str
        What is wrong, phrased to follow the name (``must be >= 0, got -1``); other
        parameters it mentions are written ``{name}``.
    mentions : tuple of str
        Parameters written ``{name}`` in ``problem``.
    """

    def __init__(self, parameter: str, problem: str, *, mentions: tuple[str, ...] = ()
                 ) -> None:
        self.parameter = parameter
        self.mentions = tuple(mentions)
        self.problem = " ".join(str(problem).split())
        super().__init__(self.oneline())

    def oneline(self, spell: Spell = _same) -> str:
        """The message, the parameter spelled by ``spell``."""
        return named(spell(self.parameter), spelled(self.problem, spell, self.mentions))


class UsageError(DqmaskError, ValueError):
    """Bad command-line usage (exit code 2).

    Raised by command-line modules only (``dqmask.cli``, each job's ``cli``); functions a
    Python caller uses raise :class:`ParameterError` instead.
    """


class AlreadyDoneError(DqmaskError, RuntimeError):
    """A step's idempotence record says the file was already processed.

    Not an error for the batch: the CLI reports it and moves on (exit 0).
    """

    def __init__(self, path: str | os.PathLike, step: str) -> None:
        self.path = os.fspath(path)
        self.step = step
        super().__init__(f"{self.path}: already processed by dqmask {step}; skipped (use --force)")


class WriteError(InputError):
    """The operating system refused a write: ``FILE: <problem> while writing OUT``.

    ``path`` is the file the command was working on (the output itself until a caller that
    knows the input says otherwise with :meth:`for_input`); ``out`` the file being written.
    The target is untouched and no partial file is left when this is raised.

    Parameters
    ----------
    out : path-like
        The file being written.
    reason : str
        What the system said, e.g. ``no space left on device``
        (:func:`dqmask.io.atomic.os_problem`).
    errno_ : int or None
        The ``errno`` of the failure.
    path : path-like, optional
        The file the command was working on (default ``out``).
    """

    def __init__(self, out: str | os.PathLike, reason: str, errno_: int | None = None,
                 path: str | os.PathLike | None = None) -> None:
        self.out = os.fspath(out)
        self.reason = reason
        self.errno = errno_
        super().__init__(self.out if path is None else path, f"{reason} while writing {self.out}")

    def for_input(self, path: str | os.PathLike) -> WriteError:
        """The same failure reported for input ``path`` (``path: problem while writing OUT``)."""
        return WriteError(self.out, self.reason, self.errno, path)


class FlagSpecError(DqmaskError, ValueError):
    """A flag expression that cannot be parsed against the chosen table."""


class ShapeMismatch(DqmaskError, ValueError):
    """A mask whose shape differs from the array it should apply to."""


class StatsError(DqmaskError, ValueError):
    """imagestats cannot compute statistics (no pixel left in the clip range)."""


class UserDqError(DqmaskError, ValueError):
    """A user-supplied DQ array that cannot be OR-ed in (its values); a problem of the user DQ,
    not of the exposure."""


class UserDqShapeError(UserDqError):
    """A user-supplied DQ whose shape differs from the mask's (upstream's text)."""
