"""``preview``: a PNG quick-look of an image with its mask overlaid, per chip.

What is drawn
-------------
* One panel per chip (SCI extension, EXTVER order, left to right), in grey through the
  renderer ``dqmask edit`` uses too (:mod:`dqmask.io.png`): limits ``zscale`` (default),
  ``minmax`` or ``percentile``, stretch ``linear`` (default), ``sqrt``, ``log`` or
  ``asinh``; NaN in its own colour (:data:`dqmask.io.png.NAN_COLOR`, not the black of low
  sky); FITS orientation (row 0 at the bottom, as DS9 shows it), with pixel ticks (1-based,
  as DS9) along the bottom and left edges.
* Masked pixels painted in the overlay colour, blended with ``alpha`` (``alpha=1``: the pure
  colour). The mask comes from ``mask`` (any mask input, see :mod:`dqmask.io.mask_file`),
  from the file's own DQ (``dq``: bad where ``DQ & flags``), or both (OR).
  ``flag_colors``: the DQ pixels are drawn instead in one colour per flag (the editor's), with
  a legend of the flags present under the panels.
* ``before``: a before/after pair, the original on the top row and the file below. Without
  ``mask`` / ``dq``, the overlay is the pixels whose DQ differs between the two -- exactly
  what ``dqmask apply`` changed.
* Small images are enlarged by an integer factor (nearest neighbour) so that a panel's
  longer side is at least ``min_size`` PNG pixels.
* A JWST ``MASK`` reference file (DQ extensions, no SCI) is drawn from its DQ: the image is
  0 / 1 (any flag) and the overlay every flag (``dq="any"`` unless given).

Bounded memory
--------------
Each chip is read in strips of rows straight from the file (``memmap=False`` +
``ImageHDU.section``, so no page of a huge mosaic stays mapped) and block-reduced by an
integer factor so that its longer side is at most ``max_size``: image blocks are the mean of
their finite pixels, mask blocks are bad if *any* pixel in them is (a single bad pixel is
never lost), DQ blocks are the OR of their pixels. Only the reduced image, one strip, and an
input mask plane (if ``mask`` is a file) are in memory at once.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from astropy.io import fits

from .. import __version__
from ..conventions import dq_to_bad
from ..editor.paint import block_or
from ..errors import InputError, ParameterError
from ..flags import decode, parse_flags, table_for
from ..io import png as render
from ..io.atomic import atomic_output
from ..io.fits import Chip, FileInfo, classify_hdulist, open_fits
from ..io.mask_file import read_mask_file, reference_of
from .preview_core import DEFAULT_COLOR, block_any, block_reduce

__all__ = ["Panel", "PreviewResult", "preview_file", "block_reduce", "block_any",
           "zscale_rgb", "DEFAULT_COLOR", "STRIP_BYTES", "MIN_SIZE"]

#: Bytes of image rows read at once.
STRIP_BYTES = 32 << 20
#: Small images are enlarged so that a panel's longer side reaches this many PNG pixels.
MIN_SIZE = 256
_TITLE = 32  # px of title band above each panel (two lines)
_AXIS_LEFT = 34  # px left of each panel for the y tick labels
_AXIS_BOTTOM = 16  # px below each panel for the x tick labels
_LEGEND = 16  # px per legend line
_CHAR = 5.6  # px per character at the title's font size (for shortening long names)
_GAP = 8  # px between panels
_DPI = 100


@dataclass(frozen=True)
class Panel:
    """Where one chip was drawn in the PNG.

    Attributes
    ----------
    title : str
        Text above the panel.
    box : (x0, y0, width, height)
        Pixel rectangle in the PNG (row 0 = top of the picture).
    factor : int
        Block size: one PNG pixel = ``factor`` x ``factor`` image pixels.
    masked : int
        Bad pixels of the chip (full resolution).
    zoom : int
        Enlargement of small images: one image pixel = ``zoom`` x ``zoom`` PNG pixels.
    """

    title: str
    box: tuple[int, int, int, int]
    factor: int
    masked: int
    zoom: int = 1

    def to_png(self, row: int, col: int) -> tuple[int, int]:
        """PNG ``(x, y)`` of the image pixel ``[row, col]`` (numpy order, row 0 at bottom)."""
        x0, y0, _, h = self.box
        return (x0 + col // self.factor * self.zoom,
                y0 + h - 1 - row // self.factor * self.zoom)


@dataclass(frozen=True)
class PreviewResult:
    """What :func:`preview_file` wrote."""

    output: str
    size: tuple[int, int]  # (width, height)
    panels: list[Panel] = field(default_factory=list)

    def summary(self) -> str:
        masked = sum(p.masked for p in self.panels)
        return (f"{self.output}: {self.size[0]}x{self.size[1]} PNG, {len(self.panels)} "
                f"panel(s), {masked} masked pixels drawn")


# --------------------------------------------------------------------------------------------
# Picture (the shared renderer, io.png)
# --------------------------------------------------------------------------------------------


def zscale_rgb(image: np.ndarray, bad: np.ndarray | None, color: Sequence[int] = DEFAULT_COLOR,
               alpha: float = 0.5, *, limits: str = "zscale", stretch: str = "linear",
               percent: float = 99.5, flags_rgba: np.ndarray | None = None,
               zoom: int = 1) -> np.ndarray:
    """Grey picture with bad pixels blended in ``color``; flipped to row 0 = top.

    Parameters
    ----------
    image : ndarray, 2-D
        Image (NaN allowed: drawn in :data:`dqmask.io.png.NAN_COLOR`).
    bad : ndarray of bool or None
        ``bad`` convention, same shape.
    color : (r, g, b)
        Overlay colour, 0-255.
    alpha : float
        Overlay opacity (1 = pure colour).
    limits, stretch, percent
        Display limits and stretch (:func:`dqmask.io.png.display_limits`,
        :func:`dqmask.io.png.stretch`).
    flags_rgba : ndarray of uint8, (ny, nx, 4), optional
        Per-flag overlay in PNG orientation (:func:`dqmask.io.png.flag_rgba`), blended with
        ``alpha`` where its alpha is set (instead of ``bad``).
    zoom : int
        Enlarge by this integer factor (nearest neighbour).

    Returns
    -------
    ndarray of uint8, (ny * zoom, nx * zoom, 3)
    """
    lo, hi = render.display_limits(image, limits, percent)
    rgb = render.grey_rgba(render.stretch(image, lo, hi, stretch))[..., :3].astype(np.float64)
    if flags_rgba is not None:
        hit = flags_rgba[..., 3] > 0
        rgb[hit] = (1 - alpha) * rgb[hit] + alpha * flags_rgba[hit][:, :3]
    elif bad is not None and bad.any():
        flipped = bad[::-1]
        rgb[flipped] = (1 - alpha) * rgb[flipped] + alpha * np.asarray(color, dtype=np.float64)
    out = np.round(rgb).astype(np.uint8)
    if zoom > 1:
        out = np.repeat(np.repeat(out, zoom, axis=0), zoom, axis=1)
    return out


# --------------------------------------------------------------------------------------------
# Reading chips in strips
# --------------------------------------------------------------------------------------------


def _strip_rows(hdu: fits.hdu.base._BaseHDU, factor: int) -> int:
    """Rows per strip: about :data:`STRIP_BYTES`, a multiple of ``factor``."""
    nx = hdu.shape[-1]
    itemsize = abs(int(hdu.header["BITPIX"])) // 8
    return max(factor, (STRIP_BYTES // max(nx * itemsize, 1)) // factor * factor)


def _rows(hdu: fits.hdu.base._BaseHDU, r0: int, r1: int) -> np.ndarray:
    """Rows ``r0:r1`` of a 2-D HDU (first plane of a cube), read from the file alone."""
    lead = (0,) * (len(hdu.shape) - 2)
    return np.asarray(hdu.section[lead + (slice(r0, r1), slice(None))])


def _reduce_chip(hdul: fits.HDUList, chip: Chip, factor: int,
                 dq_bad: Callable[[np.ndarray], np.ndarray] | None,
                 mask_plane: np.ndarray | None, other_dq: fits.hdu.base._BaseHDU | None,
                 dq_bits: int | None = None, image_from_dq: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, int, np.ndarray | None]:
    """Reduced image, reduced bad blocks, the full-resolution bad count of one chip and,
    with ``dq_bits``, the OR-reduced DQ restricted to those bits (``dq`` convention).

    ``mask_plane`` is ``bad`` (True = bad); ``dq_bad`` turns DQ rows into ``bad`` rows;
    ``other_dq`` marks as bad every pixel whose DQ differs from this chip's;
    ``image_from_dq`` draws ``DQ != 0`` as the image (MASK reference files have no SCI).
    """
    sci = hdul[chip.sci]
    ny, nx = chip.shape[-2:]
    step = _strip_rows(sci, factor)
    images, bads, dqs, masked = [], [], [], 0
    for r0 in range(0, ny, step):
        r1 = min(ny, r0 + step)
        rows = _rows(sci, r0, r1)
        images.append(block_reduce((rows != 0) if image_from_dq else rows, factor))
        bad = np.zeros((r1 - r0, nx), bool)
        if chip.dq is not None and (dq_bad is not None or other_dq is not None):
            dq = _rows(hdul[chip.dq], r0, r1)
            if dq_bad is not None:
                bad |= dq_bad(dq)
                if dq_bits is not None:
                    dqs.append(block_or(dq & np.array(dq_bits).astype(dq.dtype), factor))
            if other_dq is not None:
                bad |= dq != _rows(other_dq, r0, r1)
        if mask_plane is not None:
            bad |= mask_plane[r0:r1]
        masked += int(np.count_nonzero(bad))
        bads.append(block_any(bad, factor))
    return (np.concatenate(images), np.concatenate(bads), masked,
            np.concatenate(dqs) if dqs else None)


# --------------------------------------------------------------------------------------------
# The step
# --------------------------------------------------------------------------------------------


def _factor(shape: Sequence[int], max_size: int) -> int:
    return max(1, math.ceil(max(shape[-2:]) / max(1, max_size)))


def _dq_value(info: FileInfo, dq: str) -> int | None:
    """The bits of ``--dq`` (None = any)."""
    table = table_for(info.telescope, info.instrument, info.detector)
    try:
        return parse_flags(dq, table) if dq.lower() != "any" else None
    except ValueError as exc:
        raise InputError(info.path, f": {exc}", parameter="dq") from None


def _dq_rule(info: FileInfo, dq: str | None) -> Callable[[np.ndarray], np.ndarray] | None:
    if dq is None:
        return None
    value = _dq_value(info, dq)
    return lambda a: dq_to_bad(a, value)


@dataclass
class _Row:
    path: str
    info: FileInfo
    images: list[np.ndarray]
    bads: list[np.ndarray]
    factors: list[int]
    masked: list[int]
    dqs: list[np.ndarray | None] = field(default_factory=list)
    chips: list[Chip] = field(default_factory=list)


def _dq_chips(hdul: fits.HDUList) -> list[Chip]:
    """A MASK reference file's DQ extensions as chips (no SCI: the DQ is drawn)."""
    out = []
    for i, h in enumerate(hdul):
        if (h.name or "").upper() == "DQ" and h.is_image and len(h.shape) == 2:
            out.append(Chip(int(h.header.get("EXTVER", 1) or 1), i, i, tuple(h.shape)))
    return out


