"""Options of ``dqmask edit``, declared once (light: the editor's server is imported only
when it starts)."""

from __future__ import annotations

from ..pipeline.options import OUTPUT_DIR, Option

__all__ = ["OPTIONS", "LOCAL_HOSTS"]

#: Addresses that do not expose the files to the network.
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")

#: ``dqmask edit`` options, in ``--help`` order.
OPTIONS: tuple[Option, ...] = (
    Option("regions", "string", None, "DS9 region file shown at start", metavar="R.reg"),
    Option("mask", "string", None,
           "initial mask of the first FILE: PATH[CHIP]@CONVENTION or a .reg file", metavar="M"),
    OUTPUT_DIR.but(help="where outputs and the session go (default: beside each FILE)"),
    Option("port", "integer", 0, "port (default: any free port)", min=0, max=65535),
    Option("host", "string", LOCAL_HOSTS[0],
           "address to listen on (default 127.0.0.1; anything else exposes the files to the "
           "network, with a warning)"),
    Option("no_browser", "boolean", False, "print the URL instead of opening a browser"),
)
