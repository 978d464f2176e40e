"""NSClean background masks: PNG pixels <-> masks, zscale pictures, automatic masks.

Every mask array here is **boolean, True = background** (the pixels NSClean and jwst's
``clean_flicker_noise`` fit the 1/f noise on) unless its docstring says otherwise. On disk
the same information is the ``background`` convention (uint8, 1 = background) or the
``user_mask`` convention (float32, 1.0 = background); see :mod:`dqmask.conventions`. The I/O
layer converts; nothing here reads or writes files.

Orientation
-----------
Arrays named ``rgb`` / ``gray`` in *PNG orientation* have row 0 at the top of the picture.
Every other array is in FITS (DMS, science) orientation, row 0 at the bottom. NSClean's
``png2fits`` flips rows (PNG top row -> last FITS row), never columns, never transposes; the
functions here do the same in both directions, so a PNG made by :func:`render_png` and read
back by :func:`png_to_background` lands on the same pixels.

Automatic masks
---------------
:func:`automatic_background` follows jwst ``clean_flicker_noise.create_mask`` without the
WCS-based parts: start from all True, set False where a pixel is unusable (NaN, exactly 0,
DO_NOT_USE, reference pixel), then :func:`clip_to_background` with jwst's rule
(``background_level.clip_to_background``, ``fit_histogram=False``): sigma-clipped
(3 sigma) median and standard deviation of the current background pixels, then False where
``value > median + n_sigma * sigma`` (signal) or ``value < median - 3 * sigma`` (bad values).
dqmask first combines several exposures (sigma-clipped mean) to raise the S/N of faint
trace wings, and can grow the signal regions (not the isolated noise peaks) by N pixels.

One pass of jwst's rule fails when traces cover much of the detector (NIRSpec IFU: NSClean's
hand-made masks keep only ~36% as background): the traces drag the clipped median and sigma
up and most trace light passes as background. By default dqmask therefore takes the median
and sigma from the pixels near the background peak of the histogram
(:func:`robust_stats_pixels`) and then applies jwst's limits once to every usable pixel;
``stats="all"`` is jwst's behaviour exactly.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from astropy.stats import sigma_clipped_stats
from astropy.utils.exceptions import AstropyUserWarning
from astropy.visualization import ZScaleInterval
from scipy import ndimage

from ..conventions import dq_to_bad
from ..errors import ParameterError
from ..toolbox.morphology import grow

__all__ = [
    "Exposure",
    "background_from_exposures",
    "NSCLEAN_SHAPE",
    "REFERENCE_BORDER",
    "RED",
    "pure_red",
    "force_border_false",
    "png_to_background",
    "zscale_gray",
    "render_png",
    "reference_pixels",
    "usable_pixels",
    "clipping_possible",
    "combine_exposures",
    "mean_from_sums",
    "clip_limits",
    "clip_to_background",
    "background_mode",
    "robust_stats_pixels",
    "signal_regions",
    "automatic_background",
]

#: NSClean's full-frame mask shape (``config.NY``, ``config.NX``).
NSCLEAN_SHAPE = (2048, 2048)
#: NSClean's reference-pixel border width (``config.RB``).
REFERENCE_BORDER = 4
#: Pure red in 8-bit RGB: the only colour png2fits reads as background.
RED = (255, 0, 0)


# --------------------------------------------------------------------------------------------
# PNG pixels <-> background masks
# --------------------------------------------------------------------------------------------


def pure_red(rgb: np.ndarray, max_value: int = 255) -> np.ndarray:
    """Where an RGB picture is exactly pure red.

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3) or (H, W, 4), unsigned int
        Picture pixels (any orientation; extra channels such as alpha are ignored).
    max_value : int
        Full scale of a channel: 255 for 8-bit, 65535 for 16-bit pictures.

    Returns
    -------
    ndarray of bool, shape (H, W)
        True = background (red == max_value, green == 0, blue == 0), same orientation.
        Near-red (anti-aliased, colour-managed) pixels are False, as in NSClean.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        raise ValueError(f"need an (H, W, 3+) RGB array, got shape {rgb.shape}")
    return (rgb[..., 0] == max_value) & (rgb[..., 1] == 0) & (rgb[..., 2] == 0)


