"""dqmask's provenance keywords, without numpy or astropy.

The record digest (:func:`params_digest`), the one-card HISTORY text (:func:`history_line`)
and :func:`add_provenance_cards`, which adds them to a header given as card images exactly
as :func:`dqmask.io.fits.add_provenance` (astropy's ``Header``) would. ``io.fits``
re-exports the first two.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, MutableSequence
from typing import Any

from .. import __version__
from .fits_scan import CARD, strict_value

__all__ = ["HISTORY_WIDTH", "add_provenance_cards", "history_line", "params_digest"]

RECORD_PREFIX = "DQMR"  # DQMR0001 ... DQMR9999: "<step> <record>"
#: Characters of one HISTORY card (80 minus the keyword field): stdatamodels reads every
#: HISTORY card as one ``model.history`` entry, so a step's line must fit in one card.
HISTORY_WIDTH = 72
PARAMS_PREFIX = "DQMP"  # DQMPnnnn: every parameter of step nnnn, when HISTORY cannot hold them
VERSION_COMMENT = "dqmask version of the last write"
RECORD_COMMENT = "dqmask step record"


def _json_default(value: Any) -> Any:
    """JSON form of values json does not know: numpy scalars/arrays as their Python values
    (so ``np.int64(3)`` digests like ``3``), sets sorted, anything else as ``str``."""
    np = sys.modules.get("numpy")  # a numpy value exists only if numpy was imported
    if np is not None and isinstance(value, np.generic):
        return value.item()
    if np is not None and isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def params_digest(params: Mapping[str, Any]) -> str:
    """A stable 16-hex-digit digest of step parameters (canonical JSON, sha256).

    Equal values give equal digests whatever their Python/numpy type (``3`` and
    ``np.int64(3)``, ``True`` and ``np.bool_(True)``, ``"a/b"`` and ``Path("a/b")``).
    """
    import hashlib  # only when a record is made (a few ms of start-up otherwise)

    text = json.dumps(params, sort_keys=True, default=_json_default, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def history_line(step: str, params: Mapping[str, Any], n: int) -> tuple[str, str | None]:
    """The one-card HISTORY text of a step and, if it cannot hold every parameter, the full
    ``k=v, ...`` text that goes into ``DQMPnnnn`` (else None).

    The line is ``dqmask <version> <step>: k=v, k=v`` when that fits in
    :data:`HISTORY_WIDTH` characters, else the parameters that fit (whole ones) followed by
    ``... (see DQMPnnnn)``.
    """
    head = f"dqmask {__version__} {step}"
    items = [f"{k}={v}" for k, v in params.items()]
    full = ", ".join(items)
    if not items:
        return head[:HISTORY_WIDTH], None
    line = f"{head}: {full}"
    if len(line) <= HISTORY_WIDTH:
        return line, None
    tail = f" ... (see {PARAMS_PREFIX}{n:04d})"
    room = HISTORY_WIDTH - len(tail)
    shown, sep = f"{head}:", " "
    for item in items:
        if len(shown) + len(sep) + len(item) > room:
            break
        shown, sep = f"{shown}{sep}{item}", ", "
    if sep == " ":  # not even the first parameter fits whole: cut it
        shown = f"{head}: {items[0]}"[:room]
    return shown + tail, full


def check_step(step: str, record: str) -> None:
    """Raise ValueError for a step name with blanks or a record with outer blanks."""
    if not step or any(c.isspace() for c in step):
        raise ValueError(f"bad step name {step!r}")
    if record != record.strip() or "\n" in record:
        raise ValueError(f"bad record {record!r}: no leading/trailing blanks or newlines")


# --------------------------------------------------------------------------------------------
# The same on card images (astropy's Header.append / __setitem__ / add_history rules)
# --------------------------------------------------------------------------------------------

#: One card as (keyword, image); an image is 80 characters (more for astropy's long strings).
Card = tuple[str, str]
_COMMENTARY = frozenset({"", "COMMENT", "HISTORY", "END"})
_BLANK = " " * CARD


def string_card(key: str, value: str, comment: str = "") -> str | None:
    """The image astropy gives ``Card(key, value, comment)`` for a string value, or None
    where it would not be one plain 80-character card."""
    if not value.isascii() or not value.isprintable() or not comment.isprintable():
        return None
    quoted = "'{:8}'".format(value.replace("'", "''")) if value else "''"
    return _image(key, f"{quoted:20}" if value else quoted, comment)


def fixed_card(key: str, value: bool | int, comment: str = "") -> str:
    """The image astropy gives ``Card(key, value, comment)`` for a logical or an integer."""
    text = ("T" if value else "F") if isinstance(value, bool) else str(value)
    image = _image(key, f"{text:>20}", comment)
    assert image is not None  # a short value with a short comment
    return image


def _image(key: str, value: str, comment: str) -> str | None:
    out = f"{key:<8}= {value}" + (f" / {comment}" if comment else "")
    return out.ljust(CARD) if len(out) <= CARD and out.isascii() else None


def _is_blank(card: Card) -> bool:
    return card[1] == _BLANK


def _count_blanks(cards: list[Card]) -> int:
    """astropy's ``Header._countblanks`` (card 0 is never looked at)."""
    for idx in range(1, len(cards)):
        if not _is_blank(cards[-idx]):
            return idx - 1
    return 0


