"""``dqmask detect``: claw / wisp detection inside DS9 regions -> seed image + 0/1 mask."""

from __future__ import annotations

import argparse
import functools
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ..cli._common import command_parser, demo_run, demo_sample, run_batch
from ..pipeline.options import add_arguments, by_name
from .options import CLI_OPTIONS, DEFAULT_SUFFIX, EXCLUDE_REGION, INCLUDE_REGION, PARAMETERS

if TYPE_CHECKING:
    from .core import DetectParams

log = logging.getLogger(__name__)

#: Said once when --minpixarea 1 is given explicitly in the default mode: the value of
#: Crab.Toolkit.JWST's claw recipe, where it drops isolated pixels; here it drops nothing.
CRAB_MINPIXAREA_NOTE = (
    "--minpixarea 1 keeps every detected pixel here (N is the smallest connected piece "
    "kept); in Crab.Toolkit.JWST it drops isolated pixels: use --minpixarea 2 for that, or "
    "--compat crab for Crab's neighbour-count meaning")


def register(sub, common) -> argparse.ArgumentParser:
    p = command_parser(sub, common, "detect", """
        Detect emission above background + SIGMA x rms inside DS9 include regions of one
        image (Crab.Toolkit.JWST seed-image algorithm, two Background2D passes), drop
        connected pieces smaller than --minpixarea, smooth into a soft seed image (float
        0..1) and write it with its 0/1 mask <name><suffix>_zeroonemask.fits (uint8, 1 =
        bad) for `dqmask apply --mask`.""")
    p.add_argument("images", nargs="+", metavar="IMAGE",
                   help="cal / rate / i2d images (2-D SCI), each on its own; @list.txt and "
                        "association files expand")
    add_arguments(p, (INCLUDE_REGION, EXCLUDE_REGION, *PARAMETERS, *CLI_OPTIONS))
    return p


def run(args: argparse.Namespace) -> int:
    from .core import DetectParams

    minpixarea = args.minpixarea
    if minpixarea is None:
        minpixarea = by_name(PARAMETERS)["minpixarea"].default
    if args.minpixarea == 1 and args.compat != "crab":
        log.warning(CRAB_MINPIXAREA_NOTE)
    params = DetectParams(sigma=args.sigma, smooth=args.smooth, minpixarea=minpixarea,
                          ignore_background=args.ignore_background, box_size=args.box_size,
                          compat=args.compat)
    worker = functools.partial(
        _detect_one, include=args.include_region, exclude=args.exclude_region, params=params,
        options={"suffix": args.output_suffix, "output_dir": args.output_dir,
                 "save_intermediate": args.save_intermediate, "overwrite": args.overwrite})
    return run_batch(args.images, worker, label="detect")


def _detect_one(image: str, *, include: list[str], exclude: list[str],
                params: DetectParams, options: dict) -> str:
    """Detect in one image, its ``{root}`` region patterns filled (a missing file fails it)."""
    from ..io.inputs import exposure_file
    from .files import detect_file

    include = [exposure_file(r, image) for r in include]
    exclude = [exposure_file(r, image) for r in exclude]
    return detect_file(image, include, exclude, params, **options).summary()


def demo(workdir: Path, samples: dict[str, Path], say) -> None:
    """Draw a polygon on a sample cal, detect inside it, apply the mask to the rate."""
    cal, rate = demo_sample(samples, "nircam_cal", say, "detect"), samples.get("nircam_rate")
    if cal is None:
        return
    from astropy.io import fits

    from .files import arc_polygon

    workdir = Path(workdir)
    reg = workdir / "detect_demo_claw.reg"
    shape = fits.getdata(cal, "SCI").shape
    reg.write_text(arc_polygon(shape))  # hugs the sample's claw
    say(f"drew {reg.name}: a polygon around the claw of {Path(cal).name}")
    # the sample claw is faint and wide: a large box keeps it out of the background
    opts = ["--sigma", "1.5", "--minpixarea", "10", "--smooth", "2",
            "--box-size", str(max(min(shape) // 3, 16)), "--output-dir", str(workdir),
            "--overwrite"]
    demo_run(say, ["detect", cal, "--include-region", reg, *opts])
    if rate is None:
        return
    name = Path(cal).name.removesuffix(".gz").removesuffix(".fits")
    mask = workdir / f"{name}{DEFAULT_SUFFIX}_zeroonemask.fits"
    out = workdir / "detect_demo_rate.fits"
    demo_run(say, ["apply", rate, "--mask", mask, "-o", out])
