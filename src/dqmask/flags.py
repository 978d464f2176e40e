"""Data-quality flags by name: JWST (from stdatamodels) and HST (ACS, WFC3, STIS).

Conventions
-----------
* A *flag table* (:class:`FlagTable`) maps a flag name to its integer value (one bit;
  ``GOOD`` is 0), and knows its width in bits, the former names still accepted (aliases)
  and a one-line description of each flag.
* JWST pixel flags are 32-bit (PIXELDQ / DQ arrays are ``uint32``); JWST group flags are
  8-bit (GROUPDQ is ``uint8``); HST DQ arrays are ``int16`` holding 16 flag bits.
* Nothing here casts a DQ array to a narrower or floating type.

The JWST tables are *not* retyped here: they are read from stdatamodels'
``stdatamodels/jwst/datamodels/dqflags.py`` (its ``pixel`` and ``group`` dicts, and the
comment after each flag as its description) so that they follow the pipeline. That file is
*parsed*, not imported: importing it runs stdatamodels' package ``__init__``, which imports
asdf (about half a second that HST work, and most JWST work, never needs). If the file is
missing or not in the expected shape, the module is imported after all (a debug log line
says why). Importing this module imports neither numpy nor astropy.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import logging
import numbers
import operator
import re
import tokenize
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeVar

from .errors import FlagSpecError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "FlagTable",
    "JWST_PIXEL",
    "JWST_GROUP",
    "JWST_ALIASES",
    "ACS",
    "WFC3_UVIS",
    "WFC3_IR",
    "STIS",
    "TABLES",
    "FlagSpecError",
    "table_for",
    "table_width",
    "parse_flags",
    "decode",
    "flag_counts",
    "require_dq_dtype",
]

log = logging.getLogger(__name__)

_V = TypeVar("_V")


def _frozen(d: Mapping[str, _V]) -> Mapping[str, _V]:
    return MappingProxyType(dict(d))


# --------------------------------------------------------------------------------------------
# The flag table type
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entries:
    """What a table holds once loaded: values, descriptions and aliases, all read-only."""

    values: Mapping[str, int]
    descriptions: Mapping[str, str]
    aliases: Mapping[str, str]


#: Returns (name -> value, name -> description) in the table's order.
Loader = Callable[[], tuple[Mapping[str, int], Mapping[str, str]]]

_BIT_RE = re.compile(r"^BIT(\d+)$", re.IGNORECASE)


class FlagTable(Mapping[str, int]):
    """A read-only table of DQ flags: ``name -> value``, its width, aliases, descriptions.

    A :class:`FlagTable` is a ``Mapping[str, int]`` (``table["SATURATED"]``, ``in``,
    iteration in bit order, ``dict(table)``), so it goes wherever a plain flag mapping
    (e.g. a MASK file's ``DQ_DEF``) goes. It cannot be changed after it is made. A table
    may be *lazy*: given a ``loader`` instead of ``flags``, it reads its entries on first
    use (the JWST tables do, from stdatamodels' source); the object stays the same.

    Parameters
    ----------
    key : str
        Short name, as the command line's ``--table`` spells it (``"jwst"``, ``"acs"``).
    title : str
        Human name (``"JWST pixel"``).
    width : int
        Number of flag bits of the DQ arrays it describes (32, 16 or 8).
    flags : mapping, optional
        ``name -> (value, description)``, in bit order. Give this or ``loader``.
    aliases : mapping, optional
        Former name -> current name. Aliases resolve in :meth:`resolve`, :meth:`description`
        and :func:`parse_flags`, never in ``table[name]`` (the faithful mapping). An alias
        whose target is not in the table is ignored.
    loader : callable, optional
        Returns ``(name -> value, name -> description)`` on first use.

    Examples
    --------
    >>> from dqmask import flags
    >>> table = flags.ACS
    >>> table["SATPIXEL"], table.width
    (256, 16)
    >>> table.description("SATPIXEL")
    'Full-well saturated pixel'
    >>> flags.JWST_PIXEL.description("do_not_use")
    'Bad pixel. Do not use.'
    >>> flags.JWST_PIXEL.resolve("UNDERSAMP") == flags.JWST_PIXEL["CHARGELOSS"]
    True
    """

    __slots__ = ("_key", "_title", "_width", "_raw_aliases", "_loader", "_entries")
    _key: str
    _title: str
    _width: int
    _raw_aliases: dict[str, str]
    _loader: Loader | None
    _entries: _Entries | None

    def __init__(self, key: str, title: str, width: int,
                 flags: Mapping[str, tuple[int, str]] | None = None, *,
                 aliases: Mapping[str, str] | None = None,
                 loader: Loader | None = None) -> None:
        if (flags is None) == (loader is None):
            raise TypeError("give exactly one of flags= and loader=")
        if flags is not None:
            table = dict(flags)
            loader = lambda: ({n: v for n, (v, _) in table.items()},  # noqa: E731
                              {n: d for n, (_, d) in table.items()})
        set_ = object.__setattr__
        set_(self, "_key", key)
        set_(self, "_title", title)
        set_(self, "_width", int(width))
        set_(self, "_raw_aliases", dict(aliases or {}))
        set_(self, "_loader", loader)
        set_(self, "_entries", None)
        if flags is not None:
            self._load()  # eager tables are checked when they are made

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    __delattr__ = __setattr__  # type: ignore[assignment]  # read-only as well

    def _load(self) -> _Entries:
        entries = self._entries
        if entries is None:
            assert self._loader is not None
            values, descriptions = self._loader()
            values = {str(k): int(v) for k, v in values.items()}
            for name, value in values.items():
                if value < 0 or value >= 1 << self._width or value & (value - 1):
                    raise ValueError(f"{self._title} flag {name}={value} is not one bit "
                                     f"of {self._width}")
            entries = _Entries(
                MappingProxyType(values),
                MappingProxyType({n: str(descriptions.get(n, "")) for n in values}),
                MappingProxyType({old: new for old, new in self._raw_aliases.items()
                                  if new in values and old not in values}))
            object.__setattr__(self, "_entries", entries)
        return entries

    # -- the Mapping[str, int] interface -----------------------------------------------------

    def __getitem__(self, key: str) -> int:
        return self._load().values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load().values)

    def __len__(self) -> int:
        return len(self._load().values)

    def __repr__(self) -> str:
        return f"<FlagTable {self._key!r}: {self._title} flags, {self._width} bits>"

    # -- what a plain mapping does not know --------------------------------------------------

    @property
    def key(self) -> str:
        """Short name, as ``--table`` spells it (``"jwst"``, ``"wfc3-ir"``)."""
        return self._key

    @property
    def title(self) -> str:
        """Human name (``"WFC3/IR"``)."""
        return self._title

    @property
    def width(self) -> int:
        """Number of flag bits (32 JWST pixel, 8 JWST group, 16 HST)."""
        return self._width

    @property
    def names(self) -> Mapping[str, int]:
        """``name -> value`` (read-only, bit order); the table itself, as a plain mapping."""
        return self._load().values

    @property
    def aliases(self) -> Mapping[str, str]:
        """Former name -> current name (read-only)."""
        return self._load().aliases

    @property
    def full(self) -> int:
        """Every bit of the table's width set (``2**width - 1``)."""
        return (1 << self._width) - 1

    def resolve(self, name: str) -> int:
        """Value of a flag name, case-insensitive, aliases accepted.

        Raises
        ------
        KeyError
            ``name`` is neither a flag nor an alias of this table.
        """
        entries = self._load()
        upper = name.strip().upper()
        upper = entries.aliases.get(upper, upper)
        for key, value in entries.values.items():
            if key.upper() == upper:
                return value
        raise KeyError(name)

    def description(self, name: str) -> str:
        """One-line meaning of a flag (case-insensitive; aliases and ``BIT<n>`` accepted).

        ``BIT<n>`` is how :func:`decode` names a bit the table does not name; its
        description says so. An unknown name raises ``KeyError``.
        """
        entries = self._load()
        upper = name.strip().upper()
        alias = entries.aliases.get(upper)
        for key, text in entries.descriptions.items():
            if key.upper() == (alias or upper):
                return f"former name of {key}: {text}" if alias else text
        bit = _BIT_RE.match(upper)
        if bit and int(bit.group(1)) < self._width:
            return f"bit {int(bit.group(1))}: no {self._title} flag"
        raise KeyError(name)


# --------------------------------------------------------------------------------------------
# JWST: stdatamodels' table, read from its source without importing stdatamodels
# --------------------------------------------------------------------------------------------

#: Where the tables live inside the stdatamodels package.
_DQFLAGS_PARTS = ("jwst", "datamodels", "dqflags.py")
#: The dicts of that file that are flag tables.
_JWST_DICTS = ("pixel", "group")


class _NotUnderstood(Exception):
    """stdatamodels' dqflags.py is not in the shape this reader knows."""


_BINOPS: Mapping[type[ast.operator], Callable[[int, int], int]] = {
    ast.Pow: operator.pow, ast.LShift: operator.lshift, ast.BitOr: operator.or_,
    ast.Add: operator.add, ast.Mult: operator.mul,
}


def _int_value(node: ast.expr, known: Mapping[str, Mapping[str, int]]) -> int:
    """Value of a flag expression: an int, ``2**n``, ``1 << n``, ``a | b`` or ``pixel["X"]``.

    Anything else (a call, a name, an attribute...) is refused, so nothing in the file is
    ever executed.
    """
    if isinstance(node, ast.Constant) and type(node.value) is int and 0 <= node.value < 1 << 64:
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = _int_value(node.left, known), _int_value(node.right, known)
        if isinstance(node.op, (ast.Pow, ast.LShift)) and not 0 <= right < 64:
            raise _NotUnderstood(f"exponent {right} out of range (line {node.lineno})")
        value = _BINOPS[type(node.op)](left, right)  # operands < 2**64: a bounded result
        if not 0 <= value < 1 << 64:
            raise _NotUnderstood(f"value {value} out of range (line {node.lineno})")
        return value
    if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)
            and node.value.id in known and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str) and node.slice.value in known[node.value.id]):
        return known[node.value.id][node.slice.value]
    raise _NotUnderstood(f"unexpected {type(node).__name__} at line {node.lineno}")


