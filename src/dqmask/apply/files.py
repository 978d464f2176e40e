"""``apply``: OR DQ flags into JWST / HST files where a mask (file or DS9 regions) is set.

read (mask file, region files, target) -> compute (:mod:`dqmask.apply.core`) -> write
(:class:`~dqmask.io.fits.FitsUpdate`: only DQ, the primary header and, with ``zero_data``,
SCI are re-encoded; every other HDU, the ASDF metadata included, is copied byte for byte).

Mask files are read by :func:`dqmask.io.mask_file.read_fits_mask` (the rules that guess a
file's convention live there, shared with every toolbox command).

Which chip a mask or region file goes to (HST flt/flc files have several)
-------------------------------------------------------------------------
* ``PATH[SCI,N]`` (or ``PATH[N]``) or ``ApplyOptions.chip = N``: chip ``SCI,N`` only (a
  one-plane mask, or plane N of a mask with several planes); ``chip = "all"``: the same
  pixels on every chip.
* Otherwise a mask goes plane by plane when it has one plane per chip; a drizzlepac static
  mask (``<root>_<NY>x<NX>_<chip>_staticMask.fits``, one file per chip, as ``dqmask static``
  and AstroDrizzle write them) goes to the chip(s) of that drizzlepac chip number (EXTVER for
  ACS / WFC3, CCDCHIP for STIS imsets, CAMERA for NICMOS); a one-plane mask goes to every chip
  only when they all are the same detector (STIS imsets), and is refused otherwise.
* Region files: sky shapes go to every chip and land on the chip(s) whose WCS contains them
  (a shape is reported only when it misses every chip); image / physical shapes were drawn
  on one chip, so on a file of several detectors they need ``[SCI,N]`` or ``chip``.

Memory: masks are ``bool`` planes (one byte per pixel); the new DQ, the changed-pixel count
and, with ``zero_data``, the zeroed SCI are computed and written strip by strip
(:meth:`~dqmask.io.fits.FitsUpdate.set_data_strips`), so a 20000x20000 i2d needs the mask
plus a few 16 MiB strips, never a whole DQ or SCI array.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from astropy.io import fits

from ..errors import AlreadyDoneError, InputError
from ..flags import JWST_PIXEL, decode, parse_flags, table_for
from ..io.atomic import atomic_output, refuse_read_only, target_lock
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
from ..io.regions import (
    has_pixel_shapes,
    region_layers,
    region_report,
    region_warnings_to_log,
)
from ..pipeline.options import MAX_FRACTION, refuse_above_max_fraction
from ..static.files import _chip_id as drizzlepac_chip_id
from ..toolbox.morphology import grow
from . import core as alg
from .options import ALL_CHIPS, HST_DEFAULT_FLAGS, JWST_DEFAULT_FLAGS, PARAMETERS

__all__ = [
    "STEP",
    "MASK_CONVENTIONS",
    "JWST_DEFAULT_FLAGS",
    "HST_DEFAULT_FLAGS",
    "PARAMETERS",
    "LoadedMask",
    "ALL_CHIPS",
    "TargetedMask",
    "split_chip",
    "static_mask_chip",
    "ApplyOptions",
    "ApplyResult",
    "read_mask",
    "backup_path",
    "apply_to_file",
]

STEP = "apply"
_PARAMETER = {o.name: o for o in PARAMETERS}


#: A mask file read into ``bad`` planes (one 2-D plane per chip, True = bad); the same type
#: the toolbox reads masks into.
LoadedMask = MaskData
log = logging.getLogger(__name__)

_SELECTOR = re.compile(r"^(?P<path>.+?)\[(?:sci,)?(?P<chip>\d+)\](?P<conv>@\w+)?$", re.I)
_STATIC_NAME = re.compile(r"_(?P<ny>\d+)x(?P<nx>\d+)_(?P<chip>\d+)_staticMask\.fits(\.gz)?$")


def split_chip(spec: str | os.PathLike) -> tuple[str, int | None]:
    """Split a ``PATH[SCI,N]`` (or ``PATH[N]``) chip selector off a mask or region spec.

    An ``@CONVENTION`` suffix after the selector stays on the path; an existing file whose
    name really ends in brackets is taken literally.

    Returns
    -------
    path, chip : str, int or None
        ``chip`` is the target EXTVER N, or None without a selector.

    Raises
    ------
    InputError
        ``[SCI,0]``.
    """
    spec = os.fspath(spec)
    m = None if os.path.exists(spec) else _SELECTOR.match(spec)
    if m is None:
        return spec, None
    if int(m["chip"]) < 1:
        raise InputError(m["path"], "chip numbers start at 1 ([SCI,1] is the first chip)")
    return m["path"] + (m["conv"] or ""), int(m["chip"])


def static_mask_chip(path: str | os.PathLike) -> int | None:
    """The drizzlepac chip number in a static mask's name, or None for other names.

    ``j94f05bgq_2048x4096_2_staticMask.fits`` -> 2 (``<root>_<NY>x<NX>_<chip>_staticMask``,
    the names of :mod:`dqmask.static.files` and AstroDrizzle).
    """
    m = _STATIC_NAME.search(os.path.basename(os.fspath(path)))
    return int(m["chip"]) if m else None


@dataclass(frozen=True)
class TargetedMask:
    """A mask read into ``bad`` planes (True = bad) and the target chip it is meant for.

    Attributes
    ----------
    mask : MaskData
        One 2-D ``bad`` plane per chip of the mask file.
    chip : int, "all" or None
        Target ``SCI`` EXTVER, :data:`ALL_CHIPS`, or None for ``ApplyOptions.chip`` / the
        automatic rules (module docstring).
    """

    mask: MaskData
    chip: int | str | None = None

    @property
    def label(self) -> str:
        """The mask's file name with its selector (for reports and HISTORY)."""
        name = os.path.basename(self.mask.path)
        return name if self.chip is None else f"{name}[{_chip_text(self.chip)}]"


