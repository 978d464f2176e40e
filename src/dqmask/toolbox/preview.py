"""``preview``: a PNG quick-look of an image with its mask overlaid, per chip.

What is drawn
-------------
* One panel per chip (SCI extension, EXTVER order, left to right), image zscaled
  (:class:`astropy.visualization.ZScaleInterval`) in grey, NaN black, FITS orientation
  (row 0 at the bottom, as DS9 shows it).
* Masked pixels painted in the overlay colour, blended with ``alpha`` (``alpha=1``: the pure
  colour). The mask comes from ``mask`` (any mask input, see :mod:`dqmask.io.mask_file`),
  from the file's own DQ (``dq``: bad where ``DQ & flags``), or both (OR).
* ``before``: a before/after pair, the original on the top row and the file below. Without
  ``mask`` / ``dq``, the overlay is the pixels whose DQ differs between the two -- exactly
  what ``dqmask apply`` changed.

Bounded memory
--------------
Each chip is read in strips of rows straight from the file (``memmap=False`` +
``ImageHDU.section``, so no page of a huge mosaic stays mapped) and block-reduced by an
integer factor so that its longer side is at most ``max_size``: image blocks are the mean of
their finite pixels, mask blocks are bad if *any* pixel in them is (a single bad pixel is
never lost). Only the reduced image, one strip, and an input mask plane (if ``mask`` is a
file) are in memory at once.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from astropy.io import fits

from .. import __version__
from ..errors import InputError
from ..flags import parse_flags, table_for
from ..io.atomic import atomic_output
from ..io.fits import Chip, FileInfo, classify_hdulist, open_fits
from ..io.mask_file import read_mask_file, reference_of
from .preview_core import DEFAULT_COLOR, block_any, block_reduce, zscale_rgb

__all__ = ["Panel", "PreviewResult", "preview_file", "block_reduce", "block_any",
           "zscale_rgb", "DEFAULT_COLOR", "STRIP_BYTES"]

#: Bytes of image rows read at once.
STRIP_BYTES = 32 << 20
_TITLE = 32  # px of title band above each panel (two lines)
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
    """

    title: str
    box: tuple[int, int, int, int]
    factor: int
    masked: int

    def to_png(self, row: int, col: int) -> tuple[int, int]:
        """PNG ``(x, y)`` of the image pixel ``[row, col]`` (numpy order, row 0 at bottom)."""
        x0, y0, _, h = self.box
        return x0 + col // self.factor, y0 + h - 1 - row // self.factor


@dataclass
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
                 mask_plane: np.ndarray | None, other_dq: fits.hdu.base._BaseHDU | None
                 ) -> tuple[np.ndarray, np.ndarray, int]:
    """Reduced image, reduced bad blocks and the full-resolution bad count of one chip.

    ``mask_plane`` is ``bad`` (True = bad); ``dq_bad`` turns DQ rows into ``bad`` rows;
    ``other_dq`` marks as bad every pixel whose DQ differs from this chip's.
    """
    sci = hdul[chip.sci]
    ny, nx = chip.shape[-2:]
    step = _strip_rows(sci, factor)
    images, bads, masked = [], [], 0
    for r0 in range(0, ny, step):
        r1 = min(ny, r0 + step)
        images.append(block_reduce(_rows(sci, r0, r1), factor))
        bad = np.zeros((r1 - r0, nx), bool)
        if chip.dq is not None and (dq_bad is not None or other_dq is not None):
            dq = _rows(hdul[chip.dq], r0, r1)
            if dq_bad is not None:
                bad |= dq_bad(dq)
            if other_dq is not None:
                bad |= dq != _rows(other_dq, r0, r1)
        if mask_plane is not None:
            bad |= mask_plane[r0:r1]
        masked += int(np.count_nonzero(bad))
        bads.append(block_any(bad, factor))
    return np.concatenate(images), np.concatenate(bads), masked


# --------------------------------------------------------------------------------------------
# The step
# --------------------------------------------------------------------------------------------


def _factor(shape: Sequence[int], max_size: int) -> int:
    return max(1, math.ceil(max(shape[-2:]) / max(1, max_size)))


def _dq_rule(info: FileInfo, dq: str | None) -> Callable[[np.ndarray], np.ndarray] | None:
    if dq is None:
        return None
    table = table_for(info.telescope, info.instrument, info.detector)
    try:
        value = parse_flags(dq, table) if dq.lower() != "any" else None
    except ValueError as exc:
        raise InputError(info.path, f"--dq: {exc}") from None
    if value is None:
        return lambda a: a != 0
    return lambda a: (a & np.array(value).astype(a.dtype)) != 0


@dataclass
class _Row:
    path: str
    info: FileInfo
    images: list[np.ndarray]
    bads: list[np.ndarray]
    factors: list[int]
    masked: list[int]


