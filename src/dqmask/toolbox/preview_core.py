"""Pure array code of ``preview``: block reduction of image strips and masks, zscaled RGB.

No I/O: :mod:`dqmask.toolbox.preview` reads the chips in strips and draws the PNG.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

__all__ = ["block_reduce", "block_any", "zscale_rgb", "DEFAULT_COLOR"]

#: Default overlay colour (RGB, 0-255): pure red.
DEFAULT_COLOR = (255, 0, 0)


def _pad_cols(a: np.ndarray, factor: int, fill) -> np.ndarray:
    extra = -a.shape[1] % factor
    if not extra:
        return a
    return np.concatenate([a, np.full((a.shape[0], extra), fill, dtype=a.dtype)], axis=1)


def block_reduce(strip: np.ndarray, factor: int) -> np.ndarray:
    """Mean of the finite pixels of each ``factor`` x ``factor`` block of a row strip.

    Parameters
    ----------
    strip : ndarray, (n * factor or fewer, nx)
        Image rows (any float or integer dtype).
    factor : int
        Block size.

    Returns
    -------
    ndarray of float32, (ceil(rows / factor), ceil(nx / factor))
        NaN where a block has no finite pixel.
    """
    a = _pad_cols(np.asarray(strip, dtype=np.float32), factor, np.nan)
    extra = -a.shape[0] % factor
    if extra:
        a = np.concatenate([a, np.full((extra, a.shape[1]), np.nan, np.float32)])
    blocks = a.reshape(a.shape[0] // factor, factor, a.shape[1] // factor, factor)
    finite = np.isfinite(blocks)
    total = np.where(finite, blocks, 0).sum(axis=(1, 3), dtype=np.float64)
    count = finite.sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (total / count).astype(np.float32)


def block_any(bad: np.ndarray, factor: int) -> np.ndarray:
    """``bad`` blocks: True where any pixel of the ``factor`` x ``factor`` block is bad.

    Parameters
    ----------
    bad : ndarray of bool, (rows, nx)
        ``bad`` convention.
    """
    a = _pad_cols(np.asarray(bad, dtype=bool), factor, False)
    extra = -a.shape[0] % factor
    if extra:
        a = np.concatenate([a, np.zeros((extra, a.shape[1]), bool)])
    return a.reshape(a.shape[0] // factor, factor, a.shape[1] // factor, factor).any(axis=(1, 3))


def zscale_rgb(image: np.ndarray, bad: np.ndarray | None, color: Sequence[int] = DEFAULT_COLOR,
               alpha: float = 0.5) -> np.ndarray:
    """Grey zscaled picture with bad pixels blended in ``color``; flipped to row 0 = top.

    Parameters
    ----------
    image : ndarray, 2-D
        Image (NaN allowed: drawn black).
    bad : ndarray of bool or None
        ``bad`` convention, same shape.
    color : (r, g, b)
        Overlay colour, 0-255.
    alpha : float
        Overlay opacity (1 = pure colour).

    Returns
    -------
    ndarray of uint8, (ny, nx, 3)
    """
    from astropy.visualization import ZScaleInterval

    finite = np.isfinite(image)
    if finite.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lo, hi = ZScaleInterval().get_limits(image[finite])
    else:
        lo, hi = 0.0, 1.0
    span = hi - lo if hi > lo else 1.0
    grey = np.clip((np.where(finite, image, lo) - lo) / span, 0, 1) * 255.0
    grey[~finite] = 0
    rgb = np.repeat(grey[..., None], 3, axis=2)
    if bad is not None and bad.any():
        rgb[bad] = (1 - alpha) * rgb[bad] + alpha * np.asarray(color, dtype=np.float64)
    return np.round(rgb[::-1]).astype(np.uint8)
