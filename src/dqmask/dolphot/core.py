"""DOLPHOT image preparation: the pixel rules, unit conversions and card values (pure).

This module holds the arithmetic every DOLPHOT preparation routine (``nircammask``,
``nirissmask``, ``acsmask``, ``wfc3mask``) shares, as functions on numpy arrays and plain
numbers (no I/O): DOLPHOT's ``safedown`` / ``safeup``, its card numbers, and the thresholds
a prepared image must respect. The mission rules are in :mod:`dqmask.dolphot.jwst_core`
(JWST) and :mod:`dqmask.dolphot.hst_core` (HST), the pixel area from SIP in
:mod:`dqmask.dolphot.pixel_area`; the file-level work in :mod:`dqmask.dolphot.files`.
``docs/dolphot.md`` says what each rule is and where it comes from (DOLPHOT's C source,
its documentation and logs). Where DOLPHOT 2.0 and 3.1 differ we follow 3.1; where the C
source of ``acsmask`` (DOLPHOT 2.0, later revision) settles a number, we follow the C
exactly.

How DOLPHOT reads a prepared image
----------------------------------
DOLPHOT never reads a mask: a pixel is *used* iff ``BADPIX < value < SATURATE``, with
BADPIX / SATURATE read from the SCI header (``read_cardvals`` in ``dolphot_common.h``,
DOLPHOT's own reading of the cards). Preparing an image therefore means choosing the
two thresholds and moving every bad pixel to a value ``<= BADPIX`` and every saturated pixel
to a value ``>= SATURATE``. Here the thresholds are *card-exact*: each is the number DOLPHOT
will parse back from the card we write (:func:`card_number`), and :func:`settle` checks every
pixel against that number (in double and in float32), so the classification DOLPHOT makes
is exactly the one the masks say.

Array conventions
-----------------
* ``sci`` / ``values``: float32 image (pixel values; NaN allowed on input, never on output).
* ``bad``, ``sat``: bool, True = bad (below BADPIX) / True = saturated (above SATURATE).
  They never overlap.
* ``dq``: integer DQ bitfield kept at full width: uint32 for JWST (bits up to 2**31 are
  tested exactly; DOLPHOT holds DQ as float32 and loses bits above 2**24), int16 for HST
  (read as its unsigned 16-bit pattern).
* ``pam``: float32 pixel-area map (relative area, ~1), same shape as ``sci``.
* ``ctx``: integer drizzle context, 2-D or 3-D (planes first); ``wht``: float32 weight.
"""


from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "safedown", "safeup", "fitsnum", "card_image", "tag_image", "card_number",
    "CARD_KEYWORDS", "CardValues", "insertcards", "Prepared", "settle", "dolphot_usable",
    "usable_bounds", "epoch", "row_blocks",
]

f32 = np.float32

# --------------------------------------------------------------------------------------------
# Numbers and cards (DOLPHOT's ``fitsnum`` printing, ``insertcards``, ``safedown``/``safeup``)
# --------------------------------------------------------------------------------------------


def safedown(x: float) -> float:
    """DOLPHOT's ``float safedown(float x)``: ``x - 1e-5*|x| - 1``.

    As in the C: ``x`` is rounded to float32 on the way in (so ``safedown(GOODMIN)`` of a
    header value that is not a float32 number uses the float32 one), the expression is
    evaluated in double and the result rounded to float32.
    """
    x = float(f32(x))
    return float(f32(x - 1e-5 * abs(x) - 1.0))


def safeup(x: float) -> float:
    """DOLPHOT's ``float safeup(float x)``: ``x + 1e-5*|x| + 1`` (float32 in and out, as
    :func:`safedown`)."""
    x = float(f32(x))
    return float(f32(x + 1e-5 * abs(x) + 1.0))


def fitsnum(x: float) -> str:
    """DOLPHOT's 20-character card number: ``%20f``, else ``%20.13e`` / ``.12e`` / ``.10e``.

    The first ``e`` becomes ``E``. Example: ``fitsnum(1e15) == '  1.0000000000000E+15'``.
    """
    x = float(x)
    for fmt in ("%20f", "%20.13e", "%20.12e", "%20.10e"):
        text = fmt % x
        if len(text) <= 20:
            break
    return text.replace("e", "E", 1)


