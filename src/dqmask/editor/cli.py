"""``dqmask edit``: the browser mask editor (a local server and a page)."""

from __future__ import annotations

import argparse
import os
import signal
import webbrowser
from pathlib import Path

from ..cli._common import console_err, say
from ..errors import InputError, UsageError


def register(sub, common) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "edit", parents=[common],
        help="draw regions, paint, detect and save masks in the browser",
        description=(
            "Start a local web server showing FILE (SCI with its DQ flags, FITS "
            "orientation, zscale / min-max / percentile limits and linear / sqrt / log / "
            "asinh stretches) and open it in the browser: draw polygon, box, circle and "
            "ellipse regions, paint and erase, grow, invert, detect inside the regions "
            "(dqmask detect) or start from the automatic background (dqmask background), "
            "and save the mask in any convention, the regions as DS9, or apply the mask to "
            "the file's DQ (dqmask apply, with a backup). Outputs go beside FILE (or into "
            "--output-dir); the session is autosaved there and offered back at the next "
            "start. The server listens on 127.0.0.1 and every URL carries a random token. "
            "Stop it with Ctrl-C."),
    )
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="image(s) to edit (rate, cal, i2d, flt...); several: stepped through")
    p.add_argument("--regions", metavar="R.reg", help="DS9 region file shown at start")
    p.add_argument("--mask", metavar="M",
                   help="initial mask of the first FILE: PATH[CHIP]@CONVENTION or a .reg file")
    p.add_argument("--output-dir", metavar="DIR", help="where outputs and the session go "
                                                       "(default: beside each FILE)")
    p.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; anything else exposes "
                        "the files to the network, with a warning)")
    p.add_argument("--no-browser", action="store_true",
                   help="print the URL instead of opening a browser")
    return p


def _check(args: argparse.Namespace) -> None:
    if not 0 <= args.port <= 65535:
        raise UsageError("--port must be in 0..65535")
    for path in args.files:
        if not os.path.isfile(path):
            raise InputError(path, "no such file")
    if args.regions and not os.path.isfile(args.regions):
        raise InputError(args.regions, "no such region file")
    if args.output_dir and os.path.exists(args.output_dir) and not os.path.isdir(
            args.output_dir):
        raise InputError(args.output_dir, "is not a directory")


def run(args: argparse.Namespace) -> int:
    from .server import EditorServer

    _check(args)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        console_err(f"dqmask: warning: listening on {args.host}: anyone who can reach this "
                    f"address and learns the URL can read and change these files")
    app = EditorServer(list(args.files), host=args.host, port=args.port,
                       outdir=args.output_dir, regions=args.regions, mask=args.mask)
    # the URL is the one thing the user needs: printed even with --quiet
    print(f"dqmask edit: {app.url}  (Ctrl-C to stop)", flush=True)
    if not args.no_browser:
        webbrowser.open(app.url)
    previous = signal.signal(signal.SIGTERM, _interrupt)  # kill: autosave, then stop
    try:
        app.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    say("dqmask edit: stopped; the session was autosaved")
    return 0


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def demo(workdir: Path, samples: dict[str, Path], say) -> None:
    """Print how to open the editor on a sample (the demo never starts a server)."""
    cal = samples.get("nircam_cal")
    if cal is not None:
        say(f"try: dqmask edit {cal}   (draw a polygon around the claw, detect, save)")
