"""Pure array code of ``preview``: block reduction of image strips and masks.

No I/O: :mod:`dqmask.toolbox.preview` reads the chips in strips and draws the PNG.
"""

from __future__ import annotations

import numpy as np

__all__ = ["block_reduce", "block_any", "DEFAULT_COLOR"]

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
    blocks = a.reshape(a.shape[0] // factor, factor, a.shape[1] // factor, factor)
    return np.asarray(blocks.any(axis=(1, 3)))
