"""Realistic generated JWST and HST files for tests, the demo and benchmarks.

``from dqmask.datasets import make_nircam_rate, make_acs_wfc_flt, make_all, ...``; every
``make_*`` function writes one file and returns its path. By mission: :mod:`.jwst` (NIRCam,
NIRISS, NIRSpec; written through stdatamodels, imported only when a file is written) and
:mod:`.hst` (ACS/WFC, WFC3; astropy only); shared building blocks in :mod:`._common`;
:mod:`.samples` writes one of each (``python -m dqmask.datasets OUTDIR [--small]
[--seed N]``).
"""

from ._common import *  # noqa: F403 - re-exported whole
from ._common import __all__ as _common_all
from .hst import *  # noqa: F403
from .hst import __all__ as _hst_all
from .jwst import *  # noqa: F403
from .jwst import __all__ as _jwst_all
from .samples import *  # noqa: F403
from .samples import __all__ as _samples_all

__all__ = [*_common_all, *_jwst_all, *_hst_all, *_samples_all]
