"""Combining boolean masks and tracing their outlines as polygons.

Everything here is pure (numpy arrays in, numpy arrays out) and works in the ``bad``
convention: bool arrays, True = bad (masked). Callers convert other conventions with
:func:`dqmask.conventions.to_bad` first.

Combination operators
---------------------
``or``
    A pixel is bad if it is bad in *any* mask (the usual way to merge static, claw and region
    masks). Commutative and associative.
``and``
    A pixel is bad only if it is bad in *every* mask (e.g. the drizzlepac static-mask rule).
    Commutative and associative.
``not``
    ``A and not B and not C ...``: the first mask with every later mask removed from it
    (e.g. a claw mask minus a "never mask here" protection region). Neither commutative nor
    associative; chaining is left-to-right: ``not(not(A, B), C) == not(A, B, C)
    == not(A, or(B, C))``.

Outlines
--------
:func:`outlines` traces the *pixel edges* of the bad region (not an interpolated contour):
every vertex is a pixel corner, so rasterising the polygons again by pixel centre (DS9 /
``regions`` ``mode='center'``) gives back exactly the mask. Bad pixels are 4-connected
(pixels touching only at a corner are separate polygons that share that corner); holes are
returned as separate polygons flagged ``hole=True``. :func:`region_outlines` gives instead
hole-free polygons (components with holes cut into horizontal bands) whose plain union is the
mask, which is what a DS9 region file can express.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .. import __version__

__all__ = ["OPERATIONS", "combine", "Outline", "outlines", "region_outlines", "ds9_text"]

OPERATIONS = ("or", "and", "not")

# Edge directions in (x, y) = (column, row) corner coordinates, y growing with the row index.
_STEP = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], dtype=np.int64)  # +x, +y, -x, -y


def combine(masks: Sequence[np.ndarray], op: str = "or") -> np.ndarray:
    """Combine ``bad`` masks with ``or``, ``and`` or ``not``.

    Parameters
    ----------
    masks : sequence of ndarray of bool
        ``bad`` convention (True = bad), all the same shape; at least one.
    op : {"or", "and", "not"}
        ``or``: bad in any; ``and``: bad in all; ``not``: bad in the first and in none of the
        others (``A & ~B & ~C ...``).

    Returns
    -------
    ndarray of bool
        ``bad`` convention, a new array of the common shape.

    Raises
    ------
    ValueError
        No masks, shapes differ, or an unknown operator.

    Examples
    --------
    Two ``bad`` masks (True = bad), e.g. a claw mask and a satellite trail; the result is
    ``bad`` too:

    >>> import numpy as np
    >>> from dqmask import combine
    >>> claws = np.array([True, True, False, False])
    >>> trail = np.array([False, True, True, False])
    >>> combine([claws, trail]).tolist()
    [True, True, True, False]
    >>> combine([claws, trail], "and").tolist()
    [False, True, False, False]
    >>> combine([claws, trail], "not").tolist()
    [True, False, False, False]

    Masks in other conventions go through :func:`~dqmask.conventions.to_bad` first:

    >>> from dqmask import to_bad
    >>> static = np.array([1, 1, 1, 0], dtype=np.int16)  # drizzlepac: 1 = good
    >>> combine([claws, to_bad(static, "good")]).tolist()
    [True, True, False, True]
    """
    if op not in OPERATIONS:
        raise ValueError(f"unknown operator {op!r} (choose from {', '.join(OPERATIONS)})")
    if not masks:
        raise ValueError("combine needs at least one mask")
    shape = np.shape(masks[0])
    for i, m in enumerate(masks[1:], start=2):
        if np.shape(m) != shape:
            raise ValueError(f"mask {i} has shape {np.shape(m)}, mask 1 has {shape}")
    out = np.array(masks[0], dtype=bool, copy=True)
    for m in masks[1:]:
        m = np.asarray(m, dtype=bool)
        if op == "or":
            out |= m
        elif op == "and":
            out &= m
        else:
            out &= ~m
    return out


@dataclass(frozen=True)
class Outline:
    """One closed polygon along pixel edges.

    Attributes
    ----------
    vertices : ndarray, shape (n, 2), int64
        Corners ``(x, y)`` in *corner coordinates*: corner ``(x, y)`` is the lower-left corner
        of numpy pixel ``[y, x]``. DS9 image coordinates are ``x + 0.5, y + 0.5``.
        Counter-clockwise (y up) for outer boundaries, clockwise for holes; the first vertex
        is not repeated; only direction changes are kept.
    hole : bool
        True if this polygon bounds a hole (good pixels enclosed by bad ones).
    label : int
        The 4-connected bad component this polygon bounds (1-based; a hole belongs to the
        component that surrounds it).
    """

    vertices: np.ndarray
    hole: bool
    label: int

    def ds9(self, offset: float = 0.5) -> tuple[float, ...]:
        """Vertices as a flat ``(x1, y1, x2, y2, ...)`` tuple in DS9 image coordinates."""
        return tuple(float(v) + offset for v in self.vertices.ravel())


def _boundary_edges(bad: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directed boundary edges (bad on the left): start corners, directions, inside pixels."""
    padded = np.pad(bad, 1)
    inner = padded[1:-1, 1:-1]
    starts, dirs, pixels = [], [], []
    # (neighbour offset (dr, dc), direction, start corner offset (dx, dy) from pixel (c, r))
    sides = (((-1, 0), 0, (0, 0)),   # bottom side: +x
             ((0, 1), 1, (1, 0)),    # right side: +y
             ((1, 0), 2, (1, 1)),    # top side: -x
             ((0, -1), 3, (0, 1)))   # left side: -y
    for (dr, dc), d, (dx, dy) in sides:
        neighbour = padded[1 + dr: padded.shape[0] - 1 + dr, 1 + dc: padded.shape[1] - 1 + dc]
        r, c = np.nonzero(inner & ~neighbour)
        starts.append(np.stack([c + dx, r + dy], axis=1))
        dirs.append(np.full(r.size, d, dtype=np.int64))
        pixels.append(np.stack([r, c], axis=1))
    return np.concatenate(starts), np.concatenate(dirs), np.concatenate(pixels)