def _read_row(path: str, *, mask: str | None, dq: str | None, max_size: int,
              flags: str | None, compare: str | None) -> _Row:
    planes = None
    if mask is not None:
        planes = read_mask_file(mask, flags=flags, reference=reference_of(path)).planes
    with open_fits(path, memmap=False) as hdul:
        info = classify_hdulist(hdul, path)
        chips = [c for c in info.chips if len(c.shape) >= 2]
        if not chips:
            raise InputError(path, "no 2-D image to preview")
        if planes is not None and [p.shape for p in planes] != [c.shape[-2:] for c in chips]:
            raise InputError(mask, f"mask planes {[p.shape for p in planes]} do not match "
                                   f"the chips of {path} {[c.shape[-2:] for c in chips]}")
        if dq is not None and any(c.dq is None for c in chips):
            raise InputError(path, "--dq given but the file has no DQ extension")
        rule = _dq_rule(info, dq)
        row = _Row(path, info, [], [], [], [])
        with (open_fits(compare, memmap=False) if compare else _null()) as other:
            for k, chip in enumerate(chips):
                other_dq = _matching_dq(other, chip, compare) if other is not None else None
                factor = _factor(chip.shape, max_size)
                image, bad, masked = _reduce_chip(hdul, chip, factor, rule,
                                                  planes[k] if planes else None, other_dq)
                row.images.append(image)
                row.bads.append(bad)
                row.factors.append(factor)
                row.masked.append(masked)
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


def preview_file(path: str | os.PathLike, output: str | os.PathLike, *,
                 mask: str | None = None, dq: str | None = None, before: str | None = None,
                 flags: str | None = None, max_size: int = 1024,
                 color: Sequence[int] = DEFAULT_COLOR, alpha: float = 0.5) -> PreviewResult:
    """Write a PNG preview of ``path`` with its mask overlaid (see the module docstring).

    Parameters
    ----------
    path : path-like
        JWST / HST image (rate, cal, i2d, flt, drz, ...) or a bare image.
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

    Returns
    -------
    PreviewResult
        Output, PNG size and where each chip was drawn.
    """
    path, output = os.fspath(path), os.fspath(output)
    if not 0 < alpha <= 1:
        raise InputError(None, f"--alpha must be in (0, 1], got {alpha}")
    if os.path.abspath(output) in {os.path.abspath(p) for p in (path, before) if p}:
        raise InputError(output, "output would overwrite an input; choose another name")
    diff = before is not None and mask is None and dq is None
    rows = []
    if before is not None:
        rows.append(("before", _read_row(before, mask=mask, dq=dq, max_size=max_size,
                                         flags=flags, compare=None)))
    rows.append(("after" if before else "", _read_row(
        path, mask=mask, dq=dq, max_size=max_size, flags=flags,
        compare=before if diff else None)))
    return _render(output, rows, color, alpha)


def _fit(text: str, width_px: int) -> str:
    """``text`` shortened in the middle (``...``) to about ``width_px`` pixels."""
    n = max(8, int(width_px / _CHAR))
    return text if len(text) <= n else text[: n // 2 - 1] + "..." + text[-(n - n // 2 - 2):]


def _render(output: str, rows: list[tuple[str, _Row]], color: Sequence[int], alpha: float
            ) -> PreviewResult:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    widths = [sum(im.shape[1] for im in row.images) + _GAP * (len(row.images) + 1)
              for _, row in rows]
    heights = [max(im.shape[0] for im in row.images) + _TITLE + _GAP for _, row in rows]
    width, height = max(widths), sum(heights) + _GAP
    fig = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI, facecolor="white")
    panels = []
    y = _GAP
    for (label, row), row_h in zip(rows, heights, strict=True):
        x = _GAP
        for k, (image, bad) in enumerate(zip(row.images, row.bads, strict=True)):
            h, w = image.shape
            chip = row.info.chips[k]
            title = (f"{label + ': ' if label else ''}{os.path.basename(row.path)} "
                     f"[SCI,{chip.extver}]  {row.masked[k]} masked"
                     + (f"  (1:{row.factors[k]})" if row.factors[k] > 1 else ""))
            fig.figimage(zscale_rgb(image, bad, color, alpha), xo=x, yo=height - (y + _TITLE + h),
                         origin="upper")
            name = _fit(f"{label + ': ' if label else ''}{os.path.basename(row.path)}", w)
            detail = _fit(title.split(os.path.basename(row.path), 1)[1].strip(), w)
            for line, text in ((2, detail), (1, name)):
                fig.text(x / width, 1 - (y + _TITLE - 4 - 13 * (2 - line)) / height, text,
                         fontsize=8, va="baseline", ha="left")
            panels.append(Panel(title, (x, y + _TITLE, w, h), row.factors[k], row.masked[k]))
            x += w + _GAP
        y += row_h
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, facecolor="white",
                metadata={"Software": f"dqmask {__version__} preview",
                          "Source": ", ".join(os.path.basename(r.path) for _, r in rows)})
    with atomic_output(output) as fh:
        fh.write(buffer.getvalue())
    return PreviewResult(output, (width, height), panels)
