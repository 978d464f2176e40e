"""The dqmask Python API: one import for every file-level operation.

Each function here is the one the matching ``dqmask`` command calls, so scripts and the
command line behave identically (atomic writes, provenance records, one-line
:class:`~dqmask.errors.InputError` for bad inputs). The pure array functions behind them
live in each job's ``core`` module (``dqmask.dq_init.core``, ``dqmask.static.core``, ...); the
mask conventions in :mod:`dqmask.conventions`.

Examples
--------
These need real files, so they are shown, not run (``make test`` runs the examples of the
pure modules):

>>> from dqmask import api
>>> api.dq_init_file("jw01_uncal.fits", "nrca1_mask.fits", "jw01_dqinit.fits")  # doctest: +SKIP
>>> api.make_static_masks(["j1_flt.fits", "j2_flt.fits"], sig=4.0,
...                       output_dir="masks")                                 # doctest: +SKIP
>>> api.apply_to_file("jw01_rate.fits", "jw01_rate.fits",
...                   api.ApplyOptions(mask="claws.fits"))                    # doctest: +SKIP
"""

from __future__ import annotations

from .apply.files import ApplyOptions, ApplyResult, apply_to_file, read_mask
from .claws.files import detect_file
from .conventions import Convention, convert, from_bad, to_bad
from .dolphot.files import MaskOptions, prepare_file, splitgroups
from .dq_init.files import dq_init_file
from .flags import decode, flag_counts, parse_flags
from .io.fits import classify
from .nsclean.files import fits2png, make_background, png2fits
from .static.files import make_static_masks
from .toolbox.files import combine_files, convert_file, grow_file, regions_file
from .toolbox.preview import preview_file

__all__ = [
    # shared ground
    "classify", "parse_flags", "decode", "flag_counts",
    "Convention", "to_bad", "from_bad", "convert",
    # jobs
    "dq_init_file",
    "make_static_masks",
    "prepare_file", "splitgroups", "MaskOptions",
    "png2fits", "fits2png", "make_background",
    "detect_file", "apply_to_file", "ApplyOptions", "ApplyResult", "read_mask",
    # toolbox
    "combine_files", "grow_file", "convert_file", "regions_file", "preview_file",
]
