"""Realistic generated JWST files for tests, the demo and benchmarks.

Every ``make_*`` function writes one file and returns its path. The pixels come from pure
*scene* functions (:func:`jwst_image_scene`, :func:`nirspec_ifu_footprint`,
:func:`nirspec_ifu_scene`) which return the arrays together with the truth (which pixels are
saturated, dead, NaN, on the diffuse feature, ...), so tests can check a mask against what
was put in. Everything is deterministic for a given ``seed``. HST files: :mod:`.hst`.

JWST files are written through :mod:`stdatamodels` (real ASDF extension, schema-checked
keywords), imported when a file is written, not when this module is.

Units and conventions (as the pipeline writes them):

* JWST rate: DN/s; cal and i2d: MJy/sr (cal = rate x PHOTMJSR). DQ uint32. Pixels flagged
  DO_NOT_USE have SCI = ``bad_value`` (NaN by default, as jwst >= 1.11; pass ``0.0`` for the
  older pipelines). Full frames carry the 4-pixel REFERENCE_PIXEL | DO_NOT_USE border;
  subarrays carry the part of it they overlap.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from ..conventions import dq_to_bad
from ..flags import JWST_PIXEL
from ._common import (
    _FLOAT,
    PathLike,
    Scene,
    _claw,
    _disc,
    _ghost,
    _pick,
    _refpix_border,
    _rng,
    _star_field,
    _striping,
)

__all__ = [
    "SubarraySpec",
    "JWST_FULL",
    "SMALL_NIRCAM_SUBARRAY",
    "jwst_image_scene",
    "nirspec_ifu_footprint",
    "nirspec_ifu_scene",
    "make_nircam_cal",
    "make_nircam_rate",
    "make_nircam_rateints",
    "make_rate_batch",
    "make_nircam_uncal",
    "make_nircam_i2d",
    "make_niriss_cal",
    "make_nirspec_ifu_rate",
]

#: (name, xstart, ystart, xsize, ysize); xstart/ystart 1-based as SUBSTRT1/SUBSTRT2.
SubarraySpec = tuple[str, int, int, int, int]

JWST_FULL = (2048, 2048)

#: The NIRCam subarray the small samples use: a real subarray name and size, in the corner
#: of the detector so it overlaps two reference-pixel borders.
SMALL_NIRCAM_SUBARRAY: SubarraySpec = ("SUB320", 1729, 1, 320, 320)

_J = JWST_PIXEL
_DNU = _J["DO_NOT_USE"]


# --------------------------------------------------------------------------------------------
# JWST imaging scene
# --------------------------------------------------------------------------------------------


def jwst_image_scene(shape: tuple[int, int] = JWST_FULL, *, seed: int = 0,
                     detector: str = "NRCA1", xstart: int = 1, ystart: int = 1,
                     full_shape: tuple[int, int] = JWST_FULL, sky: float = 0.25,
                     psf_sigma: float = 1.0, star_density: float = 3.5e-4,
                     n_bright: int | None = None, diffuse: str | None = "claw",
                     striping: bool = True, refpix: bool = True, unflagged_nans: int = 6,
                     bad_value: float = np.nan) -> Scene:
    """A JWST detector image in DN/s (a ``rate``), with its truth.

    Contents: sky with Poisson + read noise, a power-law star field (Gaussian PSFs), bright
    stars whose cores are SATURATED (and SATURATED | DO_NOT_USE where saturated in the first
    group, SCI = ``bad_value``), dead (DEAD | DO_NOT_USE) and hot (HOT | DO_NOT_USE) pixels,
    a 3x3 dead cluster, warm pixels (WARM, SCI high), cosmic-ray jumps (JUMP_DET) and
    snowballs, 1/f row striping per amplifier, a faint diffuse feature (``"claw"`` arc or
    ``"ghost"`` blob, about 3 sigma per pixel), the REFERENCE_PIXEL | DO_NOT_USE border where
    the array overlaps it and ``unflagged_nans`` pixels that are NaN with DQ 0.

    Parameters
    ----------
    shape : (ny, nx)
        Array shape.
    seed : int
        Random seed; the scene depends on ``seed`` and ``detector`` only, so a rate and a cal
        made with the same seed show the same sky.
    detector : str
        DETECTOR name (part of the random stream).
    xstart, ystart : int
        1-based position of the array in the full frame (SUBSTRT1/2).
    full_shape : (ny, nx)
        Full-frame shape, for the reference-pixel border.
    sky : float
        Sky level, DN/s.
    psf_sigma : float
        PSF Gaussian sigma in pixels.
    star_density : float
        Stars per pixel.
    n_bright : int, optional
        Number of saturated stars (default scales with area, at least 2).
    diffuse : {"claw", "ghost", None}
        Faint diffuse feature.
    striping : bool
        Add 1/f striping.
    refpix : bool
        Flag the reference-pixel border.
    unflagged_nans : int
        NaN pixels left with DQ 0.
    bad_value : float
        SCI (and ERR, VAR_*) value of DO_NOT_USE pixels.

    Returns
    -------
    Scene
        ``dq`` uint32; truth masks ``saturated``, ``do_not_use``, ``dead``, ``hot``, ``warm``,
        ``jump``, ``refpix``, ``diffuse``, ``nan``, ``unflagged_nan``.
    """
    shape = (int(shape[0]), int(shape[1]))
    rng = _rng(seed, "jwst-image", detector.upper(), f"{xstart},{ystart}")
    area_frac = shape[0] * shape[1] / float(JWST_FULL[0] * JWST_FULL[1])
    if n_bright is None:
        n_bright = max(2, int(round(10 * area_frac)))
    sat_rate, full_sat = 60.0, 240.0  # DN/s: saturates before the last / in the first group
    stars_img, stars = _star_field(rng, shape, density=star_density, flux_min=0.3,
                                   flux_max=300.0, n_bright=n_bright,
                                   bright_flux=full_sat * 60.0 * psf_sigma**2,
                                   sigma=psf_sigma)
    ny, nx = shape
    yy, xx = np.ogrid[:ny, :nx]
    gradient = sky * (1.0 + 0.04 * (xx / max(nx, 1) - 0.5) + 0.03 * (yy / max(ny, 1) - 0.5))
    model = (gradient + stars_img).astype(_FLOAT)
    truth: dict[str, np.ndarray] = {}
    if diffuse == "claw":
        feat, truth["diffuse"] = _claw(shape, 0.05)
    elif diffuse == "ghost":
        feat, truth["diffuse"] = _ghost(shape, 0.05)
    else:
        feat, truth["diffuse"] = np.zeros(shape, _FLOAT), np.zeros(shape, bool)
    model += feat

    var_rnoise = np.full(shape, 1.2e-4, _FLOAT) * (1.0 + 0.1 * (xx / max(nx, 1))).astype(_FLOAT)
    var_poisson = (np.maximum(model, 0) * 1.0e-3).astype(_FLOAT)
    err = np.sqrt(var_poisson + var_rnoise)
    sci = model + err * rng.standard_normal(shape, dtype=_FLOAT)
    if striping:
        sci += _striping(rng, shape, 0.006, axis=1)

    dq = np.zeros(shape, np.uint32)
    noiseless_stars = gradient + stars_img
    saturated = noiseless_stars > sat_rate
    first_group = noiseless_stars > full_sat
    dq[saturated] |= _J["SATURATED"]
    dq[first_group] |= _DNU
    dead = _pick(rng, shape, 1.5e-4)
    cy, cx = rng.integers(2, max(3, ny - 3)), rng.integers(2, max(3, nx - 3))
    dead[cy - 1:cy + 2, cx - 1:cx + 2] = True
    dq[dead] |= _J["DEAD"] | _DNU
    hot = _pick(rng, shape, 1.0e-4)
    dq[hot] |= _J["HOT"] | _DNU
    warm = _pick(rng, shape, 3.0e-4)
    dq[warm] |= _J["WARM"]
    sci[warm] += rng.uniform(0.5, 3.0, int(warm.sum())).astype(_FLOAT)
    jump = _pick(rng, shape, 1.5e-2)
    for _ in range(max(1, int(round(2 * area_frac + 0.5)))):
        r = rng.uniform(4, 9)
        jump |= _disc(shape, rng.uniform(0, ny), rng.uniform(0, nx), r)
    dq[jump] |= _J["JUMP_DET"]
    border = _refpix_border(shape, xstart, ystart, full_shape) if refpix else np.zeros(shape, bool)
    dq[border] |= _J["REFERENCE_PIXEL"] | _DNU

    dnu = dq_to_bad(dq, _DNU)
    sci[dnu] = bad_value
    for arr in (err, var_poisson, var_rnoise):
        arr[dnu] = bad_value
    free = (dq == 0) & ~truth["diffuse"]
    unflagged = _pick(rng, shape, 0.0, minimum=unflagged_nans, where=free) if unflagged_nans \
        else np.zeros(shape, bool)
    sci[unflagged] = np.nan
    truth.update(saturated=saturated, do_not_use=dnu, dead=dead, hot=hot, warm=warm, jump=jump,
                 refpix=border, unflagged_nan=unflagged, nan=np.isnan(sci))
    return Scene(sci=sci.astype(_FLOAT), dq=dq, err=err.astype(_FLOAT), model=model,
                 truth=truth, stars=stars, var_poisson=var_poisson, var_rnoise=var_rnoise)


# --------------------------------------------------------------------------------------------
# NIRSpec IFU
# --------------------------------------------------------------------------------------------

#: Rows (0-based, inclusive-exclusive) of the fixed-slit region that the jwst automatic
#: NSClean mask always excludes for IFU data (922:1116).
NIRSPEC_FS_ROWS = (922, 1116)


def _ifu_slices(detector: str) -> list[tuple[float, float, int, int, float]]:
    """Per slice: (y centre at x=1024, half height, x first, x last, curvature), full frame."""
    nrs2 = detector.upper() == "NRS2"
    out = []
    pitch, half = 26.0, 10.5
    for k in range(30):
        group, j = divmod(k, 15)
        y0 = (530.0 + j * pitch) if group == 0 else (1130.0 + j * pitch)
        stagger = (j * 37) % 260
        if nrs2:
            x0, x1 = 4, 1100 + (j * 53) % 500
        else:
            x0, x1 = 150 + stagger, 2043
        curv = (3.0e-6 if group == 0 else -3.0e-6) * (1 + 0.05 * j)
        out.append((y0, half, x0, x1, curv))
    return out


def _fixed_slits(detector: str) -> list[tuple[float, float, int, int]]:
    """Fixed-slit traces in the FS region: (y centre, half height, x first, x last)."""
    x1 = 2043 if detector.upper() == "NRS1" else 1600
    return [(960.0, 2.5, 300, x1), (990.0, 2.5, 260, x1), (1025.0, 4.0, 280, x1),
            (1060.0, 9.0, 240, x1), (1095.0, 2.5, 320, x1)]


def nirspec_ifu_footprint(shape: tuple[int, int] = JWST_FULL, *, detector: str = "NRS1",
                          xstart: int = 1, ystart: int = 1,
                          include_fixed_slits: bool = True) -> np.ndarray:
    """Where the generated NIRSpec IFU rate has light: the 30 slice traces (and fixed slits).

    Pure function; the truth for :func:`make_nirspec_ifu_rate` files made with the same
    ``shape``/``detector``/``xstart``/``ystart``.

    Parameters
    ----------
    shape : (ny, nx)
        Array shape.
    detector : {"NRS1", "NRS2"}
        Detector (the traces differ).
    xstart, ystart : int
        1-based position of the array in the 2048 x 2048 full frame.
    include_fixed_slits : bool
        Include the five fixed-slit traces in rows 922-1116 (they are lit in IFU exposures).

    Returns
    -------
    ndarray
        bool, ``bad`` convention with True = illuminated (trace) pixel, i.e. *not* background.
    """
    ny, nx = shape
    rows0, cols0 = ystart - 1, xstart - 1
    cols = cols0 + np.arange(nx)
    out = np.zeros(shape, bool)
    bands = [(y0, h, a, b, c) for y0, h, a, b, c in _ifu_slices(detector)]
    if include_fixed_slits:
        bands += [(y0, h, a, b, 0.0) for y0, h, a, b in _fixed_slits(detector)]
    for y0, half, x0, x1, curv in bands:
        centre = y0 + curv * (cols - 1024.0) ** 2 - rows0  # row in array coordinates
        lo = np.ceil(centre - half).astype(np.int64)
        hi = np.floor(centre + half).astype(np.int64)
        inside = (cols >= x0) & (cols <= x1)
        rmin, rmax = max(0, int(lo[inside].min(initial=ny))), min(ny - 1,
                                                                    int(hi[inside].max(initial=-1)))
        if rmin > rmax:
            continue
        r = np.arange(rmin, rmax + 1)[:, None]
        out[rmin:rmax + 1] |= (r >= lo[None, :]) & (r <= hi[None, :]) & inside[None, :]
    border = _refpix_border(shape, xstart, ystart, JWST_FULL)
    return out & ~border


def nirspec_ifu_scene(shape: tuple[int, int] = JWST_FULL, *, seed: int = 0,
                      detector: str = "NRS1", xstart: int = 1, ystart: int = 1,
                      unflagged_nans: int = 4, bad_value: float = np.nan) -> Scene:
    """A NIRSpec IFU rate image (DN/s): slice traces with continuum and emission lines.

    Also: dark background with noise, 1/f vertical banding (constant along columns, as 1/f
    noise looks in the DMS frame), dead/hot pixels, cosmic-ray jumps, reference border.
    ``truth["trace"]`` is :func:`nirspec_ifu_footprint` (with fixed slits).
    """
    rng = _rng(seed, "nirspec-ifu", detector.upper(), f"{xstart},{ystart}")
    ny, nx = shape
    trace = nirspec_ifu_footprint(shape, detector=detector, xstart=xstart, ystart=ystart)
    cols = xstart - 1 + np.arange(nx)
    continuum = 0.6 + 0.4 * np.sin(cols / 310.0) ** 2
    lines = sum(a * np.exp(-0.5 * ((cols - c) / 1.6) ** 2)
                for c, a in ((612, 6.0), (880, 2.5), (1234, 9.0), (1502, 3.0), (1777, 4.5)))
    spectrum = (continuum + lines).astype(_FLOAT)
    rows = ystart - 1 + np.arange(ny)
    spatial = (0.8 + 0.2 * np.cos(rows / 9.0)).astype(_FLOAT)
    model = np.full(shape, 0.01, _FLOAT)
    model += np.where(trace, spatial[:, None] * spectrum[None, :], 0).astype(_FLOAT)
    var_rnoise = np.full(shape, 1.0e-4, _FLOAT)
    var_poisson = (np.maximum(model, 0) * 2.0e-3).astype(_FLOAT)
    err = np.sqrt(var_poisson + var_rnoise)
    sci = model + err * rng.standard_normal(shape, dtype=_FLOAT)
    sci += _striping(rng, shape, 0.008, axis=0, namps=1)
    dq = np.zeros(shape, np.uint32)
    dead = _pick(rng, shape, 1.5e-4)
    hot = _pick(rng, shape, 1.0e-4)
    jump = _pick(rng, shape, 1.5e-2)
    dq[dead] |= _J["DEAD"] | _DNU
    dq[hot] |= _J["HOT"] | _DNU
    dq[jump] |= _J["JUMP_DET"]
    border = _refpix_border(shape, xstart, ystart, JWST_FULL)
    dq[border] |= _J["REFERENCE_PIXEL"] | _DNU
    dnu = dq_to_bad(dq, _DNU)
    for arr in (sci, err, var_poisson, var_rnoise):
        arr[dnu] = bad_value
    unflagged = _pick(rng, shape, 0.0, minimum=unflagged_nans, where=(dq == 0)) \
        if unflagged_nans else np.zeros(shape, bool)
    sci[unflagged] = np.nan
    truth = dict(trace=trace, dead=dead, hot=hot, jump=jump, refpix=border, do_not_use=dnu,
                 unflagged_nan=unflagged, nan=np.isnan(sci),
                 fixed_slit_rows=((rows >= NIRSPEC_FS_ROWS[0])
                                  & (rows < NIRSPEC_FS_ROWS[1]))[:, None].repeat(nx, 1))
    return Scene(sci=sci, dq=dq, err=err, model=model, truth=truth,
                 var_poisson=var_poisson, var_rnoise=var_rnoise)


# --------------------------------------------------------------------------------------------
# JWST metadata
# --------------------------------------------------------------------------------------------

_READPATT = {  # name: (nframes, groupgap)
    "RAPID": (1, 0), "BRIGHT1": (1, 1), "BRIGHT2": (2, 0), "SHALLOW2": (2, 3),
    "SHALLOW4": (4, 1), "MEDIUM2": (2, 8), "MEDIUM8": (8, 2), "DEEP2": (2, 18),
    "DEEP8": (8, 12), "NIS": (1, 0), "NISRAPID": (1, 0), "NRSIRS2RAPID": (1, 0),
    "NRSIRS2": (5, 0), "NRSRAPID": (1, 0),
}

_NIRCAM_PHOT = {  # SW / LW: (filter, PHOTMJSR, PIXAR_A2)
    "SW": ("F200W", 0.4625, 0.000968),
    "LW": ("F444W", 0.3925, 0.00396),
}
_SR_PER_A2 = 2.350443053909789e-11  # steradian per square arcsecond
_EXPSTART = 59945.3125  # MJD 2023-01-05T07:30:00


def _subarray(shape: tuple[int, int] | None, subarray: SubarraySpec | None,
              full: tuple[int, int] = JWST_FULL) -> SubarraySpec:
    """Resolve the subarray: explicit spec, FULL, or a corner subarray named SUB<n>."""
    if subarray is not None:
        name, x0, y0, xs, ys = subarray
        if not (1 <= x0 and 1 <= y0 and x0 + xs - 1 <= full[1] and y0 + ys - 1 <= full[0]):
            raise ValueError(f"subarray {subarray} does not fit in {full}")
        return (str(name), int(x0), int(y0), int(xs), int(ys))
    ny, nx = shape or full
    if (ny, nx) == tuple(full):
        return ("FULL", 1, 1, nx, ny)
    if ny > full[0] or nx > full[1]:
        raise ValueError(f"shape {shape} larger than the full frame {full}")
    name = f"SUB{nx}" if nx == ny else f"SUB{nx}X{ny}"
    return (name, full[1] - nx + 1, 1, nx, ny)


def _timing(readpatt: str, xsize: int, ysize: int, ngroups: int, nints: int,
            nircam: bool = True) -> dict[str, float]:
    nframes, groupgap = _READPATT.get(readpatt, (1, 0))
    noutputs = 4 if xsize == 2048 else 1
    if nircam:
        tframe = (xsize / noutputs + 12) * (ysize + 1) * 1.0e-5
    else:  # NIRSpec IRS2 full frame
        tframe = 14.58889 if xsize == 2048 else (xsize / noutputs + 12) * (ysize + 1) * 1e-5
    tframe = round(tframe, 5)
    tgroup = round(tframe * (nframes + groupgap), 5)
    effinttm = tframe * (ngroups * nframes + (ngroups - 1) * groupgap)
    return dict(nframes=nframes, groupgap=groupgap, noutputs=noutputs, frame_time=tframe,
                group_time=tgroup, integration_time=round(effinttm, 4),
                exposure_time=round(effinttm * nints, 4),
                measurement_time=round(tgroup * (ngroups - 1) * nints, 4))


def _fill_jwst_meta(model: Any, *, instrument: str, detector: str, exp_type: str,
                    sub: SubarraySpec, readpatt: str, ngroups: int, nints: int,
                    filt: str | None = None, pupil: str | None = None,
                    grating: str | None = None, filename: str = "") -> dict[str, float]:
    """Fill the common JWST keywords of a datamodel; returns the timing used."""
    name, x0, y0, xs, ys = sub
    m = model.meta
    m.telescope = "JWST"
    m.origin = "STSCI"
    m.instrument.name = instrument
    m.instrument.detector = detector
    if instrument == "NIRCAM":
        m.instrument.module = detector[3] if detector.startswith("NRC") else "A"
        m.instrument.channel = "LONG" if detector.endswith(("LONG", "5")) else "SHORT"
    if filt:
        m.instrument.filter = filt
    if pupil:
        m.instrument.pupil = pupil
    if grating:
        m.instrument.grating = grating
    m.exposure.type = exp_type
    m.exposure.readpatt = readpatt
    m.exposure.ngroups = int(ngroups)
    m.exposure.nints = int(nints)
    t = _timing(readpatt, xs, ys, ngroups, nints, nircam=instrument != "NIRSPEC")
    m.exposure.nframes = int(t["nframes"])
    m.exposure.groupgap = int(t["groupgap"])
    m.exposure.noutputs = int(t["noutputs"])
    m.exposure.drop_frames1 = 0
    m.exposure.frame_time = t["frame_time"]
    m.exposure.group_time = t["group_time"]
    m.exposure.integration_time = t["integration_time"]
    m.exposure.exposure_time = t["exposure_time"]  # EFFEXPTM
    m.exposure.effective_exposure_time = t["exposure_time"]  # XPOSURE
    m.exposure.measurement_time = t["measurement_time"]  # TMEASURE
    m.exposure.duration = round(t["exposure_time"] + t["frame_time"] * nints, 4)
    m.exposure.nresets_at_start = 1
    m.exposure.nresets_between_ints = 1
    m.exposure.start_time = _EXPSTART
    m.exposure.end_time = _EXPSTART + m.exposure.duration / 86400.0
    m.exposure.mid_time = 0.5 * (m.exposure.start_time + m.exposure.end_time)
    m.exposure.start_time_mjd = m.exposure.start_time
    m.exposure.end_time_mjd = m.exposure.end_time
    m.exposure.mid_time_mjd = m.exposure.mid_time
    m.exposure.sca_num = {"NRCA1": 481, "NRCA2": 482, "NRCA3": 483, "NRCA4": 484,
                          "NRCALONG": 485, "NRCB1": 486, "NRCB2": 487, "NRCB3": 488,
                          "NRCB4": 489, "NRCBLONG": 490, "NIS": 496, "NRS1": 491,
                          "NRS2": 492}.get(detector, 0)
    m.subarray.name = name
    m.subarray.xstart, m.subarray.ystart = x0, y0
    m.subarray.xsize, m.subarray.ysize = xs, ys
    m.subarray.fastaxis, m.subarray.slowaxis = (-1, 2) if instrument == "NIRCAM" else (2, 1)
    m.observation.date = "2023-01-05"
    m.observation.time = "07:30:00.000"
    m.observation.program_number = "09999"
    m.observation.observation_number = "001"
    m.observation.visit_number = "001"
    m.observation.visit_group = "02"
    m.observation.sequence_id = "1"
    m.observation.activity_id = "01"
    m.observation.exposure_number = "00001"
    m.observation.obs_id = "V09999001001P0000000002101"
    m.observation.visit_id = "09999001001"
    m.target.catalog_name = "DQMASK-SAMPLE"
    m.target.ra, m.target.dec = 53.1625, -27.7914
    m.program.title = "dqmask generated sample (not real data)"
    m.program.pi_name = "dqmask"
    m.visit.crowded_field = False
    m.data_processing_software_version = "dqmask.datasets"
    m.calibration_software_version = "1.19.1"
    return t


def _wcsinfo(model: Any, sub: SubarraySpec, scale_arcsec: float, roll: float = 30.0) -> None:
    name, x0, y0, xs, ys = sub
    w = model.meta.wcsinfo
    w.wcsaxes = 2
    w.ctype1, w.ctype2 = "RA---TAN", "DEC--TAN"
    w.cunit1, w.cunit2 = "deg", "deg"
    w.crpix1 = 1024.5 - (x0 - 1)
    w.crpix2 = 1024.5 - (y0 - 1)
    w.crval1, w.crval2 = 53.1625, -27.7914
    w.cdelt1 = w.cdelt2 = scale_arcsec / 3600.0
    c, s = np.cos(np.radians(roll)), np.sin(np.radians(roll))
    w.pc1_1, w.pc1_2, w.pc2_1, w.pc2_2 = float(-c), float(s), float(s), float(c)
    w.ra_ref, w.dec_ref, w.roll_ref = 53.1625, -27.7914, roll
    w.v2_ref, w.v3_ref, w.vparity, w.v3yangle = 120.6, -527.4, -1, -0.55


def _photometry(model: Any, photmjsr: float, pixar_a2: float) -> None:
    p = model.meta.photometry
    p.conversion_megajanskys = photmjsr
    p.conversion_microjanskys = photmjsr * 1e12 * _SR_PER_A2
    p.pixelarea_arcsecsq = pixar_a2
    p.pixelarea_steradians = pixar_a2 * _SR_PER_A2


_DETECTOR1_STEPS = ("group_scale", "dq_init", "saturation", "superbias", "refpix",
                    "linearity", "dark_sub", "jump", "ramp_fit", "gain_scale")


def _cal_steps(model: Any, *, image2: bool) -> None:
    for step in _DETECTOR1_STEPS:
        setattr(model.meta.cal_step, step, "COMPLETE")
    if image2:
        for step in ("assign_wcs", "flat_field", "photom"):
            setattr(model.meta.cal_step, step, "COMPLETE")


def _save(model: Any, path: PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(os.fspath(path))
    model.close()
    return path


def _nircam_phot(detector: str) -> tuple[str, float, float]:
    return _NIRCAM_PHOT["LW" if detector.upper().endswith(("LONG", "5")) else "SW"]


def _area(shape: tuple[int, int], sub: SubarraySpec) -> np.ndarray:
    """Pixel-area map (AREA extension): ~1 with a gentle distortion pattern."""
    ny, nx = shape
    rows = (sub[2] - 1 + np.arange(ny) - 1024.0) / 1024.0
    cols = (sub[1] - 1 + np.arange(nx) - 1024.0) / 1024.0
    return (1.0 + 0.012 * rows[:, None] ** 2 - 0.008 * cols[None, :] ** 2
            + 0.004 * rows[:, None] * cols[None, :]).astype(_FLOAT)


# --------------------------------------------------------------------------------------------
# JWST writers
# --------------------------------------------------------------------------------------------


def _variances(scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    """``(var_poisson, var_rnoise)`` of a JWST scene (always made; None in HST scenes only)."""
    assert scene.var_poisson is not None and scene.var_rnoise is not None
    return scene.var_poisson, scene.var_rnoise


def _jwst_image(kind: str, path: PathLike, *, shape: tuple[int, int] | None,
                subarray: SubarraySpec | None, instrument: str, detector: str, exp_type: str,
                seed: int, ngroups: int, readpatt: str, filt: str, pupil: str,
                photmjsr: float, pixar_a2: float, diffuse: str | None, bad_value: float,
                scale: float) -> Path:
    from stdatamodels.jwst import datamodels

    sub = _subarray(shape, subarray)
    shp = (sub[4], sub[3])
    scene = jwst_image_scene(shp, seed=seed, detector=detector, xstart=sub[1], ystart=sub[2],
                             diffuse=diffuse, bad_value=bad_value)
    if kind == "rate":
        model = datamodels.ImageModel(data=scene.sci, dq=scene.dq, err=scene.err,
                                      var_poisson=scene.var_poisson,
                                      var_rnoise=scene.var_rnoise)
        model.meta.bunit_data = "DN/s"
        model.meta.bunit_err = "DN/s"
    else:
        k = np.float32(photmjsr)
        area = _area(shp, sub)
        var_flat = (np.nan_to_num(scene.sci * k, nan=0.0) * np.float32(0.005)) ** 2
        var_flat[np.isnan(scene.err)] = bad_value
        var_poisson, var_rnoise = _variances(scene)
        model = datamodels.ImageModel(data=scene.sci * k, dq=scene.dq, err=scene.err * k,
                                      area=area, var_poisson=var_poisson * k * k,
                                      var_rnoise=var_rnoise * k * k,
                                      var_flat=var_flat.astype(_FLOAT))
        model.meta.bunit_data = "MJy/sr"
        model.meta.bunit_err = "MJy/sr"
        _photometry(model, photmjsr, pixar_a2)
    _fill_jwst_meta(model, instrument=instrument, detector=detector, exp_type=exp_type,
                    sub=sub, readpatt=readpatt, ngroups=ngroups, nints=1, filt=filt,
                    pupil=pupil)
    _wcsinfo(model, sub, scale)
    _cal_steps(model, image2=kind == "cal")
    return _save(model, path)


def _nircam_image(product: str, path: PathLike, *, shape: tuple[int, int],
                  subarray: SubarraySpec | None, detector: str, seed: int, ngroups: int,
                  readpatt: str, diffuse: str | None, bad_value: float) -> Path:
    """A NIRCam imaging ``product`` ("cal" or "rate") with the detector's filter and
    photometry; the same pixels for both products up to PHOTMJSR."""
    filt, photmjsr, pixar = _nircam_phot(detector)
    scale = 0.063 if filt == "F444W" else 0.031
    return _jwst_image(product, path, shape=shape, subarray=subarray, instrument="NIRCAM",
                       detector=detector.upper(), exp_type="NRC_IMAGE", seed=seed,
                       ngroups=ngroups, readpatt=readpatt, filt=filt, pupil="CLEAR",
                       photmjsr=photmjsr, pixar_a2=pixar, diffuse=diffuse,
                       bad_value=bad_value, scale=scale)


def make_nircam_cal(path: PathLike, *, shape: tuple[int, int] = JWST_FULL,
                    subarray: SubarraySpec | None = None, detector: str = "NRCA1",
                    seed: int = 0, ngroups: int = 10, readpatt: str = "MEDIUM8",
                    diffuse: str | None = "claw", bad_value: float = np.nan) -> Path:
    """Write a NIRCam imaging ``_cal`` file (ImageModel, MJy/sr).

    HDUs: SCI, DQ (uint32), ERR, AREA, VAR_POISSON, VAR_RNOISE, VAR_FLAT, ASDF. S_PHOTOM
    COMPLETE, PHOTMJSR / PHOTUJA2 / PIXAR_SR / PIXAR_A2 in the SCI header, EFFEXPTM, TMEASURE,
    TGROUP, NGROUPS, NINTS, SUBARRAY / SUBSTRT / SUBSIZE, a TAN WCS. The pixels are
    :func:`jwst_image_scene` (same ``seed``/``detector``/subarray) times PHOTMJSR.

    Parameters
    ----------
    path : path-like
        Output file (parents created).
    shape : (ny, nx)
        Array shape; anything but 2048 x 2048 becomes a corner subarray ``SUB<n>``.
    subarray : (name, xstart, ystart, xsize, ysize), optional
        Explicit subarray (overrides ``shape``).
    detector : str
        NRCA1..NRCB4 (short wave, F200W) or NRCALONG/NRCBLONG (F444W).
    seed : int
        Random seed.
    ngroups, readpatt : int, str
        Exposure set-up (drives the timing keywords).
    diffuse : {"claw", "ghost", None}
        Faint diffuse feature.
    bad_value : float
        SCI of DO_NOT_USE pixels (NaN; 0.0 for old-pipeline files).

    Returns
    -------
    Path
        ``path``.
    """
    return _nircam_image("cal", path, shape=shape, subarray=subarray, detector=detector,
                         seed=seed, ngroups=ngroups, readpatt=readpatt, diffuse=diffuse,
                         bad_value=bad_value)


def make_nircam_rate(path: PathLike, *, shape: tuple[int, int] = JWST_FULL,
                     subarray: SubarraySpec | None = None, detector: str = "NRCA1",
                     seed: int = 0, ngroups: int = 10, readpatt: str = "MEDIUM8",
                     diffuse: str | None = "claw", bad_value: float = np.nan) -> Path:
    """Write a NIRCam imaging ``_rate`` file (ImageModel, DN/s).

    HDUs: SCI, DQ (uint32), ERR, VAR_POISSON, VAR_RNOISE, ASDF; detector1 steps COMPLETE,
    no S_PHOTOM. Same pixels as :func:`make_nircam_cal` with the same arguments, before
    PHOTMJSR. Parameters as :func:`make_nircam_cal`.
    """
    return _nircam_image("rate", path, shape=shape, subarray=subarray, detector=detector,
                         seed=seed, ngroups=ngroups, readpatt=readpatt, diffuse=diffuse,
                         bad_value=bad_value)


def make_rate_batch(folder: PathLike, n: int, *, seed: int = 5) -> list[Path]:
    """Write ``n`` full-frame NIRCam rate files for batch runs, cheaply.

    Every file has the PRIMARY, SCI, DQ and ASDF extensions of one :func:`make_nircam_rate`
    sample (seed 11); each DQ (uint32) adds its own 200 JUMP_DET cosmic rays drawn with
    ``seed``. Names ``jw01234001001_01101_<k>_nrca1_rate.fits``, k = 00001 ... ``n``.

    Returns
    -------
    list of Path
        The files, in order.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    template = make_nircam_rate(folder / "template_rate.fits", seed=11)
    with fits.open(template) as h:
        hdus = [h[0].copy(), h["SCI"].copy(), h["DQ"].copy(), h["ASDF"].copy()]
        hdus[1].data = np.array(h["SCI"].data)
        base = np.array(h["DQ"].data)
        hdus[3].data = h["ASDF"].data.copy()
    template.unlink()
    rng = np.random.default_rng(seed)
    paths = []
    for k in range(n):
        dq = base.copy()
        ys, xs = rng.integers(0, base.shape[0], size=(2, 200))
        dq[ys, xs] |= np.uint32(JWST_PIXEL["JUMP_DET"])
        hdus[2].data = dq
        path = folder / f"jw01234001001_01101_{k + 1:05d}_nrca1_rate.fits"
        fits.HDUList(hdus).writeto(path)
        paths.append(path)
    return paths