def card_image(keyword: str, value: float, comment: str) -> str:
    """One 80-character card as DOLPHOT's ``insertcards`` writes it.

    ``KEYWORD =`` (keyword padded to 8), a blank, the value right-justified in columns 11-30
    by :func:`fitsnum`, `` / `` and the comment.
    """
    return f"{keyword:<8}= {fitsnum(value)} / {comment}"[:80].ljust(80)


def tag_image(keyword: str, value: int, comment: str) -> str:
    """A DOLPHOT tag card (``DOL_ACS =      ...2 / DOLPHOT ACS tag``): integer ending in column 30."""
    return f"{keyword:<8}={int(value):>21d} / {comment}"[:80].ljust(80)


def card_number(value: float | np.floating) -> float:
    """The number DOLPHOT reads back from a threshold card holding float32 ``value``.

    DOLPHOT passes BADPIX / SATURATE as float32 and prints them with :func:`fitsnum`;
    ``%20f`` keeps 6 decimals, so the card value can differ from the float32 one. Every
    comparison in this module uses the number the card really says.
    """
    return float(fitsnum(float(f32(value))).replace("E", "e"))


#: Keywords and comments of the ``insertcards`` block, in DOLPHOT's order (``fits_lib.c``;
#: names as a standard install with the shipped ``param/fits.param``).
CARD_KEYWORDS: tuple[tuple[str, str, str], ...] = (
    ("gain", "GAIN", "Gain (electrons/ADU)"),
    ("exptime", "EXPTIME", "Exposure time (s)"),
    ("rdnoise", "RDNOISE", "Read noise (electrons)"),
    ("badpix", "BADPIX", "Low bad data value (DN)"),
    ("saturate", "SATURATE", "High bad data value (DN)"),
    ("epoch", "MJD-OBS", "Epoch (MJD)"),
    ("airmass", "AIRMASS", "Air mass"),
    ("exptime0", "EXPTIME0", "Single image exposure time (s)"),
)


@dataclass(frozen=True)
class CardValues:
    """The values ``insertcards`` writes. ``badpix``/``saturate`` are card-exact numbers."""

    gain: float
    rdnoise: float
    exptime: float
    badpix: float
    saturate: float
    epoch: float
    airmass: float
    exptime0: float


def insertcards(values: CardValues) -> list[tuple[str, str]]:
    """``(keyword, 80-char card image)`` pairs in DOLPHOT's order.

    Values ``<= -0.9e30`` are skipped, as DOLPHOT does.
    """
    out = []
    for attr, keyword, comment in CARD_KEYWORDS:
        value = float(getattr(values, attr))
        if value <= -0.9e30:
            continue
        if attr in ("badpix", "saturate"):
            value = float(f32(value))
        out.append((keyword, card_image(keyword, value, comment)))
    return out


def epoch(expstart: float, expend: float) -> float:
    """MJD-OBS card value: ``(EXPSTART + EXPEND) / 2``."""
    return 0.5 * (float(expstart) + float(expend))


# --------------------------------------------------------------------------------------------
# Thresholds and the final pixel values
# --------------------------------------------------------------------------------------------


@dataclass
class Prepared:
    """A prepared science image.

    Attributes
    ----------
    values : ndarray of float32
        Pixels as DOLPHOT will read them (no NaN).
    bad, sat : ndarray of bool
        True = bad (``values <= badpix``) / True = saturated (``values >= saturate``).
    badpix, saturate : float
        Card-exact thresholds (the numbers the BADPIX / SATURATE cards say).
    notes : list of str
        What was unusual (one line each), for HISTORY and the log.
    """

    values: np.ndarray
    bad: np.ndarray
    sat: np.ndarray
    badpix: float
    saturate: float
    notes: list[str]


