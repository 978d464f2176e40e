"""HST test images for the static-mask tests, built with astropy, and checks of the builder.

The headers carry what drizzlepac's image objects need (instrument/detector, WCS, EXPNAME,
EXPTIME/EXPSTART/EXPEND, gain and read-noise keywords, MEANDARK for ACS, SAMP/TIME for WFC3/IR)
so that ``processInput.createImageObjectList`` accepts them without CRDS or the network.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

from dqmask.io.fits import classify

#: instrument, detector, number of chips, BUNIT
DETECTORS = {
    "acs_wfc": ("ACS", "WFC", 2, "ELECTRONS"),
    "wfc3_uvis": ("WFC3", "UVIS", 2, "ELECTRONS"),
    "wfc3_ir": ("WFC3", "IR", 1, "ELECTRONS/S"),
}


def sky_image(rng: np.random.Generator, shape: tuple[int, int], *, sky: float = 120.0,
              noise: float = 6.0, n_low: int = 40, n_high: int = 60) -> np.ndarray:
    """float32 sky + Gaussian noise, over-subtracted low pixels and cosmic-ray-like highs."""
    data = rng.normal(sky, noise, shape).astype(np.float32)
    flat = data.reshape(-1)
    low = rng.choice(flat.size, n_low, replace=False)
    flat[low] = (sky - rng.uniform(5, 40, n_low) * noise).astype(np.float32)
    high = rng.choice(flat.size, n_high, replace=False)
    flat[high] = (sky + rng.uniform(20, 3000, n_high) * noise).astype(np.float32)
    return data


def _primary(name: str, instrument: str, detector: str, nchips: int) -> fits.Header:
    h = fits.Header()
    h["TELESCOP"] = "HST"
    h["INSTRUME"] = instrument
    h["DETECTOR"] = detector
    h["ROOTNAME"] = name.split("_")[0]
    h["FILENAME"] = name
    h["FILETYPE"] = "SCI"
    h["EXPTIME"] = 400.0
    h["EXPSTART"] = 55436.2857
    h["EXPEND"] = 55436.2904
    h["DATE-OBS"] = "2010-08-23"
    h["TIME-OBS"] = "06:51:26"
    h["SUBARRAY"] = False
    h["FILTER1" if instrument == "ACS" else "FILTER"] = "F606W"
    if instrument == "ACS":
        h["FILTER2"] = "CLEAR2L"
    h["CCDGAIN"] = 1.5
    for amp in "ABCD":
        h[f"ATODGN{amp}"] = 1.5
        h[f"READNSE{amp}"] = 4.5
    h["FLATCORR"] = "COMPLETE"
    h["NEXTEND"] = 3 * nchips
    return h


def _sci_header(ver: int, shape: tuple[int, int], nchips: int, bunit: str,
                expname: str) -> fits.Header:
    h = fits.Header()
    h["INHERIT"] = True
    h["EXPNAME"] = expname
    h["BUNIT"] = bunit
    h["CCDCHIP"] = (3 - ver) if nchips == 2 else 1
    h["CTYPE1"], h["CTYPE2"] = "RA---TAN", "DEC--TAN"
    h["CRPIX1"], h["CRPIX2"] = shape[1] / 2.0, shape[0] / 2.0
    h["CRVAL1"], h["CRVAL2"] = 5.6305681, -72.054572 + 0.03 * (ver - 1)
    h["CD1_1"], h["CD1_2"] = 1.2905626e-05, 5.9530912e-06
    h["CD2_1"], h["CD2_2"] = 5.0220581e-06, -1.2644774e-05
    h["LTV1"], h["LTV2"] = 0.0, 0.0
    h["LTM1_1"], h["LTM2_2"] = 1.0, 1.0
    h["VAFACTOR"] = 1.0000186
    h["ORIENTAT"] = 154.79
    h["MEANDARK"] = 3.1
    return h


def acs_flts(folder: Path, prefix: str, shape: tuple[int, int], *, seed: int, n_low: int,
             count: int = 2) -> list[Path]:
    """``count`` two-chip ACS/WFC flt files ``<prefix><i>abq_flt.fits`` of sky with ``n_low``
    low pixels per chip (:func:`sky_image`)."""
    rng = np.random.default_rng(seed)
    return [hst_flt(folder / f"{prefix}{i}abq_flt.fits", "acs_wfc",
                    [sky_image(rng, shape, n_low=n_low), sky_image(rng, shape, n_low=n_low)])
            for i in range(count)]


def hst_flt(path: Path, kind: str, chips: list[np.ndarray], *,
            dq: list[np.ndarray] | None = None) -> Path:
    """Write an HST flt-like file with one SCI/ERR/DQ imset per array in ``chips``.

    Parameters
    ----------
    path : Path
        Output file; its name (``<root>_flt.fits``) gives ROOTNAME.
    kind : str
        Key of :data:`DETECTORS`.
    chips : list of ndarray
        SCI data per EXTVER (any dtype; float32 in real flt files).
    dq : list of ndarray of int16, optional
        DQ per chip (default zeros).
    """
    instrument, detector, _, bunit = DETECTORS[kind]
    name = Path(path).name
    hdus: list[fits.hdu.base._BaseHDU] = [
        fits.PrimaryHDU(header=_primary(name, instrument, detector, len(chips)))]
    for ver, data in enumerate(chips, start=1):
        shape = data.shape
        sci = fits.ImageHDU(data, header=_sci_header(ver, shape, len(chips), bunit,
                                                    name.split("_")[0]), name="SCI", ver=ver)
        err = fits.ImageHDU(np.ones(shape, np.float32), name="ERR", ver=ver)
        dqa = dq[ver - 1] if dq is not None else np.zeros(shape, np.int16)
        hdus += [sci, err, fits.ImageHDU(dqa, name="DQ", ver=ver)]
        if detector == "IR":
            hdus += [fits.ImageHDU(np.full(shape, 400, np.int16), name="SAMP", ver=ver),
                     fits.ImageHDU(np.full(shape, 400.0, np.float32), name="TIME", ver=ver)]
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return Path(path)


def test_builder_makes_classifiable_flt(tmp_path):
    rng = np.random.default_rng(0)
    path = hst_flt(tmp_path / "jtest01aq_flt.fits", "acs_wfc",
                   [sky_image(rng, (40, 60)), sky_image(rng, (40, 60))])
    info = classify(path)
    assert (info.telescope, info.instrument, info.detector, info.product) == (
        "HST", "ACS", "WFC", "flt")
    assert [c.extver for c in info.chips] == [1, 2]
    assert [c.ccdchip for c in info.chips] == [2, 1]


def test_sky_image_has_low_and_high_outliers():
    data = sky_image(np.random.default_rng(1), (50, 50), n_low=10, n_high=5)
    assert data.dtype == np.float32
    assert np.count_nonzero(data < 120 - 4.9 * 6) == 10
    assert np.count_nonzero(data > 120 + 19 * 6) == 5