def _comments(source: str) -> dict[int, str]:
    """Line number -> text of the comment on that line (without ``#``)."""
    out: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = tok.string.lstrip("#").strip()
    return out


def _parse_dqflags(source: str) -> dict[str, tuple[dict[str, int], dict[str, str]]]:
    """The ``pixel`` and ``group`` tables of stdatamodels' dqflags.py, from its text.

    Each flag's description is the comment on the line of its entry; a ``group`` flag
    without one takes the ``pixel`` flag's of the same name.

    Raises
    ------
    _NotUnderstood
        A table is missing, or an entry is not a string key with a flag expression.
    """
    tree = ast.parse(source)
    comments = _comments(source)
    values: dict[str, dict[str, int]] = {}
    tables: dict[str, tuple[dict[str, int], dict[str, str]]] = {}
    for stmt in tree.body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
                and stmt.targets[0].id in _JWST_DICTS):
            _refuse_later_changes(stmt)
            continue
        if not isinstance(stmt.value, ast.Dict) or stmt.targets[0].id in tables:
            raise _NotUnderstood(f"{stmt.targets[0].id} is not one dict literal")
        table: dict[str, int] = {}
        described: dict[str, str] = {}
        for key, value in zip(stmt.value.keys, stmt.value.values, strict=True):
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                raise _NotUnderstood(f"non-string key at line {stmt.lineno}")
            table[key.value] = _int_value(value, values)
            described[key.value] = comments.get(value.end_lineno or value.lineno, "")
        values[stmt.targets[0].id] = table
        tables[stmt.targets[0].id] = (table, described)
    missing = [name for name in _JWST_DICTS if name not in tables]
    if missing:
        raise _NotUnderstood(f"no {' or '.join(missing)} table")
    pixel_text = tables["pixel"][1]
    for name, text in tables["group"][1].items():
        if not text:
            tables["group"][1][name] = pixel_text.get(name, "")
    return tables


