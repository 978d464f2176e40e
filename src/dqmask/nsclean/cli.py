"""``dqmask png2fits``, ``fits2png``, ``bgconvert`` and ``background``: NSClean masks.

All three speak one polarity: **1 / True = background** (the pixels NSClean and jwst's
``clean_flicker_noise`` fit the 1/f noise on).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

from ..cli._common import EXIT_OK, command_parser, say
from ..pipeline.options import FORCE, LIMITS, OUTPUT, PERCENT, STRETCH, Option, add_arguments
from .options import FORMAT, LIKE, PARAMETERS, SIZE

_PARAMETER = {o.name: o for o in PARAMETERS}
#: png2fits / fits2png / bgconvert take OUT as a positional argument, not -o
_POSITIONAL_OUT = {"out": "output"}


def _replace(what: str) -> Option:
    return FORCE.but(help=f"replace an existing {what}")


def _command(sub, common, name: str, description: str,
             positionals: Sequence[tuple[str, str, str, str | None]],
             options: Sequence[Option], runner: Callable[[argparse.Namespace], int],
             **defaults) -> argparse.ArgumentParser:
    """Add command ``name``: positionals ``(dest, metavar, help, nargs)``, then ``options``."""
    p = command_parser(sub, common, name, description)
    for dest, metavar, text, nargs in positionals:
        p.add_argument(dest, metavar=metavar, help=text, nargs=nargs)
    add_arguments(p, options)
    p.set_defaults(_run=runner, _command=runner, **defaults)
    return p


def register(sub, common) -> argparse.ArgumentParser:
    """Register png2fits, fits2png, bgconvert and background; returns the last parser."""
    _command(
        sub, common, "png2fits",
        "NSClean's png2fits: pixels painted pure red (FF0000) become background (1); every "
        "other colour, near-red included, is 0; the reference-pixel border is forced 0; the "
        "PNG's top row becomes the last FITS row. RGB, RGBA (alpha ignored), palette and "
        "16-bit PNGs are read exactly.",
        [("png", "MASK.png", "painted picture", None),
         ("out", "OUT.fits", "background mask to write", None)],
        [_PARAMETER["border"], FORMAT, SIZE, _replace("OUT.fits")],
        run_png2fits, _flag_names=_POSITIONAL_OUT)
    _command(
        sub, common, "fits2png",
        "Write a grey RGB PNG (zscale by default) of a rate image, or of the mean of several, "
        "oriented as png2fits reads it back (last FITS row on top). With --mask, the mask's "
        "background pixels are drawn pure red: edit, save as PNG, png2fits.",
        [("rate", "RATE.fits", "rate, rateints or cal file(s); several are averaged first "
                               "(sigma-clipped mean)", "+"),
         ("out", "OUT.png", "picture to write", None)],
        [Option("mask", "string", None, "background mask (NSClean or jwst layout) to draw in "
                                        "red", metavar="MASK.fits"),
         LIMITS, PERCENT, STRETCH, _replace("OUT.png")],
        run_fits2png, _flag_names=_POSITIONAL_OUT)
    _command(
        sub, common, "bgconvert",
        "Read a background mask in either layout (NSClean primary uint8, or jwst "
        "ImageModel/CubeModel SCI) and write it in the other; pixels unchanged, 1 = "
        "background. E.g. use NSClean's shipped masks as jwst user_mask.",
        [("mask", "MASK.fits", "background mask (either layout)", None),
         ("out", "OUT.fits", "mask to write", None)],
        [FORMAT.but(default="jwst", cli_help=f"output layout. {FORMAT.cli_help}"), LIKE,
         _replace("OUT.fits")],
        run_bgconvert, _flag_names=_POSITIONAL_OUT)
    return _command(
        sub, common, "background",
        "Combine rate/rateints/cal files of one detector (sigma-clipped mean), exclude NaN, "
        "zero, DO_NOT_USE and reference pixels, and clip signal with jwst "
        "clean_flicker_noise's rule: median + N sigma above, 3 sigma below, from "
        "3-sigma-clipped statistics. 1 = background.",
        [("rates", "RATE.fits", "inputs (one detector)", "+")],
        [OUTPUT.but(required=True, metavar="MASK.fits", help="background mask to write"),
         *(_PARAMETER[n] for n in ("n_sigma", "grow", "min_region", "stats")), FORMAT,
         _PARAMETER["per_integration"], _replace("output")],
        run_background)


def run_png2fits(args: argparse.Namespace) -> int:
    from . import files as steps

    say(steps.png2fits(args.png, args.out, border=args.border, fmt=args.format,
                       shape=args.size, force=args.force).summary())
    return EXIT_OK


def run_fits2png(args: argparse.Namespace) -> int:
    from . import files as steps

    say(steps.fits2png(args.rate, args.out, mask=args.mask, force=args.force,
                       limits=args.limits, stretch=args.stretch,
                       percent=args.percent).summary())
    say("  (touch up in GIMP: paint background pure red FF0000, anything else is not "
        "background)")
    return EXIT_OK


def run_bgconvert(args: argparse.Namespace) -> int:
    from . import files as steps

    say(steps.convert_mask(args.mask, args.out, fmt=args.format, like=args.like,
                           force=args.force).summary())
    return EXIT_OK


def run_background(args: argparse.Namespace) -> int:
    from . import files as steps

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
    from . import files as steps

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
