"""Data-quality flags by name: JWST (from stdatamodels) and HST (ACS, WFC3, STIS).

Conventions
-----------
* A *flag table* maps a flag name to its integer value (one bit; ``GOOD`` is 0).
* JWST pixel flags are 32-bit (PIXELDQ / DQ arrays are ``uint32``); JWST group flags are
  8-bit (GROUPDQ is ``uint8``); HST DQ arrays are ``int16`` holding 16 flag bits.
* Nothing here casts a DQ array to a narrower or floating type.

The JWST tables are *not* retyped here: they are read from
``stdatamodels.jwst.datamodels.dqflags`` so that they follow the pipeline.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import TypeVar

import numpy as np

from .errors import FlagSpecError

__all__ = [
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


_V = TypeVar("_V")


def _frozen(d: Mapping[str, _V]) -> Mapping[str, _V]:
    return MappingProxyType(dict(d))


class _JwstTable(Mapping[str, int]):
    """A read-only JWST flag table loaded from stdatamodels on first use.

    Importing stdatamodels pulls in asdf (about half a second), which HST work never needs;
    the table is the same object before and after loading (``table is JWST_PIXEL`` holds).
    """

    def __init__(self, name: str) -> None:
        self._name = name  # "pixel" or "group": the attribute of stdatamodels' dqflags
        self._table: Mapping[str, int] | None = None

    def _load(self) -> Mapping[str, int]:
        if self._table is None:
            from stdatamodels.jwst.datamodels import dqflags

            self._table = _frozen(getattr(dqflags, self._name))
        return self._table

    def __getitem__(self, key: str) -> int:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __repr__(self) -> str:
        return f"JWST {self._name} flags {dict(self._load())!r}"


#: JWST pixel flags (32 bits), straight from stdatamodels (loaded on first use).
JWST_PIXEL: Mapping[str, int] = _JwstTable("pixel")
#: JWST group flags (GROUPDQ, 8 bits), straight from stdatamodels (loaded on first use).
JWST_GROUP: Mapping[str, int] = _JwstTable("group")

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

#: ACS (WFC, HRC, SBC) DQ bits, names as in hstcal's acsdq.h with the current ACS Data
#: Handbook meanings (64 warm pixel, 128 bad column, 4096 AstroDrizzle CR).
ACS: Mapping[str, int] = _frozen(
    {
        "GOODPIXEL": 0,
        "SOFTERR": 1,  # Reed-Solomon decoding error
        "DATALOST": 2,  # data replaced by fill value
        "DETECTORPROB": 4,  # bad detector pixel or beyond aperture
        "DATAMASKED": 8,  # masked by occulting bar / aperture feature
        "HOTPIX": 16,  # hot pixel
        "LARGEBLEM": 32,  # CTE tail / large blemish
        "WARMPIX": 64,  # warm pixel
        "BADCOL": 128,  # bad column
        "SATPIXEL": 256,  # full-well saturated pixel
        "CALIBDEFECT": 512,  # bad pixel in reference file (flat)
        "SMALLBLEM": 1024,  # charge trap / small blemish
        "ATODSAT": 2048,  # A-to-D saturated pixel
        "DRIZ_CR": 4096,  # cosmic ray flagged by AstroDrizzle
        "DATAREJECT": 8192,  # rejected during image combination (acsrej CR)
        "CROSSTALK": 16384,  # ghost, crosstalk or flagged by user
    }
)

#: WFC3/UVIS DQ bits (hstcal wf3dq.h, UVIS meanings).
WFC3_UVIS: Mapping[str, int] = _frozen(
    {
        "GOODPIXEL": 0,
        "SOFTERR": 1,
        "DATALOST": 2,
        "DETECTORPROB": 4,
        "DATAMASKED": 8,
        "HOTPIX": 16,
        "CTETAIL": 32,
        "WARMPIX": 64,
        "BADBIAS": 128,
        "SATPIXEL": 256,
        "BADFLAT": 512,
        "TRAP": 1024,  # charge trap, sink pixel
        "ATODSAT": 2048,
        "DRIZ_CR": 4096,
        "DATAREJECT": 8192,
        "CROSSTALK": 16384,
    }
)

#: WFC3/IR DQ bits (hstcal wf3dq.h, IR meanings).
WFC3_IR: Mapping[str, int] = _frozen(
    {
        "GOODPIXEL": 0,
        "SOFTERR": 1,
        "DATALOST": 2,
        "DETECTORPROB": 4,
        "BADZERO": 8,  # deviant zero-read pixel
        "HOTPIX": 16,
        "UNSTABLE": 32,
        "WARMPIX": 64,
        "BADREF": 128,  # bad reference pixel / bad bias
        "SATPIXEL": 256,
        "BADFLAT": 512,
        "SPIKE": 1024,  # CR spike detected during up-the-ramp fitting
        "ZEROSIG": 2048,  # zero-read signal correction
        "DRIZ_CR": 4096,
        "DATAREJECT": 8192,  # CR rejected up the ramp
        "CROSSTALK": 16384,
    }
)

#: STIS CCD/MAMA DQ bits (hstcal stisdq.h meanings).
STIS: Mapping[str, int] = _frozen(
    {
        "GOODPIXEL": 0,
        "SOFTERR": 1,
        "DATALOST": 2,
        "DETECTORPROB": 4,
        "DATAMASKED": 8,
        "HOTPIX": 16,
        "LARGEBLEM": 32,
        "OVERSCAN": 128,
        "SATPIXEL": 256,
        "CALIBDEFECT": 512,
        "SMALLBLEM": 1024,
        "BADBACKGROUND": 2048,
        "DRIZ_CR": 4096,
        "DATAREJECT": 8192,
        "NOTTHEBEST": 16384,
    }
)

#: Every table by its short name (the names the CLI accepts with ``--table``).
TABLES: Mapping[str, Mapping[str, int]] = _frozen(
    {
        "jwst": JWST_PIXEL,
        "jwst-group": JWST_GROUP,
        "acs": ACS,
        "wfc3-uvis": WFC3_UVIS,
        "wfc3-ir": WFC3_IR,
        "stis": STIS,
    }
)

_WIDTH = {id(JWST_PIXEL): 32, id(JWST_GROUP): 8}


def table_width(table: Mapping[str, int]) -> int:
    """Number of flag bits of a table: 32 (JWST pixel), 8 (JWST group) or 16 (HST).

    Any other mapping (a copy of a JWST table, a MASK file's DQ_DEF) is 32 bits wide if a
    value needs more than 16 bits, else 16.
    """
    width = _WIDTH.get(id(table))
    if width is not None:
        return width
    return 32 if max((int(v) for v in table.values()), default=0) >= 1 << 16 else 16


def table_for(telescope: str | None, instrument: str | None = None,
              detector: str | None = None) -> Mapping[str, int]:
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
    if table is JWST_PIXEL or table is JWST_GROUP:
        for old, new in JWST_ALIASES.items():
            if new in table:
                names.setdefault(old, table[new])
    return names


_INT_RE = re.compile(r"^[+-]?(0x[0-9a-f]+|0b[01]+|\d+)$", re.IGNORECASE)
_BIT_RE = re.compile(r"^BIT(\d+)$", re.IGNORECASE)


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
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
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
    # GOOD (0) adds nothing; duplicates are harmless (OR semantics) and would make astropy
    # print a warning, so both are dropped before astropy sees the list.
    distinct = sorted({v for v in resolved if v != 0})
    if not distinct:
        return 0
    try:
        # astropy validates that every term is a single bit and sums them.
        from astropy.nddata import bitmask

        return int(bitmask.interpret_bit_flags(",".join(str(v) for v in distinct)) or 0)
    except (ValueError, TypeError) as exc:
        raise FlagSpecError(f"bad flag expression {body!r}: {exc}") from None


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
    if not np.issubdtype(np.asarray(dq).dtype, np.integer):
        raise TypeError(f"{name} array must be integer, got {np.asarray(dq).dtype}")