def usable_bounds(badpix: float, saturate: float) -> tuple[np.float32, np.float32]:
    """The float32 interval ``[lo, hi]`` of values DOLPHOT uses.

    A float32 value ``v`` is used iff ``badpix < v < saturate`` both with the thresholds in
    double and rounded to float32 (whichever precision DOLPHOT compares in); for float32
    ``v`` that is exactly ``lo <= v <= hi`` with the two float32 bounds returned here.
    """
    def above(t: float) -> np.float32:  # smallest float32 > t
        c = f32(t)
        return c if float(c) > t else np.nextafter(c, f32(np.inf))

    def below(t: float) -> np.float32:  # largest float32 < t
        c = f32(t)
        return c if float(c) < t else np.nextafter(c, f32(-np.inf))

    lo64, hi64 = float(badpix), float(saturate)
    lo = max(above(lo64), np.nextafter(f32(lo64), f32(np.inf)))
    hi = min(below(hi64), np.nextafter(f32(hi64), f32(-np.inf)))
    return f32(lo), f32(hi)


def dolphot_usable(values: np.ndarray, badpix: float, saturate: float) -> np.ndarray:
    """DOLPHOT's rule on float32 values: True where ``badpix < value < saturate``.

    Holds with the thresholds compared in double and in float32 (see :func:`usable_bounds`).
    NaN is never usable.
    """
    lo, hi = usable_bounds(badpix, saturate)
    return (values >= lo) & (values <= hi)


def settle(values: np.ndarray, bad: np.ndarray, sat: np.ndarray, badpix: float,
           saturate: float, marks: tuple[float, float] | None = None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Move masked pixels past the thresholds; mask good pixels DOLPHOT would not use.

    Parameters
    ----------
    values : ndarray of float32
        Converted pixels (modified in place and returned).
    bad, sat : ndarray of bool
        True = bad / saturated (modified in place and returned).
    badpix, saturate : float
        Card-exact thresholds.
    marks : (float, float), optional
        The values given to bad and saturated pixels; default
        ``(safedown(badpix), safeup(saturate))``. acsmask passes the C's own markers,
        ``safedown`` / ``safeup`` of the float32 thresholds before printing.

    Returns
    -------
    values, bad, sat, moved
        ``moved`` counts good pixels that were outside ``(badpix, saturate)`` (NaN, or a
        value a PAM scaling pushed past a threshold) and are now masked.
        Bad pixels become the low mark and saturated ones the high mark (float32);
        afterwards ``dolphot_usable(values) == ~(bad | sat)`` holds for every pixel
        (checked; ``AssertionError`` otherwise).
    """
    lo, hi = usable_bounds(badpix, saturate)
    if marks is None:
        marks = (safedown(badpix), safeup(saturate))
    low_value, high_value = f32(marks[0]), f32(marks[1])
    if not (low_value < lo and high_value > hi and lo <= hi):
        raise ValueError(f"thresholds BADPIX={badpix} SATURATE={saturate} leave no room")
    masked = bad | sat
    inside = (values >= lo) & (values <= hi)
    out = ~masked & ~inside
    moved = int(np.count_nonzero(out))
    if moved:
        out_high = out & (values > hi)
        sat |= out_high
        bad |= out & ~out_high  # NaN and values <= badpix
        masked = bad | sat
    np.copyto(values, low_value, where=bad)
    np.copyto(values, high_value, where=sat)
    if not np.array_equal((values >= lo) & (values <= hi), ~masked):  # pragma: no cover
        raise AssertionError("DOLPHOT would classify some pixels differently from the masks")
    return values, bad, sat, moved



def row_blocks(ny: int, nx: int, target: int = 1 << 18) -> list[slice]:
    """Row slices of about ``target`` pixels (cache-sized blocks for the pixel loops).

    Examples
    --------
    >>> [(s.start, s.stop) for s in row_blocks(5, 4, target=8)]
    [(0, 2), (2, 4), (4, 5)]
    """
    step = max(1, target // max(nx, 1))
    return [slice(y, min(ny, y + step)) for y in range(0, ny, step)]
