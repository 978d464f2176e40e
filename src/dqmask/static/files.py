"""``dqmask static``: drizzlepac static masks for HST images, written as drizzlepac writes them.

For every input and every SCI chip (EXTVER order) the low-pixel mask of
:mod:`dqmask.static.core` is AND-ed into one mask per *signature*
``(root, (NAXIS2, NAXIS1), chip id)``; each mask is written as a bare primary HDU, int16,
1 = good (``good`` convention), named ``<root>_<rows>x<cols>_<chip>_staticMask.fits``.

Roots (drizzlepac >= 3.2 convention): ``'_'.join(NAME.split('_')[:-1]).lower()`` where NAME is
the ``output_name`` when given (masks of all inputs combine, as inside AstroDrizzle) and
otherwise each input's file name (one mask per input and chip, as ``staticMask.createMask``).
With ``legacy_names`` the root is ``INSTRUME + DETECTOR`` (``ACSWFC_2048x4096_1_...``) and
all inputs of the same detector combine. Chip ids: EXTVER for ACS, WFC3 and WFPC2, the
SCI CCDCHIP (default 1) for STIS, CAMERA for NICMOS - as drizzlepac's signatures.

Every input is opened and checked before anything is written; each output replaces any
existing file atomically.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import os
import threading
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning

from ..errors import InputError, ParameterError
from ..flags import FlagSpecError, parse_flags, table_for
from ..io.files import FileIdentity, file_identity, open_regular
from ..io.fits import Chip, FileInfo, add_provenance, classify_hdulist, open_fits, write_hdulist
from . import core as sm
from .options import PARAMETERS

__all__ = [
    "PARAMETERS",
    "STEP",
    "ChipSummary",
    "StaticMaskResult",
    "signature_root",
    "mask_filename",
    "make_static_masks",
    "default_jobs",
]

STEP = "static"
log = logging.getLogger(__name__)

_SUPPORTED = ("ACS", "WFC3", "STIS", "WFPC2", "NICMOS")


_PARAMETER = {o.name: o for o in PARAMETERS}


@dataclass(frozen=True)
class ChipSummary:
    """What one chip contributed to its static mask."""

    path: str
    extver: int
    output: str
    stats: sm.ClipStats | None
    threshold: float | None
    flagged: int
    dq_flagged: int = 0
    note: str = ""

    def line(self) -> str:
        """One line: mode, rms, threshold and pixels flagged (or why it was skipped)."""
        head = f"{self.path}[SCI,{self.extver}] -> {os.path.basename(self.output)}:"
        if self.stats is None or self.threshold is None:  # both None when skipped
            return f"{head} skipped ({self.note})"
        s = self.stats
        text = (f"{head} mode={float(s.mode):.6g} rms={s.stddev:.6g} "
                f"threshold={float(self.threshold):.6g} flagged={self.flagged}")
        if self.note:
            text += f" ({self.note})"
        if self.dq_flagged:
            text += f" dq_flagged={self.dq_flagged}"
        return text


@dataclass(frozen=True)
class StaticMaskResult:
    """Outputs written (in order of first appearance) and one summary per chip."""

    outputs: list[str] = field(default_factory=list)
    chips: list[ChipSummary] = field(default_factory=list)

    def summary(self) -> str:
        """One line per chip (:meth:`ChipSummary.line`), then ``wrote OUT`` per mask."""
        return "\n".join([c.line() for c in self.chips] + [f"wrote {o}" for o in self.outputs])


# --------------------------------------------------------------------------------------------
# Names and signatures
# --------------------------------------------------------------------------------------------


def signature_root(name: str) -> str:
    """drizzlepac's root: all but the last ``_`` part of the file name, lower-case.

    ``j94f05bgq_flt.fits`` -> ``j94f05bgq``; a name without ``_`` gives ``''`` (drizzlepac
    then writes ``_2048x4096_1_staticMask.fits``). Only the base name is used: unlike
    drizzlepac, a directory part never leaks into the mask name.
    """
    return "_".join(os.path.basename(os.fspath(name)).split("_")[:-1]).lower()


def mask_filename(root: str, shape: tuple[int, int], chip_id: int) -> str:
    """``<root>_<NAXIS2>x<NAXIS1>_<chip>_staticMask.fits`` (drizzlepac buildSignatureKey)."""
    return f"{root}_{shape[0]}x{shape[1]}_{chip_id}_staticMask.fits"


def _chip_id(info: FileInfo, chip: Chip, header: fits.Header, primary: fits.Header) -> int:
    if info.instrument == "STIS":
        return int(header.get("CCDCHIP", 1) or 1)
    if info.instrument == "NICMOS":
        return int(primary.get("CAMERA", 1) or 1)
    return int(chip.extver)


# --------------------------------------------------------------------------------------------
# Checking inputs (before anything is written)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Work:
    """One chip to process: where to read it and which mask it goes to."""

    path: str
    chip: Chip
    key: str
    dq_bits: tuple[int, bool] | None
    checked: FileIdentity | None = None  # the file as it was checked (see _reopen)


def _select_chips(info: FileInfo, chips: Sequence[int] | None) -> list[Chip]:
    if chips is None:
        return list(info.chips)
    have = {c.extver: c for c in info.chips}
    missing = [c for c in chips if c not in have]
    if missing:
        raise InputError(info.path, f"no SCI extension with EXTVER {missing[0]} "
                                    f"(has {','.join(str(v) for v in have) or 'none'})")
    return [have[c] for c in chips]


def _resolve_bits(spec: str | int | None, info: FileInfo) -> tuple[int, bool] | None:
    if spec is None:
        return None
    text = str(spec).strip()
    if text.lower() == "none":
        return None
    flip = text.startswith("~")
    body = text[1:].strip() if flip else text
    try:
        value = parse_flags(body, table_for(info.telescope, info.instrument, info.detector))
    except FlagSpecError as exc:
        raise InputError(info.path, f": {exc}", parameter="good_flags") from None
    return value, flip


def _check_file(path: str, *, output_name: str | None, legacy_names: bool,
                chips: Sequence[int] | None, dq_bits: str | int | None) -> list[_Work]:
    with open_fits(path) as hdul:
        checked = file_identity(os.stat(path))
        info = classify_hdulist(hdul, path)
        if not info.is_hst or info.instrument not in _SUPPORTED:
            raise InputError(path, f"not an HST {'/'.join(_SUPPORTED)} image "
                                   f"({info.describe()}); static masks are for HST data")
        if "SCI" not in info.extnames:
            raise InputError(path, "missing extension SCI")
        bits = _resolve_bits(dq_bits, info)
        work = []
        for chip in _select_chips(info, chips):
            work.append(_check_chip(hdul, info, chip, output_name, legacy_names, bits))
        return [dataclasses.replace(w, checked=checked) for w in work]


def _plan(paths: Sequence[str], **options) -> Iterator[_Work]:
    """The chips to process, file after file; each file is checked before its chips come."""
    for path in paths:
        yield from _check_file(path, **options)


def _check_chip(hdul, info, chip, output_name, legacy_names, bits) -> _Work:
    path = info.path
    if len(chip.shape) != 2 or min(chip.shape) < 1:
        raise InputError(path, f"SCI,{chip.extver} is not a 2-D image (shape {chip.shape})")
    sci = hdul[chip.sci]
    if sci.header.get("BITPIX", 0) not in (8, 16, 32, 64, -32, -64):
        raise InputError(path, f"SCI,{chip.extver} has an unsupported BITPIX")
    if bits is not None:
        if chip.dq is None:
            raise InputError(path, f"given but SCI,{chip.extver} has no DQ extension",
                             parameter="good_flags")
        dq = hdul[chip.dq]
        if _shape(dq.header) != chip.shape:
            raise InputError(path, f"DQ,{chip.extver} shape {_shape(dq.header)} differs from "
                                   f"SCI shape {chip.shape}")
        if int(dq.header.get("BITPIX", 0)) < 0:
            raise InputError(path, f"DQ,{chip.extver} is floating point; DQ must be integer")
    if legacy_names:
        root = f"{info.instrument}{info.detector}"
    else:
        root = signature_root(output_name if output_name else path)
    chip_id = _chip_id(info, chip, sci.header, hdul[0].header)
    return _Work(path, chip, mask_filename(root, chip.shape, chip_id), bits)


def _shape(header: fits.Header) -> tuple[int, ...]:
    naxis = int(header.get("NAXIS", 0))
    return tuple(int(header.get(f"NAXIS{k}", 0)) for k in range(naxis, 0, -1))


# --------------------------------------------------------------------------------------------
# Computing
# --------------------------------------------------------------------------------------------


class _Buffers(threading.local):
    """One native-order array per worker thread, reused chip after chip.

    A chip read into a fresh 32 MiB array first faults in every page of it; a worker
    computes one chip at a time, so the array of its previous chip can take the next.
    Lives as long as one :func:`make_static_masks` call.
    """

    def __init__(self) -> None:
        self.array: np.ndarray | None = None

    def native(self, array: np.ndarray) -> np.ndarray:
        """A native-byte-order copy of ``array`` (values and dtype kind unchanged)."""
        dtype = array.dtype.newbyteorder("=")
        buf = self.array
        if buf is None or buf.shape != array.shape or buf.dtype != dtype:
            buf = self.array = np.empty(array.shape, dtype)
        np.copyto(buf, array)  # byte-swapped from the memory map, as astype would
        return buf


@dataclass
class _ChipOutcome:
    """One chip's contribution: pixels to mark bad and its summary.

    ``low`` (below the threshold) and ``dq`` (rejected by --good-flags) are ``bad`` arrays
    (bool, chip shape, True = bad); None when nothing applies.
    """

    item: _Work
    summary: ChipSummary
    low: np.ndarray | None
    dq: np.ndarray | None
    warning: str = ""  # logged by the caller, in plan order


_Mapped = tuple[np.ndarray, np.ndarray | None]


def _mapped_chips(plan: Sequence[_Work]) -> Iterator[tuple[_Work, _Mapped]]:
    """Each chip with its SCI array (and DQ when --good-flags asks), as astropy maps them
    from the file (file byte order, nothing read yet; the maps outlive the closed file).

    Each chip opens its file on its own: the chips of one file would share one memory map,
    which keeps every page read of the earlier chips resident until the last one is done.
    Called in the calling thread: astropy's lazy HDU loading and the warning filters of
    :func:`_reopen` are not thread-safe; the workers only read the arrays.
    """
    for item in plan:
        with _reopen(item.path, item.checked) as hdul:
            mapped = (hdul[item.chip.sci].data,
                      hdul[item.chip.dq].data if item.dq_bits is not None else None)
        yield item, mapped
        del mapped  # the caller holds it as long as it needs it


def _process_chip(item: _Work, data: np.ndarray, dq_bad: np.ndarray | None, sig: float,
                  out_path: str) -> _ChipOutcome:
    """Statistics and bad pixels of one chip (pure computation: safe in a thread)."""
    dq_flagged = 0 if dq_bad is None else int(np.count_nonzero(dq_bad))
    path, ver = item.path, item.chip.extver
    try:
        stats = sm.chip_statistics(data)
    except sm.StatsError as exc:
        summary = ChipSummary(path, ver, out_path, None, None, 0, dq_flagged, "no finite pixels")
        return _ChipOutcome(item, summary, None, dq_bad, f"{path}[SCI,{ver}]: no statistics "
                                                         f"({exc}); chip does not contribute")
    if stats.nbins < 2:
        summary = ChipSummary(path, ver, out_path, None, None, 0, dq_flagged,
                              "clipped data in one histogram bin")
        return _ChipOutcome(item, summary, None, dq_bad,
                            f"{path}[SCI,{ver}]: clipped data fall in one histogram bin "
                            "(constant image?); chip does not contribute, as in drizzlepac")
    thr = sm.threshold(stats, sig)
    low = sm.low_pixels(data, thr)
    summary = ChipSummary(path, ver, out_path, stats, thr, int(np.count_nonzero(low)),
                          dq_flagged)
    return _ChipOutcome(item, summary, low, dq_bad)


@contextlib.contextmanager
def _reopen(path: str, checked: FileIdentity | None) -> Iterator[fits.HDUList]:
    """A file already checked by :func:`_check_file`, opened again to read its data.

    The headers were verified card by card when the plan was made (``open_fits``, the
    costliest part of opening a file, about 5 times the cost of this reopening); here the
    file is opened as a regular file only (never blocking on a FIFO put in its place) and
    must still be the very file that was checked: same device, inode, size and
    modification time, so a file truncated, rewritten or replaced in between is refused
    in one line instead of being read as it now is. Then astropy only maps it again.

    Raises
    ------
    InputError
        The file is gone, no longer a regular file, or changed since it was checked.
    """
    fh = open_regular(path)
    try:
        if checked is not None and file_identity(os.fstat(fh.fileno())) != checked:
            raise InputError(path, "changed since it was checked (size, time or inode "
                                   "differ); not read")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", AstropyUserWarning)
                hdul = fits.open(fh, mode="readonly", memmap=None)
        except Exception as exc:  # astropy raises OSError, ValueError, TypeError...
            raise InputError(path, f"cannot be read again ({exc})") from None
        try:
            yield hdul
        finally:
            hdul.close()
    finally:
        fh.close()


def _chip_job(item: _Work, mapped: _Mapped, sig: float, out_path: str, buffers: _Buffers
              ) -> _ChipOutcome:
    """Read one mapped chip and compute its outcome: one task of a worker."""
    sci, dq = mapped
    data = buffers.native(sci)  # only the SCI array is read, from the memory map
    dq_bad = None
    if dq is not None and item.dq_bits is not None:
        value, flip = item.dq_bits
        dq_bad = sm.dq_bad(dq, value, flip=flip)
    return _process_chip(item, data, dq_bad, sig, out_path)


def default_jobs() -> int:
    """CPUs this process may run on (the default of ``jobs``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _outcomes(plan: Sequence[_Work], sig: float, output_dir: str, jobs: int
              ) -> Iterator[_ChipOutcome]:
    """Chip outcomes in plan order; ``jobs`` > 1 computes that many chips at a time.

    Workers are threads of this process: numpy releases the GIL in the block-sized
    kernels of :mod:`dqmask.static.core`, so the chips really compute in parallel, with no
    second interpreter to start and nothing to copy back. Each task reads its own chip
    from the memory map this thread made. At most ``jobs`` + 1 chips are in flight
    (bounded memory).
    """
    def out(item: _Work) -> str:
        return os.path.join(output_dir, item.key)

    buffers = _Buffers()

    if jobs <= 1:
        for item, mapped in _mapped_chips(plan):
            outcome = _chip_job(item, mapped, sig, out(item), buffers)
            del mapped  # its pages need not stay mapped while the caller merges
            yield outcome
        return
    workers = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="dqmask-static")
    try:
        pending: collections.deque[Future[_ChipOutcome]] = collections.deque()
        for item, mapped in _mapped_chips(plan):
            pending.append(workers.submit(_chip_job, item, mapped, sig, out(item), buffers))
            del mapped  # held by its task until computed
            if len(pending) > jobs:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:  # on an error, chips not started yet are dropped
        workers.shutdown(wait=True, cancel_futures=True)


