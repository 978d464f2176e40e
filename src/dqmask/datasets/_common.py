"""Building blocks shared by the JWST and HST sample generators (pure functions).

:class:`Scene` (the arrays of one chip and the truth used to make them), seeded random
streams, stars and diffuse features (claw, ghost, galaxy). No file is written here, and
nothing JWST-specific is imported (``import dqmask.datasets.hst`` stays free of stdatamodels
and asdf).
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Scene", "render_stars"]

PathLike = str | os.PathLike
_FLOAT = np.float32


# --------------------------------------------------------------------------------------------
# Building blocks (pure)
# --------------------------------------------------------------------------------------------


@dataclass
class Scene:
    """Arrays of one science chip plus the truth used to make them.

    Attributes
    ----------
    sci, err : ndarray
        float32 science and error arrays, in the file's units.
    dq : ndarray
        ``dq`` convention: uint32 (JWST) or int16 (HST) bitfield.
    model : ndarray
        float32 noiseless image (sky + sources + diffuse feature), same units as ``sci``.
    var_poisson, var_rnoise : ndarray or None
        float32 variances (JWST only).
    truth : dict of str -> ndarray
        ``bad`` convention (bool, True = has the property) masks, e.g. ``saturated``,
        ``do_not_use``, ``dead``, ``hot``, ``nan`` (SCI is NaN), ``unflagged_nan`` (NaN with
        DQ 0), ``diffuse`` (the faint claw/ghost/galaxy footprint), ``refpix``, ``cosmic_ray``.
    stars : ndarray
        Structured array with fields ``x``, ``y`` (0-based pixel), ``flux`` (total, file units).
    """

    sci: np.ndarray
    dq: np.ndarray
    err: np.ndarray
    model: np.ndarray
    truth: dict[str, np.ndarray] = field(default_factory=dict)
    stars: np.ndarray = field(default_factory=lambda: np.zeros(0, _STAR_DTYPE))
    var_poisson: np.ndarray | None = None
    var_rnoise: np.ndarray | None = None


_STAR_DTYPE: np.dtype = np.dtype([("x", "f8"), ("y", "f8"), ("flux", "f8")])


def _rng(seed: int, *tags: str) -> np.random.Generator:
    """A generator seeded by ``seed`` and stable tags (same inputs, same stream)."""
    return np.random.default_rng([int(seed)] + [zlib.crc32(t.encode()) for t in tags])


def render_stars(shape: tuple[int, int], x: np.ndarray, y: np.ndarray, flux: np.ndarray,
                 sigma: float, half: int) -> np.ndarray:
    """Sum of circular Gaussian PSFs, each rendered in a ``(2*half+1)**2`` stamp.

    Parameters
    ----------
    shape : (ny, nx)
        Output shape.
    x, y : ndarray
        0-based centres (may lie partly off the image; off-image parts are dropped).
    flux : ndarray
        Total flux of each star.
    sigma : float
        Gaussian sigma in pixels.
    half : int
        Stamp half-size in pixels.

    Returns
    -------
    ndarray
        float32 image.
    """
    ny, nx = shape
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    flux = np.asarray(flux, float)
    if x.size == 0:
        return np.zeros(shape, _FLOAT)
    off = np.arange(-half, half + 1)
    ix = np.rint(x).astype(np.int64)[:, None, None] + off[None, None, :]
    iy = np.rint(y).astype(np.int64)[:, None, None] + off[None, :, None]
    r2 = (ix - x[:, None, None]) ** 2 + (iy - y[:, None, None]) ** 2
    stamp = (flux / (2 * np.pi * sigma**2))[:, None, None] * np.exp(-r2 / (2 * sigma**2))
    ok = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
    ok = np.broadcast_to(ok, stamp.shape)
    flat = np.broadcast_to(iy * nx + ix, stamp.shape)[ok]
    img = np.bincount(flat, weights=stamp[ok], minlength=ny * nx)
    return img.reshape(shape).astype(_FLOAT)


def _star_field(rng: np.random.Generator, shape: tuple[int, int], *, density: float,
                flux_min: float, flux_max: float, n_bright: int, bright_flux: float,
                sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Power-law field of faint stars plus ``n_bright`` bright ones away from the edges."""
    ny, nx = shape
    n = max(12, int(round(density * ny * nx)))
    x = rng.uniform(0, nx - 1, n)
    y = rng.uniform(0, ny - 1, n)
    flux = np.minimum(flux_min * (1.0 - rng.uniform(0, 1, n)) ** (-1 / 1.3), flux_max)
    margin = max(8, min(40, min(shape) // 6))
    bx = rng.uniform(margin, nx - 1 - margin, n_bright)
    by = rng.uniform(margin, ny - 1 - margin, n_bright)
    bflux = bright_flux * rng.uniform(1.0, 4.0, n_bright)
    half = max(4, int(np.ceil(3.5 * sigma)))
    img = render_stars(shape, x, y, flux, sigma, half)
    if n_bright:
        halo = 3.5 * sigma
        img += render_stars(shape, bx, by, 0.9 * bflux, sigma, max(8, int(5 * sigma)))
        img += render_stars(shape, bx, by, 0.1 * bflux, halo, max(12, int(4 * halo)))
    stars = np.zeros(n + n_bright, _STAR_DTYPE)
    stars["x"] = np.concatenate([x, bx])
    stars["y"] = np.concatenate([y, by])
    stars["flux"] = np.concatenate([flux, bflux])
    return img, stars


def _claw(shape: tuple[int, int], amplitude: float) -> tuple[np.ndarray, np.ndarray]:
    """A faint arc like a NIRCam 'claw' (scattered light), and its footprint (bool)."""
    ny, nx = shape
    yy, xx = np.ogrid[:ny, :nx]
    cy, cx = 1.25 * ny, 0.25 * nx
    r = np.hypot(yy - cy, xx - cx)
    theta = np.arctan2(yy - cy, xx - cx)
    radius, width = 0.75 * ny, 0.015 * min(shape) + 1.5
    radial = np.exp(-0.5 * ((r - radius) / width) ** 2)
    centre, span = -np.pi / 2 + 0.15, 0.8
    angular = np.clip(1.0 - np.abs(theta - centre) / span, 0.0, 1.0)
    profile = (radial * angular * (1.0 + 0.3 * np.sin(theta * 23.0))).astype(_FLOAT)
    return amplitude * profile, profile > 0.25


def _ghost(shape: tuple[int, int], amplitude: float) -> tuple[np.ndarray, np.ndarray]:
    """A faint elliptical optical ghost (flat-topped blob) and its footprint (bool)."""
    ny, nx = shape
    yy, xx = np.ogrid[:ny, :nx]
    a, b = 0.09 * nx + 2, 0.06 * ny + 2
    q = ((xx - 0.62 * nx) / a) ** 2 + ((yy - 0.35 * ny) / b) ** 2
    profile = (1.0 / (1.0 + q**4)).astype(_FLOAT)
    return amplitude * profile, profile > 0.25


def _galaxy(shape: tuple[int, int], amplitude: float) -> tuple[np.ndarray, np.ndarray]:
    """A faint exponential-disc galaxy (HST diffuse feature) and its footprint (bool)."""
    ny, nx = shape
    yy, xx = np.ogrid[:ny, :nx]
    dx, dy = xx - 0.3 * nx, yy - 0.6 * ny
    c, s = np.cos(0.6), np.sin(0.6)
    u, v = c * dx + s * dy, -s * dx + c * dy
    scale = 0.04 * min(shape) + 2
    r = np.sqrt(u**2 + (v / 0.45) ** 2)
    profile = np.exp(-r / scale).astype(_FLOAT)
    return amplitude * profile, profile > 0.25


def _pick(rng: np.random.Generator, shape: tuple[int, int], fraction: float,
          minimum: int = 1, where: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of about ``fraction`` of the pixels (at least ``minimum``)."""
    size = shape[0] * shape[1]
    n = max(minimum, int(round(fraction * size)))
    mask = np.zeros(size, bool)
    if where is None:
        idx = rng.choice(size, size=min(n, size), replace=False)
    else:
        cand = np.flatnonzero(where.ravel())
        idx = rng.choice(cand, size=min(n, cand.size), replace=False) if cand.size else cand
    mask[idx] = True
    return mask.reshape(shape)


def _disc(shape: tuple[int, int], cy: float, cx: float, r: float) -> np.ndarray:
    ny, nx = shape
    yy, xx = np.ogrid[:ny, :nx]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def _refpix_border(shape: tuple[int, int], xstart: int, ystart: int,
                   full: tuple[int, int], width: int = 4) -> np.ndarray:
    """Reference-pixel border of the full frame, cut to a (sub)array at (xstart, ystart)."""
    ny, nx = shape
    rows = ystart - 1 + np.arange(ny)
    cols = xstart - 1 + np.arange(nx)
    r = (rows < width) | (rows >= full[0] - width)
    c = (cols < width) | (cols >= full[1] - width)
    return r[:, None] | c[None, :]


def _striping(rng: np.random.Generator, shape: tuple[int, int], amplitude: float,
              axis: int, namps: int = 4) -> np.ndarray:
    """1/f-like correlated offsets constant along ``axis`` (per amplifier strip)."""
    ny, nx = shape
    n_lines = ny if axis == 1 else nx
    namps = namps if (nx if axis == 1 else ny) >= 512 * namps else 1
    walk = np.cumsum(rng.standard_normal((n_lines, namps)), axis=0)
    kernel = np.ones(9) / 9.0
    walk = np.stack([np.convolve(walk[:, k], kernel, mode="same") for k in range(namps)], 1)
    walk -= walk.mean(axis=0)
    walk *= 0.35 * amplitude / (walk.std() + 1e-12)
    walk += amplitude * rng.standard_normal((n_lines, namps))
    width = (nx if axis == 1 else ny) // namps
    strip = np.repeat(walk, width, axis=1)
    full = np.zeros((n_lines, nx if axis == 1 else ny))
    full[:, : strip.shape[1]] = strip
    full[:, strip.shape[1]:] = strip[:, -1:]
    return (full if axis == 1 else full.T).astype(_FLOAT)
