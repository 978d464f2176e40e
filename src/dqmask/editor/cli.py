"""``dqmask edit``: the browser mask editor (a local server and a page)."""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path

from ..cli._common import command_parser, console_err, say
from ..errors import InputError
from ..pipeline.options import add_arguments
from .options import LOCAL_HOSTS, OPTIONS


def register(sub, common) -> argparse.ArgumentParser:
    p = command_parser(sub, common, "edit", """
        Start a local web server showing FILE (SCI with its DQ flags, FITS orientation,
        zscale / min-max / percentile limits and linear / sqrt / log / asinh stretches) and
        open it in the browser: draw polygon, box, circle and ellipse regions, paint and
        erase, grow, invert, detect inside the regions (dqmask detect) or start from the
        automatic background (dqmask background), and save the mask in any convention, the
        regions as DS9, or apply the mask to the file's DQ (dqmask apply, with a backup).
        Outputs go beside FILE (or into --output-dir); the session is autosaved there and
        offered back at the next start. The server listens on 127.0.0.1 and every URL
        carries a random token. Stop it with Ctrl-C.""")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="image(s) to edit (rate, cal, i2d, flt...); several: stepped through")
    add_arguments(p, OPTIONS)
    return p


def _check(args: argparse.Namespace) -> None:
    """Inputs exist before a server starts (the port's range is checked while parsing)."""
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
    if args.host not in LOCAL_HOSTS:
        console_err(f"dqmask: warning: listening on {args.host}: anyone who can reach this "
                    f"address and learns the URL can read and change these files")
    app = EditorServer(list(args.files), host=args.host, port=args.port,
                       outdir=args.output_dir, regions=args.regions, mask=args.mask)
    # the URL is the one thing the user needs: printed even with --quiet
    print(f"dqmask edit: {app.url}  (Ctrl-C to stop)", flush=True)
    if not args.no_browser:
        import webbrowser

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
