"""``dqmask png2fits``, ``fits2png``, ``bgconvert`` and ``background``: NSClean masks.

All three speak one polarity: **1 / True = background** (the pixels NSClean and jwst's
``clean_flicker_noise`` fit the 1/f noise on).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from ..cli._common import EXIT_OK, say
from ..io.background_mask import FORMATS
from ..io.png import LIMITS, STRETCHES
from ..pipeline.options import add_arguments, by_name
from . import files as steps

_FORMAT_HELP = ("nsclean: primary HDU uint8, 1 = background (NSClean's png2fits); jwst: "
                "ImageModel/CubeModel float32 SCI, 1.0 = background (clean_flicker_noise "
                "user_mask). Default nsclean")


def _size(text: str) -> tuple[int, int] | None:
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

_PARAMETER = by_name(steps.PARAMETERS)
#: png2fits / fits2png / bgconvert take OUT as a positional argument, not -o
_POSITIONAL_OUT = {"out": "output"}


def _register_png2fits(sub, common) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "png2fits", parents=[common],
        help="convert a painted PNG (pure red = background) into an NSClean/jwst mask",
        description="NSClean's png2fits: pixels painted pure red (FF0000) become background "
                    "(1); every other colour, near-red included, is 0; the reference-pixel "
                    "border is forced 0; the PNG's top row becomes the last FITS row. "
                    "RGB, RGBA (alpha ignored), palette and 16-bit PNGs are read exactly.",
    )
    p.add_argument("png", metavar="MASK.png", help="painted picture")
    p.add_argument("out", metavar="OUT.fits", help="background mask to write")
    _PARAMETER["border"].add_to(p)
    p.add_argument("--format", choices=FORMATS, default="nsclean", help=_FORMAT_HELP)
    p.add_argument("--size", type=_size, default=(2048, 2048), metavar="WxH",
                   help="expected picture size, or 'any' (default 2048x2048)")
    p.add_argument("--force", action="store_true", help="replace an existing OUT.fits")
    p.set_defaults(_run=run_png2fits, _command=run_png2fits, _flag_names=_POSITIONAL_OUT)
    return p


def _register_fits2png(sub, common) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "fits2png", parents=[common],
        help="write the zscale picture of a rate image to paint a mask on",
        description="Write a grey RGB PNG (zscale by default) of a rate image, or of the "
                    "mean of several, oriented as png2fits "
                    "reads it back (last FITS row on top). With --mask, the mask's "
                    "background pixels are drawn pure red: edit, save as PNG, png2fits.",
    )
    p.add_argument("rate", metavar="RATE.fits", nargs="+",
                   help="rate, rateints or cal file(s); several are averaged first "
                        "(sigma-clipped mean)")
    p.add_argument("out", metavar="OUT.png", help="picture to write")
    p.add_argument("--mask", metavar="MASK.fits",
                   help="background mask (NSClean or jwst layout) to draw in red")
    p.add_argument("--limits", choices=LIMITS, default="zscale",
                   help="display limits (default zscale; percentile uses --percent)")
    p.add_argument("--percent", type=float, default=99.5,
                   help="central per cent of the values for --limits percentile (99.5)")
    p.add_argument("--stretch", choices=STRETCHES, default="linear",
                   help="grey stretch between the limits (default linear)")
    p.add_argument("--force", action="store_true", help="replace an existing OUT.png")
    p.set_defaults(_run=run_fits2png, _command=run_fits2png, _flag_names=_POSITIONAL_OUT)
    return p


def _register_bgconvert(sub, common) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "bgconvert", parents=[common],
        help="rewrite a background mask in the NSClean or jwst user_mask layout",
        description="Read a background mask in either layout (NSClean primary uint8, or jwst "
                    "ImageModel/CubeModel SCI) and write it in the other; pixels unchanged, "
                    "1 = background. E.g. use NSClean's shipped masks as jwst user_mask.",
    )
    p.add_argument("mask", metavar="MASK.fits", help="background mask (either layout)")
    p.add_argument("out", metavar="OUT.fits", help="mask to write")
    p.add_argument("--format", choices=FORMATS, default="jwst",
                   help="output layout (default jwst). " + _FORMAT_HELP.replace(
                       " Default nsclean", ""))
    p.add_argument("--like", metavar="RATE.fits",
                   help="jwst layout: copy this product's metadata into the mask model")
    p.add_argument("--force", action="store_true", help="replace an existing OUT.fits")
    p.set_defaults(_run=run_bgconvert, _command=run_bgconvert, _flag_names=_POSITIONAL_OUT)
    return p


def _register_background(sub, common) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "background", parents=[common],
        help="automatic NSClean background mask from rate files of one detector",
        description="Combine rate/rateints/cal files of one detector (sigma-clipped mean), "
                    "exclude NaN, zero, DO_NOT_USE and reference pixels, and clip signal with "
                    "jwst clean_flicker_noise's rule: median + N sigma above, 3 sigma below, "
                    "from 3-sigma-clipped statistics. 1 = background.",
    )
    p.add_argument("rates", nargs="+", metavar="RATE.fits", help="inputs (one detector)")
    p.add_argument("-o", "--output", required=True, metavar="MASK.fits",
                   help="background mask to write")
    add_arguments(p, (_PARAMETER[n] for n in ("n_sigma", "grow", "min_region", "stats")))
    p.add_argument("--format", choices=FORMATS, default="nsclean", help=_FORMAT_HELP)
    _PARAMETER["per_integration"].add_to(p)
    p.add_argument("--force", action="store_true", help="replace an existing output")
    p.set_defaults(_run=run_background, _command=run_background)
    return p


def register(sub, common) -> argparse.ArgumentParser:
    """Register png2fits, fits2png, bgconvert and background; returns the last parser."""
    _register_png2fits(sub, common)
    _register_fits2png(sub, common)
    _register_bgconvert(sub, common)
    return _register_background(sub, common)


def run_png2fits(args: argparse.Namespace) -> int:
    say(steps.png2fits(args.png, args.out, border=args.border, fmt=args.format,
                       shape=args.size, force=args.force).summary())
    return EXIT_OK


def run_fits2png(args: argparse.Namespace) -> int:
    say(steps.fits2png(args.rate, args.out, mask=args.mask, force=args.force,
                       limits=args.limits, stretch=args.stretch,
                       percent=args.percent).summary())
    say("  (touch up in GIMP: paint background pure red FF0000, anything else is not "
        "background)")
    return EXIT_OK


def run_bgconvert(args: argparse.Namespace) -> int:
    say(steps.convert_mask(args.mask, args.out, fmt=args.format, like=args.like,
                           force=args.force).summary())
    return EXIT_OK


def run_background(args: argparse.Namespace) -> int:
    say(steps.make_background(args.rates, args.output, n_sigma=args.n_sigma, grow=args.grow,
                              min_region=args.min_region, fmt=args.format,
                              per_integration=args.per_integration, stats=args.stats,
                              force=args.force).summary())
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Run whichever of the three commands was parsed (``main`` calls ``_run``)."""
    return args._command(args)


def demo(workdir: Path, samples: dict[str, Path], say: Callable[[str], None]) -> None:
    """``make demo``: automatic mask from the IFU sample, its picture, and the round trip."""
    rate = samples.get("nirspec_ifu_rate")
    if rate is None:
        say("background demo: no nirspec_ifu_rate sample; skipped")
        return
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    mask = workdir / "ifu_background_mask.fits"
    jwst_mask = workdir / "ifu_background_user_mask.fits"
    png = workdir / "ifu_background_mask.png"
    back = workdir / "ifu_background_from_png.fits"
    say(steps.make_background([rate], mask, grow=1, force=True).summary())
    say(steps.make_background([rate], jwst_mask, grow=1, fmt="jwst", force=True).summary())
    say(steps.fits2png(rate, png, mask=mask, force=True).summary())
    say(steps.png2fits(png, back, force=True).summary())