def make_nircam_rateints(path: PathLike, *, shape: tuple[int, int] = JWST_FULL,
                         subarray: SubarraySpec | None = None, detector: str = "NRCA1",
                         seed: int = 0, nints: int = 2, ngroups: int = 10,
                         readpatt: str = "MEDIUM8", bad_value: float = np.nan) -> Path:
    """Write a NIRCam ``_rateints`` file (CubeModel, DN/s, one plane per integration).

    HDUs: SCI, DQ (uint32, nints x ny x nx), ERR, VAR_POISSON, VAR_RNOISE, ASDF. Each plane
    is :func:`jwst_image_scene` with the same sky and stars but its own noise, jumps and
    unflagged NaNs; dead/hot/saturated/reference flags are the same in every plane.
    """
    from stdatamodels.jwst import datamodels

    sub = _subarray(shape, subarray)
    shp = (sub[4], sub[3])
    planes = [jwst_image_scene(shp, seed=seed, detector=detector, xstart=sub[1],
                               ystart=sub[2], bad_value=bad_value)]
    rng = _rng(seed, "rateints", detector)
    for _ in range(1, nints):
        first = planes[0]
        noise = first.err * rng.standard_normal(shp, dtype=_FLOAT)
        sci = first.model + noise
        dq = first.dq & ~np.uint32(_J["JUMP_DET"])
        jump = _pick(rng, shp, 1.5e-2)
        dq[jump] |= _J["JUMP_DET"]
        sci[dq_to_bad(dq, _DNU)] = bad_value
        sci[_pick(rng, shp, 0.0, minimum=4, where=dq == 0)] = np.nan
        planes.append(Scene(sci=sci.astype(_FLOAT), dq=dq, err=first.err, model=first.model,
                            var_poisson=first.var_poisson, var_rnoise=first.var_rnoise))
    model = datamodels.CubeModel(
        data=np.stack([p.sci for p in planes]), dq=np.stack([p.dq for p in planes]),
        err=np.stack([p.err for p in planes]),
        var_poisson=np.stack([_variances(p)[0] for p in planes]),
        var_rnoise=np.stack([_variances(p)[1] for p in planes]))
    model.meta.bunit_data = "DN/s"
    model.meta.bunit_err = "DN/s"
    filt, _, _ = _nircam_phot(detector)
    _fill_jwst_meta(model, instrument="NIRCAM", detector=detector.upper(),
                    exp_type="NRC_IMAGE", sub=sub, readpatt=readpatt, ngroups=ngroups,
                    nints=nints, filt=filt, pupil="CLEAR")
    model.meta.exposure.integration_start = 1
    model.meta.exposure.integration_end = nints
    _wcsinfo(model, sub, 0.063 if filt == "F444W" else 0.031)
    _cal_steps(model, image2=False)
    return _save(model, path)