def _use_blanks(cards: list[Card], count: int) -> None:
    for _ in range(count):
        if _is_blank(cards[-1]):
            del cards[-1]
        else:
            break


def append_card(cards: list[Card], card: Card, *, bottom: bool = False) -> None:
    """``Header.append(card, useblanks=True, bottom=bottom)`` on card images."""
    if _is_blank(card):
        cards.append(card)
        return
    idx = len(cards) - 1
    while idx >= 0 and _is_blank(cards[idx]):
        idx -= 1
    if not bottom and card[0] not in _COMMENTARY:
        while idx >= 0 and cards[idx][0] in _COMMENTARY:
            idx -= 1
    cards.insert(idx + 1, card)
    if _count_blanks(cards):
        _use_blanks(cards, len(card[1]) // CARD)


def set_card(cards: list[Card], key: str, image: str, value: object) -> bool:
    """``header[key] = (value, comment)`` where ``image`` is the fresh card astropy makes;
    False where the result cannot be told without astropy (an existing card holding the
    same value in another spelling, or the keyword twice)."""
    where = [i for i, (k, _) in enumerate(cards) if k == key]
    if not where:
        append_card(cards, (key, image))
        return True
    if len(where) > 1:
        return False
    old = cards[where[0]][1]
    if old == image:
        return True
    found = strict_value(old) if len(old) == CARD else None
    if found is None or (type(found) is type(value) and found == value):
        return False  # same value: astropy keeps or re-formats the card by its comment
    cards[where[0]] = (key, image)  # a new value: astropy formats the card afresh
    return True


def add_history_card(cards: list[Card], text: str) -> bool:
    """``header.add_history(text)`` for a text that fits one card; False otherwise."""
    if len(text) > CARD - 8 or not text.isascii() or not text.isprintable():
        return False
    card = ("HISTORY", f"HISTORY {text}".ljust(CARD))
    last = [i for i, (k, _) in enumerate(cards) if k == "HISTORY"]
    if not last:
        append_card(cards, card, bottom=True)
    elif last[-1] + 1 >= len(cards):
        cards.append(card)
    else:
        cards.insert(last[-1] + 1, card)
        _use_blanks(cards, 1)
    return True


def add_provenance_cards(cards: MutableSequence[Card], step: str,
                         params: Mapping[str, Any], record: str | None = None) -> str | None:
    """:func:`dqmask.io.fits.add_provenance` on a header given as ``(keyword, image)``
    pairs, in place: the same cards in the same places, byte for byte.

    Returns the record written, or None (``cards`` unchanged) where the result cannot be
    made exact without astropy: the parameters need ``DQMPnnnn`` (a long string), a card
    would not fit in 80 characters, ``DQM_VER`` is there twice or in another spelling of
    the same value, or there are already 9999 records.
    """
    record = record or params_digest(params)
    check_step(step, record)
    n = 1 + max((int(k[4:]) for k, _ in cards
                 if len(k) == 8 and k.startswith(RECORD_PREFIX) and k[4:].isdigit()), default=0)
    line, full = history_line(step, params, n)
    version = string_card("DQM_VER", __version__, VERSION_COMMENT)
    key = f"{RECORD_PREFIX}{n:04d}"
    entry = string_card(key, f"{step} {record}", RECORD_COMMENT)
    if full is not None or version is None or entry is None or n > 9999:
        return None
    work = list(cards)
    if not (set_card(work, "DQM_VER", version, __version__)
            and set_card(work, key, entry, f"{step} {record}")
            and add_history_card(work, line)):
        return None
    cards[:] = work
    return record
