"""``dqmask combine | grow | convert | regions``: the mask toolbox.

Inputs are ``PATH[CHIP]@CONVENTION`` (see :mod:`dqmask.io.mask_file`): FITS masks of any
convention, DQ files (bad where ``DQ & --dq``), DS9 region files (painted on ``--like`` or
the first FITS input).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from ..cli._common import (
    EXIT_OK,
    add_mask_convention_option,
    command_parser,
    demo_run,
    demo_sample,
    mask_args,
    say,
)
from ..errors import UsageError
from ..pipeline.options import Option, add_arguments
from .options import (
    FOOTPRINT,
    INPUT_OPTIONS,
    OP,
    OUTPUT_FILE,
    PIXELS,
    REGION_COLOR,
    to,
)

COMMANDS = ("combine", "grow", "convert", "regions")

_INPUT_HELP = ("mask input PATH[CHIP]@CONVENTION: FITS mask (convention guessed unless "
               "@bad/@good/@background/@user_mask/@dq/@seed or --mask-convention), DQ file, "
               "or DS9 .reg file")

#: parameters of the toolbox functions whose flag is not their name
_FLAG_NAMES = {"flags": "--bad-flags", "flags_out": "--flags"}


def _command(sub, common, name: str, description: str, positionals: dict[str, str],
             before: tuple[Option, ...], after: tuple[Option, ...]) -> argparse.ArgumentParser:
    """Add a toolbox command: positionals ``{dest: metavar}`` (``inputs``: one or more),
    ``before`` options, the mask-input options, then ``after``."""
    p = command_parser(sub, common, name, description)
    for dest, metavar in positionals.items():
        p.add_argument(dest, metavar=metavar, nargs="+" if dest == "inputs" else None,
                       help="output file" if dest == "output" else _INPUT_HELP)
    add_arguments(p, before)
    add_mask_convention_option(p)
    add_arguments(p, (*INPUT_OPTIONS, *after))
    p.set_defaults(_run=run, _flag_names=_FLAG_NAMES)
    return p


def register(sub, common) -> argparse.ArgumentParser:
    _command(sub, common, "combine",
             "Combine masks: 'or' = bad in any, 'and' = bad in all, 'not' = bad in the first "
             "and in none of the others (A and not B and not C...).",
             {"inputs": "MASK"}, (OP, OUTPUT_FILE), to("bad"))
    _command(sub, common, "grow", "Dilate the bad pixels of a mask by N pixels.",
             {"input": "MASK"}, (PIXELS, FOOTPRINT, OUTPUT_FILE), to(None))
    _command(sub, common, "convert",
             "Convert a mask between conventions, e.g. to jwst user_supplied_dq (--to dq) for "
             "dq_init or user_mask for clean_flicker_noise. dq -> dq without "
             "--bad-flags/--flags keeps every bit.",
             {"input": "IN", "output": "OUT"}, (), to(None))
    return _command(sub, common, "regions",
                    "Trace the pixel edges of the bad pixels and write DS9 image-coordinate "
                    "polygons whose union is exactly the mask.",
                    {"input": "MASK"}, (OUTPUT_FILE.but(metavar="OUT.reg"), REGION_COLOR), ())


def run(args: argparse.Namespace) -> int:
    """Dispatch on the sub-command name."""
    from . import files as toolbox

    command = args.command
    specs = mask_args(args.inputs if command == "combine" else [args.input], args)
    if command == "combine":
        if args.op == "not" and len(args.inputs) < 2:
            raise UsageError("--op not needs at least two inputs (A minus B ...)")
        res = toolbox.combine_files(specs, args.output, op=args.op, to=args.to,
                                    flags=args.bad_flags, flags_out=args.flags_out, like=args.like)
        say(res.summary(f"combine --op {args.op}"))
    elif command == "grow":
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
    rate = demo_sample(samples, "nircam_rate", say, "toolbox")
    if rate is None:
        return
    work = Path(workdir)
    reg = work / "toolbox_demo.reg"
    reg.write_text("# Region file format: DS9 version 4.1\nimage\ncircle(100,100,20)\n")
    demo_run(
        say,
        ["combine", f"{rate}", str(reg), "--bad-flags", "DO_NOT_USE", "-o",
         str(work / "toolbox_combined.fits")],
        ["grow", str(work / "toolbox_combined.fits"), "--pixels", "2", "-o",
         str(work / "toolbox_grown.fits")],
        ["convert", str(work / "toolbox_grown.fits"), str(work / "toolbox_user_dq.fits"),
         "--to", "dq"],
        ["regions", str(work / "toolbox_grown.fits"), "-o", str(work / "toolbox_grown.reg")],
        ["preview", str(rate), "--mask", str(work / "toolbox_grown.fits"), "-o",
         str(work / "toolbox_grown.png")],
    )