def make_nircam_uncal(path: PathLike, *, ngroups: int = 10, nints: int = 1,
                      subarray: SubarraySpec | None = None,
                      shape: tuple[int, int] | None = None, detector: str = "NRCA1",
                      seed: int = 0, readpatt: str = "MEDIUM8",
                      saturation_dn: float = 58000.0) -> Path:
    """Write a NIRCam ``_uncal`` file (Level1bModel, SCI uint16, nints x ngroups x ny x nx).

    Ramps of the :func:`jwst_image_scene` sky and stars (DN/s x TGROUP per group) on a bias
    of ~12000 DN with read noise; cosmic-ray jumps part-way up some ramps; ramps clip at
    ``saturation_dn`` (+ noise), so bright star cores saturate in early groups; reference
    pixels see only bias and noise. No PIXELDQ/GROUPDQ (dq_init adds them).

    Parameters
    ----------
    path : path-like
        Output file.
    ngroups, nints : int
        Ramp dimensions.
    subarray : (name, xstart, ystart, xsize, ysize), optional
        Subarray (default FULL 2048 x 2048).
    shape : (ny, nx), optional
        Instead of ``subarray``: a corner subarray ``SUB<n>`` of this shape.
    detector : str
        NIRCam detector.
    seed : int
        Random seed.
    readpatt : str
        READPATT (NFRAMES / GROUPGAP follow).
    saturation_dn : float
        Raw level where the ramps flatten.
    """
    from stdatamodels.jwst import datamodels

    sub = _subarray(shape, subarray)
    shp = (sub[4], sub[3])
    scene = jwst_image_scene(shp, seed=seed, detector=detector, xstart=sub[1], ystart=sub[2])
    t = _timing(readpatt, sub[3], sub[4], ngroups, nints)
    rng = _rng(seed, "uncal", detector)
    rate = np.where(scene.truth["refpix"], 0.0, scene.model).astype(_FLOAT)
    bias = (12000.0 + 250.0 * rng.standard_normal(shp, dtype=_FLOAT)).astype(_FLOAT)
    sat = (saturation_dn + 300.0 * rng.standard_normal(shp, dtype=_FLOAT)).astype(_FLOAT)
    data = np.empty((nints, ngroups) + shp, np.uint16)
    for i in range(nints):
        cr = _pick(rng, shp, 1.0e-3)
        cr_group = rng.integers(1, max(2, ngroups), size=shp).astype(np.int16)
        cr_size = rng.uniform(200.0, 5000.0, size=shp).astype(_FLOAT)
        signal = np.zeros(shp, _FLOAT)
        for g in range(ngroups):
            signal += rate * np.float32(t["group_time"])
            ramp = bias + signal + np.where(cr & (cr_group <= g), cr_size, 0).astype(_FLOAT)
            ramp = np.minimum(ramp, sat) + 8.0 * rng.standard_normal(shp, dtype=_FLOAT)
            data[i, g] = np.clip(np.rint(ramp), 0, 65535).astype(np.uint16)
    model = datamodels.Level1bModel(data=data)
    model.meta.bunit_data = "DN"
    filt, _, _ = _nircam_phot(detector)
    _fill_jwst_meta(model, instrument="NIRCAM", detector=detector.upper(),
                    exp_type="NRC_IMAGE", sub=sub, readpatt=readpatt, ngroups=ngroups,
                    nints=nints, filt=filt, pupil="CLEAR")
    model.meta.exposure.zero_frame = False
    _wcsinfo(model, sub, 0.063 if filt == "F444W" else 0.031)
    return _save(model, path)