def _next_edges(starts: np.ndarray, dirs: np.ndarray, width: int) -> np.ndarray:
    """For each edge, the index of the edge that follows it (left turn first: 4-connected)."""
    ends = starts + _STEP[dirs]
    key = (starts[:, 1] * width + starts[:, 0]) * 4 + dirs
    order = np.argsort(key, kind="stable")
    sorted_keys = key[order]
    end_ids = (ends[:, 1] * width + ends[:, 0]) * 4
    nxt = np.full(dirs.size, -1, dtype=np.int64)
    for turn in (3, 0, 1):  # right, straight, left turn: later assignments win
        want = end_ids + (dirs + turn) % 4
        pos = np.searchsorted(sorted_keys, want)
        pos = np.minimum(pos, sorted_keys.size - 1)
        found = sorted_keys[pos] == want
        nxt[found] = order[pos[found]]
    return nxt


def _plane(bad: np.ndarray) -> np.ndarray:
    """``bad`` as a 2-D bool array (``bad`` convention), or ValueError naming its dimensions."""
    bad = np.asarray(bad, dtype=bool)
    if bad.ndim != 2:
        raise ValueError(f"outlines need a 2-D mask, got {bad.ndim}-D")
    return bad


def outlines(bad: np.ndarray) -> list[Outline]:
    """Trace the pixel-edge outlines of the bad region of a 2-D mask.

    Parameters
    ----------
    bad : ndarray of bool, 2-D
        ``bad`` convention (True = bad).

    Returns
    -------
    list of Outline
        One outer polygon per 4-connected bad component and one per hole, in tracing order.
    """
    bad = _plane(bad)
    if not bad.any():
        return []
    labels, _ = ndimage.label(bad)  # 4-connected by default
    starts, dirs, pixels = _boundary_edges(bad)
    nxt = _next_edges(starts, dirs, bad.shape[1] + 1)
    seen = np.zeros(dirs.size, dtype=bool)
    result = []
    nxt_list = nxt.tolist()
    for first in range(dirs.size):
        if seen[first]:
            continue
        loop = [first]
        e = nxt_list[first]
        while e != first:
            loop.append(e)
            e = nxt_list[e]
        idx = np.array(loop)
        seen[idx] = True
        turns = dirs[idx] != dirs[np.roll(idx, 1)]
        verts = starts[idx][turns]
        x, y = verts[:, 0].astype(float), verts[:, 1].astype(float)
        area2 = float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))
        r, c = pixels[first]
        result.append(Outline(verts, hole=area2 < 0, label=int(labels[r, c])))
    return result


