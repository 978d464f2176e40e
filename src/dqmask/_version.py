"""The version of dqmask, in one place.

``pyproject.toml`` reads it at build time (``[tool.setuptools.dynamic]``, parsed without
importing anything), ``dqmask.__version__`` imports it at run time, and the docs' ``conf.py``
reads it too. This module imports nothing, so ``dqmask --version`` stays cheap.
"""

__version__ = "0.2.0"
