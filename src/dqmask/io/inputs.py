"""Input lists: ``@list`` files, jwst association JSON, HST association tables, ``{root}``.

Commands that take many files accept, in place of any file name:

``@list.txt``
    One file name a line (blank lines and ``#`` comments skipped), as drizzlepac's ``@file``
    inputs. Relative names are relative to the current directory, as there.
``*.json`` (a jwst association)
    Its products' ``members`` of every ``exptype`` that have an ``expname``, in file order.
    Relative names are relative to the association's folder, as the jwst pipeline reads them.
``*_asn.fits`` (an HST association table)
    Its ``EXP-*`` members (``MEMTYPE``), skipping those with ``MEMPRSNT = F``, as
    ``stsci.tools.asnutil.readASNTable`` selects them; each ``MEMNAME`` (lower case) becomes
    ``<memname>_flc.fits`` if present beside the table, else ``<memname>_flt.fits``
    (drizzlepac prefers the CTE-corrected file the same way).

Every expanded file must exist: a missing one is an :class:`~dqmask.errors.InputError`
naming the list and the member, raised before anything is processed. Order is kept, and so
is a file named twice (the command decides what that means, as for names typed twice).

Per-exposure names: :func:`expand_pattern` fills ``{root}`` in a mask or region path with the
exposure's root, the file name up to its last ``_suffix``
(``jw01727044001_04101_00001_nrcb1_cal.fits`` -> ``jw01727044001_04101_00001_nrcb1``).
"""

from __future__ import annotations

import json
import os
import string
from collections.abc import Iterable

from ..errors import InputError
from .files import open_regular, require_regular_file

__all__ = ["expand_inputs", "exposure_root", "expand_pattern", "is_pattern", "exposure_file"]

_HST_SUFFIXES = ("_flc.fits", "_flt.fits")
_MAX_DEPTH = 4


def expand_inputs(items: Iterable[str | os.PathLike]) -> list[str]:
    """File names with every ``@list``, jwst association and HST association expanded.

    Parameters
    ----------
    items : iterable of path-like
        File names as typed by a user; other names pass through unchanged (their existence
        is checked by the command that opens them).

    Returns
    -------
    list of str
        Files in order (a name given twice stays twice).

    Raises
    ------
    InputError
        A list or association that cannot be read, or names a member that does not exist.
    """
    out: list[str] = []
    for item in items:
        out.extend(_expand(os.fspath(item), 0))
    return out


def _expand(item: str, depth: int) -> list[str]:
    if depth > _MAX_DEPTH:
        raise InputError(item, f"lists nested more than {_MAX_DEPTH} deep")
    if item.startswith("@"):
        members = _read_list(item[1:])
    elif item.lower().endswith(".json"):
        members = _read_jwst_asn(item)
    elif item.lower().endswith("_asn.fits"):
        members = _read_hst_asn(item)
    else:
        return [item]
    out: list[str] = []
    for member in members:
        out.extend(_expand(member, depth + 1))
    return out


def _read_text(path: str, what: str) -> str:
    try:
        with open_regular(path, what) as fh:  # a FIFO is refused, never waited on
            return fh.read().decode("utf-8")
    except InputError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read this {what} ({exc.__class__.__name__})") from None


def _check_member(listing: str, member: str, name: str | None = None) -> str:
    if not os.path.exists(member):
        raise InputError(listing, f"member {name or member} not found ({member})")
    return member


def _read_list(path: str) -> list[str]:
    """The names of an ``@list`` file (relative to the current directory, as drizzlepac)."""
    names = []
    for line in _read_text(path, "list file").splitlines():
        name = line.split("#", 1)[0].strip()
        if name:
            names.append(name.split()[0])  # drizzlepac lists may carry a second column
    return [n if n.startswith("@") or _is_asn(n) else _check_member("@" + path, n)
            for n in names]


def _is_asn(name: str) -> bool:
    return name.lower().endswith((".json", "_asn.fits"))


def _read_jwst_asn(path: str) -> list[str]:
    """The ``expname`` of every member of every product (relative to the file's folder)."""
    try:
        asn = json.loads(_read_text(path, "association file"))
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not a JSON association (line {exc.lineno}: {exc.msg})") from None
    products = asn.get("products") if isinstance(asn, dict) else None
    if not isinstance(products, list):
        raise InputError(path, "not a jwst association: no 'products' list")
    folder = os.path.dirname(path)
    names = []
    for product in products:
        for member in (product or {}).get("members", []) or []:
            expname = member.get("expname") if isinstance(member, dict) else None
            if not expname:
                raise InputError(path, f"a member of product {product.get('name', '?')!r} "
                                       f"has no expname")
            full = expname if os.path.isabs(expname) else os.path.join(folder, expname)
            names.append(_check_member(path, full, expname))
    if not names:
        raise InputError(path, "the association has no members")
    return names


