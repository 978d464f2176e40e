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
    command_parser,
    demo_run,
    demo_sample,
    mask_arg,
    run_batch,
    say,
)
from ..errors import UsageError
from ..io.atomic import refuse_output_is_input
from ..pipeline.options import add_arguments
from .options import PREVIEW_INPUTS, PREVIEW_OPTIONS, PREVIEW_OUTPUTS


def register(sub, common) -> argparse.ArgumentParser:
    p = command_parser(sub, common, "preview", """
        Draw each chip zscaled in grey with masked pixels in the overlay colour. Large images
        are block-reduced (mean image, any-bad mask) so memory stays bounded. With --before
        ORIG: a before/after pair; without --mask or --dq the overlay is the pixels whose DQ
        changed. Several FILEs: one <name>_preview.png each, in --output-dir or beside the
        input.""")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="image(s) to draw (rate, cal, i2d, flt, drz...)")
    *overlay, before = PREVIEW_INPUTS
    add_arguments(p, overlay)
    add_mask_convention_option(p)
    p.set_defaults(_flag_names={"flags": "--bad-flags"})
    before.add_to(p)
    add_arguments(p.add_mutually_exclusive_group(), PREVIEW_OUTPUTS)
    add_arguments(p, PREVIEW_OPTIONS)
    add_batch_options(p)
    return p


def png_path(path: str, output_dir: str | None) -> str:
    """``<dir>/<root>_preview.png`` for ``<dir>/<root>.fits`` (``output_dir`` overrides)."""
    name = os.path.basename(path)
    for ext in (".gz", ".fits", ".fit", ".fts"):
        name = name.removesuffix(ext)
    return os.path.join(output_dir or os.path.dirname(path), f"{name}_preview.png")


def _worker(path: str, *, output: str | None, output_dir: str | None, options: dict) -> str:
    from ..io.mask_file import parse_spec
    from .preview import preview_file

    out = output or png_path(path, output_dir)
    sources = [path, options.get("before"),
               parse_spec(options["mask"]).path if options.get("mask") else None]
    refuse_output_is_input(out, [s for s in sources if s], "choose another -o")
    return preview_file(path, out, **options).summary()


def run(args: argparse.Namespace) -> int:
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
    rate = demo_sample(samples, "nircam_rate", say, "preview")
    if rate is not None:
        demo_run(say, ["preview", rate, "--dq", "DO_NOT_USE", "-o",
                       Path(workdir) / "preview_rate.png"])