def _chip_text(chip: int | str) -> str:
    return "all" if chip == ALL_CHIPS else f"SCI,{chip}"


@dataclass(frozen=True)
class ApplyOptions:
    """Parameters of one ``apply`` run (picklable, for ``--jobs``).

    ``flags`` None means the telescope default (:data:`JWST_DEFAULT_FLAGS`,
    :data:`HST_DEFAULT_FLAGS`). ``mask`` is one mask (read, or a path read with the
    ``auto`` rules, ``PATH[SCI,N]`` allowed); ``masks`` more, each with its own chip.
    ``region_paths`` may carry ``[SCI,N]`` selectors. ``chip`` (an EXTVER or
    :data:`ALL_CHIPS`) is the target chip of every mask and region file without a selector.
    """

    flags: str | None = None
    zero_data: bool = False
    grow: int = 0
    max_fraction: float = MAX_FRACTION.default
    backup: bool = False
    force: bool = False
    dry_run: bool = False
    region_paths: tuple[str, ...] = ()
    region_mode: str = "center"
    mask: LoadedMask | str | None = None
    masks: tuple[TargetedMask, ...] = ()
    chip: int | str | None = None

    def targeted_masks(self) -> list[TargetedMask]:
        """``masks`` and ``mask``, each with its target chip (``chip`` when it has none).

        Raises
        ------
        InputError
            A ``mask`` path that cannot be read.
        """
        out = list(self.masks)
        if isinstance(self.mask, (str, os.PathLike)):
            path, chip = split_chip(self.mask)
            out.append(TargetedMask(read_fits_mask(path), chip))
        elif self.mask is not None:
            out.append(TargetedMask(self.mask))
        return [m if m.chip is not None else TargetedMask(m.mask, self.chip) for m in out]


@dataclass(frozen=True)
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
        raise InputError(info.path, f": {exc}", parameter="flags") from None


def _chip_masks(hdul: fits.HDUList, info: FileInfo, opts: ApplyOptions,
                masks: Sequence[TargetedMask]) -> list[np.ndarray]:
    """One ``bad`` plane per chip (True = bad), from the mask files and/or regions.

    A chip masked by one mask file alone gets the mask's own (read-only) plane, not a copy;
    nothing modifies the planes returned.
    """
    chips = info.chips
    ids = _chip_ids(hdul, info)
    bads: list[np.ndarray | None] = [None] * len(chips)
    for tm in masks:
        for i, plane in _route_mask(tm, info, ids):
            _check_plane(plane, info, chips[i], tm)
            plane = np.asarray(plane, dtype=bool)
            prev = bads[i]
            bads[i] = plane if prev is None else np.logical_or(prev, plane)
    for i, painted in _painted_regions(hdul, info, ids, opts).items():
        prev = bads[i]
        bads[i] = painted if prev is None else np.logical_or(prev, painted, out=painted)
    out = [b if b is not None else np.zeros(c.shape[-2:], dtype=bool)
           for b, c in zip(bads, chips, strict=True)]
    if opts.grow:
        out = [grow(b, opts.grow) for b in out]
    return out


def _chip_ids(hdul: fits.HDUList, info: FileInfo) -> list[int]:
    """drizzlepac's chip number of each chip: the physical detector a chip is read from."""
    return [drizzlepac_chip_id(info, chip, hdul[chip.sci].header, hdul[0].header)
            for chip in info.chips]


