"""File-level mask toolbox: combine, grow, convert, regions (mask outlines as DS9 polygons).

read (:mod:`dqmask.io.mask_file`) -> compute (:mod:`dqmask.toolbox.combine`,
:mod:`dqmask.toolbox.morphology`) -> write (:func:`dqmask.io.mask_file.write_mask`,
DS9 text through :mod:`dqmask.io.atomic`). Every mask in between is a tuple of ``bad``
planes (bool, True = bad), one per chip. Every input is read and checked before anything is
written.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..conventions import Convention, from_bad
from ..errors import InputError, ParameterError
from ..io.atomic import atomic_write, refuse_output_is_input
from ..io.mask_file import (
    MaskData,
    MaskSpec,
    Reference,
    parse_spec,
    read_dq_planes,
    read_mask_file,
    reference_of,
    write_mask,
)
from .combine import OPERATIONS, combine, ds9_text
from .morphology import FOOTPRINTS, grow

__all__ = ["ToolResult", "RegionsResult", "load_masks", "combine_files", "grow_file", "convert_file",
           "regions_file", "ds9_text"]


@dataclass(frozen=True)
class ToolResult:
    """What one toolbox function wrote.

    Attributes
    ----------
    output : str
        The mask file written.
    convention : str
        Its convention (``bad``, ``good``, ``dq``...).
    masked, total : int
        Bad pixels (in the convention's sense) and all pixels.
    inputs : list of str
        The inputs, as given.
    operation : str
        What was done (``combine or``, ``grow 2 px circle``, ``convert``).
    """

    output: str
    convention: str
    masked: int
    total: int
    inputs: list[str]
    operation: str = ""

    def summary(self, verb: str | None = None) -> str:
        """One line: ``OPERATION INPUTS -> OUT (CONV): N of M pixels bad (P%)``; ``verb``
        replaces the operation's words."""
        frac = 100.0 * self.masked / self.total if self.total else 0.0
        verb = self.operation if verb is None else verb
        return (f"{verb} {', '.join(self.inputs)} -> {self.output} ({self.convention}): "
                f"{self.masked} of {self.total} pixels bad ({frac:.3f}%)")


@dataclass(frozen=True)
class RegionsResult:
    """The DS9 region file :func:`regions_file` wrote.

    Attributes
    ----------
    output : str
        The region file.
    polygons : int
        Polygons in it (their union is exactly the bad pixels).
    """

    output: str
    polygons: int

    def summary(self) -> str:
        """One line: ``OUT: N polygon(s)``."""
        return f"{self.output}: {self.polygons} polygon(s)"

    def __iter__(self):
        """``output, polygons = regions_file(...)`` as before (a tuple was returned)."""
        return iter((self.output, self.polygons))


def _count(planes: Sequence[np.ndarray]) -> tuple[int, int]:
    return sum(int(np.count_nonzero(p)) for p in planes), sum(p.size for p in planes)


def load_masks(specs: Sequence[str], *, flags: str | None = None, like: str | None = None,
               region_mode: str = "center") -> list[MaskData]:
    """Read every input as ``bad`` planes; region files are painted on a reference.

    The reference is ``like`` if given, else the first FITS input (its SCI planes and
    headers; for a bare mask file, its planes and primary header).

    Raises
    ------
    InputError
        Any unreadable input, or inputs whose chip count or shapes differ.
    """
    parsed = [parse_spec(s) for s in specs]
    reference: Reference | None = reference_of(like) if like else None
    masks: dict[int, MaskData] = {}
    for i, spec in enumerate(parsed):
        if not spec.is_region:
            masks[i] = read_mask_file(spec, flags=flags)
            if reference is None:
                reference = _chip_reference(spec.path, spec.chip, masks[i])
    for i, spec in enumerate(parsed):
        if spec.is_region:
            masks[i] = read_mask_file(spec, reference=reference, region_mode=region_mode)
    ordered = [masks[i] for i in range(len(parsed))]
    first = ordered[0]
    for m in ordered[1:]:
        if m.shapes != first.shapes:
            raise InputError(m.path, f"planes {_fmt(m.shapes)} differ from {first.path} "
                                     f"{_fmt(first.shapes)}; masks are never reshaped")
    return ordered


def _chip_reference(path: str, chip: int | None, mask: MaskData) -> Reference:
    ref = reference_of(path)
    if ref.shapes != mask.shapes and chip is None:  # e.g. DQ planes of a MASK ref file
        ref = Reference(path, mask.shapes, (None,) * len(mask.shapes))
    if chip is not None:
        idx = min(chip, len(ref.shapes)) - 1
        ref = Reference(path, (ref.shapes[idx],), (ref.headers[idx],))
    return ref


def _fmt(shapes: Sequence[tuple[int, ...]]) -> str:
    return "+".join("x".join(map(str, s)) for s in shapes)


def _check_output(output: str, inputs: Sequence[str]) -> None:
    """Refuse an output that is an input under any name (a link to it included)."""
    refuse_output_is_input(output, [parse_spec(spec).path for spec in inputs],
                           "choose another name")


def _write(output: str, planes: Sequence[np.ndarray], to: str, step: str, params: dict,
           flags_out: str | None, inputs: list[str], like: str | None,
           dq_planes: Sequence[np.ndarray] | None = None) -> ToolResult:
    try:
        write_mask(output, planes, to, step=step, params=params, flags=flags_out,
                   dq_planes=dq_planes, like=like)
    except InputError:  # also a ValueError; names its own file
        raise
    except ValueError as exc:
        raise InputError(output, " ".join(str(exc).split())) from None
    masked, total = _count(planes)
    operation = {"combine": f"combine {params.get('op')}",
                 "grow": f"grow {params.get('pixels')} px {params.get('footprint')}"}
    return ToolResult(output, to, masked, total, inputs, operation.get(step, step))


def combine_files(specs: Sequence[str], output: str, *, op: str = "or", to: str = "bad",
                  flags: str | None = None, flags_out: str | None = None,
                  like: str | None = None, region_mode: str = "center") -> ToolResult:
    """Combine mask inputs of any convention and write the result.

    Parameters
    ----------
    specs : sequence of str
        ``PATH[CHIP]@CONVENTION`` inputs (FITS masks, DQ files, DS9 regions).
    output : str
        Output file.
    op : {"or", "and", "not"}
        See :func:`dqmask.toolbox.combine.combine` (``not``: first minus the others).
    to : str
        Output convention (:data:`dqmask.io.mask_file.WRITE_CONVENTIONS`).
    flags, flags_out : str, optional
        Bits that make a ``dq`` input bad (default any); value written for ``to="dq"``.
    like : str, optional
        Reference image for region files (default: the first FITS input).
    """
    if op not in OPERATIONS:
        raise ParameterError("op", f"{op!r} unknown (choose from {', '.join(OPERATIONS)})")
    _check_output(output, specs)
    masks = load_masks(specs, flags=flags, like=like, region_mode=region_mode)
    planes = [combine([m.planes[k] for m in masks], op) for k in range(len(masks[0].planes))]
    params = {"op": op, "inputs": ",".join(os.path.basename(m.path) for m in masks), "to": to}
    return _write(output, planes, to, "combine", params, flags_out,
                  [m.path for m in masks], like)


def grow_file(spec: str, output: str, *, pixels: int, footprint: str = "circle",
              to: str | None = None, flags: str | None = None, flags_out: str | None = None,
              like: str | None = None) -> ToolResult:
    """Grow the bad pixels of a mask by ``pixels`` with a footprint; write it.

    The output convention defaults to the input's (``seed``, ``region``: ``bad``). A ``dq``
    input written as ``dq`` keeps every original bit; the grown ring gets ``flags_out``
    (default DO_NOT_USE+OTHER_BAD_PIXEL).
    """
    if pixels < 0:
        raise ParameterError("pixels", f"must be >= 0, got {pixels}")
    if footprint not in FOOTPRINTS:
        raise ParameterError("footprint", f"{footprint!r} unknown")
    _check_output(output, [spec])
    (mask,) = load_masks([spec], flags=flags, like=like)
    to = to or _same_convention(mask.convention)
    planes = [grow(p, pixels, footprint) for p in mask.planes]
    params = {"input": os.path.basename(mask.path), "pixels": pixels,
              "footprint": footprint, "to": to}
    dq_planes = None
    if to == "dq" and mask.convention == "dq":
        raw = _raw_dq(parse_spec(spec))
        if raw is not None:
            dq_planes = [_add_ring(r, old, new, flags_out, mask.path)
                         for r, old, new in zip(raw, mask.planes, planes, strict=True)]
    return _write(output, planes, to, "grow", params, flags_out, [mask.path], like, dq_planes)


def _raw_dq(spec: MaskSpec) -> list[np.ndarray] | None:
    """The integer DQ planes of a dq input (chip-selected), or None."""
    raw = read_dq_planes(spec.path)
    if raw is None or not all(np.asarray(r).dtype.kind in "iu" for r in raw):
        return None
    if spec.chip is not None:
        raw = (raw[spec.chip - 1],)
    return [np.asarray(r) for r in raw]


def _add_ring(dq: np.ndarray, old: np.ndarray, new: np.ndarray, flags: str | None,
              path: str) -> np.ndarray:
    """``dq`` (bitfield) with ``flags`` OR-ed on pixels bad in ``new`` but not in ``old``.

    Flags that do not fit ``dq``'s width are the file's problem when they are the default
    (JWST's, on an HST int16 DQ: an ``InputError`` naming ``path``, so a batch goes on), and
    the caller's when given (``ParameterError``).
    """
    try:
        value = from_bad(np.ones(1, bool), Convention.DQ, flags=flags, dtype=dq.dtype)[0]
    except (OverflowError, ValueError):
        if flags is None:
            raise InputError(path, f"the default flags of grown pixels do not fit its "
                                   f"{dq.dtype} DQ: name the flags to set (e.g. 4 for "
                                   f"HST DETECTORPROB)") from None
        raise ParameterError("flags_out", f"needed: the grown pixels' flags do not fit the "
                             f"{dq.dtype} DQ (e.g. 4 for HST DETECTORPROB)") from None
    out = np.array(dq, copy=True)
    np.bitwise_or(out, value, out=out, where=new & ~old)
    return out


def convert_file(spec: str, output: str, *, to: str, flags: str | None = None,
                 flags_out: str | None = None, like: str | None = None) -> ToolResult:
    """Rewrite a mask in another convention.

    ``dq`` -> ``dq`` with neither ``flags`` nor ``flags_out`` keeps every bit (lossless);
    every boolean conversion is lossless (see :mod:`dqmask.conventions`).
    """
    _check_output(output, [spec])
    (mask,) = load_masks([spec], flags=flags, like=like)
    dq_planes = None
    if to == "dq" and mask.convention == "dq" and flags is None and flags_out is None:
        dq_planes = _raw_dq(parse_spec(spec))
    params = {"input": os.path.basename(mask.path), "from": mask.convention, "to": to}
    return _write(output, list(mask.planes), to, "convert", params, flags_out, [mask.path],
                  like, dq_planes)


def _same_convention(convention: str) -> str:
    return convention if convention in ("bad", "good", "background", "user_mask", "dq") else "bad"


def regions_file(spec: str, output: str, *, flags: str | None = None,
                 like: str | None = None, color: str = "red") -> RegionsResult:
    """Write the outlines of a mask's bad pixels as DS9 polygons.

    ``flags``: for a ``dq`` mask, the DQ bits that make a pixel bad (default any).
    """
    _check_output(output, [spec])
    (mask,) = load_masks([spec], flags=flags, like=like)
    if len(mask.planes) != 1:
        raise InputError(mask.path, f"has {len(mask.planes)} chips and a DS9 file describes "
                                    f"one image; pick one with FILE[CHIP]")
    text = ds9_text(mask.planes[0], color=color, source=os.path.basename(mask.path))
    atomic_write(output, lambda fh: fh.write(text.encode()))
    return RegionsResult(output, text.count("polygon("))
