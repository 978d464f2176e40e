"""``dqmask detect``: claw / wisp detection inside DS9 regions -> seed image + 0/1 mask."""

from __future__ import annotations

import argparse
import functools
import logging
from pathlib import Path

from ..cli._common import run_batch
from ..io.inputs import exposure_file
from ..pipeline.options import add_arguments
from .core import DetectParams
from .files import DEFAULT_SUFFIX, PARAMETERS, arc_polygon, detect_file

log = logging.getLogger(__name__)

#: Said once when --minpixarea 1 is given explicitly in the default mode: the value of
#: Crab.Toolkit.JWST's claw recipe, where it drops isolated pixels; here it drops nothing.
CRAB_MINPIXAREA_NOTE = (
    "--minpixarea 1 keeps every detected pixel here (N is the smallest connected piece "
    "kept); in Crab.Toolkit.JWST it drops isolated pixels: use --minpixarea 2 for that, or "
    "--compat crab for Crab's neighbour-count meaning")


def register(sub, common) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "detect", parents=[common],
        help="detect claws/wisps above the background inside DS9 regions",
        description=(
            "Detect emission above background + SIGMA x rms inside DS9 include regions of "
            "one image (Crab.Toolkit.JWST seed-image algorithm, two Background2D passes), "
            "drop connected pieces smaller than --minpixarea, smooth into a soft seed "
            "image (float 0..1) and write it with its 0/1 mask <name><suffix>_zeroonemask"
            ".fits (uint8, 1 = bad) for `dqmask apply --mask`."),
    )
    p.add_argument("images", nargs="+", metavar="IMAGE",
                   help="cal / rate / i2d images (2-D SCI), each on its own; @list.txt and "
                        "association files expand")
    p.add_argument("--include-region", action="append", default=[], metavar="R.reg",
                   required=True, help="DS9 region file to detect inside (repeatable); "
                                       "'{root}' is each image's name up to its last _suffix "
                                       "(e.g. '{root}_cal_claws.pix.reg')")
    p.add_argument("--exclude-region", action="append", default=[], metavar="X.reg",
                   help="DS9 region file never to detect inside (repeatable)")
    add_arguments(p, PARAMETERS)
    p.add_argument("--output-suffix", default=DEFAULT_SUFFIX, metavar="S",
                   help=f"output name suffix (default {DEFAULT_SUFFIX})")
    p.add_argument("--output-dir", metavar="DIR", help="default: beside the image")
    p.add_argument("--save-intermediate", action="store_true",
                   help="also write the background, rms and valid-pixel images")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    return p


def run(args: argparse.Namespace) -> int:
    minpixarea = DetectParams().minpixarea if args.minpixarea is None else args.minpixarea
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


def _detect_one(image: str, *, include: list[str], exclude: list[str], params: DetectParams,
                options: dict) -> str:
    """Detect in one image, its ``{root}`` region patterns filled (a missing file fails it)."""
    include = [exposure_file(r, image) for r in include]
    exclude = [exposure_file(r, image) for r in exclude]
    return detect_file(image, include, exclude, params, **options).summary()


def demo(workdir: Path, samples: dict[str, Path], say) -> None:
    """Draw a polygon on a sample cal, detect inside it, apply the mask to the rate."""
    from ..cli import main

    cal, rate = samples.get("nircam_cal"), samples.get("nircam_rate")
    if cal is None:
        say("detect demo: no nircam_cal sample; skipped")
        return
    from astropy.io import fits

    workdir = Path(workdir)
    reg = workdir / "detect_demo_claw.reg"
    shape = fits.getdata(cal, "SCI").shape
    reg.write_text(arc_polygon(shape))  # hugs the sample's claw
    say(f"drew {reg.name}: a polygon around the claw of {Path(cal).name}")
    # the sample claw is faint and wide: a large box keeps it out of the background
    opts = ["--sigma", "1.5", "--minpixarea", "10", "--smooth", "2",
            "--box-size", str(max(min(shape) // 3, 16)), "--output-dir", str(workdir),
            "--overwrite"]
    say(f"$ dqmask detect {cal} --include-region {reg} {' '.join(opts)}")
    main(["detect", str(cal), "--include-region", str(reg), *opts])
    if rate is None:
        return
    name = Path(cal).name.removesuffix(".gz").removesuffix(".fits")
    mask = workdir / f"{name}{DEFAULT_SUFFIX}_zeroonemask.fits"
    out = workdir / "detect_demo_rate.fits"
    say(f"$ dqmask apply {rate} --mask {mask} -o {out}")
    main(["apply", str(rate), "--mask", str(mask), "-o", str(out)])
