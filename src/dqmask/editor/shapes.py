"""The editor's region shapes: JSON from the page <-> DS9 text <-> pixel masks.

A shape is a JSON object (what the page sends and receives), in the coordinates of
``regions``: 0-based pixels, pixel centres on integers, ``x`` along NAXIS1, ``y`` along
NAXIS2 (row 0 = bottom), angles in degrees counter-clockwise from +x:

=========  =====================================================================
``shape``  fields
=========  =====================================================================
polygon    ``points``: ``[[x, y], ...]`` (3 or more vertices)
box        ``x``, ``y`` (centre), ``width``, ``height``, ``angle``
circle     ``x``, ``y``, ``r``
ellipse    ``x``, ``y``, ``width``, ``height`` (full axes), ``angle``
=========  =====================================================================

Every shape also has ``include`` (False = a DS9 exclude shape, written ``-polygon(...)``).

Pixel masks are never computed here: :func:`layers` writes the shapes as a DS9 file and
rasterises it with :func:`dqmask.io.regions.region_layers`, the function ``dqmask detect``
and ``dqmask apply`` use, so a shape covers the same pixels in the editor and on the command
line (pixel centres inside, as DS9).
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from collections.abc import Sequence

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from ..errors import InputError
from ..io.regions import RegionWarning, read_ds9, region_layers

__all__ = ["SHAPES", "MAX_VERTICES", "normalise", "to_ds9", "from_ds9_text", "layers"]

SHAPES = ("polygon", "box", "circle", "ellipse")
#: Most vertices a polygon may have (bounds request sizes and rasterisation time).
MAX_VERTICES = 5000


def _number(value, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return out


def _positive(value, what: str) -> float:
    out = _number(value, what)
    if out <= 0:
        raise ValueError(f"{what} must be > 0, got {value!r}")
    return out


def normalise(obj: dict) -> dict:
    """A checked copy of one shape (numbers as floats, full precision).

    Raises
    ------
    ValueError
        Unknown shape, missing or non-finite field, polygon with < 3 or too many vertices.
    """
    if not isinstance(obj, dict):
        raise ValueError("a shape must be a JSON object")
    kind = obj.get("shape")
    if kind not in SHAPES:
        raise ValueError(f"unknown shape {kind!r} (choose from {', '.join(SHAPES)})")
    out: dict = {"shape": kind, "include": bool(obj.get("include", True))}
    if kind == "polygon":
        points = obj.get("points")
        if not isinstance(points, list) or not 3 <= len(points) <= MAX_VERTICES:
            raise ValueError(f"a polygon needs 3 to {MAX_VERTICES} vertices")
        out["points"] = [[_number(p[0], "x"), _number(p[1], "y")] for p in points]
        return out
    out["x"], out["y"] = _number(obj.get("x"), "x"), _number(obj.get("y"), "y")
    if kind == "circle":
        out["r"] = _positive(obj.get("r"), "radius")
        return out
    out["width"] = _positive(obj.get("width"), "width")
    out["height"] = _positive(obj.get("height"), "height")
    out["angle"] = _number(obj.get("angle", 0.0), "angle")
    return out


def _fmt(value: float) -> str:
    """The shortest text that reads back as the same float (``12``, ``8.5561902``)."""
    text = repr(float(value))
    text = text.removesuffix(".0")
    return "0" if text == "-0" else text


def to_ds9(shapes: Sequence[dict], title: str = "") -> str:
    """DS9 region text (image frame, 1-based) of the shapes, exclude shapes with ``-``."""
    lines = ["# Region file format: DS9 version 4.1"]
    if title:
        lines.append(f"# {title}")
    lines += ["global color=green width=1", "image"]
    for s in map(normalise, shapes):
        sign = "" if s["include"] else "-"
        if s["shape"] == "polygon":
            body = ",".join(f"{_fmt(x + 1)},{_fmt(y + 1)}" for x, y in s["points"])
            lines.append(f"{sign}polygon({body})")
            continue
        x, y = _fmt(s["x"] + 1), _fmt(s["y"] + 1)
        if s["shape"] == "circle":
            lines.append(f"{sign}circle({x},{y},{_fmt(s['r'])})")
        elif s["shape"] == "box":
            lines.append(f"{sign}box({x},{y},{_fmt(s['width'])},{_fmt(s['height'])},"
                         f"{_fmt(s['angle'])})")
        else:  # DS9 ellipses take semi-axes
            lines.append(f"{sign}ellipse({x},{y},{_fmt(s['width'] / 2)},"
                         f"{_fmt(s['height'] / 2)},{_fmt(s['angle'])})")
    return "\n".join(lines) + "\n"


def _from_region(region) -> dict | None:
    """One ``regions`` pixel shape -> JSON shape (None for shapes the editor cannot draw)."""
    name = type(region).__name__
    include = bool(region.meta.get("include", True))
    if name == "PolygonPixelRegion":
        pts = [[float(x), float(y)] for x, y in zip(region.vertices.x, region.vertices.y,
                                                     strict=True)]
        return normalise({"shape": "polygon", "include": include, "points": pts})
    centre = {"x": float(region.center.x), "y": float(region.center.y), "include": include}
    if name == "CirclePixelRegion":
        return normalise({"shape": "circle", "r": float(region.radius), **centre})
    if name in ("RectanglePixelRegion", "EllipsePixelRegion"):
        kind = "box" if name.startswith("Rectangle") else "ellipse"
        return normalise({"shape": kind, "width": float(region.width),
                          "height": float(region.height),
                          "angle": float(region.angle.to_value("deg")), **centre})
    return None


def from_ds9_text(text: str, header: fits.Header | None, workdir: str
                  ) -> tuple[list[dict], list[str]]:
    """Shapes of a DS9 region file's text (any frame: sky shapes go through the WCS).

    Parameters
    ----------
    text : str
        DS9 region file content.
    header : Header
        The image's SCI header (WCS, LTV/LTM).
    workdir : str
        A private folder for the temporary copy :func:`dqmask.io.regions.read_ds9` reads.

    Returns
    -------
    shapes : list of dict
    skipped : list of str
        One line per shape the editor cannot draw (annulus, point, text, ...).

    Raises
    ------
    InputError
        Unreadable text, or sky shapes without a celestial WCS.
    """
    fd, tmp = tempfile.mkstemp(suffix=".reg", dir=workdir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RegionWarning)
            regs = read_ds9(tmp, header)
    finally:
        os.unlink(tmp)
    skipped = [str(w.message).replace(tmp, "region file") for w in caught
               if issubclass(w.category, RegionWarning)]
    wcs = None
    shapes = []
    for i, region in enumerate(regs, start=1):
        if not hasattr(region, "to_mask"):  # a sky shape
            if wcs is None:
                wcs = _celestial(header)
            region = region.to_pixel(wcs)
        shape = _from_region(region)
        if shape is None:
            skipped.append(f"shape {i} ({type(region).__name__}) cannot be edited; ignored")
        else:
            shapes.append(shape)
    return shapes, skipped


def _celestial(header: fits.Header | None) -> WCS:
    if header is None:
        raise InputError(None, "sky-coordinate regions need the image's WCS")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wcs = WCS(header, naxis=2)
    if not wcs.has_celestial:
        raise InputError(None, "sky-coordinate regions need a celestial WCS; the image has "
                               "none")
    return wcs


def layers(shapes: Sequence[dict], shape: tuple[int, int], header: fits.Header | None,
           workdir: str) -> tuple[np.ndarray, np.ndarray]:
    """Include and exclude masks of the shapes, through a DS9 file and ``region_layers``.

    Returns
    -------
    include, exclude : ndarray of bool, ``shape``
        True = inside any include shape / any exclude shape (off-image parts dropped).
    """
    if not shapes:
        return np.zeros(shape, bool), np.zeros(shape, bool)
    fd, tmp = tempfile.mkstemp(suffix=".reg", dir=workdir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(to_ds9(shapes))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RegionWarning)  # off-image parts: expected
            include, exclude, _ = region_layers([tmp], shape, header)
    finally:
        os.unlink(tmp)
    return include, exclude
