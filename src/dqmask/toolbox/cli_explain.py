"""``dqmask explain``: decode a DQ value, or count flags per DQ extension of files."""

from __future__ import annotations

import argparse
import logging
import os

import numpy as np

from ..cli._common import EXIT_FAILURE, EXIT_OK, console_err, flag_of, say
from ..errors import InputError
from ..flags import (
    JWST_GROUP,
    TABLES,
    FlagSpecError,
    decode,
    flag_counts,
    parse_flags,
    table_for,
)
from ..io.fits import classify_hdulist, open_fits

log = logging.getLogger(__name__)

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


_PATH_SUFFIXES = (".fits", ".fit", ".fts", ".gz", ".fz", ".bz2", ".xz")


def run(args: argparse.Namespace) -> int:
    """Explain each item; a bad item is reported on one line and the others still run."""
    code = EXIT_OK
    for item in args.items:
        try:
            lines = _explain_file(item) if os.path.exists(item) else _explain_value(item, args)
        except Exception as exc:  # one line per bad item (traceback with -v); go on
            if args.verbose:
                log.exception("traceback")
            if isinstance(exc, InputError):
                text = exc.oneline(flag_of)
            elif isinstance(exc, FlagSpecError):
                text = f"{item}: {exc}"
            else:  # a bug met on this input
                detail = " ".join(str(exc).split())
                text = (f"{item}: internal error ({type(exc).__name__}"
                        + (f": {detail}" if detail else "") + "); -v shows the traceback")
            console_err(f"dqmask: {text}")
            code = EXIT_FAILURE
            continue
        for line in lines:
            say(line)
    return code


def _explain_value(item: str, args: argparse.Namespace) -> list[str]:
    table = TABLES[args.table or "jwst"]
    try:
        value = parse_flags(item, table)
    except FlagSpecError:
        if os.sep in item or item.lower().endswith(_PATH_SUFFIXES):
            raise InputError(item, "no such file") from None  # a missing file, not a value
        raise
    names = decode(value, table) or ["GOOD"]
    return [f"{item} = {value} = " + " + ".join(names)]


def _dq_def_table(hdul) -> dict[str, int] | None:
    if "DQ_DEF" not in [h.name for h in hdul]:
        return None
    rows = hdul["DQ_DEF"].data
    try:
        return {str(r["NAME"]).strip(): int(r["VALUE"]) for r in rows}
    except (KeyError, ValueError, TypeError) as exc:
        raise InputError(hdul.filename(), f"DQ_DEF table unreadable: needs NAME and VALUE "
                                          f"columns ({' '.join(str(exc).split())})") from None


def _explain_file(path: str) -> list[str]:
    """The lines ``explain`` prints for one file (nothing is printed if it raises)."""
    lines = []
    with open_fits(path) as hdul:
        info = classify_hdulist(hdul, path)
        lines.append(f"{path}: {info.describe()}")
        table = _dq_def_table(hdul) or table_for(info.telescope, info.instrument, info.detector)
        found = False
        for i, hdu in enumerate(hdul):
            name = (hdu.name or "").upper()
            if name not in DQ_EXTNAMES or hdu.data is None:
                continue
            found = True
            data = hdu.data
            ver = hdu.header.get("EXTVER", 1)
            if not np.issubdtype(data.dtype, np.integer):
                raise InputError(path, f"extension {name},{ver} has {data.dtype.name} data; "
                                       f"a DQ array must be integer")
            tab = JWST_GROUP if name == "GROUPDQ" else table
            flagged = int(np.count_nonzero(data))
            lines.append(f"  [{i}] {name},{ver} {data.dtype.name} {'x'.join(map(str, data.shape))}: "
                         f"{flagged} of {data.size} pixels flagged")
            for flag, count in flag_counts(data, tab).items():
                lines.append(f"      {flag:<20s} {count:>12d}  "
                             f"({100.0 * count / data.size:.3f}%)")
        if not found:
            lines.append("  no DQ, PIXELDQ or GROUPDQ extension")
    return lines
