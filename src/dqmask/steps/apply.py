"""``apply``: OR DQ flags into JWST / HST files where a mask (file or DS9 regions) is set.

read (mask file, region files, target) -> compute (:mod:`dqmask.algorithms.apply`) -> write
(:class:`~dqmask.io.fits.FitsUpdate`: only DQ, the primary header and, with ``zero_data``,
SCI are re-encoded; every other HDU, the ASDF metadata included, is copied byte for byte).

Mask files are read by :func:`dqmask.io.mask_file.read_fits_mask` (the rules that guess a
file's convention live there, shared with every toolbox command).

Memory: masks are ``bool`` planes (one byte per pixel); the new DQ, the changed-pixel count
and, with ``zero_data``, the zeroed SCI are computed and written strip by strip
(:meth:`~dqmask.io.fits.FitsUpdate.set_data_strips`), so a 20000x20000 i2d needs the mask
plus a few 16 MiB strips, never a whole DQ or SCI array.
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
from ..errors import AlreadyDoneError, InputError
from ..flags import JWST_PIXEL, decode, parse_flags, table_for
from ..io.atomic import atomic_output, refuse_read_only
from ..io.fits import (
    FileInfo,
    FitsUpdate,
    add_provenance,
    classify_hdulist,
    has_record,
    image_dtype,
    open_fits,
    row_reader,
    strip_rows,
)
from ..io.mask_file import MASK_CONVENTIONS, MaskData, read_fits_mask
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
#: Default flags on JWST targets (never SATURATED or JUMP_DET).
JWST_DEFAULT_FLAGS = "DO_NOT_USE+OTHER_BAD_PIXEL"
#: Default flag on HST targets: DETECTORPROB (4, same meaning in ACS, WFC3 and STIS tables).
HST_DEFAULT_FLAGS = "DETECTORPROB"


#: A mask file read into ``bad`` planes (one 2-D plane per chip, True = bad); the same type
#: the toolbox reads masks into.
LoadedMask = MaskData


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


#: Read a mask file of any dqmask convention into ``bad`` planes (True = bad); the reader
#: the toolbox uses too (its module docstring lists how ``auto`` decides).
read_mask = read_fits_mask


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
    """One ``bad`` plane per chip (True = bad), from the mask file and/or regions.

    A chip masked by the mask file alone gets the mask's own (read-only) plane, not a copy;
    nothing modifies the planes returned.
    """
    chips = info.chips
    bads: list[np.ndarray | None] = [None] * len(chips)
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
            bads[i] = np.asarray(plane, dtype=bool)
    if opts.region_paths:
        for i, chip in enumerate(chips):
            header = hdul[chip.sci].header
            with region_warnings_to_log():
                painted = regions_to_mask(opts.region_paths, chip.shape[-2:], header,
                                          mode=opts.region_mode, fobj=hdul)
            bads[i] = painted if bads[i] is None else np.logical_or(bads[i], painted,
                                                                    out=painted)
    out = [b if b is not None else np.zeros(c.shape[-2:], dtype=bool)
           for b, c in zip(bads, chips, strict=True)]
    if opts.grow:
        out = [grow(b, opts.grow) for b in out]
    return out


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
    refuse_read_only(output)  # before the backup: a protected file gets neither
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


def _strips(shape: Sequence[int], itemsize: int) -> list[tuple[int, int]]:
    """``(start, stop)`` strips of the first axis of ``shape`` (about ``STRIP_BYTES`` each)."""
    step = strip_rows(tuple(shape), itemsize)
    return [(a, min(int(shape[0]), a + step)) for a in range(0, int(shape[0]), step)]


def _bad_rows(bad: np.ndarray, shape: Sequence[int], start: int, stop: int) -> np.ndarray:
    """The part of a 2-D ``bad`` plane that applies to data rows ``start:stop``: the same
    rows for 2-D data, the whole plane (broadcast) for a strip of planes of 3-D/4-D data."""
    return bad[start:stop] if len(shape) == 2 else bad


def _count_changes(read, shape: Sequence[int], dtype: np.dtype, bad: np.ndarray,
                   flags: int) -> int:
    """Pixels whose DQ would change, strip by strip (``read(start, stop)`` gives DQ rows)."""
    return sum(alg.count_newly_flagged(read(a, b), _bad_rows(bad, shape, a, b), flags)
               for a, b in _strips(shape, dtype.itemsize))


def _count_new(hdul: fits.HDUList, info: FileInfo, bads: Sequence[np.ndarray],
               flags: int) -> int:
    """Pixels whose DQ would change (a chip without DQ counts every masked pixel)."""
    total = 0
    for chip, bad in zip(info.chips, bads, strict=True):
        if chip.dq is None:
            total += int(np.count_nonzero(bad))
        elif bad.any():
            read = row_reader(hdul, chip.dq)
            dtype = image_dtype(hdul[chip.dq])
            if read is None or dtype is None:
                dq = hdul[chip.dq].data
                total += alg.count_newly_flagged(dq, bad, flags)
            else:
                total += _count_changes(read, chip.shape, dtype, bad, flags)
    return total


def _write(target: str, output: str, info: FileInfo, bads: Sequence[np.ndarray], flags: int,
           opts: ApplyOptions, stats: alg.MaskStats, record: str) -> int:
    """Write the output; return the number of pixels whose DQ changed.

    DQ (and SCI with ``zero_data``) are produced strip by strip while the file is written,
    except for data astropy has to scale (or a compressed target), which is done in memory
    as before; the bytes are the same either way.
    """
    newly = 0
    with FitsUpdate(target, output) as up:
        for chip, bad in zip(info.chips, bads, strict=True):
            if not bad.any():
                continue
            shape = tuple(chip.shape)
            if chip.dq is None:  # i2d: jwst writes none; add one (stdatamodels reads it)
                up.append_strips(shape, np.uint32, _new_dq_rows(shape, bad, flags),
                                 name="DQ", ver=chip.extver)
                if alg.dq_value(flags, np.uint32):
                    newly += int(np.count_nonzero(bad)) * int(np.prod(shape[:-2], dtype=int))
            else:
                newly += _flag_dq(up, chip.dq, shape, bad, flags)
            if opts.zero_data:
                _zero_sci(up, chip.sci, shape, bad)
        add_provenance(up.header(0), STEP, _params(opts, flags, stats), record)
    return newly


def _new_dq_rows(shape: tuple[int, ...], bad: np.ndarray, flags: int):
    """Rows of a new uint32 DQ: ``flags`` where ``bad``, 0 elsewhere."""
    def rows(start: int, stop: int) -> np.ndarray:
        zero = np.zeros((stop - start,) + shape[1:], dtype=np.uint32)
        return alg.or_flags(zero, _bad_rows(bad, shape, start, stop), flags)
    return rows


def _flag_dq(up: FitsUpdate, key: int, shape: tuple[int, ...], bad: np.ndarray,
             flags: int) -> int:
    """OR ``flags`` into the DQ of HDU ``key`` where ``bad``; return the pixels changed."""
    read, dtype = row_reader(up.hdul, key), image_dtype(up.hdul[key])
    if read is None or dtype is None:  # scaled or compressed: in memory
        dq = up.peek(key)
        new = alg.or_flags(dq, bad, flags)
        changed = alg.newly_flagged(dq, new)
        if changed:
            up.set_data(key, new)
        return changed
    changed = _count_changes(read, shape, dtype, bad, flags)
    if changed:
        up.set_data_strips(key, shape, dtype, lambda a, b: alg.or_flags(
            read(a, b), _bad_rows(bad, shape, a, b), flags))
    return changed


def _zero_sci(up: FitsUpdate, key: int, shape: tuple[int, ...], bad: np.ndarray) -> None:
    """Set SCI (HDU ``key``) to 0 where ``bad``."""
    read, dtype = row_reader(up.hdul, key), image_dtype(up.hdul[key])
    if read is None or dtype is None:  # scaled or compressed: in memory
        up.set_data(key, alg.zero_where(up.peek(key), bad))
        return
    up.set_data_strips(key, shape, dtype, lambda a, b: alg.zero_where(
        read(a, b), _bad_rows(bad, shape, a, b)))
