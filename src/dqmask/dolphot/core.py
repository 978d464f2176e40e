"""DOLPHOT image preparation: the pixel rules, unit conversions and card values (pure).

This module holds what DOLPHOT's ``nircammask``, ``nirissmask``, ``acsmask`` and ``wfc3mask``
compute, as functions on numpy arrays and plain numbers (no I/O). The file-level work is in
:mod:`dqmask.dolphot.files`. Section numbers below (``§2.5``...) are those of the DOLPHOT
preparation specification the project keeps with its design notes; ``docs/dolphot.md`` says
what each rule is. Where DOLPHOT 2.0 and 3.1 differ we follow 3.1; where the C source of
``acsmask`` (DOLPHOT 2.0, later revision) settles a number, we follow the C exactly.

How DOLPHOT reads a prepared image
----------------------------------
DOLPHOT never reads a mask: a pixel is *used* iff ``BADPIX < value < SATURATE`` (§1.5), with
BADPIX / SATURATE read from the SCI header. Preparing an image therefore means choosing the
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

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..conventions import dq_to_bad
from ..flags import JWST_PIXEL, require_dq_dtype

__all__ = [
    "safedown", "safeup", "fitsnum", "card_image", "tag_image", "card_number",
    "CARD_KEYWORDS", "CardValues", "insertcards", "Prepared", "settle", "dolphot_usable",
    "usable_bounds",
    "DetectorNoise", "JWST_DETECTORS", "jwst_detector_noise", "jwst_tag",
    "jwst_masks", "jwst_exposure_time", "jwst_to_dn", "jwst_estnoise", "jwst_prepare",
    "ACS_CTMULT", "WFC3_CTMULT", "acs_dq_masks", "wfc3_dq_masks", "hst_read_noise",
    "wfc3_ir_read_noise", "hst_flt_prepare", "hst_drz_prepare", "sip_pixel_area",
    "epoch", "HST_NOMINAL_SCALE", "WFC3_PAM_REFERENCE", "sip_area_at",
]

f32 = np.float32

# --------------------------------------------------------------------------------------------
# Numbers and cards (§1.3, §1.4, §1.6)
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


#: Keywords and comments of the ``insertcards`` block, in DOLPHOT's order (§1.4, names as
#: a standard install with the shipped ``param/fits.param``).
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


# --------------------------------------------------------------------------------------------
# JWST: nircammask / nirissmask (§4)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DetectorNoise:
    """Gain and read noise DOLPHOT writes for one JWST detector.

    ``rdnoise`` is the single-read noise written to RDNOISE (the CDS value / sqrt(2), as the
    DOLPHOT NIRCam/NIRISS modules do); ``source`` says where the numbers come from;
    ``provisional`` rows are not confirmed against DOLPHOT output.
    """

    detector: str
    gain: float
    rdnoise: float
    cds: float
    source: str
    provisional: bool = False


_LOG = "DOLPHOT log (ERS docs, printed %4.2f); gain agrees with JDox NIRCam detector table"
_JDOX = ("gain: JDox NIRCam detector table; read noise: JDox CDS value as of 2025 / sqrt(2) "
         "(the Oct-2022 value DOLPHOT used is unknown)")


def _row(det: str, gain: float, rdnoise: float, source: str, cds: float | None = None,
         provisional: bool = False) -> DetectorNoise:
    cds = cds if cds is not None else round(rdnoise * math.sqrt(2.0), 2)
    return DetectorNoise(det, gain, rdnoise, cds, source, provisional)


#: Per-detector gain (e-/DN) and read noise (e-) (spec §4.8, each row with its evidence).
JWST_DETECTORS: Mapping[str, DetectorNoise] = {
    "NIS": _row("NIS", 1.61, 16.8 / math.sqrt(2.0),
                "DOLPHOT NIRISS versions.txt: gain JDox 11/03/22, CDS noise 16.8 e- / sqrt(2); "
                "log shows 11.88", cds=16.8),
    "NRCA1": _row("NRCA1", 2.08, 11.43, _LOG),
    "NRCA2": _row("NRCA2", 2.02, 10.52, _LOG),
    "NRCA3": _row("NRCA3", 2.17, 10.34, _LOG),
    "NRCA4": _row("NRCA4", 2.02, 10.60, _LOG),
    "NRCB1": _row("NRCB1", 2.01, 11.77, _LOG),
    "NRCB2": _row("NRCB2", 2.14, 12.77, _LOG),
    "NRCB3": _row("NRCB3", 1.94, 11.85, _LOG),
    "NRCB4": _row("NRCB4", 2.03, 14.23 / math.sqrt(2.0), _JDOX, cds=14.23, provisional=True),
    "NRCALONG": _row("NRCALONG", 1.84, 13.17 / math.sqrt(2.0), _JDOX, cds=13.17,
                     provisional=True),
    "NRCBLONG": _row("NRCBLONG", 1.80, 13.33 / math.sqrt(2.0), _JDOX, cds=13.33,
                     provisional=True),
}

_DETECTOR_ALIASES = {"NRCA5": "NRCALONG", "NRCB5": "NRCBLONG", "NIRISS": "NIS"}

#: DOL_NIRC codes for cal/crf images (detector index); i2d images get -1. [INF: the
#: DOLPHOT source is not public; a user script reads < 0 as i2d, otherwise a detector.]
_NIRCAM_CODES = {"NRCA1": 1, "NRCA2": 2, "NRCA3": 3, "NRCA4": 4, "NRCALONG": 5,
                 "NRCB1": 6, "NRCB2": 7, "NRCB3": 8, "NRCB4": 9, "NRCBLONG": 10}


_SW = ("NRCA1", "NRCA2", "NRCA3", "NRCA4", "NRCB1", "NRCB2", "NRCB3", "NRCB4")
_LW = ("NRCALONG", "NRCBLONG")


def jwst_detector_noise(detector: str, channel: str = "") -> DetectorNoise:
    """The gain / read-noise row of a JWST DETECTOR value (``KeyError`` if unknown).

    A NIRCam mosaic (``DETECTOR = MULTIPLE``, i2d) gets the mean row of its CHANNEL
    (SHORT: the eight SW detectors, LONG: the two LW ones) [INF: DOLPHOT's i2d choice is
    unknown]; without a CHANNEL it is ``KeyError``.
    """
    key = detector.strip().upper()
    key = _DETECTOR_ALIASES.get(key, key)
    if key in JWST_DETECTORS:
        return JWST_DETECTORS[key]
    group = {"SHORT": _SW, "LONG": _LW}.get(channel.strip().upper())
    if key in ("MULTIPLE", "") and group:
        rows = [JWST_DETECTORS[d] for d in group]
        return DetectorNoise(
            f"NIRCam {channel.strip().upper()} mean", sum(r.gain for r in rows) / len(rows),
            sum(r.rdnoise for r in rows) / len(rows), sum(r.cds for r in rows) / len(rows),
            "mean of the channel's detector rows (mosaic of several detectors)",
            any(r.provisional for r in rows))
    raise KeyError(key)


def jwst_tag(instrument: str, detector: str, product: str) -> tuple[str, int, str]:
    """``(keyword, value, comment)`` of the DOLPHOT tag: DOL_NIRC / DOL_NIRI.

    cal/crf: NIRCam detector index 1-10 (A1-A4, ALONG, B1-B4, BLONG), NIRISS 0; i2d: -1.
    """
    if instrument.upper() == "NIRISS":
        return "DOL_NIRI", (-1 if product == "i2d" else 0), "DOLPHOT NIRISS tag"
    if product == "i2d":
        return "DOL_NIRC", -1, "DOLPHOT NIRCam tag"
    key = _DETECTOR_ALIASES.get(detector.upper(), detector.upper())
    return "DOL_NIRC", _NIRCAM_CODES.get(key, 0), "DOLPHOT NIRCam tag"


_SATURATED = np.uint32(JWST_PIXEL["SATURATED"])


def jwst_masks(sci: np.ndarray, dq: np.ndarray | None, *, product: str,
               wht: np.ndarray | None = None, saturated_rule: str = "bit",
               precedence: str = "saturated", dq_bad: int = 0
               ) -> tuple[np.ndarray, np.ndarray]:
    """JWST bad and saturated pixels (§4.4).

    Parameters
    ----------
    sci : ndarray of float32
        SCI in MJy/sr.
    dq : ndarray of uint32 or None
        Full-width DQ bitfield (never float). ``None`` (i2d without DQ): nothing saturated.
    product : {"cal", "crf", "i2d"}
        cal/crf: bad = SCI exactly 0 or NaN; i2d: bad = WHT exactly 0 or NaN SCI.
    wht : ndarray of float32, optional
        i2d weight image (required for i2d).
    saturated_rule : {"bit", "equals"}
        ``bit``: saturated = ``DQ & SATURATED`` (default); ``equals``: ``DQ == 2``.
    precedence : {"saturated", "bad"}
        Which wins on a pixel that is both (default saturated, as acsmask tests DQ
        saturation first). Non-finite pixels are always bad unless saturated wins.
    dq_bad : int
        ``--dq-bad``: pixels whose DQ has any of these bits are bad too (not a DOLPHOT
        rule, which looks at SCI and the SATURATED bit only). 0: DOLPHOT's rule alone.

    Returns
    -------
    bad, sat : ndarray of bool
        True = bad / True = saturated; disjoint.
    """
    if product == "i2d":
        if wht is None:
            raise ValueError("an i2d image needs its WHT extension")
        bad = (wht == 0) | ~np.isfinite(sci)
    else:
        bad = (sci == 0) | ~np.isfinite(sci)
    if dq is None:
        sat = np.zeros(sci.shape, dtype=bool)
    else:
        require_dq_dtype(dq)
        dq = dq.astype(np.uint32, copy=False) if dq.dtype != np.uint32 else dq
        sat = (dq == _SATURATED) if saturated_rule == "equals" else dq_to_bad(dq, _SATURATED)
        if dq_bad:
            bad |= dq_to_bad(dq, int(dq_bad))
    if precedence == "bad":
        sat &= ~bad
    else:
        bad &= ~sat
    return bad, sat


def jwst_exposure_time(primary: Mapping[str, Any], product: str, etctime: bool
                       ) -> tuple[float, str]:
    """The exposure time DOLPHOT multiplies by, and which keyword gave it (§4.3).

    cal/crf with ``etctime`` (the 3.x default): the ETC time ``TMEASURE``, or
    ``TGROUP * (NGROUPS - 1) * NINTS`` when TMEASURE is absent; without: ``EFFEXPTM``.
    i2d: always ``EFFEXPTM``.

    Raises
    ------
    KeyError
        A needed keyword is missing (message names it).
    ValueError
        The time is not positive.
    """
    def num(key: str) -> float:
        value = primary.get(key)
        if value is None or isinstance(value, str):
            raise KeyError(key)
        return float(value)

    if product != "i2d" and etctime:
        if primary.get("TMEASURE") is not None:
            exp, source = num("TMEASURE"), "TMEASURE"
        else:
            exp = num("TGROUP") * (num("NGROUPS") - 1) * num("NINTS")
            source = "TGROUP*(NGROUPS-1)*NINTS"
    else:
        exp, source = num("EFFEXPTM"), "EFFEXPTM"
    if not exp > 0:
        raise ValueError(f"exposure time from {source} is {exp}, not positive")
    return exp, source


def jwst_to_dn(sci: np.ndarray, photmjsr: float, exptime: float,
               area: np.ndarray | None = None) -> np.ndarray:
    """``SCI / PHOTMJSR * EXPTIME (* AREA)`` in double, rounded once to float32.

    Parameters
    ----------
    sci : ndarray of float32
        MJy/sr.
    area : ndarray of float32, optional
        Pixel-area map (cal/crf only).

    Returns
    -------
    ndarray of float32
        DN.
    """
    factor = np.float64(exptime) / np.float64(photmjsr)
    if sci.ndim != 2:
        dn = np.multiply(sci, factor, dtype=np.float64)
        if area is not None:
            dn *= area
        return dn.astype(np.float32)
    out = np.empty(sci.shape, dtype=np.float32)
    for rows in _row_blocks(*sci.shape):
        dn = np.multiply(sci[rows], factor, dtype=np.float64)
        if area is not None:
            dn *= area[rows]
        out[rows] = dn
    return out


def jwst_estnoise(var_rnoise: np.ndarray, usable: np.ndarray, photmjsr: float, exptime: float,
                  gain: float, area: np.ndarray | None = None) -> float:
    """``-estnoise``: read noise (e-) from VAR_RNOISE [INF: DOLPHOT's formula is unknown].

    The median over usable pixels of ``sqrt(VAR_RNOISE)`` converted like SCI (to DN, with
    AREA for cal/crf) and times GAIN.

    Parameters
    ----------
    var_rnoise : ndarray of float32
        (MJy/sr)**2.
    usable : ndarray of bool
        True = pixel used (neither bad nor saturated).
    """
    sigma = np.sqrt(var_rnoise.astype(np.float64)) * (exptime / photmjsr)
    if area is not None:
        sigma = sigma * area
    pick = usable & np.isfinite(sigma) & (sigma > 0)
    if not pick.any():
        raise ValueError("VAR_RNOISE has no finite positive value on usable pixels")
    return float(np.median(sigma[pick])) * float(gain)


def jwst_prepare(sci: np.ndarray, dq: np.ndarray | None, *, product: str, photmjsr: float,
                 exptime: float, area: np.ndarray | None = None, wht: np.ndarray | None = None,
                 saturated_rule: str = "bit", precedence: str = "saturated",
                 dq_bad: int = 0) -> Prepared:
    """Convert a JWST SCI image to DN and mark it for DOLPHOT (§4).

    ``area`` is used for cal/crf only (distorted images); thresholds are
    ``safedown(min)`` / ``safeup(max)`` of the good DN values [INF, §4.5]. ``dq``,
    ``saturated_rule``, ``precedence`` and ``dq_bad`` are as in :func:`jwst_masks`.

    Returns
    -------
    Prepared
        See :class:`Prepared`.
    """
    if sci.ndim != 2:
        raise ValueError(f"SCI must be 2-D, got {sci.ndim}-D")
    area = None if product == "i2d" else area
    dn = np.empty(sci.shape, dtype=np.float32)
    bad = np.empty(sci.shape, dtype=bool)
    sat = np.empty(sci.shape, dtype=bool)
    lo, hi = np.inf, -np.inf
    blocks = _row_blocks(*sci.shape)
    for rows in blocks:  # pass 1, cache-sized blocks: masks, DN, range of the good DN
        b, t = jwst_masks(sci[rows], None if dq is None else dq[rows], product=product,
                          wht=None if wht is None else wht[rows],
                          saturated_rule=saturated_rule, precedence=precedence,
                          dq_bad=dq_bad)
        d = jwst_to_dn(sci[rows], photmjsr, exptime, None if area is None else area[rows])
        bad[rows], sat[rows], dn[rows] = b, t, d
        good = d[~(b | t) & np.isfinite(d)]
        if good.size:
            lo, hi = min(lo, float(good.min())), max(hi, float(good.max()))
    if lo > hi:  # no usable pixel
        lo = hi = 0.0
    badpix, saturate = card_number(safedown(lo)), card_number(safeup(hi))
    moved = 0
    for rows in blocks:  # pass 2: move masked pixels past the thresholds
        _, _, _, n = settle(dn[rows], bad[rows], sat[rows], badpix, saturate)
        moved += n
    notes = [f"{moved} pixels with non-finite DN (NaN AREA?) marked bad"] if moved else []
    return Prepared(dn, bad, sat, badpix, saturate, notes)


# --------------------------------------------------------------------------------------------
# HST: acsmask / wfc3mask (§2, §3)
# --------------------------------------------------------------------------------------------

#: DOLPHOT ``acs_ctmult`` (acspsfdata.h) by chip.
ACS_CTMULT: Mapping[str, float] = {"HRC": 1.124583, "WFC1": 0.951763, "WFC2": 0.951763}
#: DOLPHOT ``wfc3_ctmult`` (wfc3psfdata.h): 1.0 for IR, UVIS1 and UVIS2.
WFC3_CTMULT: Mapping[str, float] = {"IR": 1.0, "UVIS1": 1.0, "UVIS2": 1.0}
#: Nominal pixel scale (arcsec) of the HST pixel-area-map normalisation used when the area
#: is computed from SIP: ACS PAMs are relative to 0.05" (WFC) / 0.025" (HRC) pixels. WFC3
#: PAMs are unity at a reference pixel instead (:data:`WFC3_PAM_REFERENCE`): ``None``.
HST_NOMINAL_SCALE: Mapping[str, float | None] = {
    "WFC1": 0.05, "WFC2": 0.05, "HRC": 0.025, "UVIS1": None, "UVIS2": None, "IR": None}
#: WFC3 PAM reference pixel (1-based, full-chip coordinates of the chip named first): the
#: STScI maps are unity at (2072, 2046) of UVIS2 (for both UVIS chips) and (557, 557) of IR.
#: For UVIS1 alone the reference is extrapolated across the chip gap to UVIS1 (2072, -40)
#: [INF: ~35-row gap, UVIS2's top edge faces UVIS1's bottom edge].
WFC3_PAM_REFERENCE: Mapping[str, tuple[str, float, float]] = {
    "UVIS2": ("UVIS2", 2072.0, 2046.0), "UVIS1": ("UVIS1", 2072.0, -40.0),
    "IR": ("IR", 557.0, 557.0)}


def acs_dq_masks(dq: np.ndarray, *, masksat: bool = True, maskcr: bool = True,
                 extra_bad: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """ACS DQ rules (§2.5), in DOLPHOT's precedence.

    saturated: 2048 (A/D), 256 (full well) unless ``-keepsat``; bad: 1727
    (1+2+4+8+16+32+128+512+1024), 4096|8192 (cosmic rays) unless ``-keepcr``; 64 (warm) and
    16384 ignored. ``extra_bad`` (``--dq-bad``, not a DOLPHOT rule) adds bad bits.

    Parameters
    ----------
    dq : ndarray of int16 (or any integer)
        HST DQ bitfield, tested as its unsigned 16-bit pattern.

    Returns
    -------
    bad, sat : ndarray of bool
        True = bad / True = saturated; disjoint, saturated wins.
    """
    sat_bits = 2048 | (256 if masksat else 0)
    bad_bits = 1727 | (12288 if maskcr else 0) | _hst_bits(extra_bad)
    return _split_bits(dq, bad_bits, sat_bits)


def _hst_bits(bits: int) -> int:
    """``bits`` within HST's 16-bit DQ (a ``~FLAG`` complement may carry higher bits)."""
    return int(bits) & 0xFFFF


def _split_bits(dq: np.ndarray, bad_bits: int, sat_bits: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """(bad, sat): any of ``sat_bits`` -> saturated; else any of ``bad_bits`` -> bad."""
    sat = dq_to_bad(dq, sat_bits)
    bad = dq_to_bad(dq, bad_bits)
    bad &= ~sat
    return bad, sat


def wfc3_dq_masks(dq: np.ndarray, *, ir: bool, masksat: bool = True, maskcr: bool = True,
                  maskflat: bool = False, extra_bad: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """WFC3 DQ rules of DOLPHOT 3.1 (§3.2).

    saturated: 2048, 256 unless ``-keepsat``; bad: 191 (1+2+4+8+16+32+128), 512 (UVIS
    always, IR with ``-maskflat``), 1024 (UVIS only), 4096|8192 unless ``-keepcr``;
    64 and 16384 ignored. ``extra_bad`` (``--dq-bad``) adds bad bits. Returns ``(bad, sat)``
    as :func:`acs_dq_masks` (True = bad / saturated, disjoint, saturated wins).
    """
    sat_bits = 2048 | (256 if masksat else 0)
    bad_bits = 191 | (512 if (maskflat or not ir) else 0) | (0 if ir else 1024) | (
        12288 if maskcr else 0) | _hst_bits(extra_bad)
    return _split_bits(dq, bad_bits, sat_bits)


_CHIP_AMPS = {"WFC1": "AB", "WFC2": "CD", "UVIS1": "AB", "UVIS2": "CD"}


def hst_read_noise(ccdamp: str, readnse: Mapping[str, float], chip: str | None = None) -> float:
    """Read noise (e-) of one chip from CCDAMP and READNSEA..D (§2.4, 3.1 mapping).

    ``ABCD`` on a two-chip detector: mean of the chip's amplifiers (WFC1/UVIS1: A, B;
    WFC2/UVIS2: C, D, as DOLPHOT 3.1 does; 2.0 had the chips swapped); otherwise the mean
    of the amplifiers named in CCDAMP.

    Raises
    ------
    ValueError
        CCDAMP is not made of A-D, or a needed READNSEx is missing.
    """
    amps = (ccdamp or "").strip().upper()
    if not amps or any(a not in "ABCD" for a in amps) or len(set(amps)) != len(amps):
        raise ValueError(f"CCDAMP {ccdamp!r} is not a set of amplifiers A-D")
    if amps == "ABCD" and chip in _CHIP_AMPS:
        amps = _CHIP_AMPS[chip]
    values = []
    for a in amps:
        value = readnse.get(f"READNSE{a}")
        if value is None:
            raise ValueError(f"missing keyword READNSE{a}")
        values.append(float(value))
    return sum(values) / len(values)


def wfc3_ir_read_noise(nsamp: int) -> float:
    """WFC3/IR read noise from NSAMP (DOLPHOT 3.1): ``14.6*sqrt(12(N-1)/(N(N+1)))``."""
    n = int(nsamp)
    if n < 2:
        raise ValueError(f"NSAMP={n}: need at least 2 samples")
    return 14.6 * math.sqrt(12.0 * (n - 1) / (n * (n + 1)))


def _widen_mask_pass(dmin: float, dmax: float) -> tuple[float, float]:
    """DMIN1, DMAX1 after the DQ pass: x2 away from zero, x0.5 towards it (float32)."""
    dmax1 = f32(dmax * 2.0 if dmax > 0 else dmax * 0.5)
    dmin1 = f32(dmin * 2.0 if dmin < 0 else dmin * 0.5)
    return float(dmin1), float(dmax1)


def _widen_pam_pass(dmin: float, dmax: float) -> tuple[float, float]:
    """DMIN2, DMAX2 after the PAM pass: x1.5 away from zero, else 0 (float32)."""
    dmax2 = f32(1.5 * dmax) if dmax > 0 else f32(0.0)
    dmin2 = f32(1.5 * dmin) if dmin < 0 else f32(0.0)
    return float(dmin2), float(dmax2)


def hst_flt_prepare(sci: np.ndarray, dq_bad: np.ndarray, dq_sat: np.ndarray, pam: np.ndarray,
                    *, goodmin: float, goodmax: float, mult: float, masksat: bool = True,
                    exptime_mult: float | None = None, out: np.ndarray | None = None
                    ) -> Prepared:
    """Mask, PAM-correct and (WFC3/IR) exposure-scale an HST FLT/FLC chip (§2.5, §2.6, §3.2).

    The numbers are those of DOLPHOT's C ``acsmask`` (later 2.0, as 3.1):
    ``DMIN = safedown(GOODMIN)``, ``DMAX = safeup(GOODMAX)``, where ``safedown``/``safeup``
    take a *float32* argument (a GOODMAX such as calacs' 8-digit ``72417.945`` is rounded to
    float32 before ``safeup``); pixels ``>= DMAX`` are saturated (unless ``-keepsat``),
    ``<= DMIN`` or NaN bad; the thresholds widen x2 (DQ pass) then x1.5 (PAM pass), all in
    float32; good pixels become ``float32(SCI * (PAM / mult))``, and for WFC3/IR
    ``float32(that * EXPTIME)`` with the thresholds times EXPTIME. Bad and saturated pixels
    end at ``safedown(DMIN2)`` / ``safeup(DMAX2)`` of the final float32 thresholds, the
    values the C writes.

    Parameters
    ----------
    sci : ndarray of float32
        SCI in electrons (IR: electrons/s).
    dq_bad, dq_sat : ndarray of bool
        True = bad / saturated from the DQ rules (:func:`acs_dq_masks`, :func:`wfc3_dq_masks`).
    pam : ndarray of float32
        Relative pixel area, same shape.
    masksat : bool
        False with ``-keepsat``: values above GOODMAX are kept (DQ 2048 stays saturated; in
        DOLPHOT a -keepsat A/D-saturated pixel ends up usable - a quirk we do not copy).
    exptime_mult : float, optional
        WFC3/IR: multiply by this exposure time after the PAM pass.
    out : ndarray of float32 (any byte order), optional
        Where to put the values (``sci``'s shape), e.g. a big-endian buffer a FITS writer
        takes as it is; default a new native float32 array.

    ``sci`` and ``pam`` may be of any float dtype and byte order (e.g. memory-mapped FITS
    data), or anything with a ``shape`` that returns an array for a row slice
    (``sci[a:b]``): they are read block by block, ``sci`` rounded to float32 first, so no
    whole-image copy of either is made.
    """
    dmin = safedown(goodmin)  # float32(GOODMIN) in, float32 out, as the C
    dmax = safeup(goodmax)
    dmin2, dmax2 = _widen_pam_pass(*_widen_mask_pass(dmin, dmax))
    if exptime_mult is not None:
        if not exptime_mult > 0:
            raise ValueError(f"exposure time {exptime_mult} is not positive")
        dmin2 = float(f32(dmin2 * float(exptime_mult)))
        dmax2 = float(f32(dmax2 * float(exptime_mult)))
    badpix, saturate = card_number(dmin2), card_number(dmax2)
    marks = (safedown(dmin2), safeup(dmax2))
    values = np.empty(sci.shape, dtype=np.float32) if out is None else out
    if values.shape != sci.shape or values.dtype.kind != "f" or values.dtype.itemsize != 4:
        raise ValueError(f"out must be float32 of shape {sci.shape}, got {values.dtype} "
                         f"{values.shape}")
    bad = np.empty(sci.shape, dtype=bool)
    sat = np.empty(sci.shape, dtype=bool)
    moved = 0
    for rows in _row_blocks(sci.shape[0], sci.shape[-1]):
        s = np.asarray(sci[rows], dtype=np.float32)  # native float32 block
        b, t = dq_bad[rows], dq_sat[rows]
        rest = ~(b | t)
        if masksat:
            thr_sat = rest & (s >= f32(dmax))
            t = t | thr_sat
            rest &= ~thr_sat
        b = b | (rest & ~(s > f32(dmin)))  # <= DMIN, and NaN
        v = np.array(pam[rows], dtype=np.float64)  # a native double copy of the block
        np.divide(v, float(mult), out=v)  # PAM / mult, then x SCI, in double as before
        np.multiply(v, s, out=v)
        if exptime_mult is not None:
            v = np.multiply(v.astype(np.float32), float(exptime_mult), dtype=np.float64)
        v = v.astype(np.float32)
        v, b, t, n = settle(v, b, t, badpix, saturate, marks)
        values[rows], bad[rows], sat[rows] = v, b, t
        moved += n
    notes = [f"{moved} good pixels outside the thresholds after PAM scaling masked"] if moved else []
    return Prepared(values, bad, sat, badpix, saturate, notes)


def _row_blocks(ny: int, nx: int, target: int = 1 << 18) -> list[slice]:
    """Row slices of about ``target`` pixels (cache-sized blocks for the pixel loops)."""
    step = max(1, target // max(nx, 1))
    return [slice(y, min(ny, y + step)) for y in range(0, ny, step)]


def hst_drz_prepare(sci: np.ndarray, *, factor: float, ctx: np.ndarray | None = None,
                    wht: np.ndarray | None = None, usewht: bool = False) -> Prepared:
    """Mask and scale a drizzled (DRZ/DRC) image (§2.5 drizzled branch, §2.6, §3).

    Bad: with ``usewht`` WHT not > 0 (NaN WHT is bad); otherwise CTX == 0 in **every** plane
    (3.1 and acsmask; wfc3mask 2.0 tested plane 0 only). Non-finite SCI is bad too (DOLPHOT
    left it NaN). Thresholds: ``safedown(min)`` / ``safeup(max)`` of the good pixels (DOLPHOT
    used the plain min/max seeded from pixel [0,0], which made the brightest pixel saturated
    and a NaN at [0,0] poison both), then every pixel times ``factor = EXPTIME / ctmult``.

    Parameters
    ----------
    sci : ndarray of float32
        e-/s.
    ctx : ndarray of int, optional
        Context, 2-D or 3-D (planes first).
    wht : ndarray of float32, optional
        Weight.
    """
    if not factor > 0:
        raise ValueError(f"exposure-time factor {factor} is not positive")
    if usewht:
        if wht is None:
            raise ValueError("-usewht needs a WHT extension")
        bad = ~(wht > 0)
    else:
        if ctx is None:
            raise ValueError("a drizzled image needs its CTX extension (or use -usewht)")
        c = ctx if ctx.ndim == 3 else ctx[np.newaxis]
        bad = np.all(c == 0, axis=0)
    bad = bad | ~np.isfinite(sci)
    sat = np.zeros(sci.shape, dtype=bool)
    values = np.multiply(sci, float(factor), dtype=np.float64).astype(np.float32)
    usable = ~bad
    if usable.any():
        pick = sci[usable]
        lo, hi = float(pick.min()), float(pick.max())
    else:
        lo = hi = 0.0
    badpix = card_number(f32(f32(safedown(lo)) * float(factor)))
    saturate = card_number(f32(f32(safeup(hi)) * float(factor)))
    values, bad, sat, moved = settle(values, bad, sat, badpix, saturate)
    return Prepared(values, bad, sat, badpix, saturate, [])


# --------------------------------------------------------------------------------------------
# Pixel area from the image's own SIP distortion
# --------------------------------------------------------------------------------------------


def _sip_terms(coeffs: Mapping[tuple[int, int], float]) -> tuple[np.ndarray, np.ndarray]:
    """Coefficient matrices of d/du and d/dv of a SIP polynomial ``sum c_pq u^p v^q``.

    Returns ``(Du, Dv)`` with ``Du[q, p]`` the coefficient of ``u^p v^q`` in the u-derivative.
    """
    order = max((p + q for p, q in coeffs), default=0) + 1
    du = np.zeros((order, order))
    dv = np.zeros((order, order))
    for (p, q), c in coeffs.items():
        if p >= 1:
            du[q, p - 1] += p * c
        if q >= 1:
            dv[q - 1, p] += q * c
    return du, dv


def sip_pixel_area(shape: tuple[int, int], crpix: tuple[float, float], cd: np.ndarray,
                   a: Mapping[tuple[int, int], float], b: Mapping[tuple[int, int], float],
                   nominal_scale: float | None = None, rows_per_chunk: int = 512,
                   reference_area: float | None = None) -> np.ndarray:
    """Relative pixel area of a SIP-distorted image (the PAM DOLPHOT would read).

    The area of pixel (x, y) is ``|det CD| * det(I + J_SIP(u, v))`` with ``u = x + 1 - CRPIX1``,
    ``v = y + 1 - CRPIX2`` (FITS 1-based pixels), J_SIP the Jacobian of the SIP polynomials
    A, B. The tangent-plane projection's own area change (< 1e-6 over an HST chip) and the
    small-scale lookup-table distortions (D2IM, WCSDVARR) are neglected.

    Parameters
    ----------
    shape : (ny, nx)
    crpix : (CRPIX1, CRPIX2)
    cd : ndarray (2, 2)
        CD matrix in degrees per pixel.
    a, b : mapping (p, q) -> coefficient
        SIP A_p_q and B_p_q.
    nominal_scale : float, optional
        Normalise to a pixel of this many arcsec on a side; ``None``: to the area at CRPIX
        (``det(I + J_SIP) = 1`` there, so the result is ``det(I + J_SIP)`` itself).
    reference_area : float, optional
        Normalise to this area in arcsec^2 (see :func:`sip_area_at`); wins over
        ``nominal_scale``.

    Returns
    -------
    ndarray of float32
        Relative pixel area, ``shape``.
    """
    from scipy.signal import convolve2d

    ny, nx = shape
    au, av = _sip_terms(a)
    bu, bv = _sip_terms(b)
    n = max(au.shape[0], bu.shape[0], 1)

    def pad(m: np.ndarray, one: bool = False) -> np.ndarray:
        out = np.zeros((n, n))
        out[: m.shape[0], : m.shape[1]] = m
        if one:
            out[0, 0] += 1.0
        return out

    fu, fv, gu, gv = pad(au, True), pad(av), pad(bu), pad(bv, True)
    # det(I + J_SIP) is itself a polynomial: its coefficients [q, p] of v^q u^p
    det = convolve2d(fu, gv) - convolve2d(fv, gu)
    cd_area = abs(float(np.linalg.det(np.asarray(cd, dtype=np.float64)))) * 3600.0**2
    if reference_area is not None:
        det *= cd_area / float(reference_area)
    elif nominal_scale is not None:
        det *= cd_area / float(nominal_scale) ** 2
    m = det.shape[0]
    u = np.arange(nx, dtype=np.float64) + 1.0 - float(crpix[0])
    upow_t = np.vander(u, m, increasing=True).T  # (m, nx): u^p
    right = det @ upow_t  # (m, nx): sum_p det[q, p] u^p
    out = np.empty(shape, dtype=np.float32)
    for rows in _row_blocks(ny, nx, max(rows_per_chunk, 1) * nx):
        v = np.arange(rows.start, rows.stop, dtype=np.float64) + 1.0 - float(crpix[1])
        out[rows] = np.vander(v, m, increasing=True) @ right
    return out


def sip_area_at(x: float, y: float, crpix: tuple[float, float], cd: np.ndarray,
                a: Mapping[tuple[int, int], float], b: Mapping[tuple[int, int], float]
                ) -> float:
    """Area in arcsec^2 of the pixel at 1-based FITS pixel ``(x, y)`` (may lie off the image)."""
    cd_area = abs(float(np.linalg.det(np.asarray(cd, dtype=np.float64)))) * 3600.0**2
    u, v = float(x) - float(crpix[0]), float(y) - float(crpix[1])

    def d(coeffs, wrt_u):
        total = 0.0
        for (p, q), c in coeffs.items():
            if wrt_u and p:
                total += p * c * u ** (p - 1) * v ** q
            elif not wrt_u and q:
                total += q * c * u ** p * v ** (q - 1)
        return total

    fu, fv = 1.0 + d(a, True), d(a, False)
    gu, gv = d(b, True), 1.0 + d(b, False)
    return cd_area * (fu * gv - fv * gu)
