"""Parameters of the NSClean background-mask commands, declared once (light: no numpy).

:data:`PARAMETERS` are ``background`` / ``png2fits`` options, the ``dqmask_background``
step spec and the defaults of :func:`~dqmask.nsclean.files.make_background` and
:func:`~dqmask.nsclean.files.png2fits`; the other Options are the command line's own. Every
mask here is 1 = background.
"""

from __future__ import annotations

import argparse

from ..pipeline.options import Option

__all__ = ["PARAMETERS", "FORMATS", "REFERENCE_BORDER", "FORMAT", "SIZE", "LIKE", "size"]

#: Background mask layouts (as :data:`dqmask.io.background_mask.FORMATS`).
FORMATS: tuple[str, ...] = ("nsclean", "jwst")
#: Reference-pixel border of the NIR detectors (as :data:`dqmask.nsclean.core
#: .REFERENCE_BORDER`).
REFERENCE_BORDER = 4

#: Parameters of ``background`` and ``png2fits`` (``dqmask`` options, the
#: ``dqmask_background`` step spec, the defaults of ``make_background`` and ``png2fits``),
#: declared once.
PARAMETERS: tuple[Option, ...] = (
    Option("n_sigma", "float", 2.0, "upper clipping threshold in sigma (0 = no clipping)",
           min=0.0, metavar="N",
           cli_help="upper clipping threshold in sigma (jwst n_sigma; default 2; 0 = no "
                    "clipping)"),
    Option("grow", "integer", 0, "also exclude pixels within N of a signal region", min=0,
           metavar="N",
           cli_help="also exclude pixels within N of a signal region (default 0)"),
    Option("min_region", "integer", 5, "signal regions smaller than this are not grown",
           min=0, metavar="PIX",  # 0 and 1 both grow every region
           cli_help="with --grow: signal regions smaller than PIX pixels (noise peaks) are "
                    "excluded but not grown (default 5)"),
    Option("stats", "option", "mode", "clipping statistics from 'mode' pixels or 'all'",
           choices=("mode", "all"),
           cli_help="pixels the clipping median/sigma come from: 'mode' = near the "
                    "background peak (default; robust when traces cover much of the "
                    "detector), 'all' = every usable pixel, as jwst"),
    Option("per_integration", "boolean", False, "one mask per integration (CubeModel)",
           cli_help="one mask per integration (jwst CubeModel; needs --format jwst)"),
    Option("border", "integer", REFERENCE_BORDER, "reference-pixel border forced to 0",
           min=0, metavar="N"),
)


def size(text: str) -> tuple[int, int] | None:
    """``WIDTHxHEIGHT`` -> (height, width); ``any`` -> None."""
    if text.lower() == "any":
        return None
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT or 'any', got {text!r}"
                                         ) from None
    if width <= 0 or height <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return height, width


# The command line's own options.
FORMAT = Option("format", "option", "nsclean", "background mask layout", choices=FORMATS,
                cli_help="nsclean: primary HDU uint8, 1 = background (NSClean's png2fits); "
                         "jwst: ImageModel/CubeModel float32 SCI, 1.0 = background "
                         "(clean_flicker_noise user_mask)")
SIZE = Option("size", "string", (2048, 2048), "expected picture size, or 'any'",
              metavar="WxH", parse=size,
              cli_help="expected picture size, or 'any' (default 2048x2048)")
LIKE = Option("like", "string", None,
              "jwst layout: copy this product's metadata into the mask model",
              metavar="RATE.fits")
