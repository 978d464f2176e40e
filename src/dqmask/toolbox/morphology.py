"""Growing (dilating) boolean masks with a chosen footprint."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["FOOTPRINTS", "footprint", "grow"]

FOOTPRINTS = ("circle", "square", "plus")


def footprint(pixels: int, shape: str = "circle") -> np.ndarray:
    """A 2-D boolean structuring element of radius ``pixels``.

    ``circle``: pixels within Euclidean distance ``pixels`` of the centre; ``square``: the
    (2N+1)x(2N+1) box; ``plus``: the city-block (4-connected) diamond of radius N.
    """
    if pixels < 0:
        raise ValueError(f"grow radius must be >= 0, got {pixels}")
    if shape not in FOOTPRINTS:
        raise ValueError(f"unknown footprint {shape!r} (choose from {', '.join(FOOTPRINTS)})")
    n = int(pixels)
    y, x = np.mgrid[-n : n + 1, -n : n + 1]
    if shape == "square":
        return np.ones((2 * n + 1, 2 * n + 1), dtype=bool)
    if shape == "plus":
        return (np.abs(x) + np.abs(y)) <= n
    return (x * x + y * y) <= n * n


def grow(mask: np.ndarray, pixels: int, shape: str = "circle") -> np.ndarray:
    """Grow the True region of a boolean mask by ``pixels`` in the last two axes.

    Parameters
    ----------
    mask : ndarray of bool
        True = masked (any boolean convention: bad, or "not background"). Arrays with more
        than two dimensions are grown plane by plane.
    pixels : int
        Radius; 0 returns an unchanged copy.
    shape : {"circle", "square", "plus"}
        Footprint (see :func:`footprint`).

    Returns
    -------
    ndarray of bool
        Same shape; True where ``mask`` is True or within the footprint of a True pixel.

    Examples
    --------
    A ``bad`` mask (True = bad) grown by one pixel; the result is ``bad`` too:

    >>> import numpy as np
    >>> from dqmask import grow
    >>> bad = np.zeros((3, 5), dtype=bool)
    >>> bad[1, 2] = True
    >>> grow(bad, 1).astype(int).tolist()
    [[0, 0, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 0, 0]]
    >>> grow(bad, 1, "square").astype(int).tolist()
    [[0, 1, 1, 1, 0], [0, 1, 1, 1, 0], [0, 1, 1, 1, 0]]

    To grow what an NSClean ``background`` mask (1 = background) excludes, grow its
    ``bad`` form and convert back:

    >>> from dqmask import from_bad, to_bad
    >>> background = np.array([[1, 1, 0, 1, 1]], dtype=np.uint8)
    >>> from_bad(grow(to_bad(background, "background"), 1, "plus"), "background").tolist()
    [[1, 0, 0, 0, 1]]
    """
    mask = np.asarray(mask, dtype=bool)
    if pixels == 0:
        footprint(0, shape)  # validates the name
        return mask.copy()
    fp = footprint(pixels, shape)
    if mask.ndim > 2:
        fp = fp.reshape((1,) * (mask.ndim - 2) + fp.shape)
    return ndimage.binary_dilation(mask, structure=fp)
