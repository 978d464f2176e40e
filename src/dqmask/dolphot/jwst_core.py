"""DOLPHOT's ``nircammask`` / ``nirissmask`` rules for JWST images (pure: arrays in, arrays out).

Conversion of a cal/crf/i2d SCI image (MJy/sr) to DN, which pixels are bad or saturated,
the exposure time, gain and read noise DOLPHOT writes. No JWST source of DOLPHOT's was
available: these rules are those of its documentation and logs (``docs/dolphot.md``, "JWST:
nircammask, nirissmask"), and ``[INF]`` marks an inference, as there. The thresholds and the
final pixel values use :mod:`dqmask.dolphot.core`.

Array conventions: ``sci`` float32 (MJy/sr; NaN allowed), ``dq`` uint32 JWST DQ bitfield at
full width, ``area`` / ``wht`` float32, ``bad`` / ``sat`` bool (True = bad / saturated).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..conventions import dq_to_bad
from ..flags import JWST_PIXEL, require_dq_dtype
from .core import Prepared, card_number, row_blocks, safedown, safeup, settle

__all__ = [
    "DetectorNoise", "JWST_DETECTORS", "jwst_detector_noise", "jwst_tag",
    "jwst_masks", "jwst_exposure_time", "jwst_to_dn", "jwst_estnoise", "jwst_prepare",
]

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


#: Per-detector gain (e-/DN) and read noise (e-), DOLPHOT's built-in tables as its logs and
#: ``versions.txt`` show them (each row with its evidence; RDNOISE = CDS noise / sqrt(2)).
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


def jwst_masks(sci: np.ndarray, dq: np.ndarray | None, *, product: str,
               wht: np.ndarray | None = None, saturated_rule: str = "bit",
               precedence: str = "saturated", dq_bad: int = 0
               ) -> tuple[np.ndarray, np.ndarray]:
    """JWST bad and saturated pixels, by DOLPHOT's documented rule (bad: SCI exactly 0 or NaN,
    i2d WHT 0; saturated: DQ SATURATED).

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
        saturated = np.uint32(JWST_PIXEL["SATURATED"])  # read here, never at import
        sat = (dq == saturated) if saturated_rule == "equals" else dq_to_bad(dq, saturated)
        if dq_bad:
            bad |= dq_to_bad(dq, int(dq_bad))
    if precedence == "bad":
        sat &= ~bad
    else:
        bad &= ~sat
    return bad, sat


def jwst_exposure_time(primary: Mapping[str, Any], product: str, etctime: bool
                       ) -> tuple[float, str]:
    """The exposure time DOLPHOT multiplies by, and which keyword gave it (from its logs).

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
    for rows in row_blocks(*sci.shape):
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
    """Convert a JWST SCI image to DN and mark it for DOLPHOT (``nircammask`` / ``nirissmask``).

    ``area`` is used for cal/crf only (distorted images); thresholds are
    ``safedown(min)`` / ``safeup(max)`` of the good DN values [INF: DOLPHOT's logs show
    thresholds that follow each image's range; its formula is unknown]. ``dq``,
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
    blocks = row_blocks(*sci.shape)
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