def force_border_false(background: np.ndarray, border: int = REFERENCE_BORDER) -> np.ndarray:
    """A copy with the outer ``border`` rows and columns set False (not background).

    Parameters
    ----------
    background : ndarray of bool, (..., ny, nx)
        True = background.
    border : int
        Width of the reference-pixel frame (NSClean: 4); 0 leaves the mask unchanged.

    Returns
    -------
    ndarray of bool
        True = background; the frame is False.
    """
    out = np.array(background, dtype=bool, copy=True)
    if border > 0:
        out[..., :border, :] = False
        out[..., -border:, :] = False
        out[..., :, :border] = False
        out[..., :, -border:] = False
    return out


def png_to_background(rgb: np.ndarray, max_value: int = 255,
                      border: int = REFERENCE_BORDER) -> np.ndarray:
    """NSClean ``png2fits``: pure red -> background, border False, rows flipped.

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3) or (H, W, 4), unsigned int
        Picture in PNG orientation (row 0 = top). Alpha, if present, is ignored.
    max_value : int
        255 (8-bit) or 65535 (16-bit channels).
    border : int
        Reference-pixel border forced False (NSClean: 4).

    Returns
    -------
    ndarray of bool, shape (H, W)
        True = background, FITS orientation (PNG top row -> last row).
    """
    return force_border_false(pure_red(rgb, max_value), border)[::-1].copy()


def zscale_gray(image: np.ndarray) -> np.ndarray:
    """Grayscale rendering with IRAF zscale limits (astropy ``ZScaleInterval``).

    Parameters
    ----------
    image : ndarray of float, 2-D
        Rate (or any) image; NaN/inf allowed.

    Returns
    -------
    ndarray of uint8, same shape and orientation
        0 = black at the lower zscale limit, 255 = white at the upper; non-finite pixels 0.
    """
    image = np.asarray(image, dtype=np.float32)
    finite = np.isfinite(image)
    out = np.zeros(image.shape, dtype=np.uint8)
    if not finite.any():
        return out
    values = image[finite]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyUserWarning)
        lo, hi = ZScaleInterval().get_limits(values)
    if not hi > lo:
        lo, hi = float(values.min()), float(values.max())
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    scaled = np.clip((values - lo) * scale, 0.0, 255.0)
    out[finite] = np.rint(scaled).astype(np.uint8)
    return out


def render_png(image: np.ndarray, background: np.ndarray | None = None) -> np.ndarray:
    """The RGB picture ``fits2png`` writes: zscale gray, background painted pure red.

    Parameters
    ----------
    image : ndarray of float, 2-D, FITS orientation
        Picture to paint on (e.g. a mean rate image).
    background : ndarray of bool, same shape, FITS orientation, optional
        True = background, drawn pure red (255, 0, 0). Gray pixels are never pure red, so
        :func:`png_to_background` of the result returns exactly ``background`` (with the
        reference border forced False).

    Returns
    -------
    ndarray of uint8, shape (ny, nx, 3)
        RGB picture in PNG orientation (last FITS row on top).
    """
    gray = zscale_gray(image)
    rgb = np.repeat(gray[:, :, None], 3, axis=2)
    if background is not None:
        background = np.asarray(background, dtype=bool)
        if background.shape != gray.shape:
            raise ValueError(f"mask shape {background.shape} != image shape {gray.shape}")
        rgb[background] = RED
    return rgb[::-1].copy()


# --------------------------------------------------------------------------------------------
# Usable pixels and combination of exposures
# --------------------------------------------------------------------------------------------


