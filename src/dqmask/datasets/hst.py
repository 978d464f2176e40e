"""Realistic generated HST files (ACS/WFC, WFC3/UVIS, WFC3/IR flt) for tests and benchmarks.

Every ``make_*`` function writes one file and returns its path; the pixels come from pure
*scene* functions (:func:`hst_ccd_scene`, :func:`hst_chip_scene`, :func:`wfc3_ir_scene`)
that return the arrays with the truth used to make them. Deterministic for a given ``seed``.
Files are written through astropy with the keywords calacs / calwf3 write. Importing this
module imports neither stdatamodels nor asdf.

Units and conventions: ACS/WFC3-UVIS flt in electrons; WFC3/IR flt in electrons/s; DQ int16.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from ..flags import ACS, WFC3_IR, WFC3_UVIS
from ..io.fits import write_hdulist
from ._common import _FLOAT, PathLike, Scene, _disc, _galaxy, _pick, _rng, _star_field

__all__ = [
    "ACS_WFC_CHIP",
    "WFC3_UVIS_CHIP",
    "WFC3_IR_SHAPE",
    "hst_ccd_scene",
    "hst_chip_scene",
    "wfc3_ir_scene",
    "make_acs_wfc_flt",
    "make_wfc3_uvis_flt",
    "make_wfc3_ir_flt",
]

ACS_WFC_CHIP = (2048, 4096)
WFC3_UVIS_CHIP = (2051, 4096)
WFC3_IR_SHAPE = (1014, 1014)


# --------------------------------------------------------------------------------------------
# HST scenes
# --------------------------------------------------------------------------------------------


def hst_ccd_scene(shape: tuple[int, int] = ACS_WFC_CHIP, *, seed: int = 0,
                  tag: str = "acs-wfc-1", flags: Mapping[str, int] | None = None,
                  sky: float = 80.0, read_noise: float = 4.2, full_well: float = 84700.0,
                  atod_limit: float = 131000.0, psf_sigma: float = 1.0,
                  star_density: float = 2.5e-4, n_bright: int | None = None,
                  cr_density: float = 8.0e-3, nan_pixels: int = 0) -> Scene:
    """An HST CCD flt chip in electrons (ACS/WFC or WFC3/UVIS), with its truth.

    Contents: sky with Poisson + read noise, a faint exponential-disc galaxy (diffuse
    feature), stars, bright stars whose cores exceed ``full_well`` and bleed along the
    column (SATPIXEL 256, value at full well; cores above ``atod_limit`` also ATODSAT 2048),
    hot (16), warm (64) and bad (4) pixels, two partial bad columns (128), cosmic-ray hits
    and short tracks flagged DRIZ_CR 4096 (as after AstroDrizzle's driz_cr), and optionally
    ``nan_pixels`` NaN pixels (calacs never writes NaN; for robustness tests).

    Returns
    -------
    Scene
        ``dq`` int16; truth masks ``saturated``, ``atod``, ``hot``, ``warm``, ``badpix``,
        ``badcol``, ``cosmic_ray``, ``diffuse``, ``nan``.
    """
    flags = dict(flags or ACS)
    shape = (int(shape[0]), int(shape[1]))
    ny, nx = shape
    rng = _rng(seed, "hst-ccd", tag)
    area_frac = ny * nx / float(ACS_WFC_CHIP[0] * ACS_WFC_CHIP[1])
    if n_bright is None:
        n_bright = max(2, int(round(8 * area_frac)))
    stars_img, stars = _star_field(rng, shape, density=star_density, flux_min=300.0,
                                   flux_max=4.0e5, n_bright=n_bright,
                                   bright_flux=60.0 * full_well * psf_sigma**2,
                                   sigma=psf_sigma)
    gal, diffuse = _galaxy(shape, 0.6 * np.sqrt(sky + read_noise**2))
    model = (np.float32(sky) + stars_img + gal).astype(_FLOAT)
    dq = np.zeros(shape, np.int16)
    var = np.maximum(model, 0) + np.float32(read_noise**2)
    sci = model + np.sqrt(var) * rng.standard_normal(shape, dtype=_FLOAT)
    # saturation and bleeding along columns
    over = (stars_img + sky) > full_well
    saturated = over.copy()
    for bx, by in zip(stars["x"][-n_bright:], stars["y"][-n_bright:], strict=True):
        x0, x1 = max(0, int(bx) - 8), min(nx, int(bx) + 9)
        y0, y1 = max(0, int(by) - 8), min(ny, int(by) + 9)
        box = np.maximum(stars_img[y0:y1, x0:x1] + sky - full_well, 0)
        for j in range(x1 - x0):
            rows = np.flatnonzero(box[:, j])
            if rows.size == 0:
                continue
            bleed = int(box[:, j].sum() / full_well / 2) + 1
            lo, hi = max(0, y0 + rows[0] - bleed), min(ny, y0 + rows[-1] + bleed + 1)
            saturated[lo:hi, x0 + j] = True
    sci[saturated] = np.float32(full_well) * (1.0 + 0.01 * rng.standard_normal(
        int(saturated.sum()), dtype=_FLOAT))
    dq[saturated] |= flags["SATPIXEL"]
    atod = (stars_img + sky) > atod_limit
    sci[atod] = np.float32(atod_limit)
    dq[atod] |= flags["ATODSAT"]
    hot = _pick(rng, shape, 2.0e-4)
    sci[hot] += rng.uniform(50, 2000, int(hot.sum())).astype(_FLOAT)
    dq[hot] |= flags["HOTPIX"]
    warm = _pick(rng, shape, 5.0e-4)
    sci[warm] += rng.uniform(5, 50, int(warm.sum())).astype(_FLOAT)
    dq[warm] |= flags["WARMPIX"]
    bad = _pick(rng, shape, 5.0e-5)
    sci[bad] = rng.uniform(-50, 10, int(bad.sum())).astype(_FLOAT)
    dq[bad] |= flags["DETECTORPROB"]
    badcol = np.zeros(shape, bool)
    for _ in range(2):
        col = int(rng.integers(0, nx))
        start = int(rng.integers(0, ny // 2))
        badcol[start:start + int(rng.integers(ny // 8 + 1, ny // 2 + 2)), col] = True
    dq[badcol] |= flags["BADCOL"] if "BADCOL" in flags else flags["BADBIAS"]
    # cosmic rays: hits and short tracks
    n_cr = max(3, int(round(cr_density * ny * nx / 4)))
    length = rng.integers(1, 9, n_cr)
    angle = rng.uniform(0, np.pi, n_cr)
    cx, cy = rng.uniform(0, nx - 1, n_cr), rng.uniform(0, ny - 1, n_cr)
    which = np.repeat(np.arange(n_cr), length)
    step = np.concatenate([np.arange(k) for k in length])
    px = np.clip(np.rint(cx[which] + step * np.cos(angle[which])), 0, nx - 1).astype(np.int64)
    py = np.clip(np.rint(cy[which] + step * np.sin(angle[which])), 0, ny - 1).astype(np.int64)
    cosmic = np.zeros(shape, bool)
    cosmic[py, px] = True
    cosmic &= ~saturated
    sci[cosmic] += rng.uniform(300, 6000, int(cosmic.sum())).astype(_FLOAT)
    dq[cosmic] |= flags["DRIZ_CR"]
    nan = np.zeros(shape, bool)
    if nan_pixels:
        nan = _pick(rng, shape, 0.0, minimum=nan_pixels, where=dq == 0)
        sci[nan] = np.nan
    err = np.sqrt(np.maximum(np.nan_to_num(sci), 0) + np.float32(read_noise**2)).astype(_FLOAT)
    truth = dict(saturated=saturated, atod=atod, hot=hot, warm=warm, badpix=bad, badcol=badcol,
                 cosmic_ray=cosmic, diffuse=diffuse, nan=nan)
    return Scene(sci=sci.astype(_FLOAT), dq=dq, err=err, model=model, truth=truth, stars=stars)


def wfc3_ir_scene(shape: tuple[int, int] = WFC3_IR_SHAPE, *, seed: int = 0,
                  exptime: float = 699.232483, nsamp: int = 14,
                  nan_pixels: int = 0) -> tuple[Scene, np.ndarray, np.ndarray]:
    """A WFC3/IR flt image in electrons/s with its SAMP (int16) and TIME (float32) arrays.

    Contents: sky (~1 e-/s) and noise, a faint galaxy, stars with saturated cores (SATPIXEL
    256; fewer samples, shorter TIME), up-the-ramp cosmic rays (DATAREJECT 8192), blobs
    (BADFLAT 512 rings), the 'death star' (DETECTORPROB 4 disc), hot (16), unstable (32) and
    warm (64) pixels.
    """
    shape = (int(shape[0]), int(shape[1]))
    ny, nx = shape
    rng = _rng(seed, "wfc3-ir")
    f = WFC3_IR
    area_frac = ny * nx / float(WFC3_IR_SHAPE[0] * WFC3_IR_SHAPE[1])
    n_bright = max(2, int(round(5 * area_frac)))
    sat_rate = 78000.0 / exptime * 6  # saturates within the first samples
    stars_img, stars = _star_field(rng, shape, density=4.0e-4, flux_min=2.0, flux_max=2000.0,
                                   n_bright=n_bright, bright_flux=60.0 * sat_rate, sigma=1.0)
    gal, diffuse = _galaxy(shape, 0.03)
    model = (np.float32(1.1) + stars_img + gal).astype(_FLOAT)
    sigma = np.sqrt(np.maximum(model, 0) / exptime + (20.0 / exptime) ** 2).astype(_FLOAT)
    sci = model + sigma * rng.standard_normal(shape, dtype=_FLOAT)
    dq = np.zeros(shape, np.int16)
    samp = np.full(shape, nsamp, np.int16)
    time = np.full(shape, exptime, _FLOAT)
    saturated = (stars_img + 1.1) > sat_rate
    dq[saturated] |= f["SATPIXEL"]
    nsat = np.clip((78000.0 / np.maximum(stars_img + 1.1, 1e-3) / (exptime / nsamp)), 1, nsamp)
    samp[saturated] = nsat[saturated].astype(np.int16)
    time[saturated] = (samp[saturated] * (exptime / nsamp)).astype(_FLOAT)
    cosmic = _pick(rng, shape, 5.0e-3)
    dq[cosmic] |= f["DATAREJECT"]
    samp[cosmic] = np.maximum(samp[cosmic] - 1, 1)
    blobs = np.zeros(shape, bool)
    for _ in range(max(1, int(round(8 * area_frac)))):
        cy, cx, r = rng.uniform(0, ny), rng.uniform(0, nx), rng.uniform(5, 12)
        blobs |= _disc(shape, cy, cx, r) & ~_disc(shape, cy, cx, r - 2.5)
    dq[blobs] |= f["BADFLAT"]
    sci[blobs] *= np.float32(0.92)
    death = _disc(shape, 0.04 * ny + 8, 0.38 * nx, 0.025 * nx + 6)
    dq[death] |= f["DETECTORPROB"]
    sci[death] = rng.uniform(-0.5, 0.2, int(death.sum())).astype(_FLOAT)
    hot = _pick(rng, shape, 2.0e-4)
    dq[hot] |= f["HOTPIX"]
    sci[hot] += rng.uniform(1, 20, int(hot.sum())).astype(_FLOAT)
    unstable = _pick(rng, shape, 3.0e-4)
    dq[unstable] |= f["UNSTABLE"]
    warm = _pick(rng, shape, 3.0e-4)
    dq[warm] |= f["WARMPIX"]
    nan = np.zeros(shape, bool)
    if nan_pixels:
        nan = _pick(rng, shape, 0.0, minimum=nan_pixels, where=dq == 0)
        sci[nan] = np.nan
    err = sigma.astype(_FLOAT)
    truth = dict(saturated=saturated, cosmic_ray=cosmic, blob=blobs, death_star=death, hot=hot,
                 unstable=unstable, warm=warm, diffuse=diffuse, nan=nan)
    scene = Scene(sci=sci.astype(_FLOAT), dq=dq, err=err, model=model, truth=truth,
                  stars=stars)
    return scene, samp, time


# --------------------------------------------------------------------------------------------
# HST writers
# --------------------------------------------------------------------------------------------

_HST_EXPSTART = 53436.4187

_HST_DET: dict[str, dict[str, Any]] = {
    "ACS/WFC": dict(chip=ACS_WFC_CHIP, scale=0.05, gain=2.0, rn=(4.35, 3.75, 4.05, 4.62),
                    atod=(2.02, 1.94, 2.02, 2.04), full_well=84700.0, atod_limit=131000.0,
                    sky=80.0, exptime=400.0, filters={"FILTER1": "F606W",
                                                      "FILTER2": "CLEAR2L"},
                    rootname="jdqm01a1q", photflam=7.8624e-20, photplam=5921.9,
                    photmode="ACS WFC1 F606W MJD#53436.4187"),
    "WFC3/UVIS": dict(chip=WFC3_UVIS_CHIP, scale=0.0396, gain=1.5, rn=(3.12, 3.05, 3.14, 3.17),
                      atod=(1.56, 1.56, 1.56, 1.56), full_well=63000.0, atod_limit=98000.0,
                      sky=30.0, exptime=170.0, filters={"FILTER": "F555W"},
                      rootname="idqm01a1q", photflam=1.8379346e-19, photplam=5307.9121,
                      photmode="WFC3 UVIS1 F555W MJD#55611.2"),
}


def _hst_wcs(header: fits.Header, shape: tuple[int, int], scale: float, dec_offset: float,
             orient: float = 22.5) -> None:
    ny, nx = shape
    c, s = np.cos(np.radians(orient)), np.sin(np.radians(orient))
    d = scale / 3600.0
    header["WCSAXES"] = (2, "number of World Coordinate System axes")
    header["CRPIX1"] = ((nx + 1) / 2.0, "x-coordinate of reference pixel")
    header["CRPIX2"] = ((ny + 1) / 2.0, "y-coordinate of reference pixel")
    header["CRVAL1"] = (10.6847, "first axis value at reference pixel")
    header["CRVAL2"] = (41.2690 + dec_offset, "second axis value at reference pixel")
    header["CTYPE1"] = ("RA---TAN", "the coordinate type for the first axis")
    header["CTYPE2"] = ("DEC--TAN", "the coordinate type for the second axis")
    header["CD1_1"] = (-d * c, "partial of first axis coordinate w.r.t. x")
    header["CD1_2"] = (d * s, "partial of first axis coordinate w.r.t. y")
    header["CD2_1"] = (d * s, "partial of second axis coordinate w.r.t. x")
    header["CD2_2"] = (d * c, "partial of second axis coordinate w.r.t. y")
    header["LTV1"] = (0.0, "offset in X to subsection start")
    header["LTV2"] = (0.0, "offset in Y to subsection start")
    header["LTM1_1"] = (1.0, "reciprocal of sampling rate in X")
    header["LTM2_2"] = (1.0, "reciprocal of sampling rate in Y")
    header["ORIENTAT"] = (orient, "position angle of image y axis (deg. e of n)")


def _hst_primary(*, instrument: str, detector: str, aperture: str, rootname: str,
                 filters: dict[str, str], exptime: float, gain: float,
                 rn: tuple[float, ...], atod: tuple[float, ...], nextend: int,
                 cte: bool = False, extra: dict[str, Any] | None = None) -> fits.PrimaryHDU:
    suffix = "flc" if cte else "flt"
    h = fits.Header()
    h["NEXTEND"] = (nextend, "Number of standard extensions")
    h["DATE"] = ("2026-01-01", "date this file was written (yyyy-mm-dd)")
    h["FILENAME"] = (f"{rootname}_{suffix}.fits", "name of file")
    h["FILETYPE"] = ("SCI", "type of data found in data file")
    h["TELESCOP"] = ("HST", "telescope used to acquire data")
    h["INSTRUME"] = (instrument, "identifier for instrument used to acquire data")
    h["EQUINOX"] = (2000.0, "equinox of celestial coord. system")
    h["ROOTNAME"] = (rootname, "rootname of the observation set")
    h["IMAGETYP"] = ("EXT", "type of exposure identifier")
    h["PRIMESI"] = (instrument, "instrument designated as prime")
    h["TARGNAME"] = ("DQMASK-SAMPLE", "proposer's target name")
    h["RA_TARG"] = (10.6847, "right ascension of the target (deg) (J2000)")
    h["DEC_TARG"] = (41.2690, "declination of the target (deg) (J2000)")
    h["PROPOSID"] = (99999, "PEP proposal identifier")
    h["PR_INV_L"] = ("dqmask", "last name of principal investigator")
    h["PA_V3"] = (112.5, "position angle of V3-axis of HST (deg)")
    h["OBSTYPE"] = ("IMAGING", "observation type - imaging or spectroscopic")
    h["OBSMODE"] = ("ACCUM", "operating mode")
    h["CTEIMAGE"] = ("NONE", "type of Charge Transfer Image, if applicable")
    h["SCLAMP"] = ("NONE", "lamp status, NONE or name of lamp which is on")
    h["NRPTEXP"] = (1, "number of repeat exposures in set: default 1")
    h["SUBARRAY"] = (False, "data from a subarray (T) or full frame (F)")
    h["DETECTOR"] = (detector, "detector in use")
    for key, element in filters.items():
        h[key] = (element, "element selected from filter wheel")
    h["APERTURE"] = (aperture, "aperture name")
    h["PROPAPER"] = ("", "proposed aperture name")
    h["CRSPLIT"] = (1, "number of cosmic ray split exposures")
    h["DATE-OBS"] = ("2005-03-07", "UT date of start of observation (yyyy-mm-dd)")
    h["TIME-OBS"] = ("10:03:00", "UT time of start of observation (hh:mm:ss)")
    h["EXPSTART"] = (_HST_EXPSTART, "exposure start time (Modified Julian Date)")
    h["EXPEND"] = (round(_HST_EXPSTART + exptime / 86400.0, 8),
                   "exposure end time (Modified Julian Date)")
    h["EXPTIME"] = (exptime, "exposure duration (seconds)--calculated")
    h["TEXPTIME"] = (exptime, "total exposure time (seconds)")
    h["EXPFLAG"] = ("NORMAL", "Exposure interruption indicator")
    h["CCDAMP"] = ("ABCD", "CCD amplifier read out configuration")
    h["CCDGAIN"] = (gain, "commanded gain of CCD")
    for amp, value in zip("ABCD", rn, strict=True):
        h[f"READNSE{amp}"] = (value, f"read noise for amplifier {amp}")
    for amp, value in zip("ABCD", atod, strict=True):
        h[f"ATODGN{amp}"] = (value, f"calibrated gain for amplifier {amp}")
    for key in ("DQICORR", "BLEVCORR", "BIASCORR", "DARKCORR", "FLATCORR", "PHOTCORR"):
        h[key] = ("COMPLETE", "calibration switch")
    h["PCTECORR"] = ("COMPLETE" if cte else "OMIT", "cte correction")
    h["DRIZCORR"] = ("PERFORM", "drizzle processing")
    h["CAL_VER"] = ("10.4.0 (dqmask sample)", "CALACS/CALWF3 code version")
    for key, value in (extra or {}).items():
        h[key] = value
    return fits.PrimaryHDU(header=h)


def _ext(name: str, ver: int, data: np.ndarray, bunit: str | None = None,
         extra: dict[str, Any] | None = None) -> fits.ImageHDU:
    hdu = fits.ImageHDU(data=data, name=name, ver=ver)
    hdu.header["INHERIT"] = (True, "inherit the primary header")
    if bunit is not None:
        hdu.header["BUNIT"] = (bunit, "brightness units")
    for key, value in (extra or {}).items():
        hdu.header[key] = value
    return hdu


def _goodminmax(sci: np.ndarray, dq: np.ndarray) -> tuple[float, float, int]:
    good = (dq == 0) & np.isfinite(sci)
    vals = sci[good]
    if vals.size == 0:
        return 0.0, 0.0, 0
    return float(vals.min()), float(vals.max()), int(vals.size)


def hst_chip_scene(camera: str, ccdchip: int, *, shape: tuple[int, int] | None = None,
                   seed: int = 0, nan_pixels: int = 0) -> Scene:
    """The :func:`hst_ccd_scene` of one chip of a generated two-chip flt, with its truth.

    Parameters
    ----------
    camera : {"ACS/WFC", "WFC3/UVIS"}
        Which generator.
    ccdchip : {1, 2}
        CCDCHIP of the chip (SCI,1 is CCDCHIP 2, SCI,2 is CCDCHIP 1).
    shape, seed, nan_pixels
        As given to :func:`make_acs_wfc_flt` / :func:`make_wfc3_uvis_flt`.

    Returns
    -------
    Scene
        Exactly the SCI / ERR / DQ written for that chip.
    """
    det = _HST_DET[camera]
    flags = ACS if camera.startswith("ACS") else WFC3_UVIS
    # (*shape,): a tuple of a given list too, typed as the 2-tuple it is
    chip_shape: tuple[int, int] = (*shape,) if shape is not None else det["chip"]
    return hst_ccd_scene(chip_shape, seed=seed, tag=f"{camera}-{ccdchip}", flags=flags,
                         sky=det["sky"], read_noise=float(np.mean(det["rn"])),
                         full_well=det["full_well"], atod_limit=det["atod_limit"],
                         nan_pixels=nan_pixels)


def _hst_two_chip(key: str, path: PathLike, *, shape: tuple[int, int] | None, seed: int,
                  cte: bool, nan_pixels: int) -> Path:
    det = _HST_DET[key]
    instrument, detector = key.split("/")
    # (*shape,): a tuple of a given list too, typed as the 2-tuple it is
    chip_shape: tuple[int, int] = (*shape,) if shape is not None else det["chip"]
    hdus: list[fits.hdu.base._BaseHDU] = [_hst_primary(
        instrument=instrument, detector=detector, aperture=detector, rootname=det["rootname"],
        filters=det["filters"], exptime=det["exptime"], gain=det["gain"], rn=det["rn"],
        atod=det["atod"], nextend=6, cte=cte,
        extra={"PHOTMODE": det["photmode"], "PHOTFLAM": det["photflam"],
               "PHOTPLAM": det["photplam"], "PHOTZPT": -21.1})]
    for extver, ccdchip in ((1, 2), (2, 1)):
        scene = hst_chip_scene(key, ccdchip, shape=chip_shape, seed=seed,
                               nan_pixels=nan_pixels)
        gmin, gmax, ngood = _goodminmax(scene.sci, scene.dq)
        sci_extra = {"CCDCHIP": (ccdchip, "CCD chip (1 or 2)"),
                     "NCOMBINE": (1, "number of image sets combined during CR rejecti"),
                     "EXPNAME": (det["rootname"][:8] + "$", "exposure identifier"),
                     "GOODMIN": (gmin, "minimum value of good pixels"),
                     "GOODMAX": (gmax, "maximum value of good pixels"),
                     "NGOODPIX": (ngood, "number of good pixels"),
                     "SNRMIN": (0.0, "minimum signal to noise of good pixels"),
                     "SNRMAX": (float(np.nanmax(scene.sci / scene.err)),
                                "maximum signal to noise of good pixels"),
                     "MEANDARK": (6.5, "average of the dark values subtracted"),
                     "SDQFLAGS": (31743, "serious data quality flags"),
                     "PHOTFLAM": (det["photflam"], "inverse sensitivity, ergs/cm2/A/e-")}
        dec_offset = (extver - 1.5) * chip_shape[0] * det["scale"] / 3600.0 * 1.05
        exts = [_ext("SCI", extver, scene.sci, "ELECTRONS", sci_extra),
                _ext("ERR", extver, scene.err, "ELECTRONS"),
                _ext("DQ", extver, scene.dq.astype(np.int16, copy=False), "UNITLESS")]
        for hdu in exts:
            _hst_wcs(hdu.header, chip_shape, det["scale"], dec_offset)
        hdus += exts
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_hdulist(fits.HDUList(hdus), path)
    return path


def make_acs_wfc_flt(path: PathLike, *, shape: tuple[int, int] | None = None, seed: int = 0,
                     cte: bool = False, nan_pixels: int = 0) -> Path:
    """Write an ACS/WFC ``_flt`` file: 2 chips, SCI/ERR (float32) and DQ (int16) ver 1, 2.

    SCI,1 is WFC2 (CCDCHIP = 2), SCI,2 is WFC1 (CCDCHIP = 1), each 2048 x 4096 (rows x
    columns) unless ``shape`` is given. Electrons. Primary: FILETYPE SCI, TELESCOP, INSTRUME,
    DETECTOR WFC, APERTURE, FILTER1/2, CCDAMP ABCD, READNSEA..D, ATODGNA..D, EXPTIME,
    EXPSTART/EXPEND, NRPTEXP, CRSPLIT, SUBARRAY F, FLATCORR COMPLETE, PCTECORR; SCI headers:
    CCDCHIP, NCOMBINE, GOODMIN/GOODMAX (over DQ == 0 pixels), a TAN WCS (CD matrix).
    Pixels: :func:`hst_ccd_scene`. ``cte=True`` writes an ``_flc`` (PCTECORR COMPLETE).
    """
    return _hst_two_chip("ACS/WFC", path, shape=shape, seed=seed, cte=cte,
                         nan_pixels=nan_pixels)


def make_wfc3_uvis_flt(path: PathLike, *, shape: tuple[int, int] | None = None, seed: int = 0,
                       cte: bool = False, nan_pixels: int = 0) -> Path:
    """Write a WFC3/UVIS ``_flt`` file: 2 chips of 2051 x 4096 (SCI,1 = UVIS2, CCDCHIP 2).

    Keywords and pixels as :func:`make_acs_wfc_flt` (WFC3 UVIS gain, read noise, full well,
    F555W); electrons.
    """
    return _hst_two_chip("WFC3/UVIS", path, shape=shape, seed=seed, cte=cte,
                         nan_pixels=nan_pixels)


def make_wfc3_ir_flt(path: PathLike, *, shape: tuple[int, int] = WFC3_IR_SHAPE, seed: int = 0,
                     nan_pixels: int = 0) -> Path:
    """Write a WFC3/IR ``_flt`` file: SCI, ERR, DQ (int16), SAMP (int16), TIME (float32).

    1014 x 1014, electrons/s, F110W, SPARS50 with NSAMP 14, CCDAMP ABCD, READNSEA..D,
    ATODGNA..D, GOODMIN/GOODMAX; pixels from :func:`wfc3_ir_scene`.
    """
    exptime, nsamp = 699.232483, 14
    scene, samp, time = wfc3_ir_scene(shape, seed=seed, exptime=exptime, nsamp=nsamp,
                                      nan_pixels=nan_pixels)
    primary = _hst_primary(
        instrument="WFC3", detector="IR", aperture="IR", rootname="idqm01b1q",
        filters={"FILTER": "F110W"}, exptime=exptime, gain=2.5, rn=(20.2, 19.8, 19.9, 20.1),
        atod=(2.252, 2.203, 2.188, 2.265), nextend=5,
        extra={"SAMP_SEQ": ("SPARS50", "MultiAccum exposure time sequence name"),
               "NSAMP": (nsamp, "number of MULTIACCUM samples"),
               "SAMPZERO": (2.911756, "sample time of the zeroth read (sec)"),
               "PHOTMODE": "WFC3 IR F110W", "PHOTFLAM": 1.5318e-20, "PHOTPLAM": 11534.459,
               "PHOTZPT": -21.1, "CRCORR": "COMPLETE", "UNITCORR": "COMPLETE"})
    gmin, gmax, ngood = _goodminmax(scene.sci, scene.dq)
    sci_extra = {"NCOMBINE": (1, "number of image sets combined during CR rejecti"),
                 "GOODMIN": (gmin, "minimum value of good pixels"),
                 "GOODMAX": (gmax, "maximum value of good pixels"),
                 "NGOODPIX": (ngood, "number of good pixels"),
                 "SAMPTIME": (exptime, "total integration time (sec)"),
                 "SDQFLAGS": (31743, "serious data quality flags")}
    exts = [_ext("SCI", 1, scene.sci, "ELECTRONS/S", sci_extra),
            _ext("ERR", 1, scene.err, "ELECTRONS/S"),
            _ext("DQ", 1, scene.dq.astype(np.int16, copy=False), "UNITLESS"),
            _ext("SAMP", 1, samp, "UNITLESS"),
            _ext("TIME", 1, time, "SECONDS")]
    for hdu in exts:
        _hst_wcs(hdu.header, scene.sci.shape, 0.1283, 0.0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_hdulist(fits.HDUList([primary] + exts), path)
    return path
