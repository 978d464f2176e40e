"""``dq_init`` on a file: OR a MASK reference into an exposure's PIXELDQ/GROUPDQ (or DQ).

read (io: headers, existing DQ extensions memory-mapped; SCI is never read) -> compute
(:mod:`dqmask.dq_init.core`) -> write (:class:`dqmask.io.fits.FitsUpdate`: only the DQ
extensions and the primary header are re-encoded, atomically; SCI bytes are copied as is).

Records ``S_DQINIT = 'COMPLETE'``, ``R_MASK`` (absolute path of the MASK file, as jwst does
for a local override), ``DATAMODL`` (the model class jwst's step returns: RampModel,
SuperstripeRampModel or GuiderRawModel, so that ``stdatamodels`` opens the output as the model
the next jwst step expects), ``FILENAME`` and dqmask's provenance record. Refuses input that
is not a raw exposure first, then already-initialised input (``S_DQINIT = 'COMPLETE'``)
unless ``force``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import overload

import numpy as np
from astropy.io import fits

from ..apply.core import mask_stats
from ..errors import AlreadyDoneError, InputError
from ..flags import JWST_PIXEL
from ..io.fits import FitsUpdate, add_provenance, get_hdu
from ..pipeline.options import MAX_FRACTION, refuse_above_max_fraction
from . import core as alg
from .mask_ref import MaskRef, read_mask_ref, read_user_dq, subarray_from_header
from .options import OUTPUT_SUFFIX, PARAMETERS

__all__ = ["DqInitResult", "DqInitDone", "dq_init_file", "load_user_dq", "default_output_name",
           "stripes_from_header", "split_suffix", "STEP", "OUTPUT_SUFFIX", "JWST_SUFFIXES",
           "PARAMETERS"]

log = logging.getLogger(__name__)

STEP = "dqinit"

#: jwst 3.0's product suffixes (``jwst.lib.suffix.KNOW_SUFFIXES``, compared in the tests):
#: the one ending an input name is replaced by :data:`OUTPUT_SUFFIX`.
JWST_SUFFIXES = frozenset("""
adaptive_trace_model adaptivetracemodelstep align_refs alignrefsstep ami ami-oi ami3pipeline
ami_analyze ami_normalize amianalyzestep aminorm aminorm-oi aminormalizestep assign_mtwcs
assign_wcs assignmtwcsstep assignwcsstep backgroundstep badpixselfcalstep barshadowstep
bkg_subtract blot bsub bsubints c1d cal calints cat chargemigrationstep clean_flicker_noise
cleanflickernoisestep combine1dstep combine_1d coron3pipeline crf crfints cube_build
cubebuildstep dark dark_current darkcurrentstep darkpipeline detector1pipeline dq_init
dqinitstep emicorr emicorrstep engdblog extract1dstep extract2dstep extract_1d extract_2d
firstframe firstframestep flat_field flatfieldstep fringe fringestep gain_scale
gainscalestep group_scale groupscalestep guider_cds guidercdsstep guiderpipeline hlsp
hlspstep i2d image2pipeline image3pipeline imprint imprintstep ipc ipcstep jump jumpstep
klip klipstep lastframe lastframestep linearity linearitystep master_background
masterbackgroundmosstep masterbackgroundstep mbsub median msaflagopenstep outlier_detection
outlierdetectionstep pathloss pathlossstep persistence persistencestep phot photom
photomstep picture_frame pictureframestep pixelreplacestep psfalign psfstack psfsub ramp
ramp_fit rampfitstep rate rateints refpix refpixstep resample resample_spec resamplespecstep
resamplestep reset resetstep residual_fringe residualfringestep rscd rscdstep s2d s3d
saturation saturationstep skymatch skymatchstep snr source_catalog sourcecatalogstep
sourcetypestep spec2nrslamp spec2pipeline spec3pipeline spectral_leak spectralleakstep
srctype stackrefs stackrefsstep straylight straylightstep superbias superbiasstep
targ_centroid targcentroidstep tso3pipeline tsophotometrystep tweakreg tweakregstep uncal
wavecorrstep wfscmb wfscombine wfscombinestep wfsscontamstep white_light whitelightstep
whtlt x1d x1dints
""".split())


def split_suffix(stem: str) -> tuple[str, str | None]:
    """``(root, separator)`` of a file name without extension, as jwst's
    ``jwst.lib.suffix.remove_suffix`` splits it (its regular expression, without compiling
    a 200-way alternation at every start).

    The shortest root (one character at least) followed by ``_`` or ``-`` and a known
    suffix (:data:`JWST_SUFFIXES`) that ends the name; else the whole stem, no separator.
    """
    for i in range(1, len(stem)):
        if stem[i] in "_-" and stem[i + 1:] in JWST_SUFFIXES:
            return stem[:i], stem[i]
    return stem, None


def default_output_name(path: str | os.PathLike) -> str:
    """The file jwst's ``strun dq_init`` writes for ``path``, in the same folder.

    stpipe's rule: drop the extension, drop one known jwst suffix (``_uncal``, ``_ramp``,
    ``-saturationstep``... with its ``_`` or ``-``), append ``_dqinitstep.fits`` (with the
    dropped separator). A compression extension goes too (``x_uncal.fits.gz`` ->
    ``x_dqinitstep.fits``; stpipe would keep ``.fits`` in the root).
    """
    folder, name = os.path.split(os.fspath(path))
    for ext in (".gz", ".bz2", ".xz", ".zip"):
        name = name.removesuffix(ext)
    root, sep = split_suffix(os.path.splitext(name)[0])
    return os.path.join(folder, f"{root}{sep or '_'}{OUTPUT_SUFFIX}.fits")


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
        where = "in place" if self.out == self.path else f"-> {self.out}"
        made = f"; created {', '.join(self.created)}" if self.created else ""
        if self.kind is alg.ExposureKind.GUIDER:
            what = f"{self.flagged} pixels flagged into DQ ({self.do_not_use} DO_NOT_USE)"
        else:
            what = (f"{self.flagged} pixels flagged into PIXELDQ, {self.do_not_use} "
                    f"DO_NOT_USE into every group of GROUPDQ")
        return (f"{self.path} {where}: {self.kind} {'x'.join(map(str, self.mask_shape))}, "
                f"{what}{made}")


@overload
def _int(header: fits.Header, key: str, default: int) -> int: ...
@overload
def _int(header: fits.Header, key: str, default: None = None) -> int | None: ...
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
                               "{ignore_detector} to apply it anyway",
                         mentions=("ignore_detector",))
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


def load_user_dq(user_dq: str | os.PathLike | np.ndarray, *,
                 max_fraction: float = MAX_FRACTION.default,
                 faithful: bool = False, name: str | None = None) -> np.ndarray:
    """A user-supplied DQ, read and checked once, before any exposure is touched.

    Parameters
    ----------
    user_dq : path-like or ndarray
        User DQ file (read like jwst's ``fits.getdata``: primary HDU, else extension 1) or
        array; ``dq`` standard flags (any value set = a flagged pixel).
    max_fraction : float
        ``--max-fraction``: refuse a user DQ flagging more than this fraction of its pixels
        (the rule and message of ``dqmask apply``).
    faithful : bool
        Let values through that jwst would cast (non-integer floats, negatives).
    name : str, optional
        What errors name for an array (default ``"user DQ array"``).

    Returns
    -------
    ndarray
        ``dq`` standard flags as stored (cast to uint32 when OR-ed in).

    Raises
    ------
    InputError
        Naming the user DQ file: unreadable, a background / good-pixel mask by its header
        (polarity opposite to flags), non-integer or negative values (unless ``faithful``),
        flagged fraction above ``max_fraction``.
    """
    label = os.fspath(user_dq) if isinstance(user_dq, (str, os.PathLike)) else (
        name or "user DQ array")
    data = read_user_dq(label) if isinstance(user_dq, (str, os.PathLike)) else np.asarray(user_dq)
    if not faithful:
        try:
            alg.check_user_dq_values(data)
        except alg.UserDqError as exc:
            raise InputError(label, str(exc)) from None
    refuse_above_max_fraction(label, mask_stats([np.asarray(data != 0)]), max_fraction)
    return data


def _science_mask(path: str, primary: fits.Header, data_shape: tuple[int, ...],
                  mask: MaskRef, user_dq: np.ndarray | None, user_label: str,
                  validate: bool, all_stripes: bool, owned: bool) -> np.ndarray:
    """The MASK (and user DQ) as ``dq`` standard flags in the science frame.

    ``owned``: ``mask`` was read for this exposure alone, so its ``raw_dq`` may become the
    result (decompressed in place) instead of being copied first.
    """
    sci = subarray_from_header(primary)
    stripes = stripes_from_header(primary)
    try:
        raw = alg.mask_for_science(mask.raw_dq, mask.subarray, mask.instrument, sci,
                                   data_shape, stripes, strict=True, copy=not owned)
        # the DQ_DEF mapping is per pixel and maps 0 to 0, so it commutes with the cut
        standard, report = alg.decompress_with_report(raw, mask.dq_def)
        if report.undefined_bits:
            log.warning("MASK %s: %d pixels carry on-disk bits %d with no DQ_DEF row; "
                        "dropped, as jwst does", os.path.basename(mask.path),
                        report.pixels_losing_bits, report.undefined_bits)
        return alg.merge_user_dq(standard, user_dq, validate=validate,
                                 all_stripes=all_stripes)
    except alg.UserDqShapeError as exc:
        raise InputError(user_label, f"{exc} (the science frame of {path})") from None
    except alg.UserDqError as exc:
        raise InputError(user_label, str(exc)) from None
    except ValueError as exc:
        raise InputError(path, str(exc)) from None


def _existing(hdul: fits.HDUList, names: list[str]) -> dict[str, np.ndarray | None]:
    present = {(h.name or "").upper(): h for h in hdul}
    out = {}
    for name in names:
        hdu = present.get(name.upper())
        out[name] = hdu.data if hdu is not None and hdu.header.get("NAXIS", 0) else None
    return out


def _image_hdu(name: str, data: np.ndarray, old: fits.Header | None
               ) -> fits.ImageHDU:
    """An ImageHDU for a DQ array, encoded without astropy's temporaries.

    uint32 arrays (owned by this step) are turned in place into their on-disk form (int32
    big-endian, top bit flipped) with BZERO = 2**31: astropy would otherwise allocate two
    full-size copies to do the same. A broadcast (read-only, zero-stride) GROUPDQ is kept
    as it is: :func:`_write_arrays` has it written plane by plane (see :func:`_broadcast`).
    """
    if data.dtype == np.uint32 and data.flags.writeable and data.flags.c_contiguous:
        data ^= np.uint32(2**31)
        data = data.byteswap(inplace=True).view(">i4")
    header = fits.Header()
    if old is not None:  # keep the cards of a replaced extension (EXTVER, BUNIT...)
        skip = {"XTENSION", "BITPIX", "PCOUNT", "GCOUNT", "BZERO", "BSCALE", "EXTEND",
                "CHECKSUM", "DATASUM", "SIMPLE"}
        for card in old.cards:
            if card.keyword not in skip and not card.keyword.startswith("NAXIS"):
                header.append(card)
    hdu = fits.ImageHDU(data, header=header, name=name)
    if data.dtype == np.dtype(">i4"):
        hdu.header.set("BSCALE", 1, after="GCOUNT")
        hdu.header.set("BZERO", 2**31, after="BSCALE")
    return hdu


def _broadcast(data: np.ndarray) -> bool:
    """True for a read-only broadcast of one plane (a fresh ramp's GROUPDQ, 40 MiB for a
    full-frame 10-group ramp): it is written strip by strip from the plane, never copied
    whole. Materialising it cost a full-size allocation and copy; handing it to astropy as
    it is would be worse (the atomic writer is not an OS-level file to astropy, which then
    writes a non-contiguous array one element per call)."""
    return not data.flags.writeable and data.ndim > 2 and not any(data.strides[:-2])


def _rows_of(data: np.ndarray) -> Callable[[int, int], np.ndarray]:
    """``rows(start, stop)``: the first-axis slice of ``data`` (a view, no copy)."""
    return lambda start, stop: data[start:stop]


def _write_arrays(up: FitsUpdate, arrays: dict[str, np.ndarray]) -> None:
    for name, data in arrays.items():
        ext = name.upper()
        names = [(h.name or "").upper() for h in up.hdul]
        old = None
        if ext in names:
            at = names.index(ext)
            old = up.hdul[at].header if isinstance(up.hdul[at], fits.ImageHDU) else None
            del up.hdul[at]
        else:
            at = names.index("ASDF") if "ASDF" in names else len(up.hdul)
        up.hdul.insert(at, _image_hdu(ext, data, old))
        if old is None:
            up.changed = {i + 1 if i >= at else i for i in up.changed}
        up.changed.add(at)
        if _broadcast(data):
            up.set_data_strips(at, data.shape, data.dtype, _rows_of(data))


def _raw_exposure(path: str, hdul: fits.HDUList, force: bool
                  ) -> tuple[alg.ExposureKind, tuple[int, ...]]:
    """Model kind and SCI shape of a raw exposure; checks in the order a user needs them.

    Raises
    ------
    InputError
        Not JWST, or not a raw exposure (a rate file is that, whatever its S_DQINIT says).
    DqInitDone
        ``S_DQINIT = 'COMPLETE'`` and not ``force``.
    """
    primary = hdul[0].header
    if _str(primary, "TELESCOP").upper() not in ("JWST", ""):
        raise InputError(path, f"not a JWST exposure (TELESCOP={_str(primary, 'TELESCOP')})")
    data_shape = _shape(get_hdu(hdul, "SCI", path))
    kind = alg.exposure_kind(_str(primary, "EXP_TYPE"), _int(primary, "SSTR_NST"))
    _check_shape(path, kind, data_shape)
    if _str(primary, "S_DQINIT").upper() == "COMPLETE" and not force:
        raise DqInitDone(path)
    return kind, data_shape


def _record_model(primary: fits.Header, kind: alg.ExposureKind, out: str) -> None:
    """``DATAMODL`` and ``FILENAME`` as jwst's step writes them for its output model."""
    primary["DATAMODL"] = (kind.datamodel, "Type of data model")
    primary["FILENAME"] = (os.path.basename(out), "Name of the file")


def _skip(path: str, out: str, force: bool) -> DqInitResult:
    """jwst's ``N/A`` MASK: warn, record ``S_DQINIT = 'SKIPPED'``, leave the DQ alone."""
    with FitsUpdate(path, out) as up:
        kind, shape = _raw_exposure(path, up.hdul, force)
        log.info("Using MASK reference file N/A")
        log.warning("No MASK reference file found")
        log.warning("DQ initialization step will be skipped")
        primary = up.header(0)
        _record_model(primary, kind, out)
        primary["S_DQINIT"] = ("SKIPPED", "Data Quality Initialization")
        primary["R_MASK"] = "N/A"
        add_provenance(primary, STEP, {"mask": "N/A", "user_dq": None})
    return DqInitResult(path, out, kind, tuple(shape[-2:]), 0, 0, ())


def dq_init_file(path: str | os.PathLike, mask: str | os.PathLike | MaskRef,
                 out: str | os.PathLike | None = None, *,
                 user_dq: str | os.PathLike | np.ndarray | None = None, force: bool = False,
                 ignore_detector: bool = False, faithful: bool = False,
                 user_dq_all_stripes: bool = False, max_fraction: float = MAX_FRACTION.default
                 ) -> DqInitResult:
    """Apply a MASK reference file to one JWST raw exposure (jwst ``dq_init`` parity).

    Parameters
    ----------
    path : path-like
        Exposure (``*_uncal.fits`` ramp, superstripe ramp, or FGS guider product).
    mask : path-like or MaskRef
        MASK reference file (``REFTYPE = MASK``), or ``"N/A"`` (as CRDS returns when no
        MASK applies): then only ``S_DQINIT = 'SKIPPED'`` is recorded, as jwst does.
    out : path-like, optional
        Output file; default: rewrite ``path`` atomically.
    user_dq : path-like or ndarray, optional
        User-supplied DQ (``dq`` standard flags, science-frame shape), OR-ed into the mask
        before DO_NOT_USE goes to GROUPDQ; checked by :func:`load_user_dq` (its errors name
        the user DQ file).
    force : bool
        Apply even if ``S_DQINIT = 'COMPLETE'``.
    ignore_detector : bool
        Apply a MASK whose INSTRUME/DETECTOR differ from the exposure's.
    faithful : bool
        Cast the user DQ like jwst (``astype(uint32)``: floats truncate, negatives wrap)
        instead of refusing non-integer or negative values.
    user_dq_all_stripes : bool
        Superstripe exposures: a 2-D user DQ of the science frame goes into every stripe
        (jwst requires the 3-D ``(N, ny, nx)`` form).
    max_fraction : float
        Refuse a user DQ flagging more than this fraction of its pixels (``--max-fraction``,
        as ``dqmask apply``); 1 accepts any.

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
    MAX_FRACTION.check(max_fraction)
    path = os.fspath(path)
    out = os.fspath(out) if out is not None else path
    if isinstance(mask, str) and mask.strip().upper() == "N/A":
        return _skip(path, out, force)
    ref = mask if isinstance(mask, MaskRef) else read_mask_ref(mask)
    ref_path = ref.path
    user, user_label = None, path
    if user_dq is not None:
        user = load_user_dq(user_dq, max_fraction=max_fraction, faithful=faithful,
                            name=f"user DQ array for {path}")
        user_label = os.fspath(user_dq) if isinstance(user_dq, (str, os.PathLike)) else path
        log.info("User-supplied DQ %s given. Adding it to DQ initialization.",
                 user_dq if isinstance(user_dq, (str, os.PathLike)) else "array")
    log.info("Using MASK reference file %s", ref.path)
    with FitsUpdate(path, out) as up:
        kind, data_shape = _raw_exposure(path, up.hdul, force)
        primary = up.hdul[0].header
        if not ignore_detector:
            _check_pairing(path, primary, ref)
        mask_array = _science_mask(path, primary, data_shape, ref, user, user_label,
                                   not faithful, user_dq_all_stripes,
                                   owned=not isinstance(mask, MaskRef))
        del ref  # a MASK read here is the cut itself or is dropped before the big arrays
        names = list(alg.default_dq_shapes(kind, data_shape, _int(primary, "SSTR_NST")))
        existing = _existing(up.hdul, names)
        made = alg.ensure_dq_arrays(kind, data_shape, existing, _int(primary, "SSTR_NST"))
        # None only for a superstripe PIXELDQ without SSTR_NST: exposure_kind never says so
        arrays = {n: a for n, a in made.items() if a is not None}
        created = tuple(n for n in names
                        if (old := existing[n]) is None or old.shape != arrays[n].shape)
        flagged = int(np.count_nonzero(mask_array))
        dnu = int(np.count_nonzero(np.bitwise_and(mask_array, JWST_PIXEL["DO_NOT_USE"],
                                                  dtype=np.uint8, casting="unsafe")))
        try:
            alg.apply_mask(kind, mask_array, arrays, fresh=created)
        except ValueError as exc:
            raise InputError(path, str(exc)) from None
        mask_shape = tuple(mask_array.shape)
        del mask_array  # may now be PIXELDQ itself, which the write encodes in place
        _write_arrays(up, arrays)
        primary = up.header(0)
        _record_model(primary, kind, out)
        primary["S_DQINIT"] = ("COMPLETE", "Data Quality Initialization")
        primary["R_MASK"] = os.path.abspath(ref_path) if ref_path else "N/A"
        add_provenance(primary, STEP, {
            "mask": os.path.basename(ref_path) if ref_path else "array",
            "user_dq": (os.path.basename(os.fspath(user_dq))
                        if isinstance(user_dq, (str, os.PathLike)) else
                        ("array" if user is not None else None)),
        })
    return DqInitResult(path, out, kind, mask_shape, flagged, dnu,
                        tuple(n.upper() for n in created))
