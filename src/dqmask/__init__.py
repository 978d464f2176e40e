"""dqmask: make, combine and apply pixel masks to JWST and HST images.

Subpackages: :mod:`dqmask.algorithms` (pure functions on arrays), :mod:`dqmask.io`
(FITS, PNG, DS9 regions), :mod:`dqmask.steps` (file-level operations), :mod:`dqmask.cli`.
Shared ground: :mod:`dqmask.flags` (DQ flags by name) and :mod:`dqmask.conventions` (the
mask model).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dqmask")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