def make_nircam_i2d(path: PathLike, *, shape: tuple[int, int] = (2200, 2300),
                    seed: int = 0, nexp: int = 2, detector: str = "NRCA1") -> Path:
    """Write a NIRCam ``_i2d`` mosaic (ImageModel with SCI, ERR, CON, WHT, VAR_*).

    ``nexp`` dithered, rotated detector footprints; WHT = sum of exposure times of the
    exposures covering a pixel (0 outside, SCI/ERR NaN there), CON int32 (1 x ny x nx) bit
    k set where exposure k contributes; a few star cores where every input was DO_NOT_USE
    have WHT 0 and SCI NaN. S_RESAMP and S_PHOTOM COMPLETE, MJy/sr; no DQ extension (as
    jwst writes i2d). DETECTOR is ``detector`` (all inputs from one detector; pass
    ``"MULTIPLE"`` for a multi-detector mosaic). EFFEXPTM / XPOSURE are the sum over the
    ``nexp`` exposures.
    """
    from stdatamodels.jwst import datamodels

    shape = (int(shape[0]), int(shape[1]))
    rng = _rng(seed, "i2d")
    ny, nx = shape
    yy, xx = np.mgrid[:ny, :nx].astype(_FLOAT)
    side = 0.84 * min(shape)
    wht = np.zeros(shape, _FLOAT)
    con = np.zeros((1,) + shape, np.int32)
    filt, photmjsr, pixar = _nircam_phot(detector if detector != "MULTIPLE" else "NRCA1")
    t = _timing("MEDIUM8", 2048, 2048, 10, 1)
    ang = np.radians(12.0)
    c, s = np.cos(ang), np.sin(ang)
    for k in range(nexp):
        cx, cy = nx / 2 + (k - (nexp - 1) / 2) * 0.05 * side, ny / 2 + k * 0.03 * side
        u = c * (xx - cx) + s * (yy - cy)
        v = -s * (xx - cx) + c * (yy - cy)
        inside = (np.abs(u) <= side / 2) & (np.abs(v) <= side / 2)
        wht[inside] += np.float32(t["exposure_time"])
        con[0][inside] |= np.int32(1 << k)
    stars_img, stars = _star_field(rng, shape, density=3.0e-4, flux_min=0.3, flux_max=300.0,
                                   n_bright=max(2, int(round(6 * ny * nx / 2048**2))),
                                   bright_flux=14400.0, sigma=1.1)
    feat, _ = _claw(shape, 0.03)
    model_img = (0.002 + stars_img + feat) * np.float32(photmjsr)
    sigma = np.float32(0.012 * photmjsr) / np.sqrt(np.maximum(wht / wht.max(), 0.5))
    sci = (model_img + sigma * rng.standard_normal(shape, dtype=_FLOAT)).astype(_FLOAT)
    cores = (stars_img > 240.0) & (wht > 0)
    wht[cores] = 0
    con[0][cores] = 0
    empty = wht == 0
    err = sigma.astype(_FLOAT)
    var_r = (0.7 * err**2).astype(_FLOAT)
    var_p = (0.3 * err**2).astype(_FLOAT)
    var_f = np.zeros(shape, _FLOAT)
    for arr in (sci, err, var_r, var_p, var_f):
        arr[empty] = np.nan
    model = datamodels.ImageModel(data=sci, err=err, wht=wht, con=con, var_poisson=var_p,
                                  var_rnoise=var_r, var_flat=var_f)
    model.meta.bunit_data = "MJy/sr"
    model.meta.bunit_err = "MJy/sr"
    sub = ("FULL", 1, 1, 2048, 2048)
    _fill_jwst_meta(model, instrument="NIRCAM", detector=detector.upper(),
                    exp_type="NRC_IMAGE", sub=sub, readpatt="MEDIUM8", ngroups=10, nints=1,
                    filt=filt, pupil="CLEAR")
    model.meta.exposure.exposure_time = round(t["exposure_time"] * nexp, 4)
    model.meta.exposure.effective_exposure_time = round(t["exposure_time"] * nexp, 4)
    _photometry(model, photmjsr, pixar)
    w = model.meta.wcsinfo
    w.wcsaxes = 2
    w.ctype1, w.ctype2 = "RA---TAN", "DEC--TAN"
    w.crpix1, w.crpix2 = (nx + 1) / 2, (ny + 1) / 2
    w.crval1, w.crval2 = 53.1625, -27.7914
    w.cdelt1 = w.cdelt2 = 0.031 / 3600.0
    w.pc1_1, w.pc1_2, w.pc2_1, w.pc2_2 = -1.0, 0.0, 0.0, 1.0
    _cal_steps(model, image2=True)
    for step in ("skymatch", "outlier_detection", "resample", "tweakreg"):
        setattr(model.meta.cal_step, step, "COMPLETE")
    return _save(model, path)


