"""``dqmask static``: drizzlepac static masks (pixels far below the sky mode) for HST images."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..cli._common import EXIT_OK, command_parser, say
from ..errors import UsageError
from ..pipeline.options import by_name
from .options import PARAMETERS

# files (numpy, astropy) is imported when a command runs: `dqmask static --help` stays light


def _chip_list(text: str) -> list[int]:
    try:
        chips = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--chips wants EXTVER numbers like 1,2, not {text!r}") from None
    if not chips or any(c < 1 for c in chips):
        raise argparse.ArgumentTypeError(f"--chips wants EXTVER numbers >= 1, not {text!r}")
    return chips


def register(sub, common) -> argparse.ArgumentParser:
    p = command_parser(sub, common, "static", """
        Make AstroDrizzle's static masks for HST images: per SCI chip, pixels below
        mode - SIG * rms (stsci.imagestats statistics, reproduced exactly) are bad; masks of
        inputs with the same signature are AND-ed and written as int16 primary-HDU files,
        1 = good. NaN pixels anywhere are fine.""")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="HST flt/flc files")
    param = by_name(PARAMETERS)
    param["sig"].add_to(p)
    names = p.add_mutually_exclusive_group()
    names.add_argument("--output-name", metavar="NAME",
                       help="product name (as AstroDrizzle's output): masks of all inputs "
                            "combine and are named after it; default: one set per input")
    names.add_argument("--legacy-names", action="store_true",
                       help="old names [INSTRUME][DETECTOR]_[rows]x[cols]_[chip]_staticMask"
                            ".fits; inputs of one detector combine")
    p.add_argument("--chips", type=_chip_list, metavar="1,2",
                   help="SCI EXTVERs to use (default all)")
    p.add_argument("--output-dir", metavar="DIR", default=".",
                   help="directory for the masks (default: current directory)")
    param["good_flags"].add_to(p)
    p.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                   help="compute N chips at a time in worker threads (default: the number "
                        "of CPUs; 1 = one at a time); same result")
    return p


def run(args: argparse.Namespace) -> int:
    if args.output_name is not None and not args.output_name.strip():
        raise UsageError("--output-name must not be empty")
    from .files import make_static_masks

    result = make_static_masks(args.inputs, sig=args.sig, output_name=args.output_name,
                               legacy_names=args.legacy_names, chips=args.chips,
                               output_dir=args.output_dir, good_flags=args.good_flags,
                               jobs=None if args.jobs is None else max(1, args.jobs))
    for chip in result.chips:
        say(chip.line())
    for out in result.outputs:
        say(f"wrote {out}")
    return EXIT_OK


def demo(workdir: Path, samples: dict[str, Path], say) -> None:
    """``make demo``: static masks of the sample ACS/WFC, WFC3/UVIS and WFC3/IR images."""
    from .files import make_static_masks

    outdir = Path(workdir) / "static"
    for key in ("acs_wfc_flt", "wfc3_uvis_flt", "wfc3_ir_flt"):
        if key not in samples:
            continue
        say(f"$ dqmask static {samples[key]} --output-dir {outdir}")
        result = make_static_masks([samples[key]], output_dir=outdir)
        for chip in result.chips:
            say("  " + chip.line())