def _index_of(info: FileInfo, extver: int, source: str) -> int:
    """Position in ``info.chips`` of ``SCI,extver``; InputError naming the target if absent."""
    for i, chip in enumerate(info.chips):
        if chip.extver == extver:
            return i
    have = ", ".join(f"SCI,{c.extver}" for c in info.chips)
    raise InputError(info.path, f"no SCI,{extver} for {source} (the file has {have})")


def _one_detector(ids: Sequence[int]) -> bool:
    """All chips read from one detector (STIS imsets, JWST): the same pixels apply."""
    return len(set(ids)) <= 1


def _route_mask(tm: TargetedMask, info: FileInfo, ids: Sequence[int]
                ) -> list[tuple[int, np.ndarray]]:
    """``(chip index, plane)`` pairs: which plane of a mask goes to which target chip."""
    planes, n, path = tm.mask.planes, len(info.chips), tm.mask.path
    if isinstance(tm.chip, int):
        i = _index_of(info, tm.chip, tm.label)
        if len(planes) == 1:
            return [(i, planes[0])]
        if tm.chip <= len(planes):
            return [(i, planes[tm.chip - 1])]
        raise InputError(path, f"has {len(planes)} planes: no plane {tm.chip} for SCI,"
                               f"{tm.chip}")
    if tm.chip == ALL_CHIPS and len(planes) == 1:
        return [(i, planes[0]) for i in range(n)]
    static = static_mask_chip(path) if tm.chip is None and len(planes) == 1 else None
    if static is not None:
        hits = [i for i, cid in enumerate(ids) if cid == static]
        if not hits:
            raise InputError(path, f"a drizzlepac static mask of chip {static}, but "
                                   f"{info.path} has chip number(s) "
                                   f"{', '.join(map(str, sorted(set(ids))))}")
        return [(i, planes[0]) for i in hits]
    if len(planes) == n:
        return list(enumerate(planes))
    if len(planes) == 1 and _one_detector(ids):
        return [(i, planes[0]) for i in range(n)]
    if len(planes) == 1:
        raise InputError(path, f"one mask plane for the {n} chips of {info.path}, which are "
                               f"different detectors: say which chip with "
                               f"{os.path.basename(path)}[SCI,N] or {{chip}} N ({{chip}} all: "
                               f"the same pixels on every chip)", mentions=("chip",))
    raise InputError(path, f"mask has {len(planes)} plane(s) but {info.path} has {n} chip(s)")


def _check_plane(plane: np.ndarray, info: FileInfo, chip, tm: TargetedMask) -> None:
    try:
        alg.check_shape(plane, chip.shape)
    except alg.ShapeMismatch as exc:
        hint = ""
        if info.is_subarray and info.substrt:
            hint = (f"; the target is subarray {info.subarray or '?'} at SUBSTRT "
                    f"{info.substrt[0]},{info.substrt[1]}: cut the mask to it first")
        raise InputError(tm.mask.path, f"{exc} ({info.path} SCI,{chip.extver}); "
                                       f"masks are never reshaped{hint}") from None


def _region_plan(info: FileInfo, ids: Sequence[int], opts: ApplyOptions
                 ) -> dict[int, list[str]]:
    """Chip index -> the region files to paint on it (module docstring)."""
    plan: dict[int, list[str]] = {}
    for spec in opts.region_paths:
        chip: int | str | None
        path, chip = split_chip(spec)
        chip = opts.chip if chip is None else chip
        if isinstance(chip, int):
            targets = [_index_of(info, chip, f"{path}[SCI,{chip}]")]
        else:
            if chip is None and not _one_detector(ids) and has_pixel_shapes(path):
                raise InputError(path, f"image-coordinate shapes are ambiguous on the "
                                       f"{len(ids)} chips of {info.path}, which are different "
                                       f"detectors: say which chip with "
                                       f"{os.path.basename(path)}[SCI,N] or {{chip}} N "
                                       f"({{chip}} all: the same pixels on every chip)",
                                 mentions=("chip",))
            targets = list(range(len(info.chips)))
        for i in targets:
            plan.setdefault(i, []).append(path)
    return plan


def _painted_regions(hdul: fits.HDUList, info: FileInfo, ids: Sequence[int],
                     opts: ApplyOptions) -> dict[int, np.ndarray]:
    """Chip index -> ``bad`` plane of its region files (True = inside an include shape
    and no exclude shape); shapes off the image reported once for the whole file."""
    painted: dict[int, np.ndarray] = {}
    reports = []
    with region_warnings_to_log():
        for i, paths in sorted(_region_plan(info, ids, opts).items()):
            chip = info.chips[i]
            include, exclude, infos = region_layers(
                paths, chip.shape[-2:], hdul[chip.sci].header, mode=opts.region_mode,
                fobj=hdul, report=False, allow_empty=False)  # empty: almost surely a mistake
            painted[i] = np.greater(include, exclude, out=include)  # include & ~exclude
            reports.append((f"SCI,{chip.extver}" if len(info.chips) > 1 else None, infos))
    for line in region_report(reports, info.path) if reports else []:
        log.warning("%s", line)
    return painted


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