def reference_pixels(shape: tuple[int, int], origin: tuple[int, int] = (1, 1),
                     detector_shape: tuple[int, int] = NSCLEAN_SHAPE,
                     border: int = REFERENCE_BORDER) -> np.ndarray:
    """Which pixels of a (sub)array are detector reference pixels.

    Parameters
    ----------
    shape : (ny, nx)
        Shape of the array.
    origin : (x, y)
        1-based detector position of the array's first pixel (``SUBSTRT1``, ``SUBSTRT2``).
    detector_shape : (ny, nx)
        Full detector size.
    border : int
        Width of the reference-pixel frame.

    Returns
    -------
    ndarray of bool, ``shape``
        True = reference pixel (not background-eligible), FITS orientation.
    """
    ny, nx = shape
    x0, y0 = origin[0] - 1, origin[1] - 1
    rows = np.arange(y0, y0 + ny)
    cols = np.arange(x0, x0 + nx)
    ref_rows = (rows < border) | (rows >= detector_shape[0] - border)
    ref_cols = (cols < border) | (cols >= detector_shape[1] - border)
    return ref_rows[:, None] | ref_cols[None, :]


def usable_pixels(data: np.ndarray, dq: np.ndarray | None, reference: np.ndarray,
                  exclude_flags: int) -> np.ndarray:
    """Pixels whose value may be used for a background estimate.

    Parameters
    ----------
    data : ndarray of float, (..., ny, nx)
        SCI values (rate, rateints or cal).
    dq : ndarray of uint32, same shape, or None
        ``dq`` convention; pixels with any of ``exclude_flags`` set are unusable.
    reference : ndarray of bool, (ny, nx)
        True = reference pixel (unusable).
    exclude_flags : int
        DQ bits that make a pixel unusable (dqmask uses DO_NOT_USE | REFERENCE_PIXEL).

    Returns
    -------
    ndarray of bool, same shape as ``data``
        True = usable (finite, non-zero, none of the flags, not a reference pixel).
    """
    usable = np.isfinite(data) & (data != 0)
    if dq is not None:
        usable &= ~dq_to_bad(dq, exclude_flags)
    usable &= ~reference
    return usable


def _nanmedian_first_axis(values: np.ndarray) -> np.ndarray:
    """``np.nanmedian(values, axis=0)`` for a short first axis, by sorting (NaN sort last)."""
    ordered = np.sort(values, axis=0)
    count = np.count_nonzero(~np.isnan(values), axis=0)
    low = np.maximum(count - 1, 0) // 2
    high = count // 2
    pick_low = np.take_along_axis(ordered, low[None], axis=0)[0]
    pick_high = np.take_along_axis(ordered, np.minimum(high, values.shape[0] - 1)[None],
                                   axis=0)[0]
    median = 0.5 * (pick_low + pick_high)
    median[count == 0] = np.nan
    return median


def clipping_possible(n: int, sigma: float) -> bool:
    """Whether a sigma clip about the median can ever reject one of ``n`` values.

    For ``n`` values with (ddof=0) standard deviation ``s``, Samuelson's inequality bounds
    ``|x - mean| <= s * sqrt(n - 1)`` and ``|mean - median| <= s``, so no value lies more than
    ``s * (sqrt(n - 1) + 1)`` from the median: with 4 exposures a 3-sigma clip never rejects.
    """
    return n >= 2 and np.sqrt(n - 1) + 1 > sigma


def _clipped_mean_block(values: np.ndarray, sigma: float, maxiters: int) -> np.ndarray:
    """Clipped mean over axis 0 of a block whose unusable values are NaN (modified)."""
    if clipping_possible(values.shape[0], sigma):
        for _ in range(maxiters):
            centre = _nanmedian_first_axis(values)
            spread = np.nanstd(values, axis=0)
            outlier = np.abs(values - centre) > sigma * spread
            if not outlier.any():
                break
            values[outlier] = np.nan
    return np.nanmean(values, axis=0)