def _read_hst_asn(path: str) -> list[str]:
    """The ``EXP-*`` members present (``MEMPRSNT``) of an HST association table."""
    from .fits import open_fits  # numpy + astropy only for a table: splitgroups needs neither

    require_regular_file(path, "association table")
    try:
        with open_fits(path) as hdul:
            table = hdul[1].data
            columns = [c.upper() for c in table.columns.names]
            if "MEMNAME" not in columns or "MEMTYPE" not in columns:
                raise InputError(path, "not an association table: no MEMNAME/MEMTYPE columns")
            rows = [(str(r["MEMNAME"]).strip().lower(), str(r["MEMTYPE"]).strip().upper(),
                     bool(r["MEMPRSNT"]) if "MEMPRSNT" in columns else True) for r in table]
    except InputError:
        raise
    except (OSError, IndexError, AttributeError, TypeError, KeyError) as exc:
        raise InputError(path, f"not a readable association table ({exc.__class__.__name__})"
                         ) from None
    folder = os.path.dirname(path)
    names = [_hst_member(path, folder, name) for name, memtype, present in rows
             if memtype.startswith("EXP") and present]
    if not names:
        raise InputError(path, "the association table lists no present EXP member")
    return names


def _hst_member(path: str, folder: str, name: str) -> str:
    for suffix in _HST_SUFFIXES:
        candidate = os.path.join(folder, name + suffix)
        if os.path.exists(candidate):
            return candidate
    tried = " or ".join(name + s for s in _HST_SUFFIXES)
    raise InputError(path, f"member {name} not found (no {tried} in {folder or '.'})")


# --------------------------------------------------------------------------------------------
# Per-exposure patterns
# --------------------------------------------------------------------------------------------


def exposure_root(path: str | os.PathLike) -> str:
    """The file name up to its last ``_suffix`` (folder and ``.fits``/``.gz`` dropped).

    ``jw01727044001_04101_00001_nrcb1_cal.fits`` -> ``jw01727044001_04101_00001_nrcb1``;
    a name without ``_`` is its own root.
    """
    name = os.path.basename(os.fspath(path))
    for ext in (".gz", ".fits", ".fit", ".fts", ".asdf"):
        name = name.removesuffix(ext)
    return name.rsplit("_", 1)[0] if "_" in name else name


def is_pattern(text: str | None) -> bool:
    """True when ``text`` holds a ``{root}`` field."""
    return bool(text) and "{root}" in str(text)


def expand_pattern(pattern: str | os.PathLike, exposure: str | os.PathLike) -> str:
    """``pattern`` with ``{root}`` replaced by :func:`exposure_root` of ``exposure``.

    Parameters
    ----------
    pattern : path-like
        A file name, with or without ``{root}`` (a name without it is returned unchanged).
    exposure : path-like
        The exposure the file is for (its name gives the root).

    Returns
    -------
    str
        The file name for this exposure (not checked for existence).

    Raises
    ------
    InputError
        A field other than ``{root}`` or unbalanced braces in ``pattern``.
    """
    pattern = os.fspath(pattern)
    if "{" not in pattern and "}" not in pattern:
        return pattern
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None}
    except ValueError as exc:
        raise InputError(pattern, f"not a valid {{root}} pattern ({exc})") from None
    if fields - {"root"}:
        raise InputError(pattern, f"unknown field(s) {', '.join(sorted(fields - {'root'}))} "
                                  f"in the pattern; only {{root}} is filled")
    return pattern.format(root=exposure_root(exposure))


def exposure_file(pattern: str | os.PathLike, exposure: str | os.PathLike) -> str:
    """The existing file ``pattern`` names for ``exposure`` (``{root}`` filled).

    A name without ``{root}`` is returned unchanged (the command that opens it reports a
    missing file as usual).

    Raises
    ------
    InputError
        On the exposure: the pattern names a file that does not exist, so that an exposure
        without its mask or region file is reported, never silently skipped.
    """
    name = expand_pattern(pattern, exposure)
    if is_pattern(os.fspath(pattern)) and not os.path.exists(name):
        raise InputError(exposure, f"no {name} for this exposure (from {os.fspath(pattern)})")
    return name