def _add_bad(masks: dict[str, np.ndarray], key: str, bad: np.ndarray | None) -> None:
    """OR ``bad`` (bool, True = bad) into the ``bad`` mask of ``key`` (taken over if new)."""
    if bad is None:
        return
    if key not in masks:
        masks[key] = bad
    else:
        np.logical_or(masks[key], bad, out=masks[key])


def _write_mask(path: str, bad: np.ndarray, params: dict, sources: list[str]) -> None:
    """Write the static mask (``good``: int16, 1 = good; from ``bad``) as a bare primary
    HDU, atomically, with provenance."""
    good = np.empty(bad.shape, dtype=">i2")  # FITS byte order: astropy writes it as it is
    np.subtract(1, bad, out=good, dtype=np.int16, casting="unsafe")
    hdu = fits.PrimaryHDU(data=good)
    add_provenance(hdu.header, STEP, params)
    for src in sources:
        hdu.header.add_history(f"dqmask static input: {os.path.basename(src)}")
    write_hdulist(fits.HDUList([hdu]), path)


def make_static_masks(paths: Sequence[str | os.PathLike], *, sig: float = sm.DEFAULT_SIG,
                      output_name: str | None = None, legacy_names: bool = False,
                      chips: Sequence[int] | None = None, output_dir: str | os.PathLike = ".",
                      good_flags: str | int | None = None, jobs: int | None = None,
                      dq_bits: str | int | None = None) -> StaticMaskResult:
    """Make drizzlepac static masks for HST images and write them.

    Parameters
    ----------
    paths : sequence of path-like
        HST flt/flc (or any image with SCI extensions) files, processed in this order.
    sig : float
        drizzlepac ``static_sig``: pixels below ``mode - sig * rms`` are bad.
    output_name : str, optional
        Product name whose root names the masks (all inputs then combine, as in
        AstroDrizzle). Default: each input's own name.
    legacy_names : bool
        ``[INSTRUME][DETECTOR]_[rows]x[cols]_[chip]_staticMask.fits`` names (drizzlepac
        < 3.2); inputs of one detector combine.
    chips : sequence of int, optional
        SCI EXTVERs to use (default all).
    output_dir : path-like
        Where masks are written (default: the current directory, as drizzlepac).
    good_flags : int or str, optional
        The DQ bits that do *not* make a pixel bad (AstroDrizzle's ``final_bits``): also
        mark the pixels with any other DQ bit bad, as AstroDrizzle does at drizzle time
        (names or numbers; ``~`` inverts: the bits listed are then the bad ones). Default:
        static pixels only, exactly drizzlepac's file.
    jobs : int, optional
        Chips computed at a time (worker threads; numpy releases the GIL in the kernels).
        Default: the number of CPUs available (:func:`default_jobs`); 1 computes in the
        calling thread. The result does not depend on it (same computation per chip, AND
        is order-independent, chips are combined in input order).
    dq_bits : int or str, optional
        Old name of ``good_flags`` (deprecated; still accepted).

    Returns
    -------
    StaticMaskResult
        Output paths and per-chip summaries. Each mask file: primary HDU, int16 ``good``
        (1 = good, 0 = bad).

    Raises
    ------
    InputError
        Any unreadable or unsuitable input; raised before any output is written.
    """
    if not paths:
        raise InputError(None, "no input files")
    if output_name is not None and legacy_names:
        raise ParameterError("output_name", "and {legacy_names} are exclusive",
                             mentions=("legacy_names",))
    _PARAMETER["sig"].check(sig)
    if dq_bits is not None:  # the old name of good_flags
        if good_flags is not None and good_flags != dq_bits:
            raise ParameterError("good_flags", "and {dq_bits} (its old name) disagree; give one",
                                 mentions=("dq_bits",))
        good_flags = dq_bits
    dq_bits = good_flags
    if output_name is not None and not signature_root(output_name):
        log.warning("output name %r has no '_': as in drizzlepac the mask names get an empty "
                    "root (_<rows>x<cols>_<chip>_staticMask.fits)", output_name)
    names = [os.fspath(path) for path in paths]
    # Every input is checked before any chip is computed: a bad input fails at once, and
    # the checks (Python parsing headers) do not compete with the workers for the GIL.
    plan = list(_plan(names, output_name=output_name, legacy_names=legacy_names, chips=chips,
                      dq_bits=dq_bits))
    jobs = min(default_jobs() if jobs is None else max(1, int(jobs)), max(1, len(plan)))
    shapes: dict[str, tuple[int, ...]] = {}
    masks: dict[str, np.ndarray] = {}  # bad (bool, True = bad); absent: all good so far
    sources: dict[str, list[str]] = {}
    warned: list[str] = []
    result = StaticMaskResult()
    # nothing is written (or logged) before every chip is computed
    for outcome in _outcomes(plan, sig, os.fspath(output_dir), jobs):
        key = outcome.item.key
        if key not in sources:
            result.outputs.append(outcome.summary.output)
            sources[key] = []
            shapes[key] = outcome.item.chip.shape
        sources[key].append(outcome.item.path)
        if outcome.warning:
            warned.append(outcome.warning)
        for bad in (outcome.dq, outcome.low):
            _add_bad(masks, key, bad)  # AND into the static mask (good convention)
        result.chips.append(outcome.summary)
    for text in warned:
        log.warning("%s", text)
    os.makedirs(output_dir, exist_ok=True)
    params = {"sig": sig, "dq_bits": dq_bits, "names": "legacy" if legacy_names else "current"}
    for out in result.outputs:
        key = os.path.basename(out)
        bad = masks.get(key)
        if bad is None:
            bad = np.zeros(shapes[key], dtype=bool)
        _write_mask(out, bad, params, sources[key])
    return result
