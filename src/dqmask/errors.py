"""Exceptions shared by every dqmask layer.

Policy: any problem with an input file is raised as :class:`InputError` carrying the
file name and a one-line description. The CLI prints it as ``dqmask: FILE: problem`` on
stderr and exits non-zero; the input file is never modified before the error is raised.
"""

from __future__ import annotations

import os

__all__ = ["DqmaskError", "InputError", "UsageError", "AlreadyDoneError"]


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
        One line saying what is wrong, without the file name.
    """

    def __init__(self, path: str | os.PathLike | None, problem: str) -> None:
        self.path = None if path is None else os.fspath(path)
        self.problem = " ".join(str(problem).split())  # always one line
        super().__init__(self.oneline())

    def oneline(self) -> str:
        """The message as the CLI prints it (``FILE: problem``)."""
        return f"{self.path}: {self.problem}" if self.path else self.problem


class UsageError(DqmaskError):
    """Bad command-line usage (exit code 2)."""


class AlreadyDoneError(DqmaskError):
    """A step's idempotence record says the file was already processed.

    Not an error for the batch: the CLI reports it and moves on (exit 0).
    """

    def __init__(self, path: str | os.PathLike, step: str) -> None:
        self.path = os.fspath(path)
        self.step = step
        super().__init__(f"{self.path}: already processed by dqmask {step}; skipped (use --force)")