def _read_row(path: str, *, mask: str | None, dq: str | None, max_size: int,
              flags: str | None, compare: str | None, flag_colors: bool = False,
              min_size: int = MIN_SIZE) -> _Row:
    planes = None
    if mask is not None:
        planes = read_mask_file(mask, flags=flags, reference=reference_of(path)).planes
    with open_fits(path, memmap=False) as hdul:
        info = classify_hdulist(hdul, path)
        chips = [c for c in info.chips if len(c.shape) >= 2]
        from_dq = not chips and info.product == "mask_ref"
        if from_dq:
            chips = _dq_chips(hdul)
            dq = dq or "any"
        if not chips:
            raise InputError(path, "no 2-D image to preview")
        if planes is not None and [p.shape for p in planes] != [c.shape[-2:] for c in chips]:
            raise InputError(mask, f"mask planes {[p.shape for p in planes]} do not match "
                                   f"the chips of {path} {[c.shape[-2:] for c in chips]}")
        if dq is not None and any(c.dq is None for c in chips):
            raise InputError(path, "given but the file has no DQ extension", parameter="dq")
        rule = _dq_rule(info, dq)
        bits = None
        if flag_colors and dq is not None:
            value = _dq_value(info, dq)
            bits = (1 << 32) - 1 if value is None else value
        row = _Row(path, info, [], [], [], [], [], chips)
        with (open_fits(compare, memmap=False) if compare else _null()) as other:
            for k, chip in enumerate(chips):
                other_dq = (_matching_dq(other, chip, compare)
                            if other is not None and compare else None)
                factor = _factor(chip.shape, max_size)
                image, bad, masked, dqs = _reduce_chip(
                    hdul, chip, factor, rule, planes[k] if planes else None, other_dq,
                    bits, from_dq)
                row.images.append(image)
                row.bads.append(bad)
                row.factors.append(factor)
                row.masked.append(masked)
                row.dqs.append(dqs)
    return row


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc) -> None:
        return None


