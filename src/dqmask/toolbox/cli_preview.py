"""``dqmask preview``: PNG quick-look of an image with its mask overlaid, per chip."""

from __future__ import annotations

import argparse
import functools
import os
from pathlib import Path

from ..cli._common import (
    EXIT_OK,
    add_batch_options,
    add_mask_convention_option,
    batch_options,
    mask_arg,
    run_batch,
    say,
)
from ..errors import UsageError
from ..io.atomic import refuse_output_is_input
from ..io.mask_file import parse_spec
from ..io.png import LIMITS, STRETCHES
from ..pipeline.options import BAD_FLAGS
from .preview import DEFAULT_COLOR, MIN_SIZE, preview_file


def _color(text: str) -> tuple[int, int, int]:
    named = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255),
             "magenta": (255, 0, 255), "cyan": (0, 255, 255), "yellow": (255, 255, 0)}
    if text.lower() in named:
        return named[text.lower()]
    hexa = text.lstrip("#")
    if len(hexa) == 6:
        try:
            return tuple(int(hexa[i:i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]
        except ValueError:
            pass
    raise argparse.ArgumentTypeError(f"not a colour: {text!r} (a name or #rrggbb)")


def register(sub, common) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "preview", parents=[common],
        help="PNG quick-look: zscaled image with the mask overlaid, per chip",
        description="Draw each chip zscaled in grey with masked pixels in the overlay colour. "
                    "Large images are block-reduced (mean image, any-bad mask) so memory "
                    "stays bounded. With --before ORIG: a before/after pair; without --mask "
                    "or --dq the overlay is the pixels whose DQ changed. Several FILEs: one "
                    "<name>_preview.png each, in --output-dir or beside the input.")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="image(s) to draw (rate, cal, i2d, flt, drz...)")
    p.add_argument("--mask", metavar="M",
                   help="mask to overlay: PATH[CHIP]@CONVENTION or a DS9 .reg file")
    p.add_argument("--dq", metavar="FLAGS", default=None,
                   help="overlay the file's DQ where DQ & FLAGS ('any': any flag set)")
    BAD_FLAGS.but(aliases=("--mask-dq",),
                  cli_help="dq-convention --mask files: bits that make a pixel bad (default "
                           "any)").add_to(p)
    add_mask_convention_option(p)
    p.set_defaults(_flag_names={"flags": "--bad-flags"})
    p.add_argument("--before", metavar="ORIG", help="original file: draw a before/after pair")
    out = p.add_mutually_exclusive_group()
    out.add_argument("-o", "--output", metavar="OUT.png", help="PNG to write (one FILE)")
    out.add_argument("--output-dir", metavar="DIR",
                     help="write DIR/<name>_preview.png for each FILE (default: beside it)")
    p.add_argument("--max-size", type=int, default=1024, metavar="PX",
                   help="longest side of a chip panel in pixels (default 1024)")
    p.add_argument("--color", type=_color, default=DEFAULT_COLOR,
                   help="overlay colour: name or #rrggbb (default red)")
    p.add_argument("--alpha", type=float, default=0.5,
                   help="overlay opacity in (0, 1] (default 0.5; 1 = pure colour)")
    p.add_argument("--limits", choices=LIMITS, default="zscale",
                   help="display limits (default zscale; percentile uses --percent)")
    p.add_argument("--percent", type=float, default=99.5,
                   help="central per cent of the values for --limits percentile (99.5)")
    p.add_argument("--stretch", choices=STRETCHES, default="linear",
                   help="grey stretch between the limits (default linear)")
    p.add_argument("--flag-colors", action="store_true",
                   help="draw the --dq pixels (any flag if --dq is not given) in one colour "
                        "per flag, with a legend")
    p.add_argument("--min-size", type=int, default=MIN_SIZE, metavar="PX",
                   help=f"enlarge small images to about PX on the longer side ({MIN_SIZE})")
    p.add_argument("--no-axes", action="store_true", help="no pixel ticks around the panels")
    add_batch_options(p)
    return p


def png_path(path: str, output_dir: str | None) -> str:
    """``<dir>/<root>_preview.png`` for ``<dir>/<root>.fits`` (``output_dir`` overrides)."""
    name = os.path.basename(path)
    for ext in (".gz", ".fits", ".fit", ".fts"):
        name = name.removesuffix(ext)
    return os.path.join(output_dir or os.path.dirname(path), f"{name}_preview.png")


def _worker(path: str, *, output: str | None, output_dir: str | None, options: dict) -> str:
    out = output or png_path(path, output_dir)
    sources = [path, options.get("before"),
               parse_spec(options["mask"]).path if options.get("mask") else None]
    refuse_output_is_input(out, [s for s in sources if s], "choose another -o")
    return preview_file(path, out, **options).summary()


def run(args: argparse.Namespace) -> int:
    if args.max_size < 16:
        raise UsageError("--max-size must be at least 16")
    if not 0 < args.alpha <= 1:
        raise UsageError("--alpha must be in (0, 1]")
    if len(args.files) > 1 and args.output:
        raise UsageError("-o/--output needs exactly one FILE; use --output-dir")
    if len(args.files) > 1 and args.before:
        raise UsageError("--before pairs one FILE with its original")
    mask = str(mask_arg(args.mask, args)) if args.mask else None
    options = {"mask": mask, "dq": args.dq, "before": args.before, "flags": args.bad_flags,
               "max_size": args.max_size, "color": args.color, "alpha": args.alpha,
               "limits": args.limits, "percent": args.percent, "stretch": args.stretch,
               "flag_colors": args.flag_colors, "min_size": args.min_size,
               "axes": not args.no_axes}
    if args.output_dir:
        os.makedirs(args.output_dir, exist_ok=True)
    if len(args.files) == 1:
        say(_worker(args.files[0], output=args.output, output_dir=args.output_dir,
                    options=options))
        return EXIT_OK
    worker = functools.partial(_worker, output=None, output_dir=args.output_dir,
                               options=options)
    return run_batch(args.files, worker, label="preview", **batch_options(args))


def demo(workdir: Path, samples: dict[str, Path], say) -> None:
    """Preview a sample rate file with its DO_NOT_USE pixels."""
    from ..cli import main

    rate = samples.get("nircam_rate")
    if rate is None:
        say("preview demo: no nircam_rate sample; skipped")
        return
    out = Path(workdir) / "preview_rate.png"
    say(f"$ dqmask preview {rate} --dq DO_NOT_USE -o {out}")
    main(["preview", str(rate), "--dq", "DO_NOT_USE", "-o", str(out)])