def make_niriss_cal(path: PathLike, *, shape: tuple[int, int] = JWST_FULL,
                    subarray: SubarraySpec | None = None, seed: int = 0, ngroups: int = 10,
                    bad_value: float = np.nan) -> Path:
    """Write a NIRISS imaging ``_cal`` file (NIS, NIS_IMAGE, CLEAR/F150W, MJy/sr).

    Same layout as :func:`make_nircam_cal`; the diffuse feature is a faint ghost blob.
    """
    return _jwst_image("cal", path, shape=shape, subarray=subarray, instrument="NIRISS",
                       detector="NIS", exp_type="NIS_IMAGE", seed=seed, ngroups=ngroups,
                       readpatt="NIS", filt="CLEAR", pupil="F150W", photmjsr=0.5286,
                       pixar_a2=0.00430, diffuse="ghost", bad_value=bad_value, scale=0.0656)


def make_nirspec_ifu_rate(path: PathLike, *, shape: tuple[int, int] = JWST_FULL,
                          subarray: SubarraySpec | None = None, detector: str = "NRS1",
                          seed: int = 0, ngroups: int = 20,
                          bad_value: float = np.nan) -> Path:
    """Write a NIRSpec IFU ``_rate`` file (NRS_IFU, G235M/F170LP, IRS2, DN/s).

    30 slice traces (two groups of 15 around the fixed-slit rows 922-1116, which hold five
    fixed-slit traces), 1/f vertical banding, dead/hot pixels, jumps, reference border. The
    truth of where light falls is :func:`nirspec_ifu_footprint` with the same ``shape``
    / ``subarray`` / ``detector``. A shape other than 2048 x 2048 is cut from the middle of
    the frame (centred on the fixed-slit region) and named ``SUB<n>``.
    """
    from stdatamodels.jwst import datamodels

    if subarray is None and tuple(shape) != JWST_FULL:
        ny, nx = int(shape[0]), int(shape[1])
        subarray = (f"SUB{nx}" if nx == ny else f"SUB{nx}X{ny}",
                    1024 - nx // 2 + 1, 1020 - ny // 2 + 1, nx, ny)
    sub = _subarray(shape, subarray)
    shp = (sub[4], sub[3])
    scene = nirspec_ifu_scene(shp, seed=seed, detector=detector.upper(), xstart=sub[1],
                              ystart=sub[2], bad_value=bad_value)
    model = datamodels.ImageModel(data=scene.sci, dq=scene.dq, err=scene.err,
                                  var_poisson=scene.var_poisson, var_rnoise=scene.var_rnoise)
    model.meta.bunit_data = "DN/s"
    model.meta.bunit_err = "DN/s"
    _fill_jwst_meta(model, instrument="NIRSPEC", detector=detector.upper(), exp_type="NRS_IFU",
                    sub=sub, readpatt="NRSIRS2RAPID", ngroups=ngroups, nints=1,
                    filt="F170LP", grating="G235M")
    model.meta.instrument.msa_state = "PRIMARYPARK_ALLCLOSED"
    _cal_steps(model, image2=False)
    return _save(model, path)
