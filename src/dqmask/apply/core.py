"""Applying a bad-pixel mask to a DQ array (and optionally to SCI): pure functions.

Conventions
-----------
* ``bad`` masks are boolean, True = masked (the pixels that receive the flags).
* ``dq`` arrays are integer bitfields and keep their dtype: ``uint32`` (JWST DQ / PIXELDQ),
  ``int16`` (HST DQ, flag bit 15 stored as the sign bit), ``uint8`` (GROUPDQ).
* A 2-D ``bad`` mask applies to every plane of a 3-D or 4-D array (rateints, calints): its
  shape must equal the array's last two axes. Nothing is ever reshaped or reprojected.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ShapeMismatch
from ..flags import require_dq_dtype

__all__ = [
    "ShapeMismatch",
    "MaskStats",
    "dq_value",
    "check_shape",
    "or_flags",
    "newly_flagged",
    "count_newly_flagged",
    "zero_where",
    "mask_stats",
    "mask_record",
]


@dataclass(frozen=True)
class MaskStats:
    """How much of an image a mask covers.

    Attributes
    ----------
    masked : int
        Pixels True in the mask (per image plane, summed over chips).
    total : int
        Pixels in the image planes (summed over chips).
    newly_flagged : int
        Pixels whose DQ gained at least one bit (0 when not computed).
    """

    masked: int
    total: int
    newly_flagged: int = 0

    @property
    def fraction(self) -> float:
        """``masked / total`` (0 for an empty image)."""
        return self.masked / self.total if self.total else 0.0


def dq_value(flags: int, dtype: np.dtype | type) -> np.generic:
    """``flags`` as a scalar of a DQ dtype; HST ``int16`` stores bit 15 as the sign bit.

    Raises
    ------
    ValueError
        The flags do not fit in the dtype's width (e.g. a JWST 32-bit flag into int16).
    """
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.integer):
        raise TypeError(f"DQ dtype must be integer, not {dtype}")
    width = dtype.itemsize * 8
    if flags < 0 or flags >= 1 << width:
        raise ValueError(f"flags {flags} do not fit in a {width}-bit DQ array ({dtype})")
    if dtype.kind == "i" and flags >= 1 << (width - 1):
        flags -= 1 << width
    return dtype.type(flags)


def check_shape(bad: np.ndarray, target_shape: Sequence[int]) -> None:
    """Raise :class:`ShapeMismatch` unless ``bad`` matches ``target_shape``.

    ``bad`` (2-D) must equal the last two axes of ``target_shape``, or equal it entirely.
    """
    target = tuple(int(n) for n in target_shape)
    if bad.shape == target or (bad.ndim == 2 and bad.shape == target[-2:]):
        return
    raise ShapeMismatch(f"mask is {_dims(bad.shape)} but the target is {_dims(target)}")


def _dims(shape: Sequence[int]) -> str:
    return "x".join(str(n) for n in reversed(tuple(shape)))  # FITS order: NAXIS1 x NAXIS2


def or_flags(dq: np.ndarray, bad: np.ndarray, flags: int) -> np.ndarray:
    """OR ``flags`` into ``dq`` where ``bad`` is True.

    Parameters
    ----------
    dq : ndarray of integer dtype
        DQ bitfield (``dq`` convention); not modified.
    bad : ndarray of bool
        True = masked; 2-D (broadcast over leading axes) or the shape of ``dq``.
    flags : int
        Bits to set (non-negative, fitting the dtype's width).

    Returns
    -------
    ndarray
        New DQ array (``dq`` convention), same dtype and shape as ``dq``.

    Examples
    --------
    A ``bad`` mask (True = bad) into a JWST DQ (uint32) as DO_NOT_USE + OTHER_BAD_PIXEL;
    bits already set are kept:

    >>> import numpy as np
    >>> from dqmask import parse_flags
    >>> from dqmask.apply.core import or_flags
    >>> dq = np.array([[0, 2], [0, 0]], dtype=np.uint32)          # 2 = SATURATED
    >>> bad = np.array([[True, True], [False, False]])
    >>> out = or_flags(dq, bad, parse_flags("DO_NOT_USE+OTHER_BAD_PIXEL"))
    >>> out.dtype.name, out.tolist()
    ('uint32', [[1073741825, 1073741827], [0, 0]])

    A 2-D mask flags every plane of a 3-D DQ (uint8 here, as a GROUPDQ):

    >>> or_flags(np.zeros((2, 1, 2), dtype=np.uint8), np.array([[True, False]]), 1).tolist()
    [[[1, 0]], [[1, 0]]]
    """
    require_dq_dtype(dq)
    check_shape(bad, dq.shape)
    value = dq_value(flags, dq.dtype)
    out = np.array(dq, copy=True)
    np.bitwise_or(out, value, out=out, where=np.broadcast_to(bad, dq.shape))
    return out


def newly_flagged(before: np.ndarray, after: np.ndarray) -> int:
    """Pixels (over all planes) whose DQ value changed."""
    return int(np.count_nonzero(before != after))


def count_newly_flagged(dq: np.ndarray, bad: np.ndarray, flags: int) -> int:
    """Pixels (over all planes) whose DQ :func:`or_flags` would change, without making the
    new array: ``newly_flagged(dq, or_flags(dq, bad, flags))``.

    Parameters
    ----------
    dq : ndarray of integer dtype
        DQ bitfield (``dq`` convention); not modified.
    bad : ndarray of bool
        True = masked; 2-D (broadcast over leading axes) or the shape of ``dq``.
    flags : int
        Bits that would be set.
    """
    require_dq_dtype(dq)
    check_shape(bad, dq.shape)
    value = dq_value(flags, dq.dtype)
    if not value:
        return 0
    missing = np.bitwise_and(dq, value) != value  # a pixel changes when a bit is missing
    missing &= np.broadcast_to(bad, dq.shape)
    return int(np.count_nonzero(missing))


def zero_where(sci: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """A copy of ``sci`` with 0 where ``bad`` is True (dtype kept).

    Parameters
    ----------
    sci : ndarray
        Science array (any numeric dtype).
    bad : ndarray of bool
        True = set to 0; 2-D (broadcast) or the shape of ``sci``.
    """
    check_shape(bad, sci.shape)
    out = np.array(sci, copy=True)
    np.copyto(out, out.dtype.type(0), where=np.broadcast_to(bad, sci.shape))
    return out


def mask_stats(bads: Sequence[np.ndarray]) -> MaskStats:
    """Masked pixel count and total over the image planes of all chips.

    Parameters
    ----------
    bads : sequence of ndarray of bool
        One 2-D mask per chip, True = masked.
    """
    masked = sum(int(np.count_nonzero(b)) for b in bads)
    total = sum(int(b.size) for b in bads)
    return MaskStats(masked, total)


def mask_record(bads: Sequence[np.ndarray], flags: int, fill: str | None = None) -> str:
    """The idempotence record of applying these masks with these flags.

    A 16-hex-digit SHA-256 digest of every chip mask's shape and packed bits, the flag
    value and the data fill (``None`` or ``"zero"``). The same mask applied with the same
    flags always gives the same record, whatever file or name it came from.

    Parameters
    ----------
    bads : sequence of ndarray of bool
        One mask per chip, True = masked.
    flags : int
        DQ flags OR-ed in.
    fill : str, optional
        What is written into SCI under the mask (``"zero"``) or None.
    """
    h = hashlib.sha256()
    h.update(f"flags={int(flags)};fill={fill or 'none'};chips={len(bads)}".encode())
    for b in bads:
        b = np.ascontiguousarray(b, dtype=bool)
        h.update(("shape=" + ",".join(map(str, b.shape)) + ";").encode())
        h.update(np.packbits(b, axis=None).tobytes())
    return h.hexdigest()[:16]
