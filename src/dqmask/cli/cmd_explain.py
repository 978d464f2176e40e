"""``dqmask explain``: decode a DQ value, or count flags per DQ extension of files."""

from __future__ import annotations

import argparse
import os

import numpy as np

from ..flags import JWST_GROUP, TABLES, decode, flag_counts, parse_flags, table_for
from ..io.fits import classify_hdulist, open_fits
from ._common import EXIT_OK, say

DQ_EXTNAMES = ("DQ", "PIXELDQ", "GROUPDQ")


def register(sub, common) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "explain", parents=[common],
        help="decode a DQ value, or count each flag in a file's DQ extensions",
        description="Decode a DQ value or flag expression into flag names, or, given FITS "
                    "files, print per DQ-like extension (DQ, PIXELDQ, GROUPDQ) the number of "
                    "pixels carrying each flag.",
    )
    p.add_argument("items", nargs="+", metavar="VALUE_OR_FILE",
                   help="an integer / flag expression (1073741825, DO_NOT_USE+SATURATED) "
                        "or a FITS file")
    p.add_argument("--table", choices=sorted(TABLES), default=None,
                   help="flag table for values (default jwst; files: from their header)")
    return p


def run(args: argparse.Namespace) -> int:
    for item in args.items:
        if os.path.exists(item):
            _explain_file(item)
        else:
            table = TABLES[args.table or "jwst"]
            value = parse_flags(item, table)
            names = decode(value, table) or ["GOOD"]
            say(f"{item} = {value} = " + " + ".join(names))
    return EXIT_OK


def _dq_def_table(hdul) -> dict[str, int] | None:
    if "DQ_DEF" not in [h.name for h in hdul]:
        return None
    rows = hdul["DQ_DEF"].data
    return {str(r["NAME"]).strip(): int(r["VALUE"]) for r in rows}


def _explain_file(path: str) -> None:
    with open_fits(path) as hdul:
        info = classify_hdulist(hdul, path)
        say(f"{path}: {info.describe()}")
        table = _dq_def_table(hdul) or table_for(info.telescope, info.instrument, info.detector)
        found = False
        for i, hdu in enumerate(hdul):
            name = (hdu.name or "").upper()
            if name not in DQ_EXTNAMES or hdu.data is None:
                continue
            found = True
            data = hdu.data
            tab = JWST_GROUP if name == "GROUPDQ" else table
            ver = hdu.header.get("EXTVER", 1)
            flagged = int(np.count_nonzero(data))
            say(f"  [{i}] {name},{ver} {data.dtype} {'x'.join(map(str, data.shape))}: "
                f"{flagged} of {data.size} pixels flagged")
            for flag, count in flag_counts(data, tab).items():
                say(f"      {flag:<20s} {count:>12d}  ({100.0 * count / data.size:.3f}%)")
        if not found:
            say("  no DQ, PIXELDQ or GROUPDQ extension")