def _refuse_later_changes(stmt: ast.stmt) -> None:
    """Refuse a statement that names a table outside its literal (``pixel.update(...)``).

    The literal is then not the whole truth, and only running the module would tell it.
    """
    for node in ast.walk(stmt):
        if isinstance(node, ast.Name) and node.id in _JWST_DICTS:
            raise _NotUnderstood(f"{node.id} is used at line {node.lineno}")


def _dqflags_path() -> Path | None:
    """stdatamodels' dqflags.py, located without running stdatamodels' ``__init__``."""
    spec = importlib.util.find_spec("stdatamodels")
    if spec is None or not spec.origin:
        return None
    return Path(spec.origin).parent.joinpath(*_DQFLAGS_PARTS)


_jwst_cache: dict[str, tuple[dict[str, int], dict[str, str]]] = {}


def _jwst_tables() -> dict[str, tuple[dict[str, int], dict[str, str]]]:
    """stdatamodels' tables, parsed from its source, or imported if that cannot be done."""
    if not _jwst_cache:
        try:
            path = _dqflags_path()
            if path is None:
                raise _NotUnderstood("stdatamodels not found by importlib.util.find_spec")
            _jwst_cache.update(_parse_dqflags(path.read_text(encoding="utf-8")))
        except (OSError, SyntaxError, ValueError, _NotUnderstood) as exc:
            log.debug("JWST flags: cannot read stdatamodels' dqflags.py (%s); importing "
                      "stdatamodels.jwst.datamodels.dqflags instead", exc)
            _jwst_cache.update(_imported_tables())
    return _jwst_cache


