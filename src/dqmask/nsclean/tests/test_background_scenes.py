"""Generated NIRSpec IFU-like and MOS-like rate images whose trace footprints are known.

Helpers for the background-mask tests (this module holds no tests of its own, but checks
its own generator). Orientation is DMS: dispersion along x (columns), slices / slitlets
stacked along y. Every scene is noise-free signal + Gaussian read/dark noise + column
("1/f") offsets + a few hot (DO_NOT_USE), NaN and cosmic-ray pixels, with the 4-pixel
reference frame set to 0 and flagged REFERENCE_PIXEL, as in a real rate file.

``footprint`` (bool, True = pixel touched by trace light) is the geometric extent of each
slice/slitlet widened by half a pixel, i.e. every pixel whose area overlaps the illuminated
strip; the true background is ``~footprint`` minus the reference frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import erf

SHAPE = (2048, 2048)
DNU = 1
REFERENCE_PIXEL = 1 << 31


@dataclass
class Scene:
    """Noise-free signal and the true trace footprint (bool, True = trace)."""

    signal: np.ndarray
    footprint: np.ndarray


def _strip(y: np.ndarray, lo: np.ndarray, hi: np.ndarray, blur: float) -> np.ndarray:
    """Fraction of a blurred top-hat [lo, hi) reaching pixel centres y."""
    s = blur * np.sqrt(2.0)
    return 0.5 * (erf((y - lo) / s) - erf((y - hi) / s))


def _add_trace(scene: Scene, y0: float, height: float, x0: int, x1: int, level: np.ndarray,
               curvature: float, blur: float = 0.6) -> None:
    """One horizontal trace from column x0 to x1 (exclusive), lower edge y0 at x0."""
    xs = np.arange(x0, x1)
    lo = y0 + curvature * ((xs - x0) / 1000.0) ** 2 + 0.002 * (xs - x0)
    hi = lo + height
    ylo, yhi = int(np.floor(lo.min())) - 4, int(np.ceil(hi.max())) + 5
    ylo, yhi = max(ylo, 0), min(yhi, SHAPE[0])
    ys = np.arange(ylo, yhi)[:, None].astype(float)
    profile = _strip(ys, lo[None, :], hi[None, :], blur)
    scene.signal[ylo:yhi, x0:x1] += profile * level[None, :]
    touched = (ys + 0.5 > lo[None, :]) & (ys - 0.5 < hi[None, :])
    scene.footprint[ylo:yhi, x0:x1] |= touched


def _throughput(n: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth spectral throughput between ~0.5 and 1 with 5-pixel soft ends."""
    x = np.linspace(0, 1, n)
    shape = 0.75 + 0.25 * np.sin(2 * np.pi * (x * rng.uniform(0.5, 1.5) + rng.uniform()))
    ramp = np.clip(np.minimum(np.arange(n), np.arange(n)[::-1]) / 5.0 + 0.2, 0, 1)
    return shape * ramp


def ifu_scene(seed: int = 1, peak: float = 0.5) -> Scene:
    """30 IFU slice spectra, 40-48 px tall, 8-14 px gaps, staggered in x, slightly curved.

    Light covers about 60% of the detector (NSClean's hand-made "thorough" IFU masks keep
    ~36% as background), so the traces outnumber the background pixels.
    """
    rng = np.random.default_rng(seed)
    scene = Scene(np.zeros(SHAPE), np.zeros(SHAPE, dtype=bool))
    y = 40.0
    for _ in range(30):
        height = rng.uniform(40, 48)
        x0 = int(rng.uniform(60, 160))
        x1 = int(rng.uniform(1880, 1990))
        level = peak * rng.uniform(0.6, 1.0) * _throughput(x1 - x0, rng)
        _add_trace(scene, y, height, x0, x1, level, curvature=rng.uniform(-3, 3))
        y += height + rng.uniform(8, 14)
    return scene


def mos_scene(seed: int = 2, sky: float = 0.1, n_slitlets: int = 45) -> Scene:
    """MOS-like: 3-shutter slitlets (~14 px tall, 900-1400 px long) at random places.

    Each slitlet carries sky through all three shutters and a compact source in the middle.
    """
    rng = np.random.default_rng(seed)
    scene = Scene(np.zeros(SHAPE), np.zeros(SHAPE, dtype=bool))
    taken = np.zeros(SHAPE[0], dtype=bool)
    placed = 0
    for _ in range(20 * n_slitlets):
        if placed == n_slitlets:
            break
        y0 = rng.uniform(20, SHAPE[0] - 40)
        rows = slice(int(y0) - 6, int(y0) + 22)
        if taken[rows].any():
            continue
        taken[rows] = True
        length = int(rng.uniform(900, 1400))
        x0 = int(rng.uniform(10, SHAPE[1] - length - 10))
        level = sky * _throughput(length, rng)
        _add_trace(scene, y0, 14.0, x0, x0 + length, level, curvature=rng.uniform(-2, 2))
        source = level * rng.uniform(0.5, 5.0)
        _add_trace(scene, y0 + 5.5, 3.0, x0, x0 + length, source, curvature=0.0, blur=1.0)
        placed += 1
    return scene


