"""Realistic generated JWST and HST files for tests, the demo and benchmarks.

``from dqmask.datasets import make_nircam_rate, make_acs_wfc_flt, make_all, ...``; every
``make_*`` function writes one file and returns its path (see the module docstrings).
``python -m dqmask.datasets OUTDIR [--small] [--seed N]`` writes every sample.
"""

from .jwst import *  # noqa: F403 - the samples are re-exported whole
from .jwst import __all__  # noqa: F401 - one list of names, kept in .jwst