def _imported_tables() -> dict[str, tuple[dict[str, int], dict[str, str]]]:
    """The fallback: the tables as stdatamodels' module holds them (no descriptions)."""
    from stdatamodels.jwst.datamodels import dqflags

    return {name: (dict(getattr(dqflags, name)), {}) for name in _JWST_DICTS}


def _jwst_loader(name: str) -> Loader:
    return lambda: _jwst_tables()[name]


#: Former JWST names still met in old scripts and reference files. Used by the user-facing
#: parser only; the faithful DQ_DEF mapping (dq_init) never resolves aliases.
JWST_ALIASES: Mapping[str, str] = _frozen(
    {
        "RESERVED_1": "OUTLIER",
        "RESERVED_2": "PERSISTENCE",
        "RESERVED_3": "AD_FLOOR",
        "RESERVED_4": "CHARGELOSS",
        "UNDERSAMP": "CHARGELOSS",
        "UNRELIABLE_ERROR": "RESERVED",
        "UNRELIABLE_RESET": "FLUX_ESTIMATED",
    }
)

#: JWST pixel flags (32 bits), straight from stdatamodels (read on first use).
JWST_PIXEL = FlagTable("jwst", "JWST pixel", 32, aliases=JWST_ALIASES,
                       loader=_jwst_loader("pixel"))
#: JWST group flags (GROUPDQ, 8 bits), straight from stdatamodels (read on first use).
JWST_GROUP = FlagTable("jwst-group", "JWST group", 8, aliases=JWST_ALIASES,
                       loader=_jwst_loader("group"))

# The HST tables: names as in hstcal (acsdq.h, wf3dq.h, stisdq.h), meanings as in the
# instruments' Data Handbooks (ACS DHB and WFC3 DHB "data quality flags" tables, STIS IHB).

_HST_COMMON = {
    "GOODPIXEL": (0, "Good pixel"),
    "SOFTERR": (1, "Reed-Solomon decoding error (data lost in compression or transmission)"),
    "DATALOST": (2, "Data lost, replaced by fill value"),
}

#: ACS (WFC, HRC, SBC) DQ bits, names as in hstcal's acsdq.h with the current ACS Data
#: Handbook meanings (64 warm pixel, 128 bad column, 4096 AstroDrizzle CR).
ACS = FlagTable("acs", "ACS", 16, {
    **_HST_COMMON,
    "DETECTORPROB": (4, "Bad detector pixel or beyond aperture (HRC upper-right defect)"),
    "DATAMASKED": (8, "Masked by aperture feature (HRC occulting finger)"),
    "HOTPIX": (16, "Hot pixel"),
    "LARGEBLEM": (32, "CTE tail of a hot pixel / large blemish; unstable pixel"),
    "WARMPIX": (64, "Warm pixel"),
    "BADCOL": (128, "Bad column"),
    "SATPIXEL": (256, "Full-well saturated pixel"),
    "CALIBDEFECT": (512, "Bad pixel in a reference file (flat, polarizer, dust mote)"),
    "SMALLBLEM": (1024, "Charge trap / small blemish"),
    "ATODSAT": (2048, "A-to-D saturated pixel"),
    "DRIZ_CR": (4096, "Cosmic ray or detector artifact flagged by AstroDrizzle"),
    "DATAREJECT": (8192, "Cosmic ray rejected when combining images (ACSREJ)"),
    "CROSSTALK": (16384, "Ghost, crosstalk, or flagged by the user"),
})

