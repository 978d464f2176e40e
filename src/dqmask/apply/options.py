"""Parameters of ``apply``, declared once (light: no numpy, no astropy).

:data:`PARAMETERS` are the ``dqmask apply`` options, the ``dqmask_apply`` step spec and the
:class:`~dqmask.apply.files.ApplyOptions` defaults; the other Options here are the command
line's own (a Python caller says them with ``ApplyOptions`` fields or ``output``).
"""

from __future__ import annotations

import argparse

from ..pipeline import options as shared
from ..pipeline.options import BAD_FLAGS, FLAGS, FORCE, MASK_CONVENTION, MAX_FRACTION, Option

__all__ = ["PARAMETERS", "JWST_DEFAULT_FLAGS", "HST_DEFAULT_FLAGS", "ALL_CHIPS", "DEFAULT_SUFFIX",
           "CHIP", "BACKUP", "DRY_RUN"]

#: Default flags on JWST targets (never SATURATED or JUMP_DET).
JWST_DEFAULT_FLAGS = "DO_NOT_USE+OTHER_BAD_PIXEL"
#: Default flag on HST targets: DETECTORPROB (4, same meaning in ACS, WFC3 and STIS tables).
HST_DEFAULT_FLAGS = "DETECTORPROB"
#: ``chip`` value meaning "the same pixels on every chip".
ALL_CHIPS = "all"
#: Output name: ``<name>_masked.fits`` beside the input unless -o / --output-dir / --in-place.
DEFAULT_SUFFIX = "_masked"

#: Parameters of ``apply`` (``dqmask apply`` options, the ``dqmask_apply`` step spec, the
#: :class:`~dqmask.apply.files.ApplyOptions` defaults): default, range and help declared once.
PARAMETERS: tuple[Option, ...] = (
    Option("mask", "force_list", None,
           "mask FITS file(s) in any dqmask convention, OR-ed; may hold {root}",
           metavar="MASK.fits[SCI,N]",
           cli_help="mask file in any convention (bad, good, background, user_mask, dq, "
                    "seed/zeroonemask; PATH@CONV or --mask-convention says which); "
                    "repeatable, OR-ed; [SCI,N]: for chip N only; drizzlepac "
                    "*_<chip>_staticMask.fits go to their chip; '{root}' is each target's "
                    "name up to its last _suffix: one mask per exposure"),
    Option("region", "force_list", None,
           "DS9 region file(s), image or sky frame; may hold {root}; OR-ed with mask",
           metavar="R.reg[SCI,N]",
           cli_help="DS9 region file (image, physical or sky frame; '-' shapes exclude); "
                    "repeatable; OR-ed with --mask; sky shapes land on the chip(s) whose "
                    "WCS contains them, image shapes on a multi-chip file need [SCI,N] "
                    "or --chip; may hold '{root}' as --mask"),
    MASK_CONVENTION,
    BAD_FLAGS.but(aliases=("--mask-flags",)),
    FLAGS.but(help=f"flags to set (default {JWST_DEFAULT_FLAGS})",
              cli_help=f"flags to set (default JWST {JWST_DEFAULT_FLAGS}, HST "
                       f"{HST_DEFAULT_FLAGS}); SATURATED / JUMP_DET only if named",
              metavar="EXPR"),
    Option("zero_data", "boolean", False, "also set SCI to 0 under the mask"),
    Option("grow", "integer", 0, "grow the mask by N pixels (circular footprint)", min=0,
           metavar="N", cli_help="grow the mask by N pixels (circular footprint) first"),
    MAX_FRACTION,
    Option("region_mode", "option", "center", "pixel centre inside, or any overlap",
           choices=("center", "exact"),
           cli_help="region membership: pixel centre inside (default) or any overlap"),
    FORCE.but(help="apply even if the model records this exact mask",
              cli_help="apply even if the file records this exact mask already"),
)


def chip_number(text: str) -> int | str:
    """``--chip`` value: a chip number (SCI EXTVER >= 1) or :data:`ALL_CHIPS`."""
    if text.strip().lower() == ALL_CHIPS:
        return ALL_CHIPS
    if text.strip().isdigit() and int(text) >= 1:
        return int(text)
    raise argparse.ArgumentTypeError(f"expected a chip number (1, 2, ...) or 'all', not "
                                     f"{text!r}")


# The command line's own options.
CHIP = Option("chip", "string", None,
              "HST files with several chips: the chip (SCI EXTVER) every --mask / --region "
              "without [SCI,N] is for; 'all': the same pixels on every chip",
              metavar="N|all", parse=chip_number)
BACKUP = Option("backup", "boolean", False,
                "with --in-place, keep the original as <name>_orig.fits (kept once)")
DRY_RUN = shared.DRY_RUN.but(help="report what would be flagged; write nothing")