def rate_planes(scene: Scene, n: int, seed: int = 10, noise: float = 0.01,
                dark: float = 0.004) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``n`` noisy rate images of one scene: (SCI float32 list, DQ uint32 list)."""
    rng = np.random.default_rng(seed)
    ref = np.zeros(SHAPE, dtype=bool)
    ref[:4], ref[-4:], ref[:, :4], ref[:, -4:] = True, True, True, True
    hot = rng.random(SHAPE) < 2e-4
    scis, dqs = [], []
    for _ in range(n):
        sci = scene.signal + dark + rng.normal(0, noise, SHAPE)
        sci += rng.normal(0, 0.3 * noise, SHAPE[1])[None, :]  # column (1/f-like) offsets
        dq = np.zeros(SHAPE, dtype=np.uint32)
        sci[hot] = 5.0
        dq[hot] = DNU
        nan = rng.random(SHAPE) < 1e-4
        sci[nan] = np.nan
        dq[nan] |= DNU
        cr = rng.random(SHAPE) < 5e-5
        sci[cr] += rng.uniform(0.5, 5.0, int(cr.sum()))
        sci[ref] = 0.0
        dq[ref] |= REFERENCE_PIXEL
        scis.append(sci.astype(np.float32))
        dqs.append(dq)
    return scis, dqs


def write_rate(path: Path, sci: np.ndarray, dq: np.ndarray, exp_type: str = "NRS_IFU",
               detector: str = "NRS1") -> Path:
    """A JWST NIRSpec rate file written by stdatamodels (ImageModel)."""
    from stdatamodels.jwst import datamodels

    with datamodels.ImageModel(data=sci, dq=dq) as model:
        model.meta.telescope = "JWST"
        model.meta.instrument.name = "NIRSPEC"
        model.meta.instrument.detector = detector
        model.meta.exposure.type = exp_type
        model.meta.subarray.name = "FULL"
        model.meta.subarray.xstart, model.meta.subarray.ystart = 1, 1
        model.meta.subarray.xsize, model.meta.subarray.ysize = SHAPE[1], SHAPE[0]
        model.save(str(path))
    return Path(path)


def write_rate_fits(path: Path, sci: np.ndarray, dq: np.ndarray, exp_type: str = "NRS_MSASPEC",
                    detector: str = "NRS1") -> Path:
    """The same rate layout written with astropy only (quicker; no ASDF extension)."""
    from astropy.io import fits

    primary = fits.PrimaryHDU()
    primary.header.update(TELESCOP="JWST", INSTRUME="NIRSPEC", DETECTOR=detector,
                          EXP_TYPE=exp_type, SUBARRAY="FULL", SUBSTRT1=1, SUBSTRT2=1,
                          SUBSIZE1=SHAPE[1], SUBSIZE2=SHAPE[0], DATAMODL="ImageModel")
    sci_hdu = fits.ImageHDU(sci, name="SCI")
    sci_hdu.header["BUNIT"] = "DN/s"
    fits.HDUList([primary, sci_hdu, fits.ImageHDU(dq, name="DQ")]).writeto(path)
    return Path(path)


def true_background(scene: Scene) -> np.ndarray:
    """bool, True = true background: not trace, not reference frame."""
    bg = ~scene.footprint
    bg[:4], bg[-4:], bg[:, :4], bg[:, -4:] = False, False, False, False
    return bg


def agreement(mask: np.ndarray, scene: Scene) -> tuple[float, float]:
    """(fraction of pixels where mask == true background, fraction of trace pixels in mask)."""
    truth = true_background(scene)
    agree = float(np.mean(mask == truth))
    leaked = float(np.count_nonzero(mask & scene.footprint) / np.count_nonzero(scene.footprint))
    return agree, leaked


def test_scenes_have_known_footprints():
    ifu, mos = ifu_scene(), mos_scene()
    # IFU: about half the detector is trace (NSClean's thorough masks: ~36% background).
    assert 0.55 < ifu.footprint.mean() < 0.70
    assert 0.15 < mos.footprint.mean() < 0.30
    # every footprint pixel gets at least a few percent of its trace's light
    for scene in (ifu, mos):
        assert scene.signal[scene.footprint].min() > 0
        assert scene.signal[~scene.footprint].max() < 0.2
