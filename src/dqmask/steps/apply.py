"""``apply``: OR DQ flags into JWST / HST files where a mask (file or DS9 regions) is set.

read (mask file, region files, target) -> compute (:mod:`dqmask.algorithms.apply`) -> write
(:class:`~dqmask.io.fits.FitsUpdate`: only DQ, the primary header and, with ``zero_data``,
SCI are re-encoded; every other HDU, the ASDF metadata included, is copied byte for byte).

Reading a mask file (``convention="auto"``)
-------------------------------------------
The first rule that applies decides; the choice is reported.

1. The file has ``DQ`` extensions (a JWST MASK reference file, a rate/cal/flt file):
   ``dq`` convention, one plane per DQ extension; bad = any bit set (or ``mask_flags``).
2. A ``DQMCONV`` keyword (written by dqmask) names the convention.
3. ``MPIXAREA`` or ``SMOOTH`` keywords (Crab.Toolkit.JWST seed / zeroonemask products), or
   a float image with values in [0, 1] that is not a JWST model: ``seed``, bad = value > 0.
4. ``uint8`` / ``bool`` 0/1 image without keywords: NSClean ``background`` (1 = background),
   bad = 0.
5. ``int16``: drizzlepac static mask ``good`` (1 = good), bad = 0.
6. ``float`` image of a JWST model (``DATAMODL`` or ``TELESCOP = 'JWST'``): jwst
   ``user_mask`` (1.0 = background), bad = 0 or NaN.
7. Other integer images: 0/1 only -> ``bad`` (1 = bad, e.g. a zeroonemask); wider values ->
   ``dq`` (any bit set).

Image planes are the ``SCI`` extensions (by EXTVER), else the primary array, else the first
image extension. ``convention=...`` overrides the guess. A mask with one plane applies to a
one-chip target; a mask with N planes to a target with N chips, in EXTVER order.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from astropy.io import fits

from ..algorithms import apply as alg
from ..algorithms.morphology import grow
from ..conventions import to_bad
from ..errors import AlreadyDoneError, InputError
from ..flags import JWST_PIXEL, decode, parse_flags, table_for
from ..io.atomic import atomic_output
from ..io.fits import FileInfo, FitsUpdate, add_provenance, classify_hdulist, has_record, open_fits
from ..io.regions import region_warnings_to_log, regions_to_mask

__all__ = [
    "STEP",
    "MASK_CONVENTIONS",
    "JWST_DEFAULT_FLAGS",
    "HST_DEFAULT_FLAGS",
    "LoadedMask",
    "ApplyOptions",
    "ApplyResult",
    "read_mask",
    "backup_path",
    "apply_to_file",
]

STEP = "apply"
MASK_CONVENTIONS = ("auto", "bad", "good", "background", "user_mask", "dq", "seed")
#: Default flags on JWST targets (never SATURATED or JUMP_DET).
JWST_DEFAULT_FLAGS = "DO_NOT_USE+OTHER_BAD_PIXEL"
#: Default flag on HST targets: DETECTORPROB (4, same meaning in ACS, WFC3 and STIS tables).
HST_DEFAULT_FLAGS = "DETECTORPROB"


@dataclass(frozen=True)
class LoadedMask:
    """A mask file read into ``bad`` planes.

    Attributes
    ----------
    path : str
        The mask file.
    planes : tuple of ndarray of bool
        One 2-D plane per chip, True = bad.
    convention : str
        How the file was read (one of :data:`MASK_CONVENTIONS` but ``auto``).
    reason : str
        Why (for the report).
    """

    path: str
    planes: tuple[np.ndarray, ...]
    convention: str
    reason: str


@dataclass(frozen=True)
class ApplyOptions:
    """Parameters of one ``apply`` run (picklable, for ``--jobs``).

    ``flags`` None means the telescope default (:data:`JWST_DEFAULT_FLAGS`,
    :data:`HST_DEFAULT_FLAGS`).
    """

    flags: str | None = None
    zero_data: bool = False
    grow: int = 0
    max_fraction: float = 0.5
    backup: bool = False
    force: bool = False
    dry_run: bool = False
    region_paths: tuple[str, ...] = ()
    region_mode: str = "center"
    mask: LoadedMask | None = None


@dataclass
class ApplyResult:
    """What ``apply`` did to one target."""

    target: str
    output: str
    flags: int
    flag_names: list[str]
    masked: int
    total: int
    newly_flagged: int
    record: str
    backup: str | None = None
    chips: int = 1
    notes: list[str] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        return self.masked / self.total if self.total else 0.0

    def summary(self) -> str:
        """One line for the CLI."""
        where = "in place" if self.output == self.target else f"-> {self.output}"
        text = (f"{self.target} {where}: {self.masked} of {self.total} pixels masked "
                f"({100 * self.fraction:.3f}%), {self.newly_flagged} newly flagged with "
                f"{'+'.join(self.flag_names)} ({self.flags})")
        if self.backup:
            text += f"; backup {self.backup}"
        return text + "".join(f"; {n}" for n in self.notes)


# --------------------------------------------------------------------------------------------
# Reading masks
# --------------------------------------------------------------------------------------------


def _image_hdus(hdul: fits.HDUList) -> list[fits.hdu.base._BaseHDU]:
    sci = [h for h in hdul if (h.name or "").upper() == "SCI" and h.data is not None
           and getattr(h.data, "ndim", 0) >= 2]
    if sci:
        return sorted(sci, key=lambda h: int(h.header.get("EXTVER", 1) or 1))
    if hdul[0].data is not None and hdul[0].data.ndim >= 2:
        return [hdul[0]]
    for h in hdul[1:]:
        if isinstance(h, fits.ImageHDU) and h.data is not None and h.data.ndim >= 2:
            return [h]
    return []


def _dq_hdus(hdul: fits.HDUList) -> list[fits.hdu.base._BaseHDU]:
    dq = [h for h in hdul if (h.name or "").upper() == "DQ" and h.data is not None
          and getattr(h.data, "ndim", 0) >= 2]
    return sorted(dq, key=lambda h: int(h.header.get("EXTVER", 1) or 1))


def _guess(data: np.ndarray, header: fits.Header, primary: fits.Header) -> tuple[str, str]:
    conv = str(header.get("DQMCONV", primary.get("DQMCONV", "")) or "").strip().lower()
    if conv in MASK_CONVENTIONS and conv != "auto":
        return conv, f"DQMCONV = '{conv}'"
    if any(k in h for h in (header, primary) for k in ("MPIXAREA", "SMOOTH")):
        return "seed", "Crab.Toolkit.JWST seed / zeroonemask keywords (MPIXAREA/SMOOTH)"
    kind, is_model = data.dtype.kind, "DATAMODL" in primary or (
        str(primary.get("TELESCOP", "")).strip().upper() == "JWST")
    size = data.dtype.itemsize
    if kind == "b" or (kind == "u" and size == 1):
        return "background", f"{data.dtype.name} image without keywords (NSClean: 1 = background)"
    if kind == "i" and size == 2:
        return "good", "int16 image (drizzlepac static mask: 1 = good)"
    if kind == "f":
        if is_model:
            return "user_mask", "float image of a JWST model (clean_flicker_noise user_mask)"
        return "seed", "float image without model keywords (seed: > 0 = bad)"
    if kind in "iu":
        values = np.unique(data)
        if values.size <= 2 and set(values.tolist()) <= {0, 1}:
            return "bad", f"{data.dtype.name} image of 0/1 (1 = bad)"
        return "dq", f"{data.dtype.name} image with values beyond 0/1 (DQ bitfield)"
    raise ValueError(f"cannot tell the convention of a {data.dtype} image")


def _plane_to_bad(data: np.ndarray, convention: str, mask_flags: str | None) -> np.ndarray:
    if convention == "seed":
        with np.errstate(invalid="ignore"):
            return np.asarray(data > 0)
    if convention == "bad":
        return (data != 0) & ~np.isnan(data) if data.dtype.kind == "f" else data != 0
    if convention == "dq":
        if data.dtype.kind not in "iu":
            raise ValueError(f"a DQ mask must be integer, not {data.dtype}")
        return to_bad(data, "dq", flags=mask_flags)
    return to_bad(data, convention)


def read_mask(path: str | os.PathLike, convention: str = "auto",
              mask_flags: str | None = None) -> LoadedMask:
    """Read a mask file of any dqmask convention into ``bad`` planes.

    Parameters
    ----------
    path : path-like
        FITS mask (see the module docstring for how ``auto`` decides).
    convention : str
        One of :data:`MASK_CONVENTIONS`.
    mask_flags : str, optional
        ``dq`` masks only: the bits that make a pixel bad (default: any bit).

    Returns
    -------
    LoadedMask
        Planes in the ``bad`` convention (True = bad).

    Raises
    ------
    InputError
        Unreadable file, no image data, or a convention that cannot be guessed.
    """
    path = os.fspath(path)
    if convention not in MASK_CONVENTIONS:
        raise InputError(path, f"unknown mask convention {convention!r}")
    with open_fits(path) as hdul:
        primary = hdul[0].header
        dqs = _dq_hdus(hdul)
        if dqs and convention in ("auto", "dq"):
            hdus, conv, reason = dqs, "dq", "DQ extension(s)"
        else:
            hdus = _image_hdus(hdul)
            if not hdus:
                raise InputError(path, "no 2-D image in the mask file")
            conv, reason = convention, "given"
            if convention == "auto":
                try:
                    conv, reason = _guess(hdus[0].data, hdus[0].header, primary)
                except ValueError as exc:
                    raise InputError(path, f"{exc}; give --mask-convention") from None
        planes = []
        for h in hdus:
            data = np.asarray(h.data)
            if data.ndim != 2:
                raise InputError(path, f"mask plane {h.name or 'PRIMARY'} is "
                                       f"{data.ndim}-D; a mask must be 2-D")
            try:
                planes.append(np.ascontiguousarray(_plane_to_bad(data, conv, mask_flags)))
            except (ValueError, TypeError) as exc:
                raise InputError(path, str(exc)) from None
    return LoadedMask(path, tuple(planes), conv, reason)


# --------------------------------------------------------------------------------------------
# Applying
# --------------------------------------------------------------------------------------------


def backup_path(target: str | os.PathLike) -> str:
    """``<dir>/<root>_orig.fits`` for ``<dir>/<root>.fits``."""
    target = os.fspath(target)
    name = os.path.basename(target)
    for ext in (".gz", ".fits", ".fit", ".fts"):
        name = name.removesuffix(ext)
    return os.path.join(os.path.dirname(target), f"{name}_orig.fits")


def _flags_for(info: FileInfo, spec: str | None) -> int:
    table = table_for(info.telescope, info.instrument, info.detector)
    default = JWST_DEFAULT_FLAGS if table is JWST_PIXEL else HST_DEFAULT_FLAGS
    try:
        return parse_flags(spec or default, table)
    except ValueError as exc:
        raise InputError(info.path, f"--flags: {exc}") from None


def _chip_masks(hdul: fits.HDUList, info: FileInfo, opts: ApplyOptions) -> list[np.ndarray]:
    """One ``bad`` plane per chip (True = bad), from the mask file and/or regions."""
    chips = info.chips
    bads = [np.zeros(c.shape[-2:], dtype=bool) for c in chips]
    if opts.mask is not None:
        planes = opts.mask.planes
        if len(planes) != len(chips):
            raise InputError(opts.mask.path, f"mask has {len(planes)} plane(s) but "
                                             f"{info.path} has {len(chips)} chip(s)")
        for i, (chip, plane) in enumerate(zip(chips, planes, strict=True)):
            try:
                alg.check_shape(plane, chip.shape)
            except alg.ShapeMismatch as exc:
                hint = ""
                if info.is_subarray and info.substrt:
                    hint = (f"; the target is subarray {info.subarray or '?'} at SUBSTRT "
                            f"{info.substrt[0]},{info.substrt[1]}: cut the mask to it first")
                raise InputError(opts.mask.path, f"{exc} ({info.path} SCI,{chip.extver}); "
                                                 f"masks are never reshaped{hint}") from None
            bads[i] |= plane
    if opts.region_paths:
        for i, chip in enumerate(chips):
            header = hdul[chip.sci].header
            with region_warnings_to_log():
                bads[i] |= regions_to_mask(opts.region_paths, chip.shape[-2:], header,
                                           mode=opts.region_mode, fobj=hdul)
    if opts.grow:
        bads = [grow(b, opts.grow) for b in bads]
    return bads


def _check_target(info: FileInfo) -> None:
    if not (info.is_jwst or info.is_hst):
        raise InputError(info.path, "not a JWST or HST product; apply needs a DQ extension")
    if not info.chips:
        raise InputError(info.path, f"no SCI extension to flag ({info.product})")
    for chip in info.chips:
        if chip.dq is None and info.product != "i2d":
            raise InputError(info.path, f"no DQ extension for SCI,{chip.extver}")


def _make_backup(target: str) -> str | None:
    dest = backup_path(target)
    if os.path.exists(dest):
        return None  # the first original is kept, never overwritten
    with open(target, "rb") as src, atomic_output(dest) as out:
        shutil.copyfileobj(src, out, 1 << 22)
    return dest


def _params(opts: ApplyOptions, flags: int, stats: alg.MaskStats) -> dict:
    params: dict = {}
    if opts.mask is not None:
        params["mask"] = os.path.basename(opts.mask.path)
        params["conv"] = opts.mask.convention
    if opts.region_paths:
        params["regions"] = ",".join(os.path.basename(p) for p in opts.region_paths)
    params.update(flags=flags, npix=stats.masked, frac=round(stats.fraction, 6))
    if opts.grow:
        params["grow"] = opts.grow
    if opts.zero_data:
        params["zero_data"] = True
    return params


def apply_to_file(target: str | os.PathLike, output: str | os.PathLike,
                  opts: ApplyOptions) -> ApplyResult:
    """Apply a mask to one target file.

    Parameters
    ----------
    target : path-like
        JWST rate / rateints / cal / calints / crf (DQ per SCI) or HST flt / flc (DQ per
        chip) file; a JWST i2d (no DQ, as jwst writes it) gets a new uint32 DQ extension. Never modified unless ``output`` is the same path.
    output : path-like
        Where the result goes (may equal ``target``: atomic in-place rewrite).
    opts : ApplyOptions
        Mask, regions and parameters.

    Returns
    -------
    ApplyResult

    Raises
    ------
    InputError
        Bad target, mask shape differing from a chip, masked fraction above
        ``opts.max_fraction``: raised before anything is written.
    AlreadyDoneError
        The target already records this exact mask + flags (nothing is written).
    """
    target, output = os.fspath(target), os.fspath(output)
    if opts.mask is None and not opts.region_paths:
        raise InputError(None, "apply needs a mask file or region files")
    if output.lower().endswith((".gz", ".bz2", ".zip", ".xz")):
        raise InputError(output, "cannot write a compressed output; use -o/--output-dir with "
                                 "a .fits name")
    with open_fits(target) as hdul:
        info = classify_hdulist(hdul, target)
        _check_target(info)
        flags = _flags_for(info, opts.flags)
        bads = _chip_masks(hdul, info, opts)
        record = alg.mask_record(bads, flags, "zero" if opts.zero_data else None)
        if has_record(hdul[0].header, STEP, record) and not opts.force:
            raise AlreadyDoneError(target, STEP)
        preview = _count_new(hdul, info, bads, flags) if opts.dry_run else 0
    stats = alg.mask_stats(bads)
    if stats.fraction > opts.max_fraction:
        raise InputError(target, f"mask covers {100 * stats.fraction:.1f}% of the pixels, "
                                 f"above --max-fraction {opts.max_fraction:g}; refused")
    table = table_for(info.telescope, info.instrument, info.detector)
    if opts.dry_run:
        return ApplyResult(target, output, flags, decode(flags, table), stats.masked,
                           stats.total, preview, record, None, len(info.chips),
                           ["dry run: nothing written"])
    notes = ["SCI zeroed under the mask"] if opts.zero_data else []
    backup = None
    if opts.backup and output == target:
        backup = _make_backup(target)
        if backup is None:
            notes.append(f"backup {backup_path(target)} already exists; kept")
    elif opts.backup:
        notes.append("--backup not needed: the input is not modified")
    newly = _write(target, output, info, bads, flags, opts, stats, record)
    return ApplyResult(target, output, flags, decode(flags, table), stats.masked, stats.total,
                       newly, record, backup, len(info.chips), notes)


def _count_new(hdul: fits.HDUList, info: FileInfo, bads: Sequence[np.ndarray],
               flags: int) -> int:
    """Pixels whose DQ would change (a chip without DQ counts every masked pixel)."""
    total = 0
    for chip, bad in zip(info.chips, bads, strict=True):
        if chip.dq is None:
            total += int(np.count_nonzero(bad))
        elif bad.any():
            dq = hdul[chip.dq].data
            total += alg.newly_flagged(dq, alg.or_flags(dq, bad, flags))
    return total


def _write(target: str, output: str, info: FileInfo, bads: Sequence[np.ndarray], flags: int,
           opts: ApplyOptions, stats: alg.MaskStats, record: str) -> int:
    newly = 0
    with FitsUpdate(target, output) as up:
        for chip, bad in zip(info.chips, bads, strict=True):
            if not bad.any():
                continue
            if chip.dq is None:  # i2d: jwst writes none; add one (stdatamodels reads it)
                dq = np.zeros(chip.shape[-2:], dtype=np.uint32)
                new = alg.or_flags(dq, bad, flags)
                up.append(fits.ImageHDU(new, name="DQ", ver=chip.extver))
                newly += alg.newly_flagged(dq, new)
            else:
                dq = up.peek(chip.dq)
                new = alg.or_flags(dq, bad, flags)
                changed = alg.newly_flagged(dq, new)
                if changed:
                    up.set_data(chip.dq, new)
                    newly += changed
            if opts.zero_data:
                up.set_data(chip.sci, alg.zero_where(up.peek(chip.sci), bad))
        add_provenance(up.header(0), STEP, _params(opts, flags, stats), record)
    return newly
