"""``dq_init`` on a file: OR a MASK reference into an exposure's PIXELDQ/GROUPDQ (or DQ).

read (io: headers, existing DQ extensions memory-mapped; SCI is never read) -> compute
(:mod:`dqmask.algorithms.dq_init`) -> write (:class:`dqmask.io.fits.FitsUpdate`: only the DQ
extensions and the primary header are re-encoded, atomically; SCI bytes are copied as is).

Records ``S_DQINIT = 'COMPLETE'``, ``R_MASK`` (absolute path of the MASK file, as jwst does
for a local override) and dqmask's provenance record. Refuses already-initialised input
(``S_DQINIT = 'COMPLETE'``) unless ``force``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from ..algorithms import dq_init as alg
from ..errors import AlreadyDoneError, InputError
from ..flags import JWST_PIXEL, decode
from ..io.fits import FitsUpdate, add_provenance, get_hdu
from ..io.mask_ref import MaskRef, read_mask_ref_cached, read_user_dq, subarray_from_header

__all__ = ["DqInitResult", "DqInitDone", "dq_init_file", "stripes_from_header", "STEP"]

log = logging.getLogger("dqmask.dq_init")

STEP = "dqinit"


class DqInitDone(AlreadyDoneError):
    """The exposure already has ``S_DQINIT = 'COMPLETE'`` (skipped unless forced)."""

    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__(path, STEP)
        self.args = (f"{self.path}: DQ already initialised (S_DQINIT = COMPLETE); skipped "
                     f"(use --force to apply the mask again)",)

    def __str__(self) -> str:
        return self.args[0]


@dataclass(frozen=True)
class DqInitResult:
    """What :func:`dq_init_file` did.

    Attributes
    ----------
    path, out : str
        Input and output files (equal for in-place runs).
    kind : ExposureKind
        guider (DQ), ramp (PIXELDQ + GROUPDQ) or superstripe.
    mask_shape : tuple
        Shape of the mask OR-ed in (science frame).
    flagged : int
        Pixels with any flag in the mask (after user DQ).
    do_not_use : int
        Pixels with DO_NOT_USE in the mask (propagated to every group).
    created : tuple of str
        DQ extensions created or replaced because they were missing or mis-shaped.
    """

    path: str
    out: str
    kind: alg.ExposureKind
    mask_shape: tuple[int, ...]
    flagged: int
    do_not_use: int
    created: tuple[str, ...]

    def summary(self) -> str:
        target = "DQ" if self.kind is alg.ExposureKind.GUIDER else "PIXELDQ/GROUPDQ"
        where = "in place" if self.out == self.path else f"-> {self.out}"
        made = f"; created {', '.join(self.created)}" if self.created else ""
        return (f"{self.path} {where}: {self.kind} {'x'.join(map(str, self.mask_shape))}, "
                f"{self.flagged} pixels flagged in {target}, {self.do_not_use} DO_NOT_USE"
                f"{made}")


def _int(header: fits.Header, key: str, default: int | None = None) -> int | None:
    value = header.get(key)
    if value is None or isinstance(value, (fits.card.Undefined, str, bool)):
        return default
    return int(value)


def stripes_from_header(header: fits.Header) -> alg.Stripes:
    """MSTR_* / SSTR_* keywords of a science primary header (absent: upstream defaults)."""
    return alg.Stripes(
        reads1=_int(header, "MSTR_RD1"), skips1=_int(header, "MSTR_SK1", 0),
        reads2=_int(header, "MSTR_RD2", 0), skips2=_int(header, "MSTR_SK2", 0),
        repeat_stripe=_int(header, "MSTR_RPT", 0), interleave_reads1=_int(header, "MSTR_ILV", 0),
        superstripe_step=_int(header, "SSTR_STP", 0), num_superstripe=_int(header, "SSTR_NST"),
    )


def _str(header: fits.Header, key: str) -> str:
    value = header.get(key)
    return "" if value is None or isinstance(value, fits.card.Undefined) else str(value).strip()


def _shape(hdu: fits.hdu.base._BaseHDU) -> tuple[int, ...]:
    naxis = int(hdu.header.get("NAXIS", 0))
    return tuple(int(hdu.header[f"NAXIS{k}"]) for k in range(naxis, 0, -1))


def _check_pairing(path: str, primary: fits.Header, mask: MaskRef) -> None:
    inst, det = _str(primary, "INSTRUME").upper(), _str(primary, "DETECTOR").upper()
    wrong = [(key, m, e) for key, m, e in (("INSTRUME", mask.instrument, inst),
                                           ("DETECTOR", mask.detector, det)) if m and e and m != e]
    if wrong:
        what = ", ".join(f"{k} {m} (exposure: {e})" for k, m, e in wrong)
        raise InputError(path, f"MASK {os.path.basename(mask.path)} is for {what}; use "
                               f"--ignore-detector to apply it anyway")
    missing = [k for k, m in (("INSTRUME", mask.instrument), ("DETECTOR", mask.detector)) if not m]
    if missing:
        log.warning("MASK %s has no %s keyword; cannot check it belongs to %s %s",
                    os.path.basename(mask.path), "/".join(missing), inst, det)


def _check_shape(path: str, kind: alg.ExposureKind, shape: tuple[int, ...]) -> None:
    if kind is alg.ExposureKind.GUIDER:
        if not 2 <= len(shape) <= 4:
            raise InputError(path, f"FGS guider SCI has {len(shape)} dimensions")
    elif len(shape) != 4:
        raise InputError(path, f"dqinit needs a raw ramp (4-D SCI, e.g. *_uncal.fits); SCI "
                               f"here is {len(shape)}-D {shape}")


def _science_mask(path: str, primary: fits.Header, data_shape: tuple[int, ...],
                  mask: MaskRef, user_dq: np.ndarray | None, validate: bool) -> np.ndarray:
    sci = subarray_from_header(primary)
    stripes = stripes_from_header(primary)
    try:
        raw = alg.mask_for_science(mask.raw_dq, mask.subarray, mask.instrument, sci,
                                   data_shape, stripes, strict=True)
        report = alg.dq_def_report(raw, mask.dq_def)
        if report.undefined_bits:
            log.warning("MASK %s: %d pixels carry on-disk bits %d with no DQ_DEF row; "
                        "dropped, as jwst does", os.path.basename(mask.path),
                        report.pixels_losing_bits, report.undefined_bits)
        standard = mask.standard(raw)  # the DQ_DEF mapping commutes with cutting
        return alg.merge_user_dq(standard, user_dq, validate=validate)
    except ValueError as exc:
        raise InputError(path, str(exc)) from None


def _existing(hdul: fits.HDUList, names: list[str]) -> dict[str, np.ndarray | None]:
    present = {(h.name or "").upper(): h for h in hdul}
    out = {}
    for name in names:
        hdu = present.get(name.upper())
        out[name] = hdu.data if hdu is not None and hdu.header.get("NAXIS", 0) else None
    return out


def _write_arrays(up: FitsUpdate, arrays: dict[str, np.ndarray]) -> None:
    names = [(h.name or "").upper() for h in up.hdul]
    for name, data in arrays.items():
        ext = name.upper()
        if ext in names:
            hdu = up.hdul[names.index(ext)]
            if isinstance(hdu, fits.ImageHDU):
                up.set_data(ext, data)
                continue
            del up.hdul[names.index(ext)]  # not an image: replace it
            names = [(h.name or "").upper() for h in up.hdul]
        at = names.index("ASDF") if "ASDF" in names else len(up.hdul)
        up.hdul.insert(at, fits.ImageHDU(data, name=ext))
        up.changed.add(at)
        names = [(h.name or "").upper() for h in up.hdul]


def dq_init_file(path: str | os.PathLike, mask: str | os.PathLike | MaskRef,
                 out: str | os.PathLike | None = None, *,
                 user_dq: str | os.PathLike | np.ndarray | None = None, force: bool = False,
                 ignore_detector: bool = False, faithful: bool = False) -> DqInitResult:
    """Apply a MASK reference file to one JWST raw exposure (jwst ``dq_init`` parity).

    Parameters
    ----------
    path : path-like
        Exposure (``*_uncal.fits`` ramp, superstripe ramp, or FGS guider product).
    mask : path-like or MaskRef
        MASK reference file (``REFTYPE = MASK``).
    out : path-like, optional
        Output file; default: rewrite ``path`` atomically.
    user_dq : path-like or ndarray, optional
        User-supplied DQ (``dq`` standard flags, science-frame shape), OR-ed into the mask
        before DO_NOT_USE goes to GROUPDQ.
    force : bool
        Apply even if ``S_DQINIT = 'COMPLETE'``.
    ignore_detector : bool
        Apply a MASK whose INSTRUME/DETECTOR differ from the exposure's.
    faithful : bool
        Cast the user DQ like jwst (``astype(uint32)``: floats truncate, negatives wrap)
        instead of refusing non-integer or negative values.

    Returns
    -------
    DqInitResult

    Raises
    ------
    InputError
        Any problem with the exposure, the MASK or the user DQ, before anything is written.
    DqInitDone
        Already initialised and not ``force``.
    """
    path = os.fspath(path)
    out = os.fspath(out) if out is not None else path
    ref = mask if isinstance(mask, MaskRef) else read_mask_ref_cached(mask)
    user = read_user_dq(user_dq) if isinstance(user_dq, (str, os.PathLike)) else user_dq
    if user is not None:
        log.info("User-supplied DQ %s given. Adding it to DQ initialization.",
                 user_dq if isinstance(user_dq, (str, os.PathLike)) else "array")
    log.info("Using MASK reference file %s", ref.path)
    with FitsUpdate(path, out) as up:
        primary = up.hdul[0].header
        if _str(primary, "TELESCOP").upper() not in ("JWST", ""):
            raise InputError(path, f"not a JWST exposure (TELESCOP={_str(primary, 'TELESCOP')})")
        if _str(primary, "S_DQINIT").upper() == "COMPLETE" and not force:
            raise DqInitDone(path)
        data_shape = _shape(get_hdu(up.hdul, "SCI", path))
        kind = alg.exposure_kind(_str(primary, "EXP_TYPE"), _int(primary, "SSTR_NST"))
        _check_shape(path, kind, data_shape)
        if not ignore_detector:
            _check_pairing(path, primary, ref)
        mask_array = _science_mask(path, primary, data_shape, ref, user, not faithful)
        names = list(alg.default_dq_shapes(kind, data_shape, _int(primary, "SSTR_NST")))
        existing = _existing(up.hdul, names)
        arrays = alg.ensure_dq_arrays(kind, data_shape, existing, _int(primary, "SSTR_NST"))
        created = tuple(n.upper() for n in names
                        if existing[n] is None or existing[n].shape != arrays[n].shape)
        try:
            alg.apply_mask(kind, mask_array, arrays)
        except ValueError as exc:
            raise InputError(path, str(exc)) from None
        _write_arrays(up, arrays)
        primary = up.header(0)
        primary["S_DQINIT"] = ("COMPLETE", "Data Quality Initialization")
        primary["R_MASK"] = os.path.abspath(ref.path) if ref.path else "N/A"
        add_provenance(primary, STEP, {
            "mask": os.path.basename(ref.path) if ref.path else "array",
            "user_dq": (os.path.basename(os.fspath(user_dq))
                        if isinstance(user_dq, (str, os.PathLike)) else
                        ("array" if user is not None else None)),
        })
    dnu = int(np.count_nonzero(mask_array & np.uint32(JWST_PIXEL["DO_NOT_USE"])))
    log.debug("mask flags: %s", decode(int(np.bitwise_or.reduce(mask_array, axis=None))))
    return DqInitResult(path, out, kind, tuple(mask_array.shape),
                        int(np.count_nonzero(mask_array)), dnu, created)
