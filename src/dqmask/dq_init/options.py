"""The parameters of ``dqinit``, declared once, in a module that imports neither numpy nor
astropy: ``dqmask dqinit --help`` builds its options from :data:`PARAMETERS` without loading
the file-level code (:mod:`dqmask.dq_init.files` takes its defaults from the same list).
"""

from __future__ import annotations

from ..pipeline.options import MAX_FRACTION, Option

__all__ = ["PARAMETERS", "OUTPUT_SUFFIX"]

#: Suffix of the default output, as jwst names a standalone DQInitStep's result
#: (``strun dq_init X_uncal.fits`` writes ``X_dqinitstep.fits``).
OUTPUT_SUFFIX = "dqinitstep"

#: Parameters of ``dqinit`` (``dqmask dqinit`` options, ``dq_init_file`` keyword defaults),
#: declared once.
PARAMETERS: tuple[Option, ...] = (
    Option("mask", "string", None,
           "MASK reference file (REFTYPE=MASK, e.g. jwst_nircam_mask_0026.fits); N/A "
           "records S_DQINIT=SKIPPED like jwst when CRDS has no MASK", metavar="MASK_REF"),
    Option("user_dq", "string", None,
           "user-supplied DQ file (primary HDU, integer flags, science shape), OR-ed in like "
           "jwst's user_supplied_dq; refused if its header says it is a background or "
           "good-pixel mask", metavar="FILE"),
    MAX_FRACTION.but(cli_help="refuse a --user-dq flagging more than this fraction of a "
                              "file"),
    Option("force", "boolean", False,
           "apply even to exposures whose S_DQINIT is already COMPLETE"),
    Option("ignore_detector", "boolean", False,
           "apply a MASK whose INSTRUME/DETECTOR differ from the exposure's"),
    Option("faithful", "boolean", False,
           "cast the user DQ like jwst (floats truncated, negatives wrapped) instead of "
           "refusing such values"),
    Option("user_dq_all_stripes", "boolean", False,
           "superstripe data: OR a 2-D user DQ into every stripe (jwst needs a 3-D "
           "N x ny x nx user DQ)"),
)
