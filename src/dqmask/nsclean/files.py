"""NSClean background masks at file level: png2fits, fits2png, bgconvert, background.

Masks are boolean in memory, **True = background** (pixels NSClean / jwst
``clean_flicker_noise`` fit the 1/f noise on); on disk ``nsclean`` (uint8, 1 = background) or
``jwst`` (``user_mask``: float32 SCI, 1.0 = background). Every input is checked before
anything is written; outputs are written atomically and never over an input.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..errors import InputError, ParameterError
from ..flags import JWST_PIXEL
from ..io import png as png_render
from ..io.background_mask import FORMATS, read_background_mask, write_background_mask
from ..io.fits import classify_hdulist, open_fits
from ..io.png import read_png_rgb, write_png_rgb
from . import core as bgalg
from .core import Exposure, background_from_exposures
from .options import PARAMETERS

__all__ = ["BackgroundResult", "PictureResult", "Exposure", "load_exposure", "png2fits", "fits2png", "convert_mask",
           "make_background",
           "RATE_PRODUCTS", "UNUSABLE_FLAGS"]

#: Products an automatic mask can be made from.
RATE_PRODUCTS = frozenset({"rate", "rateints", "cal", "calints"})
#: DQ bits that make a pixel unusable for background statistics.
UNUSABLE_FLAGS = JWST_PIXEL["DO_NOT_USE"] | JWST_PIXEL["REFERENCE_PIXEL"]

#: Full detector shape (ny, nx) and whether the reference border includes rows.
_DETECTORS = {"MIRI": ((1024, 1032), False)}
_NIR_DETECTOR = (bgalg.NSCLEAN_SHAPE, True)

_PARAMETER = {o.name: o for o in PARAMETERS}
_DEFAULT = {o.name: o.default for o in PARAMETERS}


def _reference(info, shape: tuple[int, int]) -> np.ndarray:
    """True = detector reference pixel (NIR: 4-pixel frame; MIRI: 4 columns each side)."""
    detector_shape, rows = _DETECTORS.get(info.instrument, _NIR_DETECTOR)
    origin = info.substrt or (1, 1)
    if rows:
        return bgalg.reference_pixels(shape, origin, detector_shape)
    return _reference_columns(shape, origin, detector_shape)


def _reference_columns(shape: tuple[int, int], origin: tuple[int, int],
                       detector_shape: tuple[int, int], border: int = 4) -> np.ndarray:
    cols = np.arange(origin[0] - 1, origin[0] - 1 + shape[1])
    ref_cols = (cols < border) | (cols >= detector_shape[1] - border)
    return np.broadcast_to(ref_cols[None, :], shape).copy()


def load_exposure(path: str | os.PathLike) -> Exposure:
    """Read a JWST rate / rateints / cal / calints file for background masking.

    Raises
    ------
    InputError
        Not a JWST rate-like product, no SCI, SCI not 2-D/3-D.
    """
    path = os.fspath(path)
    with open_fits(path) as hdul:
        info = classify_hdulist(hdul, path)
        if not info.is_jwst or info.product not in RATE_PRODUCTS:
            raise InputError(path, f"not a JWST rate, rateints, cal or calints file "
                                   f"(found: {info.describe()})")
        chip = info.chips[0]
        sci = np.array(hdul[chip.sci].data, dtype=np.float32)  # native-endian copy
        if sci.ndim not in (2, 3):
            raise InputError(path, f"SCI is {sci.ndim}-D; expected a 2-D or 3-D rate image")
        data = sci.reshape((-1,) + sci.shape[-2:])
        dq = None if chip.dq is None else hdul[chip.dq].data  # memory-mapped
        if dq is not None and dq.shape[-2:] != sci.shape[-2:]:
            raise InputError(path, f"DQ shape {dq.shape} does not match SCI {sci.shape}")
        if dq is not None:
            dq = np.broadcast_to(dq, sci.shape).reshape(data.shape)
        usable = bgalg.usable_pixels(data, dq, _reference(info, (data.shape[1], data.shape[2])),
                                     UNUSABLE_FLAGS)
        del dq
        for index in {chip.sci, chip.dq} - {None}:
            del hdul[index].data  # drop the memory maps now, not at garbage collection
    return Exposure(path, info.detector, data, usable)


def _check_output(out: str, inputs: list[str], force: bool) -> None:
    for src in inputs:
        if os.path.exists(out) and os.path.samefile(out, src):
            raise ParameterError("out", f"{out} is also an input; choose another name")
    if os.path.isdir(out):
        raise ParameterError("out", f"{out} is a directory")
    if os.path.exists(out) and not force:
        raise ParameterError("out", f"{out} exists (use {{force}} to replace it)",
                             mentions=("force",))


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ParameterError("fmt", f"{fmt!r} is not a mask format (choose from "
                                    f"{', '.join(FORMATS)})")


@dataclass(frozen=True)
class BackgroundResult:
    """A background mask written by :func:`png2fits`, :func:`convert_mask` or
    :func:`make_background`.

    Attributes
    ----------
    output : str
        The mask file.
    fmt : str
        Its layout, ``nsclean`` or ``jwst``.
    background, total : int
        Background pixels (1 = background in the file) and all pixels.
    """

    output: str
    fmt: str
    background: int
    total: int

    def summary(self) -> str:
        """One line: ``OUT: N of M pixels background (P%), FMT format``."""
        return (f"{self.output}: {self.background} of {self.total} pixels background "
                f"({100.0 * self.background / max(self.total, 1):.1f}%), {self.fmt} format")


@dataclass(frozen=True)
class PictureResult:
    """The PNG written by :func:`fits2png`.

    Attributes
    ----------
    output : str
        The PNG.
    width, height : int
        Its size in pixels.
    inputs : tuple of str
        The rate files drawn (their mean when several).
    red : int or None
        Background pixels drawn pure red (None: no mask given).
    """

    output: str
    width: int
    height: int
    inputs: tuple[str, ...]
    red: int | None = None

    def summary(self) -> str:
        """One line: ``OUT: WxH picture of RATE[, N background pixels red]``."""
        drawn = "" if self.red is None else f", {self.red} background pixels red"
        what = self.inputs[0] if len(self.inputs) == 1 else f"the mean of {len(self.inputs)} files"
        return f"{self.output}: {self.width}x{self.height} picture of {what}{drawn}"


def _summary(out: str, background: np.ndarray, fmt: str) -> BackgroundResult:
    return BackgroundResult(out, fmt, int(np.count_nonzero(background)), int(background.size))


# --------------------------------------------------------------------------------------------
# png2fits / fits2png
# --------------------------------------------------------------------------------------------


def png2fits(png: str | os.PathLike, out: str | os.PathLike, *,
             border: int = _DEFAULT["border"],
             fmt: str = "nsclean", shape: tuple[int, int] | None = bgalg.NSCLEAN_SHAPE,
             force: bool = False) -> BackgroundResult:
    """Convert a painted PNG into a background mask, as NSClean's ``png2fits``.

    Pure red (FF0000; 16-bit: FFFF0000 0000) = background; the ``border`` frame is forced
    False; PNG top row -> last FITS row.

    Parameters
    ----------
    png, out : path-like
        Painted picture; output FITS mask (``fmt`` layout, True/1 = background).
    border : int
        Reference-pixel border forced False (NSClean: 4).
    fmt : {"nsclean", "jwst"}
        Output layout.
    shape : tuple of int, ``(height, width)``, or None
        Expected picture size; None accepts any size.
    force : bool
        Replace an existing output.

    Returns
    -------
    BackgroundResult
        The file written and its background count (``summary()``: one line).
    """
    png, out = os.fspath(png), os.fspath(out)
    _check_format(fmt)
    _PARAMETER["border"].check(border)
    _check_output(out, [png], force)
    rgb, max_value = read_png_rgb(png, shape)
    background = bgalg.png_to_background(rgb, max_value, border)
    params = {"png": os.path.basename(png), "border": border, "format": fmt}
    write_background_mask(out, background, fmt, step="png2fits", params=params,
                          png2fits_history=True)
    return _summary(out, background, fmt)


def fits2png(rates: str | os.PathLike | list, out: str | os.PathLike, *,
             mask: str | os.PathLike | None = None, force: bool = False,
             limits: str = "zscale", stretch: str = "linear", percent: float = 99.5) -> PictureResult:
    """Write the grey picture of one or several rate images to paint on.

    Parameters
    ----------
    rates : path-like or list of path-like
        JWST rate / rateints / cal files of one detector; every integration of every file is
        combined (per-pixel sigma-clipped mean, NSClean's recipe step 2) before drawing.
    out : path-like
        PNG to write, in the orientation :func:`png2fits` reads back.
    mask : path-like, optional
        Background mask (either layout, True/1 = background), drawn pure red.
    force : bool
        Replace an existing output.
    limits, stretch, percent
        The renderer of ``dqmask edit`` / ``preview`` (:mod:`dqmask.io.png`): limits
        ``zscale`` / ``minmax`` / ``percentile``, stretch ``linear`` / ``sqrt`` / ``log`` /
        ``asinh``. NaN pixels get their own colour (never pure red).

    Returns
    -------
    PictureResult
        The PNG written, its size and inputs (``summary()``: one line).
    """
    paths = [os.fspath(r) for r in ([rates] if isinstance(rates, (str, os.PathLike))
                                    else rates)]
    out = os.fspath(out)
    if not paths:
        raise ParameterError("rates", "needs at least one rate file")
    if limits not in png_render.LIMITS or stretch not in png_render.STRETCHES:
        raise ParameterError("limits", f"{limits!r} or {{stretch}} {stretch!r} unknown",
                             mentions=("stretch",))
    _check_output(out, paths + ([os.fspath(mask)] if mask else []), force)
    _scan(paths)  # one detector, one shape: checked before any data is read
    exposures = [load_exposure(p) for p in paths]
    shape = exposures[0].data.shape[-2:]
    background = None
    if mask is not None:
        background = read_background_mask(mask).background
        if background.ndim != 2:
            raise InputError(mask, f"per-integration mask {background.shape} cannot be drawn "
                                   f"in one picture; give a 2-D mask")
        if background.shape != shape:
            raise InputError(mask, f"mask shape {background.shape} does not match "
                                   f"{paths[0]} image shape {shape}")
    planes = [p for e in exposures for p in e.data]
    image = bgalg.combine_exposures(planes, [np.isfinite(p) for p in planes])
    lo, hi = png_render.display_limits(image, limits, percent)
    rgb = png_render.grey_rgba(png_render.stretch(image, lo, hi, stretch))[..., :3].copy()
    if background is not None:
        rgb[background[::-1]] = bgalg.RED
    names = ", ".join(os.path.basename(p) for p in paths)
    text = {"Software": "dqmask fits2png",
            "Description": f"{limits} {stretch} picture of {names}; top row = last FITS "
                           f"row; paint background pure red FF0000, then dqmask png2fits"}
    write_png_rgb(out, rgb, text)
    red = None if background is None else int(background.sum())
    return PictureResult(out, rgb.shape[1], rgb.shape[0], tuple(paths), red)


def convert_mask(mask: str | os.PathLike, out: str | os.PathLike, *, fmt: str = "jwst",
                 like: str | os.PathLike | None = None, force: bool = False) -> BackgroundResult:
    """Rewrite a background mask (either layout) in layout ``fmt``; the pixels are unchanged.

    Parameters
    ----------
    mask, out : path-like
        Input mask (NSClean or jwst layout, True/1 = background) and output file.
    fmt : {"nsclean", "jwst"}
        Output layout (``jwst``: what ``clean_flicker_noise --user_mask`` opens).
    like : path-like, optional
        jwst layout: JWST product whose metadata is copied into the mask model.
    force : bool
        Replace an existing output.
    """
    mask, out = os.fspath(mask), os.fspath(out)
    _check_format(fmt)
    _check_output(out, [mask] + ([os.fspath(like)] if like else []), force)
    background = read_background_mask(mask).background
    if fmt == "nsclean" and background.ndim != 2:
        raise ParameterError("fmt", "nsclean holds one 2-D mask; this mask has one plane per "
                                    "integration: keep {fmt} jwst", mentions=("fmt",))
    params = {"mask": os.path.basename(mask), "format": fmt}
    write_background_mask(out, background, fmt, step="bgconvert", params=params, like=like)
    return _summary(out, background, fmt)


# --------------------------------------------------------------------------------------------
# Automatic background masks
# --------------------------------------------------------------------------------------------


def _scan(paths: list[str]) -> list[tuple[str, tuple[int, ...]]]:
    """Check every input from its headers before any data is read.

    Returns
    -------
    list of (detector, SCI shape)
    """
    found = []
    for path in paths:
        with open_fits(path) as hdul:
            info = classify_hdulist(hdul, path)
        if not info.is_jwst or info.product not in RATE_PRODUCTS:
            raise InputError(path, f"not a JWST rate, rateints, cal or calints file "
                                   f"(found: {info.describe()})")
        found.append((info.detector, tuple(info.chips[0].shape)))
    first_detector, first_shape = found[0]
    for path, (detector, shape) in zip(paths[1:], found[1:], strict=True):
        if detector != first_detector:
            raise InputError(path, f"detector {detector} differs from {first_detector} of "
                                   f"{paths[0]}: one mask per detector")
        if shape[-2:] != first_shape[-2:]:
            raise InputError(path, f"image shape {shape[-2:]} differs from "
                                   f"{first_shape[-2:]} of {paths[0]}")
    return found


def _streamed_mean(paths: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Mean of every usable plane, reading one file at a time (when no clip is possible).

    Returns (image float32, NaN where no usable value; usable bool, True = usable in every
    plane).
    """
    total = count = usable_all = None
    for path in paths:
        exposure = load_exposure(path)
        for data, usable in zip(exposure.data, exposure.usable, strict=True):
            if total is None:
                total = np.zeros(data.shape, np.float64)
                count = np.zeros(data.shape, np.uint16)
                usable_all = usable.copy()
            assert count is not None and usable_all is not None  # made with ``total``
            np.add(total, data, out=total, where=usable)
            np.add(count, 1, out=count, where=usable, casting="unsafe")
            usable_all &= usable
        del exposure
    assert total is not None and count is not None and usable_all is not None  # >= 1 plane
    return bgalg.mean_from_sums(total, count), usable_all


def make_background(rates: list[str | os.PathLike], out: str | os.PathLike, *,
                    n_sigma: float = _DEFAULT["n_sigma"], grow: int = _DEFAULT["grow"],
                    min_region: int = _DEFAULT["min_region"],
                    fmt: str = "nsclean", per_integration: bool = False,
                    stats: str = _DEFAULT["stats"], force: bool = False) -> BackgroundResult:
    """Write an automatic background mask from rate-like files of one detector.

    Combines the inputs (per-pixel sigma-clipped mean), excludes NaN, zero, DO_NOT_USE and
    reference pixels, clips with jwst's rule (median + ``n_sigma`` sigma above, 3 sigma below,
    from 3-sigma-clipped stats) and grows the signal regions by ``grow`` pixels. ``stats``:
    the pixels the median and sigma come from, ``mode`` (near the background peak) or
    ``all`` (every usable pixel, as jwst); see
    :func:`dqmask.nsclean.core.automatic_background`.

    Returns
    -------
    BackgroundResult
        The file written and its background count (``summary()``: one line).
    """
    paths = [os.fspath(p) for p in rates]
    out = os.fspath(out)
    _check_format(fmt)
    if not paths:
        raise ParameterError("rates", "needs at least one rate file")
    for name, value in (("n_sigma", n_sigma), ("grow", grow), ("min_region", min_region),
                        ("stats", stats)):
        _PARAMETER[name].check(value)
    if per_integration and fmt == "nsclean":
        raise ParameterError("per_integration", "writes one mask per integration: use {fmt} jwst",
                             mentions=("fmt",))
    _check_output(out, paths, force)
    scanned = _scan(paths)
    planes = sum(shape[0] if len(shape) == 3 else 1 for _, shape in scanned)
    if per_integration or bgalg.clipping_possible(planes, 3.0):
        background = background_from_exposures([load_exposure(p) for p in paths],
                                                n_sigma=n_sigma, grow=grow,
                                                min_region=min_region,
                                                per_integration=per_integration, stats=stats)
    else:  # a plain mean: stream the files, one in memory at a time
        image, usable = _streamed_mean(paths)
        background = bgalg.automatic_background(image, usable, n_sigma, grow, min_region,
                                                stats=stats)
    params = {"inputs": len(paths), "n_sigma": n_sigma, "grow": grow,
              "min_region": min_region, "stats": stats, "format": fmt,
              "per_integration": per_integration}
    write_background_mask(out, background, fmt, step="background", params=params,
                          like=paths[0] if fmt == "jwst" else None)
    return _summary(out, background, fmt)