def _params(opts: ApplyOptions, masks: Sequence[TargetedMask], flags: int,
            stats: alg.MaskStats) -> dict:
    params: dict = {}
    if masks:
        params["mask"] = ",".join(m.label for m in masks)
        params["conv"] = ",".join(m.mask.convention for m in masks)
    if opts.region_paths:
        params["regions"] = ",".join(_region_label(p, opts.chip) for p in opts.region_paths)
    params.update(flags=flags, npix=stats.masked, frac=round(stats.fraction, 6))
    if opts.grow:
        params["grow"] = opts.grow
    if opts.zero_data:
        params["zero_data"] = True
    return params


def _region_label(spec: str, default: int | str | None) -> str:
    chip: int | str | None
    path, chip = split_chip(spec)
    chip = default if chip is None else chip
    name = os.path.basename(path)
    return name if chip is None else f"{name}[{_chip_text(chip)}]"


def apply_to_file(target: str | os.PathLike, output: str | os.PathLike,
                  opts: ApplyOptions) -> ApplyResult:
    """Apply a mask to one target file.

    Parameters
    ----------
    target : path-like
        JWST rate / rateints / cal / calints / crf (DQ per SCI) or HST flt / flc (DQ per
        chip) file; a JWST i2d (no DQ, as jwst writes it) gets a new uint32 DQ extension.
        Never modified unless ``output`` is the same path.
    output : path-like
        Where the result goes (may equal ``target``: atomic in-place rewrite).
    opts : ApplyOptions
        Masks (``bad`` planes, True = bad), regions (True = inside), their target chips
        (module docstring) and parameters.

    Returns
    -------
    ApplyResult

    Raises
    ------
    InputError
        Bad target, mask shape differing from a chip, a chip the target lacks, a one-plane
        mask or image-coordinate regions on chips of different detectors without a chip,
        masked fraction above ``opts.max_fraction``, a region file without any shape (an
        empty mask is almost surely a mistake: the target is not rewritten), a region file
        dqmask cannot read or draw: raised before anything is written.
    AlreadyDoneError
        The target already records this exact mask + flags (nothing is written).
    """
    _PARAMETER["grow"].check(opts.grow)
    _PARAMETER["max_fraction"].check(opts.max_fraction)
    target, output = os.fspath(target), os.fspath(output)
    if opts.dry_run:
        return _apply_to_file(target, output, opts)
    with target_lock(output):  # the read below is the state rewritten: no lost update
        return _apply_to_file(target, output, opts)


def _apply_to_file(target: str, output: str, opts: ApplyOptions) -> ApplyResult:
    masks = opts.targeted_masks()
    if not masks and not opts.region_paths:
        raise InputError(None, "apply needs a mask file or region files")
    if output.lower().endswith((".gz", ".bz2", ".zip", ".xz")):
        raise InputError(output, "cannot write a compressed output; give {output} a .fits "
                                 "name", mentions=("output",))
    with open_fits(target) as hdul:
        info = classify_hdulist(hdul, target)
        _check_target(info)
        flags = _flags_for(info, opts.flags)
        bads = _chip_masks(hdul, info, opts, masks)
        record = alg.mask_record(bads, flags, "zero" if opts.zero_data else None)
        if has_record(hdul[0].header, STEP, record) and not opts.force:
            raise AlreadyDoneError(target, STEP)
        preview = _count_new(hdul, info, bads, flags) if opts.dry_run else 0
    stats = alg.mask_stats(bads)
    refuse_above_max_fraction(target, stats, opts.max_fraction)
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
        notes.append("backup not needed: the input is not modified")
    newly = _write(target, output, info, bads, flags, opts.zero_data,
                   _params(opts, masks, flags, stats), record)
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
           zero_data: bool, params: dict, record: str) -> int:
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
            if zero_data:
                _zero_sci(up, chip.sci, shape, bad)
        add_provenance(up.header(0), STEP, params, record)
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
        assert dq is not None  # the DQ image of ``shape``
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
        sci = up.peek(key)
        assert sci is not None  # the SCI image of ``shape``
        up.set_data(key, alg.zero_where(sci, bad))
        return
    up.set_data_strips(key, shape, dtype, lambda a, b: alg.zero_where(
        read(a, b), _bad_rows(bad, shape, a, b)))
