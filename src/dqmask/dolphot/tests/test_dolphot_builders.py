"""Small generated JWST / HST files for the DOLPHOT tests (no tests in this module).

Every builder writes a file whose pixel values, DQ bits and header cards the tests set
explicitly, so the expected outputs can be computed by hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

JWST_PRIMARY = {
    "TELESCOP": "JWST", "INSTRUME": "NIRCAM", "DETECTOR": "NRCA1", "EXP_TYPE": "NRC_IMAGE",
    "SUBARRAY": "FULL", "EFFEXPTM": 311.4, "TMEASURE": 268.4, "TGROUP": 10.737,
    "NGROUPS": 26, "NINTS": 1, "EXPSTART": 59800.0, "EXPEND": 59800.5,
    "S_PHOTOM": "COMPLETE",
}


def _primary(cards: dict) -> fits.PrimaryHDU:
    hdu = fits.PrimaryHDU()
    for k, v in cards.items():
        hdu.header[k] = v
    return hdu


def jwst_cal(path: Path, sci: np.ndarray, dq: np.ndarray, area: np.ndarray | None = None, *,
             primary: dict | None = None, photmjsr: float = 0.5, product: str = "cal",
             var_rnoise: np.ndarray | None = None, history: bool = True) -> Path:
    """A JWST cal (or crf) file: SCI (MJy/sr), ERR, DQ (uint32), AREA, VAR_RNOISE, ASDF."""
    cards = dict(JWST_PRIMARY)
    if product == "crf":
        cards["S_OUTLIR"] = "COMPLETE"
    cards.update(primary or {})
    p = _primary(cards)
    if history:
        p.header.add_history("first history line")
        p.header.add_history("first history line again, same first letter")
        p.header["S_REGION"] = "POLYGON ICRS " + " ".join(f"{10 + i * 0.001:.9f}"
                                                           for i in range(16))
    sci = np.asarray(sci, dtype=np.float32)
    shi = fits.ImageHDU(sci, name="SCI")
    shi.header["BUNIT"] = "MJy/sr"
    shi.header["PHOTMJSR"] = photmjsr
    shi.header.add_history("sci history A")
    shi.header.add_history("sci history B")
    area = np.ones_like(sci) if area is None else np.asarray(area, dtype=np.float32)
    var = np.full_like(sci, 0.01) if var_rnoise is None else var_rnoise
    hdus = [p, shi,
            fits.ImageHDU(np.ones_like(sci), name="ERR"),
            fits.ImageHDU(np.asarray(dq, dtype=np.uint32), name="DQ"),
            fits.ImageHDU(area, name="AREA"),
            fits.ImageHDU(np.asarray(var, dtype=np.float32), name="VAR_RNOISE"),
            fits.BinTableHDU.from_columns([fits.Column("ASDF_METADATA", "5B",
                                                       array=np.zeros((1, 5), np.uint8))],
                                          name="ASDF")]
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path


def jwst_i2d(path: Path, sci: np.ndarray, wht: np.ndarray, *, primary: dict | None = None,
             photmjsr: float = 0.5, instrument: str = "NIRCAM") -> Path:
    """A JWST i2d: SCI, ERR, CON, WHT (no DQ, as the pipeline writes), S_RESAMP complete."""
    cards = dict(JWST_PRIMARY)
    cards.update({"INSTRUME": instrument, "S_RESAMP": "COMPLETE",
                  "DETECTOR": "MULTIPLE" if instrument == "NIRCAM" else "NIS"})
    cards.update(primary or {})
    sci = np.asarray(sci, dtype=np.float32)
    shi = fits.ImageHDU(sci, name="SCI")
    shi.header["PHOTMJSR"] = photmjsr
    shi.header["BUNIT"] = "MJy/sr"
    hdus = [_primary(cards), shi, fits.ImageHDU(np.ones_like(sci), name="ERR"),
            fits.ImageHDU(np.ones(sci.shape, np.int32), name="CON"),
            fits.ImageHDU(np.asarray(wht, dtype=np.float32), name="WHT")]
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path


HST_PRIMARY = {"TELESCOP": "HST", "FILETYPE": "SCI", "CCDAMP": "ABCD",
               "READNSEA": 4.0, "READNSEB": 5.0, "READNSEC": 6.0, "READNSED": 8.0,
               "EXPTIME": 500.0, "EXPSTART": 55000.0, "EXPEND": 55000.25,
               "NRPTEXP": 1, "CRSPLIT": 2}


def _sci_header(ccdchip: int | None, goodmin: float, goodmax: float, crpix=(10.0, 10.0),
                sip: dict | None = None) -> fits.Header:
    h = fits.Header()
    h["EXTNAME"] = "SCI"
    if ccdchip is not None:
        h["CCDCHIP"] = ccdchip
    h["GOODMIN"] = goodmin
    h["GOODMAX"] = goodmax
    h["CTYPE1"], h["CTYPE2"] = "RA---TAN-SIP", "DEC--TAN-SIP"
    h["CRPIX1"], h["CRPIX2"] = crpix
    h["CRVAL1"], h["CRVAL2"] = 10.0, 20.0
    h["CD1_1"], h["CD1_2"], h["CD2_1"], h["CD2_2"] = -1.0e-5, 0.0, 0.0, 1.0e-5
    sip = sip if sip is not None else {}
    h["A_ORDER"] = h["B_ORDER"] = 2
    for k, v in sip.items():
        h[k] = v
    return h


def hst_flt(path: Path, instrument: str, detector: str, scis: list[np.ndarray],
            dqs: list[np.ndarray], *, aperture: str = "", ccdchips: list[int | None] | None = None,
            goodmin: float = -20.0, goodmax: float = 1000.0, primary: dict | None = None,
            sip: dict | None = None, extra_tables: bool = True, crpix=(10.0, 10.0)) -> Path:
    """An HST flt: per chip SCI (float32), ERR, DQ (int16) [+ SAMP/TIME for IR], + WCSCORR."""
    cards = dict(HST_PRIMARY)
    cards.update({"INSTRUME": instrument, "DETECTOR": detector,
                  "APERTURE": aperture or detector})
    cards.update(primary or {})
    hdus: list = [_primary(cards)]
    ccdchips = ccdchips or [None] * len(scis)
    for ver, (sci, dq, chip) in enumerate(zip(scis, dqs, ccdchips, strict=True), start=1):
        h = _sci_header(chip, goodmin, goodmax, crpix, sip)
        h["EXTVER"] = ver
        hdus.append(fits.ImageHDU(np.asarray(sci, np.float32), header=h))
        hdus.append(fits.ImageHDU(np.ones(sci.shape, np.float32), name="ERR", ver=ver))
        hdus.append(fits.ImageHDU(np.asarray(dq, np.int16), name="DQ", ver=ver))
        if detector == "IR":
            hdus.append(fits.ImageHDU(np.ones(sci.shape, np.int16), name="SAMP", ver=ver))
            hdus.append(fits.ImageHDU(np.ones(sci.shape, np.float32), name="TIME", ver=ver))
    if extra_tables:
        hdus.append(fits.BinTableHDU.from_columns(
            [fits.Column("WCS_ID", "8A", array=np.array(["OPUS"]))], name="WCSCORR"))
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path


def hst_drz(path: Path, instrument: str, detector: str, sci: np.ndarray, wht: np.ndarray,
            ctx: np.ndarray, *, primary: dict | None = None, hdrtab: dict | None = None) -> Path:
    """An HST drz: SCI (e-/s), WHT, CTX (int32, 2-D or 3-D), HDRTAB.

    ``hdrtab`` keys move from the primary header to HDRTAB columns (as astrodrizzle does).
    """
    cards = dict(HST_PRIMARY)
    cards.update({"INSTRUME": instrument, "DETECTOR": detector, "APERTURE": detector})
    cards.update(primary or {})
    for key in hdrtab or {}:
        cards.pop(key, None)
    h = fits.Header()
    h["EXTNAME"] = "SCI"
    hdus = [_primary(cards), fits.ImageHDU(np.asarray(sci, np.float32), header=h),
            fits.ImageHDU(np.asarray(wht, np.float32), name="WHT"),
            fits.ImageHDU(np.asarray(ctx, np.int32), name="CTX"),
            fits.BinTableHDU.from_columns(
                [fits.Column("ROOTNAME", "9A", array=np.array(["j0001", "j0002"]))]
                + [fits.Column(k, "D" if isinstance(v, float) else "8A",
                               array=np.array([v, v])) for k, v in (hdrtab or {}).items()],
                name="HDRTAB")]
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path


def pam_dir(root: Path, files: dict[str, np.ndarray]) -> Path:
    """DOLPHOT data layout: acs/data/*.fits (PAM in the primary), wfc3/data/*.fits (ext 1)."""
    for rel, data in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel.startswith("acs/"):
            fits.PrimaryHDU(np.asarray(data, np.float32)).writeto(target, overwrite=True)
        else:
            fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.asarray(data, np.float32))]
                         ).writeto(target, overwrite=True)
    return root
