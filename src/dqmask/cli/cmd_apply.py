"""``dqmask apply``: OR DQ flags into JWST / HST files where a mask or DS9 regions are set."""

from __future__ import annotations

import argparse
import functools
import os
from pathlib import Path

from ..errors import UsageError
from ..io.mask_file import read_mask_file
from ..steps.apply import (
    HST_DEFAULT_FLAGS,
    JWST_DEFAULT_FLAGS,
    ApplyOptions,
    apply_to_file,
)
from ._common import (
    add_batch_options,
    add_mask_convention_option,
    add_output_options,
    batch_options,
    mask_arg,
    output_path,
    run_batch,
    say,
)

DEFAULT_SUFFIX = "_masked"


def register(sub, common) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "apply", parents=[common],
        help="OR DQ flags into rate/cal/flt files where a mask or DS9 regions are set",
        description=(
            "Flag the pixels of a mask file or of DS9 regions in the DQ of JWST rate, "
            "rateints, cal, crf files and HST flt/flc chips. DQ keeps its dtype; SCI is left "
            "alone unless --zero-data. Re-applying the same mask with the same flags is "
            "detected from a header record and changes nothing. Output: <name>"
            f"{DEFAULT_SUFFIX}.fits beside the input unless -o, --output-dir or --in-place."),
    )
    p.add_argument("targets", nargs="+", metavar="TARGET", help="files to flag")
    p.add_argument("--mask", metavar="MASK.fits",
                   help="mask file in any convention (bad, good, background, user_mask, dq, "
                        "seed/zeroonemask); PATH@CONV or --mask-convention says which")
    p.add_argument("--region", action="append", default=[], metavar="R.reg",
                   help="DS9 region file (image, physical or sky frame; '-' shapes exclude); "
                        "repeatable; OR-ed with --mask")
    add_mask_convention_option(p)
    p.add_argument("--mask-flags", metavar="EXPR", default=None,
                   help="dq-convention masks: bits that make a pixel bad (default any)")
    p.add_argument("--flags", metavar="EXPR", default=None,
                   help=f"flags to set (default JWST {JWST_DEFAULT_FLAGS}, "
                        f"HST {HST_DEFAULT_FLAGS}); SATURATED / JUMP_DET only if named")
    p.add_argument("--zero-data", action="store_true", help="also set SCI to 0 under the mask")
    p.add_argument("--grow", type=int, default=0, metavar="N",
                   help="grow the mask by N pixels (circular footprint) first")
    p.add_argument("--max-fraction", type=float, default=0.5, metavar="F",
                   help="refuse a mask covering more than this fraction of a file (0.5)")
    p.add_argument("--backup", action="store_true",
                   help="with --in-place, keep the original as <name>_orig.fits (kept once)")
    p.add_argument("--region-mode", choices=("center", "exact"), default="center",
                   help="region membership: pixel centre inside (default) or any overlap")
    p.add_argument("--dry-run", action="store_true",
                   help="report what would be flagged; write nothing")
    p.add_argument("--force", action="store_true",
                   help="apply even if the file records this exact mask already")
    add_output_options(p, in_place=True, default_suffix=DEFAULT_SUFFIX)
    add_batch_options(p)
    return p


def _worker(path: str, *, args_out: dict, n_inputs: int, opts: ApplyOptions) -> str:
    ns = argparse.Namespace(**args_out)
    out = output_path(ns, path, suffix=DEFAULT_SUFFIX, n_inputs=n_inputs)
    if os.path.abspath(out) == os.path.abspath(path) and not ns.in_place:
        raise UsageError(f"{path}: output would overwrite the input; use --in-place")
    return apply_to_file(path, out, opts).summary()


def run(args: argparse.Namespace) -> int:
    if not args.mask and not args.region:
        raise UsageError("apply needs --mask MASK.fits or --region R.reg")
    if args.grow < 0:
        raise UsageError("--grow must be >= 0")
    if not 0 < args.max_fraction <= 1:
        raise UsageError("--max-fraction must be in (0, 1]")
    if args.output and len(args.targets) != 1:
        raise UsageError("-o/--output needs exactly one TARGET; use --output-dir")
    mask = None
    if args.mask:
        mask = read_mask_file(mask_arg(args.mask, args), flags=args.mask_flags)
        say(f"{mask.path}: read as '{mask.convention}' ({mask.reason}); "
            f"{sum(int(p.sum()) for p in mask.planes)} bad pixels in {len(mask.planes)} plane(s)")
    opts = ApplyOptions(flags=args.flags, zero_data=args.zero_data, grow=args.grow,
                        max_fraction=args.max_fraction, backup=args.backup, force=args.force,
                        dry_run=args.dry_run,
                        region_paths=tuple(args.region), region_mode=args.region_mode,
                        mask=mask)
    args_out = {"output": args.output, "output_dir": args.output_dir,
                "in_place": args.in_place, "_default_suffix": DEFAULT_SUFFIX}
    worker = functools.partial(_worker, args_out=args_out, n_inputs=len(args.targets),
                               opts=opts)
    return run_batch(args.targets, worker, label="apply", **batch_options(args))


def demo(workdir: Path, samples: dict[str, Path], say) -> None:
    """Draw a polygon over a sample rate file and flag it (``make demo``)."""
    from . import main

    rate = samples.get("nircam_rate")
    if rate is None:
        say("apply demo: no nircam_rate sample; skipped")
        return
    from astropy.io import fits

    from ..steps.claws import arc_polygon

    reg = Path(workdir) / "apply_demo_claw.reg"
    shape = fits.getdata(rate, "SCI").shape
    reg.write_text(arc_polygon(shape, half_width=0.02 * min(shape) + 4)
                   + f"-circle({shape[1] * 0.45:.1f},{shape[0] * 0.52:.1f},5)\n")
    out = Path(workdir) / "apply_demo_rate.fits"
    say(f"$ dqmask apply {rate} --region {reg} -o {out}")
    main(["apply", str(rate), "--region", str(reg), "-o", str(out)])
    say("$ (again: nothing changes, the record is found)")
    main(["apply", str(out), "--region", str(reg), "--in-place"])