#: WFC3/UVIS DQ bits (hstcal wf3dq.h, UVIS meanings).
WFC3_UVIS = FlagTable("wfc3-uvis", "WFC3/UVIS", 16, {
    **_HST_COMMON,
    "DETECTORPROB": (4, "Bad detector pixel or beyond aperture"),
    "DATAMASKED": (8, "Masked by occulting bar / aperture feature"),
    "HOTPIX": (16, "Hot pixel"),
    "CTETAIL": (32, "CTE tail"),
    "WARMPIX": (64, "Warm pixel"),
    "BADBIAS": (128, "Bad pixel in the bias reference file"),
    "SATPIXEL": (256, "Full-well saturated pixel"),
    "BADFLAT": (512, "Bad or uncertain flat-field value"),
    "TRAP": (1024, "Charge trap or sink pixel"),
    "ATODSAT": (2048, "A-to-D saturated pixel"),
    "DRIZ_CR": (4096, "Cosmic ray or detector artifact flagged by AstroDrizzle"),
    "DATAREJECT": (8192, "Cosmic ray rejected when combining CR-SPLIT/REPEAT images"),
    "CROSSTALK": (16384, "Ghost or crosstalk"),
})

#: WFC3/IR DQ bits (hstcal wf3dq.h, IR meanings).
WFC3_IR = FlagTable("wfc3-ir", "WFC3/IR", 16, {
    **_HST_COMMON,
    "DETECTORPROB": (4, "Bad detector pixel or beyond aperture"),
    "BADZERO": (8, "Deviant zero-read (bias) value"),
    "HOTPIX": (16, "Hot pixel"),
    "UNSTABLE": (32, "Unstable response"),
    "WARMPIX": (64, "Warm pixel"),
    "BADREF": (128, "Bad reference pixel"),
    "SATPIXEL": (256, "Full-well saturated pixel"),
    "BADFLAT": (512, "Bad or uncertain flat-field value"),
    "SPIKE": (1024, "Cosmic-ray spike detected during up-the-ramp fitting"),
    "ZEROSIG": (2048, "Signal in the zero read (zero-read signal correction)"),
    "DRIZ_CR": (4096, "Cosmic ray or detector artifact flagged by AstroDrizzle"),
    "DATAREJECT": (8192, "Cosmic ray rejected during up-the-ramp fitting"),
    "CROSSTALK": (16384, "Ghost or crosstalk"),
})

#: STIS CCD/MAMA DQ bits (hstcal stisdq.h meanings).
STIS = FlagTable("stis", "STIS", 16, {
    **_HST_COMMON,
    "DETECTORPROB": (4, "Bad detector pixel (bad column or row, or beyond aperture)"),
    "DATAMASKED": (8, "Masked by occulting bar"),
    "HOTPIX": (16, "Hot pixel"),
    "LARGEBLEM": (32, "Large blemish"),
    "OVERSCAN": (128, "Overscan region"),
    "SATPIXEL": (256, "Saturated pixel"),
    "CALIBDEFECT": (512, "Bad pixel in a reference file"),
    "SMALLBLEM": (1024, "Small blemish"),
    "BADBACKGROUND": (2048, "Too many background pixels rejected (bad background)"),
    "DRIZ_CR": (4096, "Cosmic ray flagged by drizzling / extraction affected by bad input"),
    "DATAREJECT": (8192, "Rejected when combining images (cosmic-ray rejection)"),
    "NOTTHEBEST": (16384, "Not the best: a better pixel from another image was used"),
})

#: Every table by its short name (the names the CLI accepts with ``--table``).
TABLES: Mapping[str, FlagTable] = _frozen(
    {table.key: table for table in (JWST_PIXEL, JWST_GROUP, ACS, WFC3_UVIS, WFC3_IR, STIS)}
)


def table_width(table: Mapping[str, int]) -> int:
    """Number of flag bits of a table: 32 (JWST pixel), 8 (JWST group) or 16 (HST).

    A :class:`FlagTable` knows its width; any other mapping (a copy of a JWST table, a MASK
    file's DQ_DEF) is 32 bits wide if a value needs more than 16 bits, else 16.
    """
    if isinstance(table, FlagTable):
        return table.width
    return 32 if max((int(v) for v in table.values()), default=0) >= 1 << 16 else 16


