"""One mask model: the conventions dqmask speaks and lossless converters between them.

Every mask array in dqmask is in exactly one of these conventions, always named:

==============  ==========  ===============================================================
convention      dtype       meaning
==============  ==========  ===============================================================
``bad``         bool        True = bad (masked, excluded). The internal lingua franca.
``good``        int16       drizzlepac static mask: 1 = good, 0 = bad.
``background``  uint8       NSClean: 1 = background (usable for the 1/f fit), 0 = not.
``user_mask``   float32     jwst clean_flicker_noise ``user_mask`` SCI: 1.0 = background.
``dq``          uint32      JWST DQ bitfield; a pixel is bad where ``dq & flags != 0``.
                            HST DQ (int16) is accepted with ``dtype=np.int16``.
==============  ==========  ===============================================================

What is lossless and what is not
--------------------------------
* ``bad``, ``good``, ``background`` and ``user_mask`` are four spellings of one boolean per
  pixel: converting among them is lossless in both directions (``background`` is read as
  "usable", so ``bad = not background``).
* ``dq`` -> anything boolean keeps only whether ``dq & flags`` is non-zero: *which* flags were
  set is lost. Boolean -> ``dq`` writes one flag value and is lossless back to boolean.
* Reading ``good`` / ``background`` / ``user_mask`` accepts any numeric value: non-zero (and,
  for ``user_mask``, non-NaN) means good/background, exactly as drizzlepac and jwst read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

import numpy as np

from .flags import JWST_PIXEL, FlagSpecError, parse_flags, require_dq_dtype

__all__ = ["Convention", "DEFAULT_DQ_FLAGS", "to_bad", "from_bad", "convert", "dtype_of"]

#: Flags written for ``bad`` pixels when converting to ``dq`` and none are given.
#: JWST DO_NOT_USE (bit 0) | OTHER_BAD_PIXEL (bit 30), written as numbers so that importing
#: this module does not load the JWST tables (stdatamodels, asdf) for HST work; a test keeps
#: it equal to ``JWST_PIXEL["DO_NOT_USE"] | JWST_PIXEL["OTHER_BAD_PIXEL"]``.
DEFAULT_DQ_FLAGS = (1 << 0) | (1 << 30)


class Convention(StrEnum):
    """The mask conventions (see the module docstring for each one's meaning)."""

    BAD = "bad"
    GOOD = "good"
    BACKGROUND = "background"
    USER_MASK = "user_mask"
    DQ = "dq"


_DTYPES = {
    Convention.BAD: np.dtype(bool),
    Convention.GOOD: np.dtype(np.int16),
    Convention.BACKGROUND: np.dtype(np.uint8),
    Convention.USER_MASK: np.dtype(np.float32),
    Convention.DQ: np.dtype(np.uint32),
}


def dtype_of(convention: Convention | str) -> np.dtype:
    """The on-disk dtype of a convention (``dq``: uint32; HST DQ may use int16)."""
    return _DTYPES[Convention(convention)]


def _dq_flags(flags: int | str | None, table: Mapping[str, int]) -> int:
    return DEFAULT_DQ_FLAGS if flags is None else parse_flags(flags, table)


def to_bad(mask: np.ndarray, convention: Convention | str, *,
           flags: int | str | None = None,
           table: Mapping[str, int] = JWST_PIXEL) -> np.ndarray:
    """Convert a mask to the ``bad`` convention.

    Parameters
    ----------
    mask : ndarray
        Mask in ``convention``.
    convention : Convention or str
        Convention of ``mask``.
    flags : int or str, optional
        ``dq`` only: the flags that make a pixel bad. Default: any bit set (``dq != 0``).
    table : mapping, optional
        Flag table that resolves names in ``flags`` (default JWST; e.g. ``flags.ACS``).

    Returns
    -------
    ndarray of bool
        True = bad.
    """
    conv = Convention(convention)
    mask = np.asarray(mask)
    if conv is Convention.BAD:
        return mask.astype(bool, copy=True)
    if conv is Convention.DQ:
        require_dq_dtype(mask)
        if flags is None:
            return mask != 0
        value = parse_flags(flags, table)
        return (mask & np.array(value).astype(mask.dtype)) != 0
    if conv is Convention.USER_MASK:
        # jwst reads the float mask with astype(bool): NaN is "True" there; we call NaN bad
        # (not background), which is the only safe reading.
        return ~((mask != 0) & ~np.isnan(mask))
    return mask == 0  # GOOD and BACKGROUND: non-zero = good/usable


def from_bad(bad: np.ndarray, convention: Convention | str, *,
             flags: int | str | None = None, dtype: np.dtype | type | None = None,
             table: Mapping[str, int] = JWST_PIXEL) -> np.ndarray:
    """Convert a ``bad`` mask (True = bad) to another convention.

    Parameters
    ----------
    bad : ndarray of bool
        True = bad.
    convention : Convention or str
        Target convention.
    flags : int or str, optional
        ``dq`` only: the value written on bad pixels. Default DO_NOT_USE+OTHER_BAD_PIXEL.
    dtype : dtype, optional
        ``dq`` only: ``np.uint32`` (JWST, default) or ``np.int16`` (HST). Float is refused
        (TypeError); flags wider than the dtype are refused (FlagSpecError), so with
        ``np.int16`` give ``flags`` (the default JWST value needs 31 bits).
    table : mapping, optional
        Flag table that resolves names in ``flags`` (default JWST; e.g. ``flags.WFC3_UVIS``).

    Returns
    -------
    ndarray
        In the target convention's dtype (see :func:`dtype_of`).
    """
    conv = Convention(convention)
    bad = np.asarray(bad, dtype=bool)
    if conv is Convention.BAD:
        return bad.copy()
    if conv is Convention.DQ:
        out_dtype = np.dtype(dtype or np.uint32)
        if not np.issubdtype(out_dtype, np.integer):
            raise TypeError(f"a DQ mask must be integer, not {out_dtype}")
        value = _dq_flags(flags, table)
        bits = out_dtype.itemsize * 8
        if value >= 1 << bits:
            raise FlagSpecError(f"flag value {value} does not fit in a {out_dtype} DQ array"
                                + (" (give flags=, e.g. a 16-bit HST value)"
                                   if flags is None else ""))
        if out_dtype.kind == "i" and value >= 1 << (bits - 1):
            value -= 1 << bits  # same bit pattern in a signed DQ (HST int16, bit 15)
        return np.where(bad, out_dtype.type(value), out_dtype.type(0))
    return (~bad).astype(_DTYPES[conv])


def convert(mask: np.ndarray, src: Convention | str, dst: Convention | str, *,
            src_flags: int | str | None = None, dst_flags: int | str | None = None,
            dtype: np.dtype | type | None = None,
            table: Mapping[str, int] = JWST_PIXEL) -> np.ndarray:
    """Convert a mask between two conventions through ``bad``.

    ``dq`` -> ``dq`` with no flags given is the identity (all bits kept, dtype kept); with
    flags it keeps only ``src_flags`` bits and writes ``dst_flags``. Flag names in either
    are resolved in ``table`` (default JWST).
    """
    src, dst = Convention(src), Convention(dst)
    if src is Convention.DQ and dst is Convention.DQ and src_flags is None and dst_flags is None:
        require_dq_dtype(mask)
        return np.array(mask, copy=True)
    return from_bad(to_bad(mask, src, flags=src_flags, table=table), dst, flags=dst_flags,
                    dtype=dtype, table=table)
