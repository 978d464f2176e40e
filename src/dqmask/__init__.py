"""dqmask: make, combine and apply pixel masks to JWST and HST images.

The array API is one import away, loaded on first use (``import dqmask`` stays cheap)::

    from dqmask import to_bad, from_bad, parse_flags, decode, grow, combine

One package per job, each with a pure ``core`` (arrays in, arrays out), its file-level
``files``, its command line ``cli`` and its ``tests``: :mod:`dqmask.apply`,
:mod:`dqmask.dq_init`, :mod:`dqmask.static`, :mod:`dqmask.dolphot`, :mod:`dqmask.nsclean`,
:mod:`dqmask.claws`, :mod:`dqmask.toolbox`. Shared ground: :mod:`dqmask.flags` (DQ flags by
name), :mod:`dqmask.conventions` (the mask model), :mod:`dqmask.errors`, :mod:`dqmask.io`
(FITS, PNG, DS9 regions, mask files) and :mod:`dqmask.datasets` (generated sample files).
File-level functions: :mod:`dqmask.api`.
"""

from __future__ import annotations

import importlib
from typing import Any

#: The one place the version is written: pyproject.toml reads this line at build time
#: (``[tool.setuptools.dynamic]``, parsed without importing), the docs' conf.py too.
__version__ = "0.2.0"

#: public name -> module it comes from (imported on first access, PEP 562)
_ARRAY_API = {
    "Convention": "dqmask.conventions",
    "to_bad": "dqmask.conventions",
    "from_bad": "dqmask.conventions",
    "convert": "dqmask.conventions",
    "dq_to_bad": "dqmask.conventions",
    "FlagTable": "dqmask.flags",
    "parse_flags": "dqmask.flags",
    "decode": "dqmask.flags",
    "flag_counts": "dqmask.flags",
    "table_for": "dqmask.flags",
    "grow": "dqmask.toolbox.morphology",
    "combine": "dqmask.toolbox.combine",
    "DqmaskError": "dqmask.errors",
    "InputError": "dqmask.errors",
}

__all__ = ["__version__", *_ARRAY_API]


def __getattr__(name: str) -> Any:
    module = _ARRAY_API.get(name)
    if module is None:
        raise AttributeError(f"module 'dqmask' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_ARRAY_API})