def _matching_dq(other: fits.HDUList, chip: Chip, path: str) -> fits.hdu.base._BaseHDU:
    info = classify_hdulist(other, path)
    for c in info.chips:
        if c.extver == chip.extver and c.dq is not None:
            if c.shape != chip.shape:
                raise InputError(path, f"SCI,{c.extver} shape {c.shape} differs from the "
                                       f"file's {chip.shape}")
            return other[c.dq]
    raise InputError(path, f"no DQ for SCI,{chip.extver} to compare with")


@dataclass(frozen=True)
class _Style:
    color: Sequence[int]
    alpha: float
    limits: str
    stretch: str
    percent: float
    min_size: int
    axes: bool


def preview_file(path: str | os.PathLike, output: str | os.PathLike, *,
                 mask: str | None = None, dq: str | None = None, before: str | None = None,
                 flags: str | None = None, max_size: int = 1024,
                 color: Sequence[int] = DEFAULT_COLOR, alpha: float = 0.5,
                 limits: str = "zscale", stretch: str = "linear", percent: float = 99.5,
                 flag_colors: bool = False, min_size: int = MIN_SIZE,
                 axes: bool = True) -> PreviewResult:
    """Write a PNG preview of ``path`` with its mask overlaid (see the module docstring).

    Parameters
    ----------
    path : path-like
        JWST / HST image (rate, cal, i2d, flt, drz, ...), a JWST MASK reference file, or a
        bare image.
    output : path-like
        PNG file (replaced atomically).
    mask : str, optional
        Mask input ``PATH[CHIP]@CONVENTION`` or DS9 region file (painted on ``path``).
    dq : str, optional
        Overlay the file's DQ: bad where ``DQ & dq`` (``"any"``: any flag).
    before : str, optional
        The file before ``dqmask apply``: draw a before/after pair.
    flags : str, optional
        ``dq``-convention ``mask`` files: bits that make a pixel bad (default any).
    max_size : int
        Longest side of a panel in PNG pixels (block-reduction factor chosen from it).
    color : (r, g, b)
        Overlay colour 0-255.
    alpha : float
        Overlay opacity in (0, 1].
    limits, stretch, percent
        Display limits (``zscale``, ``minmax``, ``percentile`` with ``percent``) and stretch
        (``linear``, ``sqrt``, ``log``, ``asinh``).
    flag_colors : bool
        Draw the ``dq`` pixels (``any`` if ``dq`` is None) in one colour per flag, with a
        legend.
    min_size : int
        Enlarge small images (nearest neighbour, integer factor) to about this longer side.
    axes : bool
        Pixel ticks (1-based) along the bottom and left edges of each panel.

    Returns
    -------
    PreviewResult
        Output, PNG size and where each chip was drawn.
    """
    path, output = os.fspath(path), os.fspath(output)
    if not 0 < alpha <= 1:
        raise ParameterError("alpha", f"must be in (0, 1], got {alpha}")
    if limits not in render.LIMITS or stretch not in render.STRETCHES:
        raise ParameterError("limits", f"{limits!r} or {{stretch}} {stretch!r} unknown",
                             mentions=("stretch",))
    if not 0 < percent <= 100:
        raise ParameterError("percent", f"must be in (0, 100], got {percent}")
    if os.path.abspath(output) in {os.path.abspath(p) for p in (path, before) if p}:
        raise InputError(output, "output would overwrite an input; choose another name")
    if flag_colors and dq is None:
        dq = "any"
    diff = before is not None and mask is None and dq is None
    rows = []
    read: dict[str, Any] = {"mask": mask, "dq": dq, "max_size": max_size, "flags": flags,
            "flag_colors": flag_colors, "min_size": min_size}
    if before is not None:
        rows.append(("before", _read_row(before, compare=None, **read)))
    rows.append(("after" if before else "", _read_row(
        path, compare=before if diff else None, **read)))
    style = _Style(color, alpha, limits, stretch, percent, min_size, axes)
    return _render(output, rows, style)