def _shifted(found: list[Outline], dx: int, dy: int, label: int | None = None) -> list[Outline]:
    shift = np.array([dx, dy], dtype=np.int64)
    return [Outline(o.vertices + shift, o.hole, o.label if label is None else label)
            for o in found]


def region_outlines(bad: np.ndarray) -> list[Outline]:
    """Hole-free pixel-edge polygons whose union is exactly the bad region.

    DS9 and the ``regions`` package have no polygon with holes, and dqmask reads region files
    as ``union(include) & ~union(exclude)``, which cannot rebuild an island inside a hole. So
    every component that has holes is cut into horizontal bands at the first and past-the-last
    row of each of its holes; inside such a band no hole is enclosed, so each band piece is a
    plain polygon. Components without holes keep their single outline.

    Parameters
    ----------
    bad : ndarray of bool, 2-D
        ``bad`` convention (True = bad).

    Returns
    -------
    list of Outline
        All with ``hole=False``; rasterising them by pixel centre and OR-ing gives ``bad``.
        Sorted by component, then from bottom to top.
    """
    bad = _plane(bad)
    if not bad.any():
        return []
    eight = np.ones((3, 3), dtype=bool)
    labels, _ = ndimage.label(bad)
    holes, _ = ndimage.label(ndimage.binary_fill_holes(bad, structure=eight) & ~bad,
                             structure=eight)
    cuts: dict[int, set[int]] = {}
    for hole_id, sl in enumerate(ndimage.find_objects(holes), start=1):
        top, col = sl[0].start, sl[1].start
        first = col + int(np.argmax(holes[top, sl[1]] == hole_id))
        owner = int(labels[top - 1, first])  # the bad pixel just above the hole's top pixel
        cuts.setdefault(owner, set()).update((sl[0].start, sl[0].stop))
    result = outlines(np.isin(labels, list(cuts), invert=True) & bad)
    boxes = ndimage.find_objects(labels)
    for owner, rows in cuts.items():
        box = boxes[owner - 1]
        piece = labels[box] == owner
        y0, x0 = box[0].start, box[1].start
        edges = sorted({0, piece.shape[0], *(r - y0 for r in rows)})
        for lo, hi in zip(edges[:-1], edges[1:], strict=False):
            result += _shifted(outlines(piece[lo:hi]), x0, y0 + lo, owner)
    return sorted(result, key=lambda o: (o.label, int(o.vertices[:, 1].min()),
                                         int(o.vertices[:, 0].min())))


def ds9_text(bad: np.ndarray, *, color: str = "red", source: str = "") -> str:
    """DS9 region text of the outlines of a ``bad`` plane (image coordinates).

    Parameters
    ----------
    bad : ndarray of bool, 2-D
        ``bad`` convention (True = bad).

    Returns
    -------
    str
        One ``polygon(...)`` per hole-free piece
        (:func:`region_outlines`); read back by pixel centre
        (``dqmask apply --region``, DS9) it gives exactly ``bad``.
    """
    lines = ["# Region file format: DS9 version 4.1",
             f"# dqmask {__version__} regions: outlines of the bad pixels"
             + (f" of {_comment_text(source)}" if source else ""),
             "# pixel-edge polygons, whose union by pixel centre is the mask",
             f"global color={color} width=1 include=1 source=1",
             "image"]
    for o in region_outlines(bad):
        lines.append("polygon(" + ",".join(f"{v:g}" for v in o.ds9()) + ")")
    return "\n".join(lines) + "\n"


def _comment_text(text: str) -> str:
    """``text`` made safe for a DS9 comment line.

    DS9 readers split every line on ``;`` before they look for ``#`` (astropy ``regions``
    then warns about the "shape" after it), and a line break would end the comment: both
    become ``_``.
    """
    return "".join("_" if ch == ";" or not ch.isprintable() else ch for ch in text)
