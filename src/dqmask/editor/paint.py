"""Brush strokes and block reductions for the editor (pure functions on arrays).

Conventions: every mask here is ``bool``, True = painted (the editor's working mask is in
the ``bad`` convention: True = masked). Coordinates are ``regions``' pixel coordinates:
0-based, pixel centres on integers, ``x`` = column, ``y`` = row (row 0 at the bottom).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["MAX_STROKE_POINTS", "MAX_STROKE_PIXELS", "stroke", "block_any", "block_or"]

#: Most points one brush stroke may have.
MAX_STROKE_POINTS = 20000
#: Largest box (pixels) one stroke may cover.
MAX_STROKE_PIXELS = 64 << 20


def _segment_distance2(xx: np.ndarray, yy: np.ndarray, a: tuple[float, float],
                       b: tuple[float, float]) -> np.ndarray:
    """Squared distance from pixel centres to the segment a-b."""
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    length2 = dx * dx + dy * dy
    if length2 == 0:
        return (xx - ax) ** 2 + (yy - ay) ** 2
    t = np.clip(((xx - ax) * dx + (yy - ay) * dy) / length2, 0.0, 1.0)
    return (xx - (ax + t * dx)) ** 2 + (yy - (ay + t * dy)) ** 2


def stroke(points: Sequence[Sequence[float]], size: float, shape: tuple[int, int]
           ) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
    """The pixels a round brush of diameter ``size`` covers along a polyline.

    A pixel is covered when its centre lies within ``size / 2`` of the polyline (a single
    point with ``size`` 1 covers exactly the pixel under it).

    Parameters
    ----------
    points : sequence of (x, y)
        The brush path (one point = a dab).
    size : float
        Brush diameter in image pixels (> 0).
    shape : (ny, nx)
        Image shape.

    Returns
    -------
    ((y0, y1, x0, x1), ndarray of bool) or None
        The covered box of the image and, inside it, True = covered; None when the stroke
        misses the image.
    """
    if size <= 0:
        raise ValueError(f"brush size must be > 0, got {size}")
    pts = [(float(x), float(y)) for x, y in points]
    if not pts or len(pts) > MAX_STROKE_POINTS:
        raise ValueError(f"a stroke needs 1 to {MAX_STROKE_POINTS} points")
    if not all(math.isfinite(v) for p in pts for v in p):
        raise ValueError("stroke coordinates must be finite")
    r = size / 2.0
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    ny, nx = shape
    x0, x1 = max(0, math.ceil(min(xs) - r)), min(nx, math.floor(max(xs) + r) + 1)
    y0, y1 = max(0, math.ceil(min(ys) - r)), min(ny, math.floor(max(ys) + r) + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    if (y1 - y0) * (x1 - x0) > MAX_STROKE_PIXELS:
        raise ValueError(f"a stroke may span at most {MAX_STROKE_PIXELS >> 20} Mpixels; "
                         f"paint in shorter strokes or zoom in")
    covered = np.zeros((y1 - y0, x1 - x0), bool)
    r2 = r * r + 1e-9
    segments = list(zip(pts[:-1], pts[1:], strict=True)) or [(pts[0], pts[0])]
    for a, b in segments:  # each segment on the grid of its own box only
        sx0 = max(x0, math.ceil(min(a[0], b[0]) - r))
        sx1 = min(x1, math.floor(max(a[0], b[0]) + r) + 1)
        sy0 = max(y0, math.ceil(min(a[1], b[1]) - r))
        sy1 = min(y1, math.floor(max(a[1], b[1]) + r) + 1)
        if sx1 <= sx0 or sy1 <= sy0:
            continue
        yy, xx = np.ogrid[sy0:sy1, sx0:sx1]
        covered[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] |= _segment_distance2(
            xx.astype(np.float64), yy.astype(np.float64), a, b) <= r2
    return (y0, y1, x0, x1), covered


def block_any(mask: np.ndarray, factor: int) -> np.ndarray:
    """True for each ``factor`` x ``factor`` block with any True pixel (edge blocks partial).

    Works through ``factor`` rows at a time, so a view of a huge mask is never copied whole.

    Parameters
    ----------
    mask : ndarray of bool, 2-D

    Returns
    -------
    ndarray of bool, ``(ceil(ny / factor), ceil(nx / factor))``
    """
    return _block_reduce(mask, factor, np.logical_or)


def block_or(dq: np.ndarray, factor: int) -> np.ndarray:
    """Bitwise OR of each ``factor`` x ``factor`` block of a DQ array (no flag is lost).

    Parameters
    ----------
    dq : ndarray of int, 2-D
        ``dq`` convention; the dtype is kept.
    """
    return _block_reduce(dq, factor, np.bitwise_or)


def _block_reduce(a: np.ndarray, factor: int, op: np.ufunc) -> np.ndarray:
    ny, nx = a.shape
    f = max(1, int(factor))
    if f == 1:
        return np.array(a)
    oy, ox, whole = -(-ny // f), -(-nx // f), nx // f * f
    out = np.zeros((oy, ox), a.dtype)
    for k in range(oy):
        rows = op.reduce(a[k * f:(k + 1) * f], axis=0)
        if whole:
            out[k, : whole // f] = op.reduce(rows[:whole].reshape(-1, f), axis=1)
        if whole < nx:
            out[k, -1] = op.reduce(rows[whole:])
    return out
