"""Claw / wisp detection inside DS9 regions: the "seed image" algorithm (pure functions).

The algorithm of Crab.Toolkit.JWST's detect step, ``util_detect_source_and_create_seed_image.py``
(two background passes and a threshold, no segmentation; ``docs/claws.md``, "Algorithm"), with
the dqmask corrections listed below.

1. Pixels for statistics (``valid``): finite, not flagged in DQ with any of
   :data:`STATS_BAD_FLAGS`, inside the include regions and outside the exclude regions.
2. Pass 1: ``Background2D(image, box = min(ny, nx) // 10, mask = ~valid,
   exclude_percentile = 50)`` -> background map ``bkg`` and a **global** (scalar)
   ``rms = nanmean(background_rms)``. With ``ignore_background``: ``bkg = 0`` and
   ``rms`` = sigma-clipped std of the valid pixels.
3. Non-bright pixels: ``bkg - sigma*rms < image < bkg + sigma*rms``.
4. Pass 2: as pass 1 with ``box = min(ny, nx) // 30`` and only valid non-bright pixels.
5. Detection: ``image > bkg + sigma*rms`` inside the include and outside the exclude regions.
6. Connected pieces (8-connected) smaller than ``minpixarea`` pixels are dropped.
7. Seed: the 0/1 detection convolved with a normalised ``Gaussian2DKernel(smooth)`` (zero
   outside the image), values below 1e-3 set to 0; no smoothing: the 0/1 detection itself.
8. ``zeroonemask = seed > 0``.

Differences from Crab.Toolkit.JWST (all deliberate; ``compat="crab"`` restores the first two):

* ``minpixarea`` is a **connected-area** threshold (Crab counts the 8 neighbours of each
  pixel, so its ``--minpixarea 1`` removes isolated pixels; here use 2 for that).
* DQ-flagged and NaN pixels inside an include region never enter the statistics (Crab
  forces every pixel inside the include regions to valid).
* DS9 exclude shapes are honoured (see :mod:`dqmask.io.regions`).
* When no valid pixel lies within ``sigma * rms`` of the pass-1 background (e.g.
  ``ignore_background`` on an image whose sky is far from 0), pass 1's statistics are kept
  (Crab's rms becomes NaN and it detects nothing).
* When ``Background2D`` cannot work (every box more than half masked, typical for thin
  polygons), a global sigma-clipped median / std of the valid pixels is used instead of
  crashing, and a note says so.

Conventions: ``image`` float (any units); ``include`` / ``exclude`` / ``valid`` / detection
masks are ``bool`` (True = inside / used / detected); ``dq`` is a uint32 bitfield; the seed is
float64 in [0, 1]; ``zeroonemask`` is uint8 (1 = detected, i.e. ``bad`` written as 0/1).
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from astropy.convolution import Gaussian2DKernel
from astropy.stats import sigma_clipped_stats
from scipy import ndimage

from ..conventions import dq_to_bad
from ..flags import JWST_PIXEL, require_dq_dtype

__all__ = [
    "STATS_BAD_FLAGS",
    "SMOOTH_CUTOFF",
    "DetectParams",
    "Detection",
    "box_sizes",
    "valid_pixels",
    "background_and_rms",
    "fallback_note",
    "detect_bright",
    "drop_small_pieces",
    "neighbour_filter",
    "smooth_mask",
    "COMPAT_MODES",
    "detect",
]

#: DQ flags that keep a pixel out of the statistics (Crab's 1073742391).
STATS_BAD_FLAGS = (JWST_PIXEL["DO_NOT_USE"] | JWST_PIXEL["SATURATED"] | JWST_PIXEL["JUMP_DET"]
                   | JWST_PIXEL["OUTLIER"] | JWST_PIXEL["PERSISTENCE"]
                   | JWST_PIXEL["NON_SCIENCE"] | JWST_PIXEL["OTHER_BAD_PIXEL"])
#: Seed values below this are set to 0 after smoothing.
SMOOTH_CUTOFF = 1e-3
#: ``dqmask`` (default, corrected) or ``crab`` (Crab.Toolkit.JWST parity: inside the include
#: regions every pixel is valid for the statistics, DQ and NaN notwithstanding; ``minpixarea``
#: is the 8-neighbour count of ``neighbour_filter``).
COMPAT_MODES = ("dqmask", "crab")


@dataclass(frozen=True)
class DetectParams:
    """Detection parameters (the ``dqmask detect`` options).

    Attributes
    ----------
    sigma : float
        Threshold in units of the global rms, above the background (or above 0).
    smooth : float
        Gaussian sigma (pixels) of the soft seed; 0 = no smoothing.
    minpixarea : int
        Connected pieces with fewer pixels are dropped (1 keeps everything).
    ignore_background : bool
        Threshold ``sigma * rms`` above zero instead of above a Background2D map.
    box_size : int or None
        Background2D box for both passes; None = ``min(ny, nx) // 10`` then ``// 30``.
    compat : {"dqmask", "crab"}
        ``crab``: Crab.Toolkit.JWST parity (see :data:`COMPAT_MODES`).
    """

    sigma: float = 3.0
    smooth: float = 0.0
    minpixarea: int = 1
    ignore_background: bool = False
    box_size: int | None = None
    compat: str = "dqmask"


@dataclass
class Detection:
    """Everything :func:`detect` computed.

    Attributes
    ----------
    seed : ndarray of float64
        Soft mask in [0, 1]; > 0 = detected (grown by the smoothing).
    zeroonemask : ndarray of uint8
        ``seed > 0`` as 0/1 (1 = bad / detected).
    detected : ndarray of bool
        The detection before smoothing (after the minpixarea cut).
    valid : ndarray of bool
        Pixels used for the statistics.
    background : ndarray of float64
        Pass-2 background map (zeros with ``ignore_background``).
    rms_map : ndarray of float64
        Pass-2 per-pixel rms map (constant with ``ignore_background``); informative only,
        the threshold uses the scalar ``rms``.
    rms : float
        Pass-2 global rms.
    notes : list of str
        Fallbacks taken, one line each (at most one for Background2D).
    """

    seed: np.ndarray
    zeroonemask: np.ndarray
    detected: np.ndarray
    valid: np.ndarray
    background: np.ndarray
    rms_map: np.ndarray
    rms: float
    notes: list[str] = field(default_factory=list)


def box_sizes(shape: tuple[int, ...], box_size: int | None = None) -> tuple[int, int]:
    """Background2D boxes of the two passes: ``min(ny, nx) // 10`` and ``// 30``."""
    if box_size:
        return int(box_size), int(box_size)
    n = min(int(shape[-1]), int(shape[-2]))
    return max(n // 10, 1), max(n // 30, 1)


def valid_pixels(image: np.ndarray, dq: np.ndarray | None = None,
                 include: np.ndarray | None = None, exclude: np.ndarray | None = None,
                 bad_flags: int = STATS_BAD_FLAGS) -> np.ndarray:
    """Pixels used for statistics (True = used).

    Parameters
    ----------
    image : ndarray of float
        Science image.
    dq : ndarray of uint32 (or HST int16), optional
        DQ bitfield; pixels with any of ``bad_flags`` are not used (HST: any flag).
    include, exclude : ndarray of bool, optional
        True = inside the include / exclude regions.
    """
    valid = np.isfinite(image)
    if dq is not None:
        require_dq_dtype(dq)
        if dq.dtype.itemsize < 4:  # HST int16: the JWST flags do not apply; any flag is bad
            valid &= dq == 0
        else:
            valid &= ~dq_to_bad(dq, bad_flags)
    if include is not None:
        valid &= include
    if exclude is not None:
        valid &= ~exclude
    return valid


def background_and_rms(image: np.ndarray, use: np.ndarray, box: int,
                       ignore_background: bool,
                       failures: list[tuple[int, str]] | None = None
                       ) -> tuple[np.ndarray, np.ndarray, float]:
    """Background map, rms map and global rms from the pixels in ``use``.

    Parameters
    ----------
    image : ndarray of float
        Science image.
    use : ndarray of bool
        True = pixel may be used.
    box : int
        Background2D box size.
    ignore_background : bool
        Background fixed to 0; rms = sigma-clipped std (3 sigma, 5 iterations).
    failures : list, optional
        Receives ``(box, reason)`` when Background2D fails and the global sigma-clipped
        median and std of the ``use`` pixels are used instead.

    Returns
    -------
    background, rms_map : ndarray of float64
    rms : float
    """
    if not use.any():
        raise ValueError("no valid pixel to measure the background (empty include region?)")
    if not ignore_background:
        from photutils.background import Background2D  # slow import: only when needed

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                bkg = Background2D(image, box, mask=~use, exclude_percentile=50)
                # the two spline upsamplings dominate; scipy releases the GIL
                with ThreadPoolExecutor(2) as pool:
                    back = pool.submit(lambda: bkg.background)
                    rms_map = np.asarray(bkg.background_rms, dtype=float)
                    back_map = np.asarray(back.result(), dtype=float)
            return back_map, rms_map, float(np.nanmean(rms_map))
        except ValueError as exc:
            if failures is not None:
                failures.append((box, " ".join(str(exc).split()).split(" (")[0]))
            _, median, std = _clipped(image, use)
            return np.full(image.shape, median), np.full(image.shape, std), std
    _, _, std = _clipped(image, use)
    return np.zeros(image.shape), np.full(image.shape, std), std


def fallback_note(pass1: list[tuple[int, str]], pass2: list[tuple[int, str]]) -> str:
    """One line saying which Background2D passes fell back to global statistics.

    ``pass1`` / ``pass2`` hold the ``(box, reason)`` failures of
    :func:`background_and_rms` in each pass (at most one each).
    """
    where = " and ".join(f"box {box} (pass {n})" for n, fails in ((1, pass1), (2, pass2))
                         for box, _ in fails)
    reasons = sorted({_reason(why) for _, why in pass1 + pass2})
    return (f"Background2D impossible with {where}: {', '.join(reasons)} (an include region "
            f"thinner than the box?); the global sigma-clipped median and std of the valid "
            f"pixels were used instead (--box-size N sets a smaller box)")


def _reason(why: str) -> str:
    """photutils' "All boxes contain <= N unmasked or finite pixels" in a few words."""
    return "every box more than half masked" if why.startswith("All boxes contain") else why


def _clipped(image: np.ndarray, use: np.ndarray) -> tuple[float, float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mean, median, std = sigma_clipped_stats(image, mask=~use)
    return float(mean), float(median), float(std)


def detect_bright(image: np.ndarray, valid: np.ndarray, sigma: float,
                  boxes: tuple[int, int], ignore_background: bool,
                  notes: list[str] | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The two-pass threshold: ``image > bkg + sigma * rms``.

    Returns
    -------
    bright : ndarray of bool
        True = above the threshold (NaN never is), anywhere in the image.
    background, rms_map : ndarray of float64
        Pass-2 maps.
    rms : float
        Pass-2 global rms.
    """
    pass1: list[tuple[int, str]] = []
    pass2: list[tuple[int, str]] = []
    bkg, _, rms = background_and_rms(image, valid, boxes[0], ignore_background, pass1)
    with np.errstate(invalid="ignore"):
        nonbright = (bkg - sigma * rms < image) & (image < bkg + sigma * rms)
    quiet = valid & nonbright
    if quiet.any():
        bkg, rms_map, rms = background_and_rms(image, quiet, boxes[1], ignore_background,
                                               pass2)
    if notes is not None and (pass1 or pass2):
        notes.append(fallback_note(pass1, pass2))
    if not quiet.any():  # Crab gets NaN here and detects nothing
        rms_map = np.full(image.shape, rms)
        if notes is not None:
            notes.append("no valid pixel within +-sigma*rms of the pass-1 background (is the "
                         "sky far from 0 with --ignore-background?); pass-1 statistics used")
    with np.errstate(invalid="ignore"):
        bright = image > bkg + sigma * rms
    return bright, bkg, rms_map, rms


def drop_small_pieces(mask: np.ndarray, minpixarea: int) -> np.ndarray:
    """Remove 8-connected pieces of fewer than ``minpixarea`` pixels.

    Parameters
    ----------
    mask : ndarray of bool
        True = detected.
    minpixarea : int
        Minimum piece area in pixels; <= 1 keeps everything.

    Returns
    -------
    ndarray of bool
    """
    mask = np.asarray(mask, dtype=bool)
    if minpixarea <= 1 or not mask.any():
        return mask.copy()
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    areas = np.bincount(labels.ravel(), minlength=n + 1)
    keep = areas >= minpixarea
    keep[0] = False
    return keep[labels]


def neighbour_filter(mask: np.ndarray, minpixarea: int) -> np.ndarray:
    """Crab.Toolkit.JWST's ``minpixarea``: keep pixels with >= N detected 8-neighbours.

    The pixel itself is not counted; outside the image counts as not detected. 1 removes
    isolated pixels, 9 removes everything; <= 0 keeps everything.

    Parameters
    ----------
    mask : ndarray of bool
        True = detected.
    """
    mask = np.asarray(mask, dtype=bool)
    if minpixarea <= 0:
        return mask.copy()
    ring = np.ones((3, 3), dtype=np.int32)
    ring[1, 1] = 0
    n8 = ndimage.correlate(mask.astype(np.int32), ring, mode="constant", cval=0)
    return mask & (n8 >= minpixarea)


def smooth_mask(mask: np.ndarray, smooth: float, cutoff: float = SMOOTH_CUTOFF) -> np.ndarray:
    """Soft seed: ``mask`` convolved with a normalised Gaussian, values < ``cutoff`` -> 0.

    The kernel is astropy's ``Gaussian2DKernel(x_stddev=smooth)`` (size 8 sigma, odd),
    applied separably (it is an outer product) with zeros outside the image, which equals
    astropy ``convolve(mask, kernel)`` with its default ``boundary='fill'``.

    Parameters
    ----------
    mask : ndarray of bool
        True = detected.
    smooth : float
        Gaussian sigma in pixels; <= 0 returns ``mask`` as float 0/1.

    Returns
    -------
    ndarray of float64
        In [0, 1].
    """
    arr = np.asarray(mask, dtype=float)
    if smooth <= 0:
        return arr
    kernel = Gaussian2DKernel(x_stddev=smooth).array
    total = kernel.sum()
    ky, kx = kernel.sum(axis=1) / total, kernel.sum(axis=0) / total
    out = ndimage.correlate1d(arr, ky[::-1], axis=0, mode="constant", cval=0.0)
    out = ndimage.correlate1d(out, kx[::-1], axis=1, mode="constant", cval=0.0)
    out[out < cutoff] = 0.0
    return np.clip(out, 0.0, 1.0)


def detect(image: np.ndarray, include: np.ndarray | None = None,
           exclude: np.ndarray | None = None, dq: np.ndarray | None = None,
           params: DetectParams | None = None) -> Detection:
    """Detect emission above the background inside regions; build the seed and 0/1 mask.

    Parameters
    ----------
    image : ndarray of float, 2-D
        Science image.
    include : ndarray of bool, optional
        True = inside the include regions (None = the whole image).
    exclude : ndarray of bool, optional
        True = inside the exclude regions.
    dq : ndarray of uint32, optional
        DQ bitfield of the image (flagged pixels are left out of the statistics).
    params : DetectParams

    Returns
    -------
    Detection
    """
    params = params or DetectParams()
    image = np.asarray(image, dtype=float)
    if image.ndim != 2:
        raise ValueError(f"detection needs a 2-D image, got {image.ndim}-D")
    notes: list[str] = []
    if params.compat not in COMPAT_MODES:
        raise ValueError(f"unknown compat mode {params.compat!r}")
    crab = params.compat == "crab"
    if crab and include is not None:  # Crab: inside the include regions -> valid
        valid = include & ~exclude if exclude is not None else include.copy()
    else:
        valid = valid_pixels(image, dq, include, exclude)
    bright, bkg, rms_map, rms = detect_bright(image, valid, params.sigma,
                                              box_sizes(image.shape, params.box_size),
                                              params.ignore_background, notes)
    if include is not None:
        bright &= include
    if exclude is not None:
        bright &= ~exclude
    detected = (neighbour_filter(bright, params.minpixarea) if crab
                else drop_small_pieces(bright, params.minpixarea))
    seed = smooth_mask(detected, params.smooth)
    return Detection(seed, (seed > 0).astype(np.uint8), detected, valid, bkg, rms_map, rms,
                     notes)
