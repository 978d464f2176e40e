"""``dqmask combine | grow | convert | regions``: the mask toolbox.

Inputs are ``PATH[CHIP]@CONVENTION`` (see :mod:`dqmask.io.mask_file`): FITS masks of any
convention, DQ files (bad where ``DQ & --dq``), DS9 region files (painted on ``--like`` or
the first FITS input).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from ..cli._common import EXIT_OK, add_mask_convention_option, mask_args, say
from ..errors import UsageError
from ..io.mask_file import WRITE_CONVENTIONS
from ..pipeline.options import BAD_FLAGS, FLAGS
from . import files as toolbox
from .combine import OPERATIONS
from .morphology import FOOTPRINTS

COMMANDS = ("combine", "grow", "convert", "regions")

_INPUT_HELP = ("mask input PATH[CHIP]@CONVENTION: FITS mask (convention guessed unless "
               "@bad/@good/@background/@user_mask/@dq/@seed or --mask-convention), DQ file, "
               "or DS9 .reg file")


def _common_inputs(p: argparse.ArgumentParser) -> None:
    add_mask_convention_option(p)
    BAD_FLAGS.but(aliases=("--dq",),
                  cli_help="DQ inputs: flags that make a pixel bad, e.g. "
                           "DO_NOT_USE+SATURATED (default: any flag)").add_to(p)
    p.add_argument("--like", metavar="REF.fits", default=None,
                   help="reference image for region files (shape, WCS); default the first "
                        "FITS input")


def _output_convention(p: argparse.ArgumentParser, default: str | None) -> None:
    p.add_argument("--to", choices=WRITE_CONVENTIONS, default=default,
                   help="output convention: bad (uint8 1=bad), good (int16, drizzlepac), "
                        "background (NSClean uint8), user_mask (jwst clean_flicker_noise), "
                        "dq (jwst dq_init user_supplied_dq)"
                        + (f"; default {default}" if default else "; default: as the input"))
    FLAGS.but(name="flags_out", flag="--flags",
              cli_help="--to dq: flags written on bad pixels (default "
                       "DO_NOT_USE+OTHER_BAD_PIXEL)").add_to(p)


#: parameters of the toolbox functions whose flag is not their name
_FLAG_NAMES = {"flags": "--bad-flags", "flags_out": "--flags"}


def register(sub, common) -> argparse.ArgumentParser:
    p = sub.add_parser("combine", parents=[common],
                       help="combine masks of any convention with or / and / not",
                       description="Combine masks: 'or' = bad in any, 'and' = bad in all, "
                                   "'not' = bad in the first and in none of the others "
                                   "(A and not B and not C...).")
    p.add_argument("inputs", nargs="+", metavar="MASK", help=_INPUT_HELP)
    p.add_argument("--op", choices=OPERATIONS, default="or", help="operator (default or)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.fits", help="output file")
    _common_inputs(p)
    _output_convention(p, "bad")
    p.set_defaults(_run=run, _flag_names=_FLAG_NAMES)

    p = sub.add_parser("grow", parents=[common], help="grow the bad pixels of a mask",
                       description="Dilate the bad pixels of a mask by N pixels.")
    p.add_argument("input", metavar="MASK", help=_INPUT_HELP)
    p.add_argument("--pixels", type=int, required=True, metavar="N", help="radius in pixels")
    p.add_argument("--footprint", choices=FOOTPRINTS, default="circle",
                   help="circle (Euclidean), square (box) or plus (city block); default circle")
    p.add_argument("-o", "--output", required=True, metavar="OUT.fits", help="output file")
    _common_inputs(p)
    _output_convention(p, None)
    p.set_defaults(_run=run, _flag_names=_FLAG_NAMES)

    p = sub.add_parser("convert", parents=[common], help="rewrite a mask in another convention",
                       description="Convert a mask between conventions, e.g. to jwst "
                                   "user_supplied_dq (--to dq) for dq_init or user_mask for "
                                   "clean_flicker_noise. dq -> dq without --bad-flags/--flags keeps "
                                   "every bit.")
    p.add_argument("input", metavar="IN", help=_INPUT_HELP)
    p.add_argument("output", metavar="OUT", help="output file")
    _common_inputs(p)
    _output_convention(p, None)
    p.set_defaults(_run=run, _flag_names=_FLAG_NAMES)

    p = sub.add_parser("regions", parents=[common],
                       help="write the outlines of a mask as DS9 polygons",
                       description="Trace the pixel edges of the bad pixels and write DS9 "
                                   "image-coordinate polygons whose union is exactly the mask.")
    p.add_argument("input", metavar="MASK", help=_INPUT_HELP)
    p.add_argument("-o", "--output", required=True, metavar="OUT.reg", help="output file")
    p.add_argument("--color", default="red", help="DS9 colour (default red)")
    _common_inputs(p)
    p.set_defaults(_run=run, _flag_names=_FLAG_NAMES)
    return p


def run(args: argparse.Namespace) -> int:
    """Dispatch on the sub-command name."""
    command = args.command
    specs = mask_args(args.inputs if command == "combine" else [args.input], args)
    if command == "combine":
        if args.op == "not" and len(args.inputs) < 2:
            raise UsageError("--op not needs at least two inputs (A minus B ...)")
        res = toolbox.combine_files(specs, args.output, op=args.op, to=args.to,
                                    flags=args.bad_flags, flags_out=args.flags_out, like=args.like)
        say(res.summary(f"combine --op {args.op}"))
    elif command == "grow":
        if args.pixels < 0:
            raise UsageError("--pixels must be >= 0")
        res = toolbox.grow_file(specs[0], args.output, pixels=args.pixels,
                                footprint=args.footprint, to=args.to, flags=args.bad_flags,
                                flags_out=args.flags_out, like=args.like)
        say(res.summary(f"grow {args.pixels} px {args.footprint}"))
    elif command == "convert":
        if args.to is None:
            raise UsageError("convert needs --to CONVENTION")
        res = toolbox.convert_file(specs[0], args.output, to=args.to, flags=args.bad_flags,
                                   flags_out=args.flags_out, like=args.like)
        say(res.summary("convert"))
    elif command == "regions":
        if not re.fullmatch(r"#?[A-Za-z0-9]+", args.color):
            raise UsageError(f"--color {args.color!r}: a DS9 colour name or #rrggbb")
        out, n = toolbox.regions_file(specs[0], args.output, flags=args.bad_flags, like=args.like,
                                      color=args.color)
        say(f"regions {args.input} -> {out}: {n} polygons")
    else:  # pragma: no cover - argparse restricts the choices
        raise UsageError(f"unknown command {command}")
    return EXIT_OK


def demo(workdir: Path, samples: dict[str, Path], say) -> None:
    """Combine a rate file's DQ with a region, grow it, export for dq_init and DS9, look."""
    from ..cli import main

    rate = samples.get("nircam_rate")
    if rate is None:
        say("toolbox demo: no nircam_rate sample; skipped")
        return
    work = Path(workdir)
    reg = work / "toolbox_demo.reg"
    reg.write_text("# Region file format: DS9 version 4.1\nimage\ncircle(100,100,20)\n")
    steps = [
        ["combine", f"{rate}", str(reg), "--bad-flags", "DO_NOT_USE", "-o",
         str(work / "toolbox_combined.fits")],
        ["grow", str(work / "toolbox_combined.fits"), "--pixels", "2", "-o",
         str(work / "toolbox_grown.fits")],
        ["convert", str(work / "toolbox_grown.fits"), str(work / "toolbox_user_dq.fits"),
         "--to", "dq"],
        ["regions", str(work / "toolbox_grown.fits"), "-o", str(work / "toolbox_grown.reg")],
        ["preview", str(rate), "--mask", str(work / "toolbox_grown.fits"), "-o",
         str(work / "toolbox_grown.png")],
    ]
    for argv in steps:
        say("$ dqmask " + " ".join(argv))
        main(argv)