def table_for(telescope: str | None, instrument: str | None = None,
              detector: str | None = None) -> FlagTable:
    """The flag table of a file from its TELESCOP / INSTRUME / DETECTOR values.

    Unknown HST instruments fall back to the ACS table (same first 14 bits); anything that
    is not HST is JWST.

    Examples
    --------
    >>> from dqmask import flags, table_for
    >>> table_for("HST", "WFC3", "IR") is flags.WFC3_IR
    True
    >>> table_for("JWST", "NIRCAM") is flags.JWST_PIXEL
    True
    """
    tel = (telescope or "").upper()
    inst = (instrument or "").upper()
    det = (detector or "").upper()
    if tel != "HST" and inst not in {"ACS", "WFC3", "STIS", "WFPC2"}:
        return JWST_PIXEL
    if inst == "WFC3":
        return WFC3_IR if det == "IR" else WFC3_UVIS
    if inst == "STIS":
        return STIS
    return ACS


def _name_map(table: Mapping[str, int]) -> dict[str, int]:
    names = {k.upper(): v for k, v in table.items()}
    if isinstance(table, FlagTable):
        for old, new in table.aliases.items():
            names.setdefault(old.upper(), table[new])
    return names


_INT_RE = re.compile(r"^[+-]?(0x[0-9a-f]+|0b[01]+|\d+)$", re.IGNORECASE)


def parse_flags(spec: str | int | None, table: Mapping[str, int] = JWST_PIXEL) -> int:
    """Turn a flag expression into an integer bit mask.

    Accepted forms (case-insensitive names, surrounding blanks ignored):

    * an integer, in decimal, ``0x`` hex or ``0b`` binary: ``1073741825``, ``0x40000001``;
    * names or powers of two joined by ``+``, ``,`` or ``|``:
      ``DO_NOT_USE+OTHER_BAD_PIXEL``, ``DO_NOT_USE,SATURATED``, ``4,8``; ``BIT<n>`` (the
      name :func:`decode` gives a bit the table does not name) and ``GOOD`` (0) are accepted,
      so ``parse_flags(" + ".join(decode(v)))`` gives back ``v``;
    * a leading ``~`` to take the complement within the table's width: ``~4`` is every bit
      but 4, ``~DO_NOT_USE+NON_SCIENCE`` every bit but those two (astropy semantics).

    Parameters
    ----------
    spec : str, int or None
        The expression. ``None`` or ``""`` gives 0.
    table : mapping
        Flag table that resolves names (see :data:`TABLES`).

    Returns
    -------
    int
        Non-negative mask, less than ``2**table_width(table)``.

    Raises
    ------
    FlagSpecError
        Unknown name, a non-power-of-two in a list, a value wider than the table.

    Examples
    --------
    The result is the DQ bits that make a pixel bad (a pixel is bad where
    ``dq & value != 0``):

    >>> from dqmask import flags, parse_flags
    >>> parse_flags("DO_NOT_USE+OTHER_BAD_PIXEL")
    1073741825
    >>> parse_flags("do_not_use, saturated")
    3
    >>> parse_flags("0x40000001") == parse_flags("BIT0 | BIT30")
    True
    >>> parse_flags("~DO_NOT_USE") == 2**32 - 2
    True

    HST names need the instrument's table (16 bits wide):

    >>> parse_flags("DETECTORPROB,SATPIXEL", flags.ACS)
    260
    >>> parse_flags("NOT_A_FLAG")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dqmask.errors.FlagSpecError: unknown flag name 'NOT_A_FLAG' (known: ...)
    """
    width = table_width(table)
    full = (1 << width) - 1
    if spec is None:
        return 0
    if isinstance(spec, numbers.Integral) and not isinstance(spec, bool):
        value = int(spec)
        if value < 0 or value > full:
            raise FlagSpecError(f"flag value {value} does not fit in {width} bits")
        return value
    text = str(spec).strip()
    if not text:
        return 0
    flip = text.startswith("~")
    body = text[1:].strip() if flip else text
    if body.startswith("(") and body.endswith(")"):
        body = body[1:-1].strip()
    value = _parse_body(body, table)
    if value > full:
        raise FlagSpecError(f"flag expression {text!r} does not fit in {width} bits")
    return (~value & full) if flip else value


