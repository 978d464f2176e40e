"""``dqmask static``: drizzlepac static masks for HST images, written as drizzlepac writes them.

For every input and every SCI chip (EXTVER order) the low-pixel mask of
:mod:`dqmask.algorithms.static_mask` is AND-ed into one mask per *signature*
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

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from astropy.io import fits

from ..algorithms import static_mask as sm
from ..errors import InputError
from ..flags import FlagSpecError, parse_flags, table_for
from ..io.fits import Chip, FileInfo, add_provenance, classify_hdulist, open_fits, write_hdulist

__all__ = [
    "STEP",
    "ChipSummary",
    "StaticMaskResult",
    "signature_root",
    "mask_filename",
    "make_static_masks",
]

STEP = "static"
log = logging.getLogger("dqmask")

_SUPPORTED = ("ACS", "WFC3", "STIS", "WFPC2", "NICMOS")


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
        if self.stats is None:
            return f"{head} skipped ({self.note})"
        s = self.stats
        text = (f"{head} mode={float(s.mode):.6g} rms={s.stddev:.6g} "
                f"threshold={float(self.threshold):.6g} flagged={self.flagged}")
        if self.note:
            text += f" ({self.note})"
        if self.dq_flagged:
            text += f" dq_flagged={self.dq_flagged}"
        return text


@dataclass
class StaticMaskResult:
    """Outputs written (in order of first appearance) and one summary per chip."""

    outputs: list[str] = field(default_factory=list)
    chips: list[ChipSummary] = field(default_factory=list)


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
        raise InputError(info.path, f"--dq-bits: {exc}") from None
    return value, flip


def _check_file(path: str, *, output_name: str | None, legacy_names: bool,
                chips: Sequence[int] | None, dq_bits: str | int | None) -> list[_Work]:
    with open_fits(path) as hdul:
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
        return work


def _check_chip(hdul, info, chip, output_name, legacy_names, bits) -> _Work:
    path = info.path
    if len(chip.shape) != 2 or min(chip.shape) < 1:
        raise InputError(path, f"SCI,{chip.extver} is not a 2-D image (shape {chip.shape})")
    sci = hdul[chip.sci]
    if sci.header.get("BITPIX", 0) not in (8, 16, 32, 64, -32, -64):
        raise InputError(path, f"SCI,{chip.extver} has an unsupported BITPIX")
    if bits is not None:
        if chip.dq is None:
            raise InputError(path, f"--dq-bits given but SCI,{chip.extver} has no DQ extension")
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


def _native(array: np.ndarray) -> np.ndarray:
    """The array in native byte order (values and dtype kind unchanged)."""
    if array.dtype.isnative:
        return np.asarray(array)
    return array.astype(array.dtype.newbyteorder("="))


def _process_chip(hdul: fits.HDUList, item: _Work, good: np.ndarray, sig: float,
                  out_path: str) -> ChipSummary:
    data = _native(hdul[item.chip.sci].data)
    dq_flagged = 0
    if item.dq_bits is not None:
        value, flip = item.dq_bits
        dq = _native(hdul[item.chip.dq].data)
        bad = sm.dq_bad(dq, value, flip=flip)
        dq_flagged = int(np.count_nonzero(bad))
        good[bad] = 0
    try:
        stats = sm.chip_statistics(data)
    except sm.StatsError as exc:
        log.warning("%s[SCI,%d]: no statistics (%s); chip does not contribute",
                    item.path, item.chip.extver, exc)
        return ChipSummary(item.path, item.chip.extver, out_path, None, None, 0, dq_flagged,
                           "no finite pixels")
    if stats.nbins < 2:
        log.warning("%s[SCI,%d]: clipped data fall in one histogram bin (constant image?); "
                    "chip does not contribute, as in drizzlepac", item.path, item.chip.extver)
        return ChipSummary(item.path, item.chip.extver, out_path, None, None, 0, dq_flagged,
                           "clipped data in one histogram bin")
    flagged = sm.update_good(good, data, stats, sig)
    return ChipSummary(item.path, item.chip.extver, out_path, stats, sm.threshold(stats, sig),
                       flagged, dq_flagged)


def _write_mask(path: str, good: np.ndarray, params: dict, sources: list[str]) -> None:
    hdu = fits.PrimaryHDU(data=good)
    add_provenance(hdu.header, STEP, params)
    for src in sources:
        hdu.header.add_history(f"dqmask static input: {os.path.basename(src)}")
    write_hdulist(fits.HDUList([hdu]), path)


def make_static_masks(paths: Sequence[str | os.PathLike], *, sig: float = sm.DEFAULT_SIG,
                      output_name: str | None = None, legacy_names: bool = False,
                      chips: Sequence[int] | None = None, output_dir: str | os.PathLike = ".",
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
    dq_bits : int or str, optional
        Also mark DQ-flagged pixels bad, as AstroDrizzle does at drizzle time with
        ``final_bits = dq_bits`` (names or numbers; ``~`` inverts). Default: static
        pixels only, exactly drizzlepac's file.

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
        raise ValueError("output_name and legacy_names are exclusive")
    plan: list[_Work] = []
    for path in paths:
        plan += _check_file(os.fspath(path), output_name=output_name,
                            legacy_names=legacy_names, chips=chips, dq_bits=dq_bits)
    os.makedirs(output_dir, exist_ok=True)
    masks: dict[str, np.ndarray] = {}
    sources: dict[str, list[str]] = {}
    result = StaticMaskResult()
    for path in dict.fromkeys(w.path for w in plan):
        with open_fits(path) as hdul:
            for item in (w for w in plan if w.path == path):
                out = os.path.join(os.fspath(output_dir), item.key)
                if item.key not in masks:
                    masks[item.key] = np.ones(item.chip.shape, dtype=np.int16)
                    result.outputs.append(out)
                    sources[item.key] = []
                sources[item.key].append(path)
                result.chips.append(_process_chip(hdul, item, masks[item.key], sig, out))
    params = {"sig": sig, "dq_bits": dq_bits, "names": "legacy" if legacy_names else "current"}
    for out in result.outputs:
        key = os.path.basename(out)
        _write_mask(out, masks[key], params, sources[key])
    return result
