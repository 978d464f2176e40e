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
``seed``        float32     Crab.Toolkit.JWST / ``dqmask detect`` seed image: the 0/1
                            detection smoothed, values in [0, 1]; bad where ``seed > 0``
                            (the product's ``zeroonemask``). Files say ``DQMCONV = 'seed'``.
==============  ==========  ===============================================================

Every path that turns a DQ array and flag bits into ``bad`` goes through :func:`dq_to_bad`.

What is lossless and what is not
--------------------------------
* ``bad``, ``good``, ``background`` and ``user_mask`` are four spellings of one boolean per
  pixel: converting among them is lossless in both directions (``background`` is read as
  "usable", so ``bad = not background``).
* ``dq`` -> anything boolean keeps only whether ``dq & flags`` is non-zero: *which* flags were
  set is lost. Boolean -> ``dq`` writes one flag value and is lossless back to boolean.
* Reading ``good`` / ``background`` / ``user_mask`` accepts any numeric value: non-zero (and,
  for ``user_mask``, non-NaN) means good/background, exactly as drizzlepac and jwst read them.
* ``seed`` -> ``bad`` keeps only ``seed > 0`` (the smoothing weights are lost; NaN is not
  bad, as ``seed > 0`` reads it); ``bad`` -> ``seed`` writes a hard seed (1.0 on bad pixels),
  lossless back to ``bad``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

import numpy as np

from .flags import JWST_PIXEL, FlagSpecError, parse_flags, require_dq_dtype

__all__ = ["Convention", "DEFAULT_DQ_FLAGS", "dq_to_bad", "to_bad", "from_bad", "convert",
           "dtype_of"]

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
    SEED = "seed"


_DTYPES = {
    Convention.BAD: np.dtype(bool),
    Convention.GOOD: np.dtype(np.int16),
    Convention.BACKGROUND: np.dtype(np.uint8),
    Convention.USER_MASK: np.dtype(np.float32),
    Convention.DQ: np.dtype(np.uint32),
    Convention.SEED: np.dtype(np.float32),
}


def dtype_of(convention: Convention | str) -> np.dtype:
    """The on-disk dtype of a convention (``dq``: uint32; HST DQ may use int16)."""
    return _DTYPES[Convention(convention)]


def dq_to_bad(dq: np.ndarray, flags: int | np.integer | None = None, *,
              out: np.ndarray | None = None) -> np.ndarray:
    """The pixels of a DQ array that carry any of ``flags``: ``dq & flags != 0``.

    The one place dqmask turns DQ bits into a ``bad`` mask; every job calls it. Pure: the
    input is neither copied nor changed, and never cast (no float, no narrower type).

    Parameters
    ----------
    dq : ndarray of integer dtype
        ``dq`` convention: a DQ bitfield (uint32 JWST PIXELDQ/DQ, uint8 GROUPDQ, int16 HST,
        either byte order).
    flags : int, optional
        The bits that make a pixel bad, already parsed (:func:`dqmask.flags.parse_flags`).
        Taken within the dtype's width, so a bit the dtype cannot hold matches nothing, an
        int16 DQ's bit 15 is 32768 (not a negative number), and a negative ``~bits`` means
        every bit but ``bits`` (how drizzlepac's "bits to ignore" read). ``None``: any bit.
    out : ndarray of bool, optional
        Where to write the result (e.g. one block of a larger mask); returned.

    Big-endian FITS data are tested on their own bytes, the flag bits swapped instead of the
    array (no converted copy), so the function is as fast on a DQ read from a file as on a
    native one.

    Returns
    -------
    ndarray of bool
        ``bad``: True = the pixel carries one of ``flags``; same shape as ``dq``.

    Raises
    ------
    TypeError
        ``dq`` is not integer (a float or boolean array is not a DQ).

    Examples
    --------
    A JWST DQ (uint32) where DO_NOT_USE (1) or SATURATED (2) is set, read as ``bad``
    (True = bad) for DO_NOT_USE only, and for any flag:

    >>> import numpy as np
    >>> from dqmask.conventions import dq_to_bad
    >>> dq = np.array([0, 1, 2, 3], dtype=np.uint32)
    >>> dq_to_bad(dq, 1).tolist()
    [False, True, False, True]
    >>> dq_to_bad(dq).tolist()
    [False, True, True, True]

    An HST DQ (int16, big-endian as read from a FITS file) with bit 15 set, and every bit
    but SATPIXEL (256) with ``~256``:

    >>> hst = np.array([0, -32768, 256], dtype=">i2")
    >>> dq_to_bad(hst, 32768).tolist()
    [False, True, False]
    >>> dq_to_bad(hst, ~256).tolist()
    [False, True, False]
    """
    require_dq_dtype(dq)
    dq = np.asarray(dq)
    size = dq.dtype.itemsize
    full = (1 << (8 * size)) - 1
    value = full if flags is None else int(flags) & full
    if value == full:
        return np.not_equal(dq, 0, out=out)
    bits = dq.view(f"u{size}")  # native unsigned view of the same bytes
    if not dq.dtype.isnative and size > 1:  # swap the flag bits, not the data
        value = int.from_bytes(value.to_bytes(size, "big"), "little")
    return np.not_equal(bits & bits.dtype.type(value), 0, out=out)


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

    Examples
    --------
    A drizzlepac static mask (``good``: 1 = good, 0 = bad) read as ``bad`` (True = bad):

    >>> import numpy as np
    >>> from dqmask import to_bad
    >>> to_bad(np.array([1, 0, 1], dtype=np.int16), "good").tolist()
    [False, True, False]

    An NSClean mask (``background``: 1 = background, i.e. usable) and a jwst ``user_mask``
    (1.0 = background; NaN is read as bad, never as background):

    >>> to_bad(np.array([1, 0], dtype=np.uint8), "background").tolist()
    [False, True]
    >>> to_bad(np.array([1.0, 0.0, np.nan], dtype=np.float32), "user_mask").tolist()
    [False, True, True]

    A JWST DQ bitfield (uint32): any bit set is bad, or only the ``flags`` given
    (2 = SATURATED is not DO_NOT_USE):

    >>> dq = np.array([0, 1, 2], dtype=np.uint32)
    >>> to_bad(dq, "dq").tolist()
    [False, True, True]
    >>> to_bad(dq, "dq", flags="DO_NOT_USE").tolist()
    [False, True, False]

    A claws seed image (``seed``: float32, bad where > 0):

    >>> to_bad(np.array([0.0, 0.02, 1.0], dtype=np.float32), "seed").tolist()
    [False, True, True]
    """
    conv = Convention(convention)
    mask = np.asarray(mask)
    if conv is Convention.BAD:
        return mask.astype(bool, copy=True)
    if conv is Convention.DQ:
        require_dq_dtype(mask)
        return dq_to_bad(mask, None if flags is None else parse_flags(flags, table))
    if conv is Convention.SEED:
        with np.errstate(invalid="ignore"):
            return np.asarray(mask > 0)
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

    Examples
    --------
    From ``bad`` (True = bad) to each convention: ``good`` (int16, 1 = good),
    ``background`` (uint8, 1 = background), ``user_mask`` (float32, 1.0 = background) and
    ``dq`` (uint32, the flags on bad pixels; DO_NOT_USE + OTHER_BAD_PIXEL by default), and
    ``seed`` (float32, 1.0 = bad):

    >>> import numpy as np
    >>> from dqmask import from_bad
    >>> bad = np.array([True, False])
    >>> from_bad(bad, "good").tolist()
    [0, 1]
    >>> from_bad(bad, "background").tolist()
    [0, 1]
    >>> from_bad(bad, "user_mask").tolist()
    [0.0, 1.0]
    >>> from_bad(bad, "seed").tolist()
    [1.0, 0.0]
    >>> dq = from_bad(bad, "dq")
    >>> dq.dtype.name, dq.tolist()
    ('uint32', [1073741825, 0])

    An HST DQ (int16) needs flags that fit in 16 bits (4 = ACS DETECTORPROB here):

    >>> from dqmask import flags
    >>> from_bad(bad, "dq", dtype=np.int16, flags="DETECTORPROB", table=flags.ACS).tolist()
    [4, 0]
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
    if conv is Convention.SEED:
        return bad.astype(_DTYPES[conv])  # a hard seed: 1.0 on bad pixels
    return (~bad).astype(_DTYPES[conv])


def convert(mask: np.ndarray, src: Convention | str, dst: Convention | str, *,
            src_flags: int | str | None = None, dst_flags: int | str | None = None,
            dtype: np.dtype | type | None = None,
            table: Mapping[str, int] = JWST_PIXEL) -> np.ndarray:
    """Convert a mask between two conventions through ``bad``.

    ``dq`` -> ``dq`` with no flags given is the identity (all bits kept, dtype kept); with
    flags it keeps only ``src_flags`` bits and writes ``dst_flags``. Flag names in either
    are resolved in ``table`` (default JWST).

    Parameters
    ----------
    mask : ndarray
        Mask in the ``src`` convention.
    src, dst : Convention or str
        Conventions of ``mask`` and of the result.
    src_flags : int or str, optional
        ``src`` is ``dq`` only: the flags that make a pixel bad (default: any bit).
    dst_flags : int or str, optional
        ``dst`` is ``dq`` only: the value written on bad pixels.
    dtype : dtype, optional
        ``dst`` is ``dq`` only: ``np.uint32`` (default) or ``np.int16``.
    table : mapping, optional
        Flag table that resolves flag names.

    Returns
    -------
    ndarray
        In the ``dst`` convention and its dtype.

    Examples
    --------
    An NSClean ``background`` mask (uint8, 1 = background) as the jwst ``user_mask``
    (float32, 1.0 = background) that ``clean_flicker_noise`` reads, and as a drizzlepac
    ``good`` mask (int16, 1 = good):

    >>> import numpy as np
    >>> from dqmask import convert
    >>> background = np.array([1, 0, 1], dtype=np.uint8)
    >>> convert(background, "background", "user_mask").tolist()
    [1.0, 0.0, 1.0]
    >>> convert(background, "background", "good").tolist()
    [1, 0, 1]

    A DQ array (uint32) where SATURATED (2) is set becomes a ``bad`` mask (True = bad):

    >>> convert(np.array([0, 2, 1], dtype=np.uint32), "dq", "bad",
    ...         src_flags="SATURATED").tolist()
    [False, True, False]
    """
    src, dst = Convention(src), Convention(dst)
    if src is Convention.DQ and dst is Convention.DQ and src_flags is None and dst_flags is None:
        require_dq_dtype(mask)
        return np.array(mask, copy=True)
    return from_bad(to_bad(mask, src, flags=src_flags, table=table), dst, flags=dst_flags,
                    dtype=dtype, table=table)