def _fit(text: str, width_px: int) -> str:
    """``text`` shortened in the middle (``...``) to about ``width_px`` pixels."""
    n = max(8, int(width_px / _CHAR))
    return text if len(text) <= n else text[: n // 2 - 1] + "..." + text[-(n - n // 2 - 2):]


def _zoom(image: np.ndarray, factor: int, min_size: int) -> int:
    """Integer enlargement of an unreduced small image (1 = none)."""
    if factor > 1:
        return 1
    return max(1, min_size // max(max(image.shape), 1))


def _ticks(n: int) -> list[int]:
    """About five round 1-based pixel numbers in 1..n."""
    from matplotlib.ticker import MaxNLocator

    values = MaxNLocator(nbins=5, integer=True, min_n_ticks=2).tick_values(1, n)
    return [int(v) for v in values if 1 <= v <= n]


def _draw_axes(fig, box: tuple[int, int, int, int], shape: tuple[int, int], factor: int,
               zoom: int, size: tuple[int, int]) -> None:
    """Ticks and 1-based pixel labels along the bottom (x) and left (y) edges of a panel."""
    from matplotlib.lines import Line2D

    x0, y0, w, h = box
    width, height = size

    def fx(px: float) -> float:
        return px / width

    def fy(py: float) -> float:
        return 1 - py / height

    step = zoom / factor  # PNG pixels per image pixel
    for v in _ticks(shape[1]):
        px = x0 + (v - 0.5) * step
        fig.add_artist(Line2D([fx(px), fx(px)], [fy(y0 + h + 1), fy(y0 + h + 5)],
                              color="black", linewidth=0.7, antialiased=False,
                              solid_capstyle="butt"))
        fig.text(fx(px), fy(y0 + h + 6), str(v), fontsize=6, ha="center", va="top")
    for v in _ticks(shape[0]):
        py = y0 + h - (v - 0.5) * step
        fig.add_artist(Line2D([fx(x0 - 5), fx(x0 - 1)], [fy(py), fy(py)], color="black",
                              linewidth=0.7, antialiased=False, solid_capstyle="butt"))
        fig.text(fx(x0 - 6), fy(py), str(v), fontsize=6, ha="right", va="center")


def _legend_entries(rows: list[tuple[str, _Row]]) -> list[tuple[str, tuple[int, int, int]]]:
    """(flag name, colour) of every bit present in the drawn DQ, lowest bit first."""
    present = 0
    for _, row in rows:
        for dqs in row.dqs:
            if dqs is not None:
                present |= int(np.bitwise_or.reduce(dqs, axis=None).astype(np.int64)) & (
                    (1 << (8 * dqs.dtype.itemsize)) - 1)
    info = rows[-1][1].info
    table = table_for(info.telescope, info.instrument, info.detector)
    return [(decode(1 << bit, table)[0], render.flag_color(bit))
            for bit in range(64) if (present >> bit) & 1]


def _render(output: str, rows: list[tuple[str, _Row]], style: _Style) -> PreviewResult:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    left = _AXIS_LEFT if style.axes else 0
    bottom = _AXIS_BOTTOM if style.axes else 0
    zooms = [[_zoom(im, f, style.min_size) for im, f in zip(row.images, row.factors,
                                                             strict=True)] for _, row in rows]
    widths = [sum(im.shape[1] * z + left for im, z in zip(row.images, zs, strict=True))
              + _GAP * (len(row.images) + 1) for (_, row), zs in zip(rows, zooms, strict=True)]
    heights = [max(im.shape[0] * z for im, z in zip(row.images, zs, strict=True)) + _TITLE
               + bottom + _GAP for (_, row), zs in zip(rows, zooms, strict=True)]
    legend = _legend_entries(rows) if any(d is not None for _, r in rows for d in r.dqs) else []
    width = max(widths)
    legend_lines = math.ceil(len(legend) / max(1, width // 150)) if legend else 0
    height = sum(heights) + _GAP + legend_lines * _LEGEND
    fig = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI, facecolor="white")
    panels = []
    y = _GAP
    for (label, row), row_h, zs in zip(rows, heights, zooms, strict=True):
        x = _GAP
        for k, (image, bad) in enumerate(zip(row.images, row.bads, strict=True)):
            zoom = zs[k]
            h, w = image.shape[0] * zoom, image.shape[1] * zoom
            x += left
            chip = row.chips[k]
            title = (f"{label + ': ' if label else ''}{os.path.basename(row.path)} "
                     f"[SCI,{chip.extver}]  {row.masked[k]} masked"
                     + (f"  (1:{row.factors[k]})" if row.factors[k] > 1 else "")
                     + (f"  (x{zoom})" if zoom > 1 else ""))
            dqs = row.dqs[k]
            flags_rgba = render.flag_rgba(dqs, (1 << 64) - 1) if dqs is not None else None
            rgb = zscale_rgb(image, bad, style.color, style.alpha, limits=style.limits,
                             stretch=style.stretch, percent=style.percent,
                             flags_rgba=flags_rgba, zoom=zoom)
            fig.figimage(rgb, xo=x, yo=height - (y + _TITLE + h), origin="upper")
            name = _fit(f"{label + ': ' if label else ''}{os.path.basename(row.path)}", w)
            detail = _fit(title.split(os.path.basename(row.path), 1)[1].strip(), w)
            for line, text in ((2, detail), (1, name)):
                fig.text(x / width, 1 - (y + _TITLE - 4 - 13 * (2 - line)) / height, text,
                         fontsize=8, va="baseline", ha="left")
            box = (x, y + _TITLE, w, h)
            if style.axes:
                _draw_axes(fig, box, (image.shape[0], image.shape[1]) if row.factors[k] == 1 else
                           (chip.shape[-2], chip.shape[-1]), row.factors[k], zoom, (width, height))
            panels.append(Panel(title, box, row.factors[k], row.masked[k], zoom))
            x += w + _GAP
        y += row_h
    _draw_legend(fig, legend, y, (width, height))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, facecolor="white",
                metadata={"Software": f"dqmask {__version__} preview",
                          "Source": ", ".join(os.path.basename(r.path) for _, r in rows)})
    with atomic_output(output) as fh:
        fh.write(buffer.getvalue())
    return PreviewResult(output, (width, height), panels)


def _draw_legend(fig, legend: list[tuple[str, tuple[int, int, int]]], y: int,
                 size: tuple[int, int]) -> None:
    """Colour swatches and flag names, 150 PNG pixels per entry, below the panels."""
    width, height = size
    per_line = max(1, width // 150)
    for i, (name, rgb) in enumerate(legend):
        x = _GAP + (i % per_line) * 150
        top = y + (i // per_line) * _LEGEND
        swatch = np.empty((10, 10, 3), np.uint8)
        swatch[:] = rgb
        fig.figimage(swatch, xo=x, yo=height - (top + 12), origin="upper")
        fig.text((x + 14) / width, 1 - (top + 10) / height, name, fontsize=7, va="baseline",
                 ha="left")
