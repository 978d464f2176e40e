"""``nircammask`` / ``nirissmask`` on a file: a JWST cal/crf/i2d image to DOLPHOT's layout.

Reads the SCI, DQ, AREA / WHT (and VAR_RNOISE with ``-estnoise``) of one JWST image,
prepares it with :mod:`.jwst_core` and returns the :class:`~.plans.ChipPlan`
:mod:`.files` writes. Imported only when a JWST file is prepared.
"""

from __future__ import annotations

import logging

import numpy as np
from astropy.io import fits

from ..conventions import dq_to_bad
from ..errors import InputError
from ..flags import JWST_PIXEL
from ..io.fits import classify_hdulist
from . import core as alg
from . import jwst_core
from .plans import (
    ChipPlan,
    MaskOptions,
    dq_bad_bits,
    epoch_of,
    float32,
    image,
    note_once,
    same_shape,
    sci_header,
)

__all__ = ["plans"]

log = logging.getLogger(__name__)


def _count_do_not_use_usable(dq: np.ndarray | None, prepared: alg.Prepared) -> int:
    """Pixels with DQ DO_NOT_USE that DOLPHOT will use (neither bad nor saturated)."""
    if dq is None:
        return 0
    flagged = dq_to_bad(dq, JWST_PIXEL["DO_NOT_USE"])
    return int(np.count_nonzero(flagged & ~prepared.bad & ~prepared.sat))


_JWST_INSTRUMENT = {"nircammask": "NIRCAM", "nirissmask": "NIRISS"}


def plans(hdul: fits.HDUList, path: str, routine: str, options: MaskOptions
                ) -> tuple[list[ChipPlan], str]:
    """The plan of the one SCI image of a JWST cal/crf/i2d file, and what the file is."""
    info = classify_hdulist(hdul, path)
    want = _JWST_INSTRUMENT[routine]
    if info.telescope != "JWST" or info.instrument != want:
        raise InputError(path, f"{routine} needs a JWST {want} image, got "
                               f"{info.telescope or '?'} {info.instrument or '?'}")
    if info.product not in ("cal", "crf", "i2d"):
        raise InputError(path, f"{routine} takes cal, crf or i2d images, not {info.product}")
    primary = hdul[0].header
    sci_hdu = hdul["SCI"]
    sci = float32(image(sci_hdu, path, "SCI"))
    product = info.product
    photmjsr = sci_hdu.header.get("PHOTMJSR", primary.get("PHOTMJSR"))
    if photmjsr is None or isinstance(photmjsr, str) or not float(photmjsr) > 0:
        raise InputError(path, f"PHOTMJSR is {photmjsr!r}; need a positive MJy/sr per DN/s")
    photmjsr = float(photmjsr)
    history: list[str] = []
    if options.exptime is not None and options.exptime > 0:
        exptime, source = float(options.exptime), "-exptime"
    else:
        try:
            exptime, source = jwst_core.jwst_exposure_time(primary, product, options.etctime)
        except KeyError as exc:
            raise InputError(path, f"missing keyword {exc.args[0]} in primary header") from None
        except ValueError as exc:
            raise InputError(path, str(exc)) from None
    history.append(f"DN = SCI / PHOTMJSR ({photmjsr:.10g}) * EXPTIME ({exptime:.10g} s from "
                   f"{source})" + (" * AREA" if product != "i2d" else ""))
    dq = _jwst_dq(hdul, path, product)
    dq_bits = dq_bad_bits(path, options.dq_bad, JWST_PIXEL, "JWST")
    if dq_bits and dq is None:
        history.append(f"--dq-bad {options.dq_bad} not applied: no DQ extension")
    elif dq_bits:
        history.append(f"--dq-bad {options.dq_bad}: DQ & {dq_bits} is bad too "
                       "(not a DOLPHOT rule)")
    if product != "i2d":
        _subsize_check(hdul, path, sci.shape, history)
    area = wht = None
    if product == "i2d":
        if "WHT" not in hdul:
            raise InputError(path, "i2d image without WHT extension")
        wht = float32(image(hdul["WHT"], path, "WHT"))
        same_shape(path, sci, wht, "WHT")
    else:
        if "AREA" not in hdul:
            raise InputError(path, f"{product} image without AREA extension (pixel-area map)")
        area = float32(image(hdul["AREA"], path, "AREA"))
        same_shape(path, sci, area, "AREA")
    prepared = jwst_core.jwst_prepare(sci, dq, product=product, photmjsr=photmjsr, exptime=exptime,
                                area=area, wht=wht, saturated_rule=options.saturated_rule,
                                precedence=options.precedence, dq_bad=dq_bits)
    kept = 0 if options.dq_bad else _count_do_not_use_usable(dq, prepared)
    if kept:
        history.append(f"{kept} DO_NOT_USE pixels left usable by DOLPHOT's rule "
                       "(--dq-bad DO_NOT_USE masks them)")
        note_once("do_not_use", "note: DOLPHOT's rule keeps DO_NOT_USE pixels usable "
                   "(e.g. masks put in DQ by 'dqmask apply'); --dq-bad DO_NOT_USE masks them")
    gain, rdnoise = _jwst_noise(hdul, path, info.detector, options, prepared, photmjsr, exptime,
                                area, history)
    ncombine = options.ncombine if options.ncombine and options.ncombine > 0 else 1
    cards = alg.CardValues(gain=gain, rdnoise=rdnoise, exptime=exptime,
                           badpix=prepared.badpix, saturate=prepared.saturate,
                           epoch=epoch_of(primary, path), airmass=0.0,
                           exptime0=exptime / ncombine)
    tag = jwst_core.jwst_tag(info.instrument, info.detector, product)
    plan = ChipPlan(sci_header(sci_hdu.header, "DN"), prepared, cards, tag, history=history,
                    label=info.detector, usable_do_not_use=kept)
    return [plan], f"{info.detector} {product}"