def _parse_body(body: str, table: Mapping[str, int]) -> int:
    if _INT_RE.match(body):
        value = int(body, 0)
        if value < 0:
            raise FlagSpecError(f"negative flag value {body!r}")
        return value
    names = _name_map(table)
    terms = [t.strip() for t in re.split(r"[+,|]", body)]
    if any(not t for t in terms):
        raise FlagSpecError(f"empty term in flag expression {body!r}")
    resolved: list[int] = []
    for term in terms:
        bit = _BIT_RE.match(term)
        if _INT_RE.match(term):
            resolved.append(int(term, 0))
        elif term.upper() in names:
            resolved.append(names[term.upper()])
        elif bit and int(bit.group(1)) < table_width(table):
            resolved.append(1 << int(bit.group(1)))  # decode()'s name for an unnamed bit
        else:
            known = ", ".join(k for k in table if table[k])
            raise FlagSpecError(f"unknown flag name {term!r} (known: {known})")
    # GOOD (0) adds nothing; duplicates are harmless (OR semantics); every other term must
    # be one bit (astropy's interpret_bit_flags rule, checked here without loading astropy).
    distinct = sorted({v for v in resolved if v != 0})
    for value in distinct:
        if value & (value - 1):
            raise FlagSpecError(f"bad flag expression {body!r}: {value} is not a single bit "
                                f"(a power of two)")
    return sum(distinct)


def decode(value: int, table: Mapping[str, int] = JWST_PIXEL) -> list[str]:
    """Names of the flags set in ``value``, lowest bit first.

    Bits with no name in ``table`` come back as ``BIT<n>`` so that no bit is silently lost;
    0 gives ``[]``. Negative values (HST int16 with bit 15 set) are read as their unsigned
    16-bit pattern.

    Examples
    --------
    >>> from dqmask import decode, flags, parse_flags
    >>> decode(1073741825)
    ['DO_NOT_USE', 'OTHER_BAD_PIXEL']
    >>> decode(0)
    []
    >>> decode(-32768, flags.ACS)  # int16 bit 15, unnamed in the ACS table
    ['BIT15']
    >>> parse_flags(" + ".join(decode(6)))
    6
    """
    value = int(value)
    if value < 0:
        value &= (1 << table_width(table)) - 1
    by_value = {v: k for k, v in reversed(list(table.items())) if v}
    out = []
    bit = 0
    while value >> bit:
        if (value >> bit) & 1:
            out.append(by_value.get(1 << bit, f"BIT{bit}"))
        bit += 1
    return out


def flag_counts(dq: np.ndarray, table: Mapping[str, int] = JWST_PIXEL) -> dict[str, int]:
    """Number of pixels carrying each flag in a DQ array (only flags that occur).

    Parameters
    ----------
    dq : ndarray of integer dtype
        DQ bitfield (uint32 JWST, int16 HST, uint8 GROUPDQ); never cast to float.

    Returns
    -------
    dict
        ``{name: count}`` in bit order, names as in :func:`decode`.

    Examples
    --------
    >>> import numpy as np
    >>> from dqmask import flag_counts
    >>> flag_counts(np.array([[0, 1], [3, 1 << 30]], dtype=np.uint32))
    {'DO_NOT_USE': 2, 'SATURATED': 1, 'OTHER_BAD_PIXEL': 1}
    """
    import numpy as np

    require_dq_dtype(dq)
    width = dq.dtype.itemsize * 8  # every bit of the dtype: none is silently dropped
    # Same bits, unsigned, SAME BYTE ORDER (a native "u2" view of big-endian ">i2" data read
    # from a FITS file would swap the bytes and count bit 4 as bit 12).
    flat = dq.view(dq.dtype.str.replace("i", "u")) if dq.dtype.kind == "i" else dq
    counts: dict[str, int] = {}
    for bit in range(width):
        n = int(np.count_nonzero(flat & flat.dtype.type(1 << bit)))
        if n:
            counts[decode(1 << bit, table)[0]] = n
    return counts


def require_dq_dtype(dq: np.ndarray, name: str = "DQ") -> None:
    """Raise ``TypeError`` unless ``dq`` has an integer dtype (DQ must never be float)."""
    import numpy as np

    if not np.issubdtype(np.asarray(dq).dtype, np.integer):
        raise TypeError(f"{name} array must be integer, got {np.asarray(dq).dtype}")
