"""``dqmask apply``: OR DQ flags into JWST / HST files where a mask or DS9 regions are set."""

from __future__ import annotations

import argparse
import dataclasses
import functools
from pathlib import Path
from typing import TYPE_CHECKING

from ..cli._common import (
    add_batch_options,
    add_output_options,
    batch_options,
    command_parser,
    demo_run,
    demo_sample,
    output_path,
    run_batch,
    say,
)
from ..errors import UsageError
from ..io.atomic import refuse_output_is_input
from ..pipeline.options import add_arguments
from .options import BACKUP, CHIP, DEFAULT_SUFFIX, DRY_RUN, PARAMETERS

if TYPE_CHECKING:
    from .files import ApplyOptions, TargetedMask


def register(sub, common) -> argparse.ArgumentParser:
    p = command_parser(sub, common, "apply", f"""
        Flag the pixels of mask files or of DS9 regions in the DQ of JWST rate, rateints,
        cal, crf files and HST flt/flc chips (M.fits[SCI,N] / R.reg[SCI,N] or --chip N for
        one chip; drizzlepac *_staticMask.fits go to their chip). DQ keeps its dtype; SCI is
        left alone unless --zero-data. Re-applying the same mask with the same flags is
        detected from a header record and changes nothing. Output: <name>{DEFAULT_SUFFIX}.fits
        beside the input unless -o, --output-dir or --in-place.""")
    p.add_argument("targets", nargs="+", metavar="TARGET",
                   help="files to flag; @list.txt, jwst asn .json and HST _asn.fits expand")
    mask, region, convention, *rest, region_mode, force = PARAMETERS
    add_arguments(p, (mask, region, CHIP, convention, *rest, BACKUP, region_mode, DRY_RUN,
                      force))
    add_output_options(p, in_place=True, default_suffix=DEFAULT_SUFFIX)
    add_batch_options(p)
    return p


def _read_masks(specs: list[str], convention: str, mask_flags: str | None, *,
                exposure: str | None = None) -> tuple[TargetedMask, ...]:
    """Read every --mask once (each target then takes its chips from them).

    With ``exposure``, ``{root}`` patterns are filled for that target (a missing file fails
    that target alone); without it, the specs must hold no pattern.
    """
    from ..io.inputs import exposure_file
    from ..io.mask_file import mask_spec, read_mask_file
    from .files import TargetedMask, split_chip

    out = []
    for spec in specs:
        text, chip = split_chip(spec)  # [SCI,N]: the target chip; @CONV stays on text
        ms = mask_spec(text, convention)
        if exposure is not None:
            ms = dataclasses.replace(ms, path=exposure_file(ms.path, exposure))
        mask = read_mask_file(ms, flags=mask_flags)
        target = "" if chip is None else f" for SCI,{chip}"
        say(f"{mask.path}: read as '{mask.convention}' ({mask.reason}); "
            f"{sum(int(p.sum()) for p in mask.planes)} bad pixels in {len(mask.planes)} "
            f"plane(s){target}")
        out.append(TargetedMask(mask, chip))
    return tuple(out)


def _region_for(spec: str, exposure: str) -> str:
    """A --region spec with its ``{root}`` filled for ``exposure`` ([SCI,N] kept)."""
    from ..io.inputs import exposure_file
    from .files import split_chip

    path, chip = split_chip(spec)
    path = exposure_file(path, exposure)
    return path if chip is None else f"{path}[SCI,{chip}]"


def _for_exposure(opts: ApplyOptions, path: str, mask_patterns: tuple[str, ...],
                  mask_read: tuple[str, str | None]) -> ApplyOptions:
    """``opts`` with the ``{root}`` patterns of --mask / --region filled for target ``path``."""
    from ..io.inputs import is_pattern

    regions = tuple(_region_for(r, path) if is_pattern(r) else r for r in opts.region_paths)
    masks = opts.masks
    if mask_patterns:
        masks = masks + _read_masks(list(mask_patterns), *mask_read, exposure=path)
    return dataclasses.replace(opts, region_paths=regions, masks=masks)


def _worker(path: str, *, args_out: dict, n_inputs: int, opts: ApplyOptions,
            mask_patterns: tuple[str, ...] = (),
            mask_read: tuple[str, str | None] = ("auto", None)) -> str:
    from .files import apply_to_file, split_chip

    opts = _for_exposure(opts, path, mask_patterns, mask_read)
    ns = argparse.Namespace(**args_out)
    out = output_path(ns, path, suffix=DEFAULT_SUFFIX, n_inputs=n_inputs)
    if not ns.in_place:
        refuse_output_is_input(out, [path], "use --in-place to rewrite it")
    refuse_output_is_input(out, [split_chip(r)[0] for r in opts.region_paths]
                           + [m.mask.path for m in opts.masks], "choose another output")
    return apply_to_file(path, out, opts).summary()


def run(args: argparse.Namespace) -> int:
    from ..io.inputs import is_pattern
    from .files import ApplyOptions, split_chip

    if not args.mask and not args.region:
        raise UsageError("apply needs --mask MASK.fits or --region R.reg")
    if args.output and len(args.targets) != 1:
        raise UsageError("-o/--output needs exactly one TARGET; use --output-dir")
    for spec in args.region:
        split_chip(spec)  # a bad selector fails once, before any target
    fixed = [m for m in args.mask if not is_pattern(m)]
    patterns = tuple(m for m in args.mask if is_pattern(m))
    masks = _read_masks(fixed, args.mask_convention, args.bad_flags)
    opts = ApplyOptions(flags=args.flags, zero_data=args.zero_data, grow=args.grow,
                        max_fraction=args.max_fraction, backup=args.backup, force=args.force,
                        dry_run=args.dry_run,
                        region_paths=tuple(args.region), region_mode=args.region_mode,
                        masks=masks, chip=args.chip)
    args_out = {"output": args.output, "output_dir": args.output_dir,
                "in_place": args.in_place, "_default_suffix": DEFAULT_SUFFIX}
    worker = functools.partial(_worker, args_out=args_out, n_inputs=len(args.targets),
                               opts=opts, mask_patterns=patterns,
                               mask_read=(args.mask_convention, args.bad_flags))
    return run_batch(args.targets, worker, label="apply", **batch_options(args))


def demo(workdir: Path, samples: dict[str, Path], say) -> None:
    """Draw a polygon over a sample rate file and flag it (``make demo``)."""
    rate = demo_sample(samples, "nircam_rate", say, "apply")
    if rate is None:
        return
    from astropy.io import fits

    from ..claws.files import arc_polygon

    reg = Path(workdir) / "apply_demo_claw.reg"
    shape = fits.getdata(rate, "SCI").shape
    reg.write_text(arc_polygon(shape, half_width=0.02 * min(shape) + 4)
                   + f"-circle({shape[1] * 0.45:.1f},{shape[0] * 0.52:.1f},5)\n")
    out = Path(workdir) / "apply_demo_rate.fits"
    demo_run(say, ["apply", rate, "--region", reg, "-o", out])
    say("(again: nothing changes, the record is found)")
    demo_run(say, ["apply", out, "--region", reg, "--in-place"])
