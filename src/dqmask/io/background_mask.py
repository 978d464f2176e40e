"""Background-mask files: NSClean's primary-HDU uint8 and jwst's ``user_mask`` models.

Two on-disk layouts hold one boolean per pixel, **True = background** (fit the 1/f noise
here):

``nsclean``
    Primary HDU only, BITPIX 8 (uint8), 1 = background, 0 = ignored; header exactly as
    NSClean's ``png2fits`` writes it (astropy defaults, ``COMMENT Pixels = 1 are background``,
    ``HISTORY Created by png2fits Rev. 1.5`` for png2fits output), then dqmask's provenance.
    2-D only. jwst's ``datamodels.open`` cannot use this layout (no ``data`` attribute).
``jwst``
    Written by stdatamodels: empty primary (``DATAMODL``) + ``SCI`` float32, 1.0 =
    background, 0.0 = excluded (+ ASDF): an ``ImageModel`` for one 2-D mask, a ``CubeModel``
    for one mask per integration. jwst's ``clean_flicker_noise`` opens it with
    ``datamodels.open(user_mask)`` and reads ``data.astype(bool)``.

:func:`read_background_mask` accepts either and returns bool (True = background). A NaN in a
``SCI`` mask is read as *not* background (jwst's ``astype(bool)`` would call it background;
see :mod:`dqmask.conventions`). Files whose values are not 0/1 (a rate image given by
mistake) or whose polarity cannot be told (a primary-HDU int64 claw mask, 1 = masked) are
refused with a one-line :class:`~dqmask.errors.InputError`.
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from astropy.io import fits

from ..conventions import Convention, from_bad, to_bad
from ..errors import InputError
from .files import require_regular_file
from .fits import add_provenance, open_fits, write_hdulist

__all__ = [
    "MaskFormat",
    "FORMATS",
    "NSCLEAN_REVISION",
    "NSCLEAN_COMMENT",
    "BackgroundMask",
    "read_background_mask",
    "nsclean_hdulist",
    "jwst_hdulist",
    "write_background_mask",
]

log = logging.getLogger(__name__)

MaskFormat = Literal["nsclean", "jwst"]
FORMATS: tuple[str, ...] = ("nsclean", "jwst")
#: NSClean package revision written in png2fits' HISTORY card (``config.__version__``).
NSCLEAN_REVISION = "1.5"
#: NSClean's polarity card.
NSCLEAN_COMMENT = "Pixels = 1 are background"


@dataclass(frozen=True)
class BackgroundMask:
    """A background mask read from disk.

    Attributes
    ----------
    background : ndarray of bool, (ny, nx) or (nints, ny, nx)
        True = background, FITS (DMS) orientation.
    format : {"nsclean", "jwst"}
        Layout it was read from.
    path : str
        File it came from.
    """

    background: np.ndarray
    format: str
    path: str


def _only_zero_one(data: np.ndarray) -> bool:
    return bool(np.all((data == 0) | (data == 1) | np.isnan(data)
                       if data.dtype.kind == "f" else (data == 0) | (data == 1)))


def _read_sci(path: str, hdu: fits.ImageHDU) -> BackgroundMask:
    data = hdu.data
    if data is None or data.ndim not in (2, 3):
        shape = "no data" if data is None else f"{data.ndim}-D data"
        raise InputError(path, f"SCI mask has {shape}; a background mask is 2-D or 3-D")
    if 0 in data.shape:
        raise InputError(path, f"SCI mask has no pixels ({'x'.join(map(str, data.shape))})")
    if not _only_zero_one(data):
        raise InputError(path, "SCI holds values other than 0 and 1: not a background mask "
                               "(a rate image?)")
    kind = Convention.USER_MASK if data.dtype.kind == "f" else Convention.BACKGROUND
    return BackgroundMask(~to_bad(data, kind), "jwst", path)


def _check_dqmconv(path: str, header: fits.Header) -> None:
    """A ``DQMCONV`` keyword (dqmask's own masks) must say ``background``: a ``bad`` or
    ``good`` mask read as a background mask would flip its meaning."""
    from .mask_file import READ_CONVENTIONS  # mask_file imports this module

    raw = header.get("DQMCONV")
    if raw is None:
        return
    conv = str(raw).strip().lower()
    if conv not in READ_CONVENTIONS:
        raise InputError(path, f"DQMCONV = {str(raw)!r} is not a mask convention (choose "
                               f"from {', '.join(READ_CONVENTIONS)})")
    if conv not in ("background", "user_mask"):
        raise InputError(path, f"DQMCONV = '{conv}': not a background mask (1 = background); "
                               f"convert it to the background convention first (dqmask convert)")


def _read_primary(path: str, hdu: fits.PrimaryHDU) -> BackgroundMask:
    header, data = hdu.header, hdu.data
    if data is None or 0 in data.shape:
        raise InputError(path, "primary-HDU mask has no pixels")
    if data.ndim != 2:
        raise InputError(path, f"primary-HDU mask is {data.ndim}-D; NSClean masks are 2-D")
    nsclean_card = NSCLEAN_COMMENT in str(header.get("COMMENT", ""))
    if header.get("BITPIX") != 8 and not nsclean_card:
        raise InputError(path, f"primary-HDU {data.dtype} image is not an NSClean background "
                               f"mask (BITPIX 8, '{NSCLEAN_COMMENT}'): polarity unknown")
    if data.dtype.kind not in "biu" or not _only_zero_one(data):
        raise InputError(path, "primary HDU holds values other than 0 and 1: not an NSClean "
                               "background mask")
    return BackgroundMask(~to_bad(data, Convention.BACKGROUND), "nsclean", path)


def read_background_mask(path: str | os.PathLike) -> BackgroundMask:
    """Read a background mask in either layout (see the module docstring).

    Returns
    -------
    BackgroundMask
        ``background``: bool, True = background.

    Raises
    ------
    InputError
        Unreadable file, no image, values other than 0/1, unknown polarity.
    """
    path = os.fspath(path)
    with open_fits(path) as hdul:
        names = [(h.name or "").upper() for h in hdul]
        _check_dqmconv(path, hdul[0].header)
        if "SCI" in names[1:]:
            mask = _read_sci(path, hdul[names.index("SCI", 1)])
        elif hdul[0].header.get("NAXIS", 0) >= 2:
            mask = _read_primary(path, hdul[0])
        else:
            raise InputError(path, "no mask image: neither a SCI extension (jwst user_mask) "
                                   "nor primary-HDU data (NSClean)")
        return BackgroundMask(np.array(mask.background, dtype=bool), mask.format, path)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def nsclean_hdulist(background: np.ndarray, png2fits_history: bool = True) -> fits.HDUList:
    """NSClean's layout: primary uint8 (1 = background) with png2fits' cards.

    Parameters
    ----------
    background : ndarray of bool, (ny, nx)
        True = background, FITS orientation.
    png2fits_history : bool
        Add ``HISTORY Created by png2fits Rev. 1.5`` as NSClean's png2fits does.
    """
    background = np.asarray(background, dtype=bool)
    if background.ndim != 2:
        raise ValueError("the NSClean layout holds one 2-D mask; use the jwst format for "
                         "per-integration masks")
    hdu = fits.PrimaryHDU(from_bad(~background, Convention.BACKGROUND))
    hdu.header["COMMENT"] = NSCLEAN_COMMENT
    if png2fits_history:
        hdu.header["HISTORY"] = f"Created by png2fits Rev. {NSCLEAN_REVISION}"
    return fits.HDUList([hdu])


def _copy_metadata(model: Any, like: str | os.PathLike | None) -> None:
    if like is None:
        return
    require_regular_file(like, "--like file")  # never hand a FIFO to stdatamodels
    from stdatamodels.jwst import datamodels

    try:
        with datamodels.open(os.fspath(like)) as source:
            model.update(source)
    except Exception as exc:  # metadata is a courtesy; the mask itself does not need it
        log.debug("no metadata copied from %s: %s", like, exc)


def jwst_hdulist(background: np.ndarray, filename: str,
                 like: str | os.PathLike | None = None) -> fits.HDUList:
    """jwst's layout, serialised by stdatamodels: ImageModel (2-D) or CubeModel (3-D).

    Parameters
    ----------
    background : ndarray of bool, (ny, nx) or (nints, ny, nx)
        True = background; stored as float32 SCI, 1.0 = background (``user_mask``).
    filename : str
        Value of the model's ``meta.filename``.
    like : path-like, optional
        JWST product whose top-level metadata is copied, as jwst's ``save_mask`` does.
    """
    from stdatamodels.jwst import datamodels

    background = np.asarray(background, dtype=bool)
    sci = from_bad(~background, Convention.USER_MASK)
    if background.ndim == 2:
        model = datamodels.ImageModel(data=sci)
    elif background.ndim == 3:
        model = datamodels.CubeModel(data=sci)
    else:
        raise ValueError(f"a background mask is 2-D or 3-D, got {background.ndim}-D")
    with model:
        _copy_metadata(model, like)
        model.meta.filename = filename
        buffer = io.BytesIO()
        model.to_fits(buffer)
    buffer.seek(0)
    return fits.open(buffer, lazy_load_hdus=False)


def write_background_mask(path: str | os.PathLike, background: np.ndarray, fmt: str, *,
                          step: str, params: dict[str, Any],
                          like: str | os.PathLike | None = None,
                          png2fits_history: bool = False) -> None:
    """Write a background mask atomically, with dqmask provenance in the primary header.

    Parameters
    ----------
    path : path-like
        Output file (replaced atomically).
    background : ndarray of bool
        True = background; 2-D, or 3-D (one plane per integration, jwst format only).
    fmt : {"nsclean", "jwst"}
        Layout (see the module docstring).
    step, params : str, dict
        Provenance (:func:`~dqmask.io.fits.add_provenance`).
    like : path-like, optional
        jwst format: product whose metadata is copied into the model.
    png2fits_history : bool
        nsclean format: add png2fits' HISTORY card.
    """
    if fmt == "nsclean":
        hdul = nsclean_hdulist(background, png2fits_history)
    elif fmt == "jwst":
        hdul = jwst_hdulist(background, os.path.basename(os.fspath(path)), like)
    else:
        raise ValueError(f"unknown mask format {fmt!r} (choose from {', '.join(FORMATS)})")
    with hdul:
        # provenance goes after NSClean's COMMENT/HISTORY cards, keeping their order
        provenance = fits.Header()
        add_provenance(provenance, step, params)
        for card in provenance.cards:
            hdul[0].header.append(card, end=True)
        write_hdulist(hdul, path)
