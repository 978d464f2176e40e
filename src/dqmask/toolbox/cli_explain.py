"""``dqmask explain``: decode a DQ value, or count flags per DQ extension of files.

Each flag is printed with its one-line meaning (:meth:`dqmask.flags.FlagTable.description`;
a MASK reference file's own ``DQ_DEF`` descriptions where it has them). Only light modules
are imported here at module level, so ``dqmask explain --help`` loads neither numpy nor
astropy; the file path imports them in :func:`run`.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from ..cli._common import EXIT_FAILURE, EXIT_OK, command_parser, console_err, flag_of, say
from ..errors import InputError
from ..flags import (
    JWST_GROUP,
    JWST_PIXEL,
    TABLES,
    FlagSpecError,
    FlagTable,
    decode,
    parse_flags,
)

log = logging.getLogger(__name__)

DQ_EXTNAMES = ("DQ", "PIXELDQ", "GROUPDQ")


def register(sub, common) -> argparse.ArgumentParser:
    p = command_parser(sub, common, "explain", """
        Decode a DQ value or flag expression into flag names, or, given FITS files, print per
        DQ-like extension (DQ, PIXELDQ, GROUPDQ) the number of pixels carrying each flag
        with its meaning.""")
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
    names = decode(value, table)
    lines = [f"{item} = {value} = " + " + ".join(names or ["GOOD"])]
    describe = _describer(table)
    for name in names:
        bit = table[name] if name in table else 1 << int(name[3:])
        lines.append(f"      {name:<20s} {bit:>12d}  {describe(name)}")
    return lines


def _describer(table: Mapping[str, int],
               own: Mapping[str, str] | None = None) -> Callable[[str], str]:
    """``name -> description``: a file's own (DQ_DEF), else the flag table's, else ``""``.

    A DQ_DEF table is a plain mapping (a MASK reference's own bit numbering): a name with no
    DESCRIPTION of its own is described as the JWST pixel flag of that name (dq_init maps
    DQ_DEF names to those flags); a bit it does not name says so.
    """
    if isinstance(table, FlagTable):
        return lambda name: _table_description(table, name)

    def describe(name: str) -> str:
        if own and own.get(name):
            return own[name]
        if name not in table:
            return f"bit {name[3:]}: not in the file's DQ_DEF"
        return _table_description(JWST_PIXEL, name)

    return describe


def _table_description(table: FlagTable, name: str) -> str:
    try:
        return table.description(name)
    except KeyError:
        return ""


def _dq_def_table(hdul: Any) -> tuple[dict[str, int], dict[str, str]] | None:
    """A MASK reference's DQ_DEF as (name -> value, name -> its DESCRIPTION), if it has one."""
    if "DQ_DEF" not in [h.name for h in hdul]:
        return None
    rows = hdul["DQ_DEF"].data
    try:
        table = {str(r["NAME"]).strip(): int(r["VALUE"]) for r in rows}
    except (KeyError, ValueError, TypeError) as exc:
        raise InputError(hdul.filename(), f"DQ_DEF table unreadable: needs NAME and VALUE "
                                          f"columns ({' '.join(str(exc).split())})") from None
    texts: dict[str, str] = {}
    if rows is not None and "DESCRIPTION" in (rows.names or ()):
        texts = {str(r["NAME"]).strip(): " ".join(str(r["DESCRIPTION"]).split())
                 for r in rows}
    return table, texts


def _explain_file(path: str) -> list[str]:
    """The lines ``explain`` prints for one file (nothing is printed if it raises)."""
    import numpy as np

    from ..flags import flag_counts, table_for
    from ..io.fits import classify_hdulist, open_fits

    lines = []
    with open_fits(path) as hdul:
        info = classify_hdulist(hdul, path)
        lines.append(f"{path}: {info.describe()}")
        dq_def = _dq_def_table(hdul)
        table: Mapping[str, int]
        if dq_def:
            table, texts = dq_def
        else:
            table, texts = table_for(info.telescope, info.instrument, info.detector), {}
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
            describe = _describer(tab, None if tab is JWST_GROUP else texts)
            flagged = int(np.count_nonzero(data))
            lines.append(f"  [{i}] {name},{ver} {data.dtype.name} {'x'.join(map(str, data.shape))}: "
                         f"{flagged} of {data.size} pixels flagged")
            for flag, count in flag_counts(data, tab).items():
                lines.append(f"      {flag:<20s} {count:>12d}  "
                             f"({100.0 * count / data.size:.3f}%)  {describe(flag)}".rstrip())
        if not found:
            lines.append("  no DQ, PIXELDQ or GROUPDQ extension")
    return lines
