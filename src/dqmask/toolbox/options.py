"""Options of the toolbox commands (combine, grow, convert, regions) and of ``preview``,
declared once (light: no numpy, no astropy).

Choice lists and defaults that also live in the array modules (``combine.OPERATIONS``,
``morphology.FOOTPRINTS``, ``io.mask_file.WRITE_CONVENTIONS``, ``preview.MIN_SIZE``...) are
written here as literals so ``--help`` imports none of them; ``tests/test_cli_lazy.py`` keeps
them equal.
"""

from __future__ import annotations

import argparse

from ..pipeline.options import (
    BAD_FLAGS,
    FLAGS,
    LIMITS,
    OUTPUT,
    OUTPUT_DIR,
    PERCENT,
    STRETCH,
    Option,
)

__all__ = ["OPERATIONS", "FOOTPRINTS", "WRITE_CONVENTIONS", "MIN_SIZE", "DEFAULT_COLOR",
           "INPUT_OPTIONS", "OUTPUT_FILE", "OP", "PIXELS", "FOOTPRINT", "REGION_COLOR", "to",
           "PREVIEW_INPUTS", "PREVIEW_OUTPUTS", "PREVIEW_OPTIONS", "color"]

#: As :data:`dqmask.toolbox.combine.OPERATIONS`.
OPERATIONS = ("or", "and", "not")
#: As :data:`dqmask.toolbox.morphology.FOOTPRINTS`.
FOOTPRINTS = ("circle", "square", "plus")
#: As :data:`dqmask.io.mask_file.WRITE_CONVENTIONS`.
WRITE_CONVENTIONS = ("bad", "good", "background", "user_mask", "dq")
#: As :data:`dqmask.toolbox.preview.MIN_SIZE` and ``preview_core.DEFAULT_COLOR``.
MIN_SIZE = 256
DEFAULT_COLOR = (255, 0, 0)

# -- combine, grow, convert, regions ---------------------------------------------------------

#: How every toolbox command reads its mask inputs (after ``--mask-convention``).
INPUT_OPTIONS: tuple[Option, ...] = (
    BAD_FLAGS.but(aliases=("--dq",),
                  cli_help="DQ inputs: flags that make a pixel bad, e.g. "
                           "DO_NOT_USE+SATURATED (default: any flag)"),
    Option("like", "string", None, "reference image for region files (shape, WCS); default "
                                   "the first FITS input", metavar="REF.fits"),
)
OUTPUT_FILE = OUTPUT.but(required=True, metavar="OUT.fits", help="output file")
OP = Option("op", "option", "or", "operator", choices=OPERATIONS)
PIXELS = Option("pixels", "integer", None, "radius in pixels", min=0, metavar="N",
                required=True)
FOOTPRINT = Option("footprint", "option", "circle",
                   "circle (Euclidean), square (box) or plus (city block)",
                   choices=FOOTPRINTS)
REGION_COLOR = Option("color", "string", "red", "DS9 colour")


def to(default: str | None) -> tuple[Option, ...]:
    """``--to`` (output convention, ``default`` None: as the input) and the ``--flags`` it
    writes for ``dq``."""
    return (
        Option("to", "option", default, "output convention", choices=WRITE_CONVENTIONS,
               cli_help="output convention: bad (uint8 1=bad), good (int16, drizzlepac), "
                        "background (NSClean uint8), user_mask (jwst clean_flicker_noise), "
                        "dq (jwst dq_init user_supplied_dq)"
                        + (f"; default {default}" if default else "; default: as the input")),
        FLAGS.but(name="flags_out", flag="--flags",
                  cli_help="--to dq: flags written on bad pixels (default "
                           "DO_NOT_USE+OTHER_BAD_PIXEL)"),
    )


# -- preview -----------------------------------------------------------------------------------

_NAMED_COLORS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255),
                 "magenta": (255, 0, 255), "cyan": (0, 255, 255), "yellow": (255, 255, 0)}


def color(text: str) -> tuple[int, int, int]:
    """``--color``: a name or ``#rrggbb`` -> (r, g, b)."""
    if text.lower() in _NAMED_COLORS:
        return _NAMED_COLORS[text.lower()]
    hexa = text.lstrip("#")
    if len(hexa) == 6:
        try:
            return tuple(int(hexa[i:i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]
        except ValueError:
            pass
    raise argparse.ArgumentTypeError(f"not a colour: {text!r} (a name or #rrggbb)")


#: What ``dqmask preview`` overlays (before ``--mask-convention``).
PREVIEW_INPUTS: tuple[Option, ...] = (
    Option("mask", "string", None, "mask to overlay: PATH[CHIP]@CONVENTION or a DS9 .reg file",
           metavar="M"),
    Option("dq", "string", None, "overlay the file's DQ where DQ & FLAGS ('any': any flag set)",
           metavar="FLAGS"),
    BAD_FLAGS.but(aliases=("--mask-dq",),
                  cli_help="dq-convention --mask files: bits that make a pixel bad (default "
                           "any)"),
    Option("before", "string", None, "original file: draw a before/after pair",
           metavar="ORIG"),
)
#: Where ``dqmask preview`` writes (mutually exclusive).
PREVIEW_OUTPUTS: tuple[Option, ...] = (
    OUTPUT.but(metavar="OUT.png", help="PNG to write (one FILE)"),
    OUTPUT_DIR.but(help="write DIR/<name>_preview.png for each FILE (default: beside it)"),
)
#: How ``dqmask preview`` draws, in ``--help`` order.
PREVIEW_OPTIONS: tuple[Option, ...] = (
    Option("max_size", "integer", 1024, "longest side of a chip panel in pixels", min=16,
           metavar="PX"),
    Option("color", "string", DEFAULT_COLOR, "overlay colour: name or #rrggbb (default red)",
           parse=color),
    Option("alpha", "float", 0.5, "overlay opacity in (0, 1] (default 0.5; 1 = pure colour)",
           above=0.0, max=1.0),
    LIMITS, PERCENT, STRETCH,
    Option("flag_colors", "boolean", False,
           "draw the --dq pixels (any flag if --dq is not given) in one colour per flag, "
           "with a legend"),
    Option("min_size", "integer", MIN_SIZE,
           "enlarge small images to about PX on the longer side", metavar="PX"),
    Option("no_axes", "boolean", False, "no pixel ticks around the panels"),
)