def _subsize_check(hdul: fits.HDUList, path: str, shape: tuple[int, ...],
                   history: list[str]) -> None:
    """Warn (one line) when SUBSIZE1/SUBSIZE2 disagree with the SCI shape: a cut-out
    whose subarray keywords were not updated, which no longer says where it sits on the
    detector."""
    sizes = []
    for key in ("SUBSIZE1", "SUBSIZE2"):
        value = hdul["SCI"].header.get(key, hdul[0].header.get(key))
        if not isinstance(value, int) or isinstance(value, bool):
            return
        sizes.append(value)
    ny, nx = shape
    if (sizes[1], sizes[0]) == (ny, nx):
        return
    message = (f"SUBSIZE1/2 = {sizes[0]}x{sizes[1]} but SCI is {nx}x{ny}: a cut-out with "
               "stale SUBSTRT/SUBSIZE (its place on the detector is lost)")
    history.append(message)
    log.warning("%s: %s", path, message)


def _jwst_dq(hdul: fits.HDUList, path: str, product: str) -> np.ndarray | None:
    if "DQ" not in hdul:
        if product == "i2d":
            return None
        raise InputError(path, f"{product} image without DQ extension")
    dq = hdul["DQ"].data
    if dq is None or not np.issubdtype(dq.dtype, np.integer):
        raise InputError(path, f"DQ must be an integer image, got "
                               f"{'no data' if dq is None else dq.dtype}")
    return np.asarray(dq).astype(np.uint32, copy=False)


def _jwst_noise(hdul, path, detector, options, prepared, photmjsr, exptime, area,
                history) -> tuple[float, float]:
    try:
        row = jwst_core.jwst_detector_noise(detector, str(hdul[0].header.get("CHANNEL", "")))
    except KeyError:
        row = None
    if row is None and (options.gain is None or (options.rdnoise is None
                                                  and not options.estnoise)):
        raise InputError(path, f"no gain/read-noise table row for DETECTOR={detector}; "
                               "give {gain} and {rdnoise}", mentions=("gain", "rdnoise"))
    if options.gain is not None:
        gain = float(options.gain)
    else:
        assert row is not None  # a missing row raised above
        gain = row.gain
    if options.rdnoise is not None:
        rdnoise = float(options.rdnoise)
        history.append(f"RDNOISE {rdnoise:g} e- given with --rdnoise")
    elif options.estnoise:
        if "VAR_RNOISE" not in hdul:
            raise InputError(path, "-estnoise needs a VAR_RNOISE extension")
        var = float32(image(hdul["VAR_RNOISE"], path, "VAR_RNOISE"))
        usable = ~(prepared.bad | prepared.sat)
        try:
            rdnoise = jwst_core.jwst_estnoise(var, usable, photmjsr, exptime, gain, area)
        except ValueError as exc:
            raise InputError(path, str(exc)) from None
        history.append(f"RDNOISE {rdnoise:.6g} e- = median sqrt(VAR_RNOISE) in DN * GAIN "
                       "(-estnoise)")
    else:
        assert row is not None  # a missing row raised above
        rdnoise = row.rdnoise
        flag = "PROVISIONAL " if row.provisional else ""
        history.append(f"{flag}RDNOISE {rdnoise:.6g} e- for {row.detector}: {row.source}")
    if options.gain is not None:
        history.append(f"GAIN {gain:g} e-/DN given with --gain")
    else:
        assert row is not None  # a missing row raised above
        history.append(f"GAIN {gain:g} e-/DN for {row.detector} (detector table)")
    return gain, rdnoise

