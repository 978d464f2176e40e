"""Parameters of ``detect``, declared once (light: no numpy, no astropy).

:data:`PARAMETERS` are the ``dqmask detect`` options, the ``dqmask_claws`` step spec and the
checks of :class:`~dqmask.claws.core.DetectParams` values; their defaults are the
``DetectParams`` defaults (written here as literals, so ``--help`` imports no core; a test
keeps them equal). The other Options are the command line's own.
"""

from __future__ import annotations

from ..pipeline.options import FORCE, OUTPUT_DIR, OUTPUT_SUFFIX, Option

__all__ = ["PARAMETERS", "COMPAT_MODES", "DEFAULT_SUFFIX", "INCLUDE_REGION", "EXCLUDE_REGION",
           "CLI_OPTIONS"]

#: ``dqmask`` (default, corrected) or ``crab`` (Crab.Toolkit.JWST parity), as
#: :data:`dqmask.claws.core.COMPAT_MODES`.
COMPAT_MODES = ("dqmask", "crab")
#: Outputs ``<name><suffix>.fits`` and ``<name><suffix>_zeroonemask.fits``.
DEFAULT_SUFFIX = "_seed_image"

#: The detection parameters (``dqmask detect`` options, the ``dqmask_claws`` step spec,
#: :class:`~dqmask.claws.core.DetectParams`): help, range and default declared once.
PARAMETERS: tuple[Option, ...] = (
    Option("sigma", "float", 3.0, "threshold in global rms above the background",
           min=0.0, above=0.0),
    Option("smooth", "float", 0.0, "Gaussian sigma (pixels) of the soft seed",
           min=0.0, metavar="PIX",
           cli_help="Gaussian sigma of the soft seed; grows the mask by ~3 x PIX"),
    Option("minpixarea", "integer", 1,
           "drop 8-connected pieces smaller than N pixels", min=0, metavar="N",
           cli_default=None,  # None: not given (the Crab note is said for an explicit 1)
           cli_help="drop 8-connected pieces smaller than N pixels (default 1: keep all; "
                    "Crab's --minpixarea 1, dropping isolated pixels, is 2 here)"),
    Option("ignore_background", "boolean", False,
           "threshold above zero (no Background2D)",
           cli_help="threshold SIGMA x rms above zero (no Background2D)"),
    Option("box_size", "integer", None,
           "Background2D box (default size/10 then size/30)", min=1, metavar="N",
           cli_help="Background2D box for both passes (default size/10 then size/30)"),
    Option("compat", "option", "dqmask", "crab: Crab.Toolkit.JWST parity",
           choices=COMPAT_MODES,
           cli_help="crab: Crab.Toolkit.JWST parity (include region overrides DQ/NaN "
                    "validity, minpixarea = 8-neighbour count, '-' shapes not excluded, "
                    "float64/int64 outputs)"),
)

# The command line's own options (``detect_file`` arguments).
INCLUDE_REGION = Option(
    "include_region", "force_list", None, "DS9 region file to detect inside (repeatable)",
    metavar="R.reg", required=True,
    cli_help="DS9 region file to detect inside (repeatable); '{root}' is each image's name up "
             "to its last _suffix (e.g. '{root}_cal_claws.pix.reg')")
EXCLUDE_REGION = Option("exclude_region", "force_list", None,
                        "DS9 region file never to detect inside (repeatable)", metavar="X.reg")
#: After :data:`PARAMETERS` in ``dqmask detect --help``.
CLI_OPTIONS: tuple[Option, ...] = (
    OUTPUT_SUFFIX.but(default=DEFAULT_SUFFIX),
    OUTPUT_DIR.but(help="default: beside the image"),
    Option("save_intermediate", "boolean", False,
           "also write the background, rms and valid-pixel images"),
    FORCE.but(name="overwrite", help="replace existing outputs"),
)
