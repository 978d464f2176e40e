"""Byte-level FITS header scanning, with the standard library only (no numpy, no astropy).

* :func:`next_header` / :func:`data_size` / :func:`skip`: header-by-header walking of a
  stream (:func:`dqmask.io.fits.open_fits` sizes a compressed file with them before
  decompressing its data).
* :func:`scan_plain`: the HDUs of a plain, well-formed FITS file (card images, offsets,
  structural values), or None whenever the file is anything astropy might read differently,
  warn about or "fix". A caller that gets None uses :func:`~dqmask.io.fits.open_fits`, which
  keeps every check and error message; one that gets HDUs may trust them as astropy would
  have read them (same card images, keywords and data offsets, no warning). Only headers
  are read, never the data.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import InputError
from .files import open_regular

__all__ = ["BLOCK", "CARD", "RawHDU", "data_size", "next_header", "scan_open", "scan_plain",
           "skip", "strict_value"]

#: Bytes of a FITS block and of a card image.
BLOCK = 2880
CARD = 80
#: Bytes read at a time where a stream is read through (4 MiB).
READ_CHUNK = 1 << 22
#: A header longer than this without END is not a FITS header (16 MiB).
MAX_HEADER_BYTES = 1 << 24
#: More HDUs than any JWST/HST product has (:func:`~dqmask.io.fits.open_fits` refuses more).
MAX_HDUS = 10000
#: numpy's most dimensions (``numpy.ndarray`` refuses more): a FITS array may have 999.
MAX_NAXIS = 64
#: The BITPIX values of the FITS standard.
BITPIX_VALUES = frozenset({8, 16, 32, 64, -32, -64})
#: Keywords a header holds once; a second one means two headers ran together.
ONCE_KEYWORDS = ("SIMPLE", "XTENSION", "BITPIX", "NAXIS", "PCOUNT", "GCOUNT", "EXTNAME",
                 "EXTVER")
#: First bytes of the compressed streams astropy decompresses (astropy.io.fits.file), and
#: the name each goes by in messages.
COMPRESSION_MAGIC = ((b"\x1f\x8b\x08", "gzip"), (b"PK\x03\x04", "zip"), (b"BZ", "bzip2"),
                     (b"\xfd7zXZ\x00", "xz"))


# --------------------------------------------------------------------------------------------
# Walking a stream header by header (the compressed-file size check)
# --------------------------------------------------------------------------------------------


def next_header(stream: BinaryIO) -> tuple[bytes, int | None]:
    """Read one FITS header from a stream: ``(its bytes, padded data size)``.

    The size is None when what follows is not a complete, parseable FITS header (end of
    the file, padding, garbage, no END card): the caller counts the rest as plain bytes.
    """
    block = stream.read(BLOCK)
    if len(block) < BLOCK or not block.startswith((b"SIMPLE  ", b"XTENSION")):
        return block, None
    raw = bytearray()
    cards: dict[str, str] = {}
    while True:
        raw += block
        for i in range(0, BLOCK, CARD):
            card = block[i:i + CARD].decode("ascii", "replace")
            key = card[:8].rstrip()
            if key == "END":
                return bytes(raw), data_size(cards)
            if card[8:10] == "= " and key not in cards:
                cards[key] = card[10:].split("/", 1)[0].strip()
        if len(raw) > MAX_HEADER_BYTES:  # 16 MiB of cards without END: not a FITS header
            return bytes(raw), None
        block = stream.read(BLOCK)
        if len(block) < BLOCK:
            return bytes(raw) + block, None


def data_size(cards: Mapping[str, str]) -> int | None:
    """Padded data bytes of an HDU from its header cards (FITS standard 4.4.1), or None.

    ``cards`` maps a keyword to its value text (``'16'``, ``'T'``).
    """
    try:
        bitpix, naxis = int(cards["BITPIX"]), int(cards.get("NAXIS", "0"))
        axes = [int(cards[f"NAXIS{k}"]) for k in range(1, naxis + 1)]
        pcount, gcount = int(cards.get("PCOUNT", "0")), int(cards.get("GCOUNT", "1"))
    except (KeyError, ValueError):
        return None
    if naxis == 0:
        return 0
    if axes[0] == 0 and cards.get("GROUPS") == "T":  # random groups: NAXIS1 = 0
        axes = axes[1:]
    size = abs(bitpix) // 8 * gcount * (pcount + math.prod(axes))
    return -(-size // BLOCK) * BLOCK if size >= 0 else None


def skip(stream: BinaryIO, n: int) -> int:
    """Read and drop ``n`` bytes of a stream in bounded chunks; the number actually read."""
    done = 0
    while done < n:
        chunk = stream.read(min(READ_CHUNK, n - done))
        if not chunk:
            break
        done += len(chunk)
    return done


# --------------------------------------------------------------------------------------------
# scan_plain: a plain file astropy would read as it is, or None
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawHDU:
    """One HDU of a file read by :func:`scan_plain`.

    ``cards`` are the card images in file order (END excluded): 80 characters, or 80 * n
    for a long string with its CONTINUE cards (one card, as astropy groups them);
    ``keywords`` their keywords as astropy names them (``DP1.AXIS.1`` for the record-valued
    card ``DP1     = 'AXIS.1: 1'``). ``data_span`` is the data's size padded to
    whole blocks (astropy's ``fileinfo()['datSpan']``), ``data_bytes`` the unpadded size.
    ``xtension`` is None for the primary HDU; ``axes`` is ``(NAXIS1, NAXIS2, ...)``.
    """

    cards: tuple[str, ...]
    keywords: tuple[str, ...]
    header_offset: int
    data_offset: int
    data_bytes: int
    bitpix: int
    axes: tuple[int, ...]
    xtension: str | None
    extname: str | None = None

    @property
    def data_span(self) -> int:
        return -(-self.data_bytes // BLOCK) * BLOCK

    @property
    def is_image_with_data(self) -> bool:
        """An image (primary or ``IMAGE`` extension) whose every axis is > 0."""
        return (self.xtension in (None, "IMAGE") and bool(self.axes)
                and all(n > 0 for n in self.axes))


class _Decline(Exception):
    """The file is not one :func:`scan_plain` is sure of (the message says why)."""


_MAGIC = tuple(start for start, _ in COMPRESSION_MAGIC)
_PRINTABLE = re.compile(rb"[^ -~]")
_KEYWORD = re.compile(r"[A-Z0-9_-]*\Z")
_COMMENTARY = frozenset({"", "COMMENT", "HISTORY"})
#: Values astropy's fixed-format reading accepts, the conservative part only: strings with
#: '' escapes, T/F, integers, reals without D or lower-case exponents (no complex, no
#: undefined values). What follows a value is blanks, then nothing or ``/ comment``.
_STRING = re.compile(r" *'((?:[^']|'')*)' *(/.*)?\Z")
_LOGICAL = re.compile(r" *([TF]) *(/.*)?\Z")
_INTEGER = re.compile(r" *([+-]?[0-9]+) *(/.*)?\Z")
_REAL = re.compile(r" *([+-]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:E[+-]?[0-9]+)?) *(/.*)?\Z")
#: astropy reads ``KEY = 'field: number'`` as a record-valued keyword card, named
#: ``KEY.field`` (astropy.io.fits.Card._rvkc_keyword_val_comm_RE, ASCII only)...
_RVKC_FIELD = r"[a-zA-Z_][a-zA-Z0-9_]*(?:\.[0-9]+)?"
_RVKC = re.compile(rf" *'({_RVKC_FIELD}(?:\.{_RVKC_FIELD})*): +[+-]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)"
                   r"(?:[DE][+-]?[0-9]+)?' *(?:/ *[ -~]*)?\Z")
#: ... which scan_plain accepts for keywords it does not read ...
_NOT_RECORD_VALUED = ("BSCALE", "BZERO", "BLANK", "EXTEND", "GROUPS", "NAXIS", "TFIELDS",
                      "TFORM", "TDIM", "ZIMAGE", "DQM", "NEXTEND")
#: ... and strings close to that form are left to astropy.
_RECORD_VALUED = re.compile(r" *[A-Za-z0-9_.]+: +[+-]? *[0-9.]")
#: XTENSION values scan_plain leaves to astropy: tables of text, A3DTABLE, FITS-in-FITS.
_LEFT_TO_ASTROPY = frozenset({"TABLE", "A3DTABLE", "FOREIGN", "FITS", "IUEIMAGE", "DUMP"})
_TFORM = re.compile(r"[0-9]*[LXBIJKAEDCM]\Z")

Value = str | bool | int | float


def _value(card: str) -> Value:
    """The value of a non-commentary card (``= `` in columns 9-10), strictly read."""
    text = card[10:]
    if m := _STRING.match(text):
        raw = m.group(1)
        # astropy ends a string at the first quote followed by a blank or "/" where the
        # rest reads as a comment: a '' escape followed by one may be read differently
        if "' " in raw or "'/" in raw or _RECORD_VALUED.match(raw):
            raise _Decline(f"string value astropy may split differently: {card!r}")
        return raw.replace("''", "'").rstrip()
    if m := _LOGICAL.match(text):
        return m.group(1) == "T"
    if m := _INTEGER.match(text):
        return int(m.group(1))
    if m := _REAL.match(text):
        return float(m.group(1))
    raise _Decline(f"not a strict FITS value: {card!r}")


def strict_value(card: str) -> Value | None:
    """The value of an 80-character ``KEY     = value / comment`` card if it is strictly a
    FITS value (as :func:`scan_plain` reads them: str, bool, int or float), else None."""
    try:
        return _value(card) if card[8:10] == "= " else None
    except _Decline:
        return None


def _int(values: dict[str, Value], key: str, low: int | None = None) -> int:
    value = values.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or (low is not None
                                                                 and value < low):
        raise _Decline(f"{key}={value!r}")
    return value


def _read_header(fh: BinaryIO, offset: int) -> tuple[list[str], int]:
    """The card images of the header at ``offset`` (END excluded), and where it ends."""
    cards: list[str] = []
    pos = offset
    while True:
        block = fh.read(BLOCK)
        if len(block) < BLOCK:
            raise _Decline("header cut short")
        if _PRINTABLE.search(block):
            raise _Decline("a header byte is not printable ASCII")
        pos += BLOCK
        text = block.decode("ascii")
        for i in range(0, BLOCK, CARD):
            card = text[i:i + CARD]
            if card.startswith("END"):
                if card == "END" + " " * 77 and not text[i + CARD:].strip():
                    return cards, pos
                if card[:8] == "END     " or not _KEYWORD.match(card[3:8].rstrip()):
                    raise _Decline("END card with trailing bytes")
            cards.append(card)
        if pos - offset > MAX_HEADER_BYTES:
            raise _Decline("header of more than 16 MiB without END")


_CONTINUE = re.compile(r"CONTINUE  '((?:[^']|'')*)' *(/.*)?\Z")


def _long_strings(cards: list[str]) -> list[str]:
    """The cards with each long string and its ``CONTINUE`` cards as one image (80 * n
    characters), as astropy groups them. Only the plain form is accepted: a string card
    without comment ending in ``&``, then CONTINUE strings, each but the last ending in
    ``&`` and without comment; anything else with a CONTINUE card is declined."""
    out: list[str] = []
    parts = 0  # CONTINUE cards of the long string being read
    open_string = False  # the last string part ends with "&" (more may follow)
    for card in cards:
        if card.startswith("CONTINUE"):
            m = _CONTINUE.match(card)
            if not open_string or m is None:
                raise _Decline(f"CONTINUE card {card!r}")
            out[-1] += card
            parts += 1
            open_string = m.group(1).rstrip().endswith("&")
            if open_string and m.group(2) is not None:
                raise _Decline(f"comment inside a long string {card!r}")
            continue
        if parts and open_string:
            raise _Decline("a long string's last part ends with '&'")
        parts, open_string = 0, False
        if card[8:10] == "= " and card[:8].rstrip() not in _COMMENTARY:
            m = _STRING.match(card[10:])
            open_string = bool(m and m.group(1).rstrip().endswith("&") and m.group(2) is None)
        out.append(card)
    if parts and open_string:
        raise _Decline("a long string's last part ends with '&'")
    return out


def _long_value(card: str) -> str:
    """The value of a long string (its image is 80 * n characters), as astropy joins it."""
    pieces = []
    for i in range(0, len(card), CARD):
        sub = card[i:i + CARD]
        m = _STRING.match(sub[10:]) if i == 0 else _CONTINUE.match(sub)
        assert m is not None  # checked by _long_strings
        piece = m.group(1).rstrip()
        pieces.append(piece[:-1] if piece.endswith("&") else piece)
    raw = "".join(pieces)
    if "' " in raw or "'/" in raw or _RECORD_VALUED.match(raw):
        raise _Decline(f"long string astropy may split differently: {card[:80]!r}")
    return raw.replace("''", "'").rstrip()


def _header_values(cards: list[str]) -> tuple[dict[str, Value], list[str]]:
    """Keyword -> value of every non-commentary card, checking each card is standard, and
    every card's keyword as astropy names it."""
    values: dict[str, Value] = {}
    keywords = []
    for card in cards:
        key = card[:8].rstrip()
        if not _KEYWORD.match(key):
            raise _Decline(f"keyword field {card[:8]!r}")
        if key in _COMMENTARY:
            keywords.append(key)
            continue
        if key in ("HIERARCH", "CONTINUE", "END") or card[8:10] != "= ":
            raise _Decline(f"card {card!r}")
        if len(card) == CARD and (m := _RVKC.match(card[10:])):
            if key in ONCE_KEYWORDS or key.startswith(_NOT_RECORD_VALUED):
                raise _Decline(f"record-valued {key}")
            keywords.append(f"{key}.{m.group(1)}")
            continue
        keywords.append(key)
        value = _value(card) if len(card) == CARD else _long_value(card)
        if key in values and key in ONCE_KEYWORDS:
            raise _Decline(f"{key} twice")
        values.setdefault(key, value)
    return values, keywords


def _structure(cards: list[str], values: dict[str, Value], primary: bool) -> tuple[
        int, tuple[int, ...], str | None, int]:
    """(BITPIX, axes, XTENSION, data bytes) after checking the mandatory cards' places."""
    keys = [card[:8].rstrip() for card in cards]
    first = "SIMPLE" if primary else "XTENSION"
    if (not keys or keys[0] != first or ("SIMPLE" in values) != primary
            or ("XTENSION" in values) == primary):
        raise _Decline(f"first card is not {first}")
    if primary and values["SIMPLE"] is not True:
        raise _Decline("SIMPLE is not T")
    if values.get("GROUPS", False) is not False:
        raise _Decline("random groups")
    found = None if primary else values["XTENSION"]
    if not primary and (not isinstance(found, str) or not found
                        or found in _LEFT_TO_ASTROPY or not _KEYWORD.match(found)):
        raise _Decline(f"XTENSION={found!r}")
    xtension = found if isinstance(found, str) else None
    bitpix, naxis = _int(values, "BITPIX"), _int(values, "NAXIS", 0)
    if bitpix not in BITPIX_VALUES or naxis > MAX_NAXIS or keys[1:3] != ["BITPIX", "NAXIS"]:
        raise _Decline("BITPIX / NAXIS")
    axes = tuple(_int(values, f"NAXIS{k}", 0) for k in range(1, naxis + 1))
    expected = [f"NAXIS{k}" for k in range(1, naxis + 1)]
    if keys[3:3 + naxis] != expected or [k for k in keys if k.startswith("NAXIS")] != [
            "NAXIS", *expected]:  # astropy's verify deletes NAXISj out of 1..NAXIS
        raise _Decline("NAXISn out of place")
    after = keys[3 + naxis:5 + naxis]
    if primary:
        if "PCOUNT" in values or "GCOUNT" in values or (
                "EXTEND" in values and (keys[3 + naxis:4 + naxis] != ["EXTEND"]
                                        or not isinstance(values["EXTEND"], bool))):
            raise _Decline("PCOUNT/GCOUNT/EXTEND in the primary")
        pcount, gcount = 0, 1
    else:
        pcount, gcount = _int(values, "PCOUNT", 0), _int(values, "GCOUNT", 1)
        if after != ["PCOUNT", "GCOUNT"] or gcount != 1:
            raise _Decline("PCOUNT/GCOUNT")
        _check_extension(xtension, keys, values, naxis, pcount)
    _check_values(values, bitpix, xtension)
    size = abs(bitpix) // 8 * gcount * (pcount + math.prod(axes)) if naxis else 0
    return bitpix, axes, xtension, size


def _check_extension(xtension: object, keys: list[str], values: dict[str, Value], naxis: int,
                     pcount: int) -> None:
    """What astropy's ImageHDU / BinTableHDU verification asks of an extension."""
    if xtension == "IMAGE" and pcount != 0:
        raise _Decline("IMAGE with PCOUNT")
    if xtension == "BINTABLE":
        if naxis != 2 or values["BITPIX"] != 8 or "ZIMAGE" in values or keys[7:8] != [
                "TFIELDS"]:
            raise _Decline("BINTABLE structure")
        tfields = _int(values, "TFIELDS", 0)
        for n in range(1, tfields + 1):
            tform = values.get(f"TFORM{n}")
            if not isinstance(tform, str) or not _TFORM.match(tform):
                raise _Decline(f"TFORM{n}={tform!r}")
        if any(k.startswith(("TDIM", "TNULL", "TSCAL", "TZERO", "TDISP")) for k in values):
            raise _Decline("table column options")


def _check_values(values: dict[str, Value], bitpix: int, xtension: object) -> None:
    """EXTNAME / EXTVER / BSCALE / BZERO / BLANK as dqmask's open_fits wants them."""
    for key in ("BSCALE", "BZERO"):
        if key in values and (isinstance(values[key], bool | str)):
            raise _Decline(f"{key} is not a number")
    if "EXTVER" in values:
        _int(values, "EXTVER", 1)
    if "EXTNAME" in values and not isinstance(values["EXTNAME"], str):
        raise _Decline("EXTNAME is not a string")
    if "BLANK" in values:
        blank = values["BLANK"]
        if (not isinstance(blank, int) or isinstance(blank, bool)
                or (bitpix < 0 and xtension in (None, "IMAGE"))):
            raise _Decline("BLANK")


def _scan(fh: BinaryIO, size: int) -> tuple[RawHDU, ...]:
    hdus: list[RawHDU] = []
    pos = 0
    while pos < size:
        if len(hdus) >= MAX_HDUS:
            raise _Decline("too many HDUs")
        fh.seek(pos)
        cards, data_offset = _read_header(fh, pos)
        cards = _long_strings(cards)
        values, keywords = _header_values(cards)
        bitpix, axes, xtension, nbytes = _structure(cards, values, not hdus)
        extname = values.get("EXTNAME")
        hdu = RawHDU(tuple(cards), tuple(keywords), pos, data_offset, nbytes, bitpix, axes,
                     xtension,
                     extname if isinstance(extname, str) else None)
        pos = data_offset + hdu.data_span
        if pos > size:
            raise _Decline("file shorter than its HDUs")
        hdus.append(hdu)
    if not hdus:
        raise _Decline("empty file")
    if len(hdus) > 1 and _extend(hdus[0]) is not True:
        # astropy sets EXTEND = T in the primary it read (HDUList.update_extend): its cards
        # would no longer be the file's
        raise _Decline("extensions without EXTEND = T in the primary")
    return tuple(hdus)


def _extend(hdu: RawHDU) -> Value | None:
    card = next((c for c in hdu.cards if c.startswith("EXTEND  ")), None)
    return None if card is None else strict_value(card)


def scan_plain(path: str | os.PathLike) -> tuple[RawHDU, ...] | None:
    """The HDUs of a plain (not compressed) FITS file astropy reads as it is, or None.

    None means "not sure, use astropy": a compressed file, anything but a regular file,
    an unreadable one, a non-printable header byte, a non-standard keyword or value, a
    HIERARCH card, a CONTINUE card not in astropy's plain long-string form, a record-valued
    card on a keyword scan_plain reads, a mandatory card out of its place, a keyword
    of ``SIMPLE XTENSION BITPIX NAXIS PCOUNT GCOUNT EXTNAME EXTVER`` twice, a bad EXTVER,
    BSCALE, BZERO or BLANK, a random-groups HDU, an ASCII table or a compressed image, a
    header without END, a file shorter than its HDUs (padded) or longer (bytes after the
    last HDU). Only headers are read: the work is bounded by their size.

    Whenever it returns HDUs, astropy reads every card of the file without a warning,
    ``verify("fix+warn")`` finds nothing to fix, :func:`dqmask.io.fits.open_fits` accepts
    it, and the card images, keywords and data offsets are astropy's.
    """
    try:
        with open_regular(path) as fh:
            return scan_open(fh)
    except (InputError, OSError):  # not a regular file, or unreadable
        return None


def scan_open(fh: BinaryIO) -> tuple[RawHDU, ...] | None:
    """:func:`scan_plain` of a regular file already open for reading (binary, seekable):
    what :func:`~dqmask.io.fits.open_fits` asks about the very file it then hands to
    astropy. The position of ``fh`` is left anywhere."""
    try:
        return _scan_file(fh)
    except (_Decline, OSError, ValueError):
        return None


def _scan_file(fh: BinaryIO) -> tuple[RawHDU, ...]:
    """The HDUs of an open file, or :class:`_Decline` saying why not."""
    fh.seek(0)
    if fh.read(6).startswith(_MAGIC):
        raise _Decline("compressed")
    return _scan(fh, os.fstat(fh.fileno()).st_size)


def why_not_plain(path: str | os.PathLike) -> str | None:
    """Why :func:`scan_plain` declines ``path`` (None if it does not): for tests and
    debugging."""
    try:
        with open_regular(path) as fh:
            _scan_file(fh)
        return None
    except InputError as exc:  # not a regular file, missing, unreadable
        return str(exc)
    except _Decline as exc:
        return str(exc)
    except (OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