def mean_from_sums(total: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Mean from accumulated sums: ``total / count``, NaN where ``count`` is 0.

    Parameters
    ----------
    total : ndarray of float, (ny, nx)
        Sum of the usable values of each pixel.
    count : ndarray of int, (ny, nx)
        Number of usable values of each pixel.

    Returns
    -------
    ndarray of float32, (ny, nx)
        Same as :func:`combine_exposures` when no clipping is possible.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (total / count).astype(np.float32)
    mean[count == 0] = np.nan
    return mean


def combine_exposures(stack: np.ndarray | Sequence[np.ndarray],
                      usable: np.ndarray | Sequence[np.ndarray], sigma: float = 3.0,
                      maxiters: int = 5, block_rows: int = 128) -> np.ndarray:
    """Per-pixel sigma-clipped mean over exposures (or integrations).

    Parameters
    ----------
    stack : ndarray (n, ny, nx) or sequence of n (ny, nx) arrays, float
        The exposures, same detector pixels.
    usable : ndarray of bool (n, ny, nx) or sequence of n (ny, nx) bool arrays
        True = value may be used (see :func:`usable_pixels`).
    sigma : float
        Clipping threshold about the per-pixel median, in per-pixel standard deviations
        (ddof=0), iterated at most ``maxiters`` times. Skipped when it cannot reject anything
        (:func:`clipping_possible`: fewer than 5 values at 3 sigma).
    maxiters : int
        Clipping iterations at most.
    block_rows : int
        Rows processed at a time (bounds the temporary memory).

    Returns
    -------
    ndarray of float32, (ny, nx)
        Clipped mean of the usable values; NaN where a pixel has none.
    """
    planes = list(stack)
    masks = list(usable)
    if len(planes) != len(masks) or not planes:
        raise ValueError("need as many usable masks as exposures, and at least one")
    ny = planes[0].shape[0]
    out = np.empty(planes[0].shape, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels
        for r0 in range(0, ny, block_rows):
            rows = slice(r0, min(r0 + block_rows, ny))
            values = np.stack([np.where(m[rows], p[rows], np.nan)
                               for p, m in zip(planes, masks, strict=True)]
                              ).astype(np.float32, copy=False)
            out[rows] = _clipped_mean_block(values, sigma, maxiters)
    return out


# --------------------------------------------------------------------------------------------
# jwst's clipping rule and the automatic mask
# --------------------------------------------------------------------------------------------


def clip_limits(image: np.ndarray, stats_pixels: np.ndarray, n_sigma: float = 2.0,
                sigma_lower: float = 3.0) -> tuple[float, float]:
    """jwst's background limits: ``(median - sigma_lower*std, median + n_sigma*std)``.

    ``median`` and ``std`` are ``astropy.stats.sigma_clipped_stats(image, mask=~stats_pixels,
    sigma=3)`` computed in float64, as in jwst ``clip_to_background`` (``fit_histogram=False``).

    Parameters
    ----------
    image : ndarray of float, (ny, nx)
        Image (NaN allowed where ``stats_pixels`` is False).
    stats_pixels : ndarray of bool, (ny, nx)
        True = pixel used for the statistics (candidate background).
    n_sigma, sigma_lower : float
        Upper and lower thresholds in standard deviations (jwst: ``n_sigma``, 3).

    Returns
    -------
    (float, float)
        Lower and upper limits; NaN when ``stats_pixels`` has no True pixel.
    """
    if not np.any(stats_pixels):
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyUserWarning)
        warnings.filterwarnings("ignore", category=RuntimeWarning, message=".* slice")
        # the selected values, as astropy itself compresses a masked array (same result)
        values = np.asarray(image)[np.asarray(stats_pixels, dtype=bool)].astype(np.float64)
        _, median, std = sigma_clipped_stats(values, sigma=3.0)
    return float(median - sigma_lower * std), float(median + n_sigma * std)


def clip_to_background(image: np.ndarray, background: np.ndarray, n_sigma: float = 2.0,
                       sigma_lower: float = 3.0, stats_pixels: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """jwst ``clip_to_background`` (``fit_histogram=False``), without modifying inputs.

    With ``stats_pixels=None`` this is jwst's function exactly: statistics over the True
    pixels of ``background``; pixels above ``median + n_sigma * std`` are signal, pixels
    below ``median - sigma_lower * std`` bad values; both become False.

    Parameters
    ----------
    image : ndarray of float, (ny, nx)
        Image to clip (NaN allowed where ``background`` is False).
    background : ndarray of bool, (ny, nx)
        True = candidate background pixel.
    n_sigma : float
        Upper threshold (jwst step parameter ``n_sigma``, default 2).
    sigma_lower : float
        Lower threshold (jwst: 3).
    stats_pixels : ndarray of bool, (ny, nx), optional
        True = pixels the statistics are computed on (default: ``background``).

    Returns
    -------
    background : ndarray of bool, (ny, nx)
        True = background after clipping.
    signal : ndarray of bool, (ny, nx)
        True = candidate pixel removed for being above the upper limit (sources, traces).
    """
    background = np.array(background, dtype=bool, copy=True)
    if not background.any():
        return background, np.zeros_like(background)
    lower, upper = clip_limits(image, background if stats_pixels is None else stats_pixels,
                               n_sigma, sigma_lower)
    image = np.asarray(image)
    with np.errstate(invalid="ignore"):
        low = image < lower
        high = image > upper
    signal = high & background
    background[low | high] = False
    return background, signal


def background_mode(values: np.ndarray, bins: int = 2048, max_values: int = 1_000_000
                    ) -> tuple[float, float]:
    """Peak of the value histogram and the spread of the values below it.

    The background of a spectroscopic rate image is a narrow peak; trace light is spread
    over a wide range of values, so the peak stays on the background even when traces cover
    most of the detector (where the median does not).

    Parameters
    ----------
    values : ndarray of float, 1-D
        Finite candidate-pixel values.
    bins : int
        Histogram bins between the 0.5th and 99.5th percentiles (smoothed over 9 bins).
    max_values : int
        Use every k-th value so that at most about this many are used (speed).

    Returns
    -------
    (float, float)
        Mode, and the 3-sigma-clipped standard deviation of the values below the mode
        mirrored about it.
    """
    values = np.asarray(values).ravel()
    values = values[:: max(1, values.size // max_values)]
    lo, hi = np.percentile(values, [0.5, 99.5])
    if not hi > lo:
        return float(lo), 0.0
    hist, edges = np.histogram(values, bins=bins, range=(lo, hi))
    smooth = np.convolve(hist, np.ones(9), mode="same")
    peak = int(np.argmax(smooth))
    mode = 0.5 * (edges[peak] + edges[peak + 1])
    below = values[values <= mode]
    mirrored = np.concatenate([below, 2.0 * mode - below])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyUserWarning)
        _, _, std = sigma_clipped_stats(mirrored.astype(np.float64), sigma=3.0)
    return float(mode), float(std)


def robust_stats_pixels(image: np.ndarray, candidates: np.ndarray, cut: float = 3.0
                        ) -> np.ndarray:
    """Candidates within ``cut`` standard deviations above the background mode.

    Parameters
    ----------
    image : ndarray of float, (ny, nx)
    candidates : ndarray of bool, (ny, nx)
        True = usable pixel.
    cut : float
        Upper cut in lower-side standard deviations (see :func:`background_mode`).

    Returns
    -------
    ndarray of bool, (ny, nx)
        True = pixel for the background statistics (trace light mostly left out).
    """
    candidates = np.asarray(candidates, dtype=bool)
    values = np.asarray(image)[candidates]
    if values.size == 0:
        return candidates.copy()
    mode, std = background_mode(values)
    with np.errstate(invalid="ignore"):
        return candidates & (image <= mode + cut * std)


def signal_regions(signal: np.ndarray, min_pixels: int) -> np.ndarray:
    """Keep the connected (8-neighbour) signal regions of at least ``min_pixels`` pixels.

    Parameters
    ----------
    signal : ndarray of bool, (ny, nx)
        True = clipped as signal.
    min_pixels : int
        Smallest region kept; 1 keeps everything.

    Returns
    -------
    ndarray of bool, (ny, nx)
        True = pixel of a region of ``min_pixels`` or more (isolated noise peaks dropped).
    """
    signal = np.asarray(signal, dtype=bool)
    if min_pixels <= 1:
        return signal.copy()
    labels, _ = ndimage.label(signal, structure=np.ones((3, 3), dtype=bool))
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_pixels
    keep[0] = False
    return keep[labels]


def automatic_background(image: np.ndarray, usable: np.ndarray, n_sigma: float = 2.0,
                         grow_pixels: int = 0, min_region: int = 5, border: int = 0,
                         stats: str = "mode") -> np.ndarray:
    """An automatic background mask from one (combined) image.

    Parameters
    ----------
    image : ndarray of float, (ny, nx)
        Combined rate image (see :func:`combine_exposures`).
    usable : ndarray of bool, (ny, nx)
        True = pixel usable in every input (see :func:`usable_pixels`); False pixels are never
        background.
    n_sigma : float
        Upper clipping threshold (jwst ``n_sigma``); 0 skips clipping, as in jwst.
    grow_pixels : int
        Grow the signal regions by this radius (circle footprint) before removing them.
    min_region : int
        Signal regions smaller than this many pixels (isolated noise peaks) are removed but
        not grown.
    border : int
        Extra frame forced False (0: reference pixels are already in ``usable``).
    stats : {"mode", "all"}
        Pixels the clipping statistics come from. ``all``: every usable pixel, as jwst
        (whose median and sigma are dragged up when traces cover much of the detector).
        ``mode``: only pixels up to 3 sigma above the background peak
        (:func:`robust_stats_pixels`). Either way the limits are applied to every usable pixel
        once, with jwst's rule.

    Returns
    -------
    ndarray of bool, (ny, nx)
        True = background.
    """
    if stats not in ("mode", "all"):
        raise ValueError(f"stats must be 'mode' or 'all', got {stats!r}")
    background = np.array(usable, dtype=bool, copy=True)
    if n_sigma > 0:
        pixels = robust_stats_pixels(image, background) if stats == "mode" else None
        background, signal = clip_to_background(image, background, n_sigma,
                                                stats_pixels=pixels)
        if grow_pixels > 0:
            grown = grow(signal_regions(signal, min_region), grow_pixels)
            background &= ~grown
    return force_border_false(background, border)


# Combining loaded exposures (read by dqmask.nsclean.files.load_exposure)


@dataclass(frozen=True)
class Exposure:
    """One rate-like input, read into memory.

    Attributes
    ----------
    path : str
    detector : str
    data : ndarray of float32, (nplanes, ny, nx)
        SCI (a 2-D rate is one plane; rateints one plane per integration).
    usable : ndarray of bool, same shape
        True = finite, non-zero, no DO_NOT_USE / REFERENCE_PIXEL flag, not a reference pixel.
    """

    path: str
    detector: str
    data: np.ndarray
    usable: np.ndarray


def _planes(exposures: list[Exposure], plane: int | None
            ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Views of the planes to combine: every plane, or plane ``plane`` of each exposure."""
    if plane is None:
        return ([p for e in exposures for p in e.data],
                [u for e in exposures for u in e.usable])
    return [e.data[plane] for e in exposures], [e.usable[plane] for e in exposures]


def _all_usable(masks: list[np.ndarray]) -> np.ndarray:
    out = masks[0].copy()
    for m in masks[1:]:
        out &= m
    return out


def background_from_exposures(exposures: list[Exposure], *, n_sigma: float = 2.0,
                              grow: int = 0, min_region: int = 5,
                              per_integration: bool = False, stats: str = "mode"
                              ) -> np.ndarray:
    """The automatic mask from loaded exposures.

    Returns
    -------
    ndarray of bool
        True = background; (ny, nx), or (nints, ny, nx) with ``per_integration``. A pixel is
        background only if usable in every combined plane.
    """
    planes: list[int | None] = [None]
    if per_integration:
        nints = {e.data.shape[0] for e in exposures}
        if len(nints) != 1:
            raise ParameterError("per_integration", "needs inputs with the same number of "
                                 f"integrations (got {sorted(nints)})")
        planes = list(range(nints.pop()))
    masks = []
    for plane in planes:
        data, usable = _planes(exposures, plane)
        image = combine_exposures(data, usable)
        masks.append(automatic_background(image, _all_usable(usable), n_sigma, grow,
                                                min_region, stats=stats))
    return masks[0] if not per_integration else np.stack(masks)
