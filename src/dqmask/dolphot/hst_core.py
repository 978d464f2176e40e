"""DOLPHOT's ``acsmask`` / ``wfc3mask`` rules for HST images (pure: arrays in, arrays out).

DQ bits to bad / saturated pixels, read noise, and the FLT (mask, pixel-area and exposure
scaling) and drizzled preparations, with the numbers of DOLPHOT's C ``acsmask`` and the
WFC3 rules of DOLPHOT 3.1 (``docs/dolphot.md``, "HST: acsmask, wfc3mask"; ``[INF]`` marks an
inference, as there). The thresholds and the final pixel values use
:mod:`dqmask.dolphot.core`.

Array conventions: ``sci`` float32 (electrons, IR e-/s; NaN allowed), ``dq`` int16 HST DQ
bitfield (tested as its unsigned 16-bit pattern), ``pam`` float32 relative pixel area,
``ctx`` integer drizzle context (2-D or 3-D, planes first), ``wht`` float32,
``bad`` / ``sat`` bool (True = bad / saturated).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Protocol

import numpy as np

from ..conventions import dq_to_bad
from ..flags import require_dq_dtype
from .core import Prepared, card_number, row_blocks, safedown, safeup, settle, usable_bounds

__all__ = [
    "ACS_CTMULT", "WFC3_CTMULT", "HST_NOMINAL_SCALE", "WFC3_PAM_REFERENCE",
    "acs_dq_masks", "wfc3_dq_masks", "hst_read_noise", "wfc3_ir_read_noise",
    "hst_flt_prepare", "hst_drz_prepare", "RowSource",
]

f32 = np.float32


class RowSource(Protocol):
    """An image read a block of rows at a time: ``.shape`` and ``source[a:b]`` (an array).

    A numpy array is one; so is a reader of a FITS image that reads the rows on demand.
    """

    @property
    def shape(self) -> tuple[int, ...]: ...

    def __getitem__(self, rows: slice, /) -> np.ndarray: ...


#: Pixels per block of the FLT loops: 64k pixels (16 rows of a 4096-wide chip) keep a
#: block's float64 temporaries (512 KiB) in cache; 4x larger blocks were ~1.6x slower.
BLOCK = 1 << 16

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
    """ACS DQ rules (the C ``acsmask``'s ``ACSmask``), in DOLPHOT's precedence.

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
    """(bad, sat): any of ``sat_bits`` -> saturated; else any of ``bad_bits`` -> bad.

    Worked in cache-sized blocks on the DQ's own bytes (:func:`~dqmask.conventions.dq_to_bad`
    swaps the bits of big-endian FITS data, not the data).
    """
    require_dq_dtype(dq)
    dq = np.asarray(dq)
    bad = np.empty(dq.shape, dtype=bool)
    sat = np.empty(dq.shape, dtype=bool)
    if dq.ndim == 0:
        dq_to_bad(dq, sat_bits, out=sat)
        return np.asarray(dq_to_bad(dq, bad_bits, out=bad) & ~sat), sat
    for rows in row_blocks(dq.shape[0], dq.shape[-1] if dq.ndim > 1 else 1, BLOCK):
        t = dq_to_bad(dq[rows], sat_bits, out=sat[rows])
        b = dq_to_bad(dq[rows], bad_bits, out=bad[rows])
        b &= ~t
    return bad, sat


def wfc3_dq_masks(dq: np.ndarray, *, ir: bool, masksat: bool = True, maskcr: bool = True,
                  maskflat: bool = False, extra_bad: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """WFC3 DQ rules of DOLPHOT 3.1 (modelled on acsmask's; 2.0's differ: ``docs/dolphot.md``).

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
    """Read noise (e-) of one chip from CCDAMP and READNSEA..D (acsmask's per-chip cards, with
    DOLPHOT 3.1's amplifier mapping).

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


def hst_flt_prepare(sci: np.ndarray | RowSource, dq_bad: np.ndarray, dq_sat: np.ndarray,
                    pam: np.ndarray | RowSource,
                    *, goodmin: float, goodmax: float, mult: float, masksat: bool = True,
                    exptime_mult: float | None = None, out: np.ndarray | None = None
                    ) -> Prepared:
    """Mask, PAM-correct and (WFC3/IR) exposure-scale an HST FLT/FLC chip (acsmask; wfc3mask 3.1).

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
    low, high = f32(safedown(dmin2)), f32(safeup(dmax2))  # the C's markers
    lo, hi = usable_bounds(badpix, saturate)
    if not (low < lo and high > hi and lo <= hi):
        raise ValueError(f"thresholds BADPIX={badpix} SATURATE={saturate} leave no room")
    values = np.empty(sci.shape, dtype=np.float32) if out is None else out
    if values.shape != sci.shape or values.dtype.kind != "f" or values.dtype.itemsize != 4:
        raise ValueError(f"out must be float32 of shape {sci.shape}, got {values.dtype} "
                         f"{values.shape}")
    bad = np.empty(sci.shape, dtype=bool)
    sat = np.empty(sci.shape, dtype=bool)
    fmin, fmax = f32(dmin), f32(dmax)
    moved = 0
    blocks = row_blocks(sci.shape[0], sci.shape[-1], BLOCK)
    size = max((r.stop - r.start for r in blocks), default=0) * (
        sci.shape[-1] if len(sci.shape) > 1 else 1)
    # scratch of one block, reused: no allocation (nor page faults) per block
    good_, other_, third_ = (np.empty(size, dtype=bool) for _ in range(3))
    v_, v32_ = np.empty(size), np.empty(size, dtype=np.float32)
    for rows in blocks:
        s = np.asarray(sci[rows], dtype=np.float32)  # native float32 block
        b, t, d_bad, d_sat = bad[rows], sat[rows], dq_bad[rows], dq_sat[rows]
        good, other, third = (x[:s.size].reshape(s.shape) for x in (good_, other_, third_))
        v, v32 = v_[:s.size].reshape(s.shape), v32_[:s.size].reshape(s.shape)
        # (x > y on bools is x & ~y)
        np.greater(s, fmin, out=good)  # False for <= DMIN and NaN
        np.logical_or(d_bad, d_sat, out=other)
        if masksat:  # >= DMAX saturated unless the DQ says bad
            np.greater_equal(s, fmax, out=third)
            np.greater(third, d_bad, out=t)
            np.logical_or(t, d_sat, out=t)
            np.logical_or(other, third, out=other)
        else:
            np.copyto(t, d_sat)
        np.greater(good, other, out=good)  # usable by DQ and value
        # good pixels: float32(SCI * (PAM / mult)) computed in double, as the C
        np.divide(pam[rows], float(mult), out=v, dtype=np.float64)
        np.multiply(v, s, out=v)
        if exptime_mult is not None:
            np.copyto(v32, v, casting="same_kind")
            np.multiply(v32, float(exptime_mult), out=v, dtype=np.float64)
        np.copyto(v32, v, casting="same_kind")
        np.greater_equal(v32, lo, out=other)
        np.less_equal(v32, hi, out=third)
        np.logical_and(other, third, out=other)  # inside [lo, hi]
        np.greater(good, other, out=third)  # a PAM (or EXPTIME) scaling moved it past
        n = int(np.count_nonzero(third))
        if n:
            t |= third & (v32 > hi)
            good &= other
            moved += n
        np.logical_or(good, t, out=b)
        np.logical_not(b, out=b)
        # every pixel now: good -> inside [lo, hi]; bad -> low < lo; sat -> high > hi, so
        # DOLPHOT's BADPIX < value < SATURATE holds exactly for the good ones
        np.copyto(v32, low, where=b)
        np.copyto(v32, high, where=t)
        values[rows] = v32
    notes = [f"{moved} good pixels outside the thresholds after PAM scaling masked"] if moved else []
    return Prepared(values, bad, sat, badpix, saturate, notes)


def hst_drz_prepare(sci: np.ndarray, *, factor: float, ctx: np.ndarray | None = None,
                    wht: np.ndarray | None = None, usewht: bool = False) -> Prepared:
    """Mask and scale a drizzled (DRZ/DRC) image (acsmask's and wfc3mask's drizzled branch).

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

