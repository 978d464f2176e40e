"""One file open in the editor: its chips, the working mask, the shapes, undo and saving.

The working mask of each chip is a ``bool`` array in the ``bad`` convention: **True =
masked** (painted, detected, or not background). Saving converts it to the convention asked
for through :func:`dqmask.io.mask_file.write_mask` (so ``background`` / ``user_mask`` files
hold ``background = not masked``). Nothing here guesses a polarity: an input ``--mask`` is
read by :func:`dqmask.io.mask_file.read_mask_file`, which reports the convention it used.

Every change is one undoable :class:`Edit`: the rectangle of the mask it changed (before and
after, bit-packed) and the shapes before and after. Consecutive ``detect`` runs replace each
other (moving a slider re-runs the detection on the mask as it was before the first run).

The cores are the command line's: :func:`dqmask.claws.core.detect` with the image, DQ
and region rasterisation of ``dqmask detect``; :func:`dqmask.nsclean.files.
background_from_exposures` for ``dqmask background``; :func:`dqmask.toolbox.morphology.
grow`; :func:`dqmask.io.mask_file.write_mask`; :func:`dqmask.apply.files.apply_to_file`.
"""

from __future__ import annotations

import io
import json
import math
import os
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from ..claws.core import DetectParams, detect
from ..errors import AlreadyDoneError, InputError
from ..flags import decode, flag_counts, table_for
from ..io import png as render
from ..io.atomic import atomic_write
from ..io.fits import Chip, classify_hdulist, open_fits
from ..io.mask_file import WRITE_CONVENTIONS, MaskData, read_mask_file, reference_of, write_mask
from ..toolbox.morphology import grow
from . import paint, shapes
from .pixels import Plane

__all__ = ["TILE", "LAYERS", "DETECT_MAX_PIXELS", "WHOLE_MAX_PIXELS", "Edit", "ChipState",
           "Document", "output_root"]

#: Tile side in screen pixels.
TILE = 256
LAYERS = ("image", "dq", "mask")
#: Largest image (pixels) ``detect`` and ``auto background`` run on (they need the whole
#: image in memory as float64, as on the command line).
DETECT_MAX_PIXELS = 64 << 20
#: Largest image whole-mask operations (grow, invert, regions -> mask) run on.
WHOLE_MAX_PIXELS = 256 << 20
#: Largest grow / shrink radius one click applies (the dilation time grows as radius^2).
MAX_GROW = 50
#: Undo memory budget (bytes of packed mask rectangles); the oldest edits go first.
HISTORY_BYTES = 256 << 20
STEP = "edit"
_SAMPLE = 1024  # the display limits come from about this many pixels a side


def output_root(path: str) -> str:
    """File name without ``.fits`` / ``.fits.gz`` (outputs are named ``<root>_<what>``)."""
    name = os.path.basename(path)
    for ext in (".gz", ".bz2", ".fits", ".fit", ".fts"):
        name = name.removesuffix(ext)
    return name


@dataclass
class Edit:
    """One undoable change of one chip."""

    chip: int
    label: str
    box: tuple[int, int, int, int] | None  # (y0, y1, x0, x1) of the mask that changed
    before: bytes = b""
    after: bytes = b""
    shapes_before: list = field(default_factory=list)
    shapes_after: list = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        return len(self.before) + len(self.after)


def _pack(a: np.ndarray) -> bytes:
    return np.packbits(a, axis=None).tobytes()


def _unpack(data: bytes, shape: tuple[int, int]) -> np.ndarray:
    n = shape[0] * shape[1]
    return np.unpackbits(np.frombuffer(data, np.uint8), count=n).astype(bool).reshape(shape)


@dataclass
class ChipState:
    """One image plane (SCI extension) of a document and its editing state.

    Attributes
    ----------
    mask : ndarray of bool
        ``bad`` convention: True = masked.
    shapes : list of dict
        Region shapes (:mod:`dqmask.editor.shapes`).
    """

    extver: int
    sci_index: int
    dq_index: int | None
    header: fits.Header
    sci: Plane
    dq: Plane | None
    mask: np.ndarray
    shapes: list = field(default_factory=list)
    wcs: WCS | None = None
    limits: dict = field(default_factory=dict)
    flag_counts: dict | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.sci.shape


class Document:
    """A file open in the editor.

    Parameters
    ----------
    path : str
        The image (JWST rate / cal / i2d, HST flt / flc / drz, any FITS with a 2-D image).
    outdir : str or None
        Where outputs go (default: beside the input).
    workdir : str
        A private temporary folder (region files for the rasteriser).
    mask : str, optional
        Initial mask: ``PATH[CHIP]@CONVENTION`` or a DS9 region file painted on the image.
    """

    def __init__(self, path: str, outdir: str | None, workdir: str,
                 mask: str | None = None) -> None:
        self.path = os.path.abspath(path)
        self.name = os.path.basename(path)
        self.outdir = os.path.abspath(outdir) if outdir else os.path.dirname(self.path)
        self.workdir = workdir
        self.root = output_root(path)
        self.lock = threading.RLock()
        self.history: list[Edit] = []
        self.redo: list[Edit] = []
        self.version = 0
        self.dirty = False
        self.written: set[str] = set()
        self.messages: list[str] = []
        self.mask_note = ""
        self._detect_cache: dict[int, tuple] = {}
        self._open()
        try:
            if mask:
                self._load_mask(mask)
            self.offer = self._autosave_offer()
        except BaseException:
            self.close()
            raise

    # -- opening --------------------------------------------------------------------------

    def _open(self) -> None:
        old = getattr(self, "chips", None)
        with open_fits(self.path, memmap=False) as hdul:
            info = classify_hdulist(hdul, self.path)
            self.info = info
            self.table = table_for(info.telescope, info.instrument, info.detector)
            chips: list[Chip | _BareChip] = [c for c in info.chips if len(c.shape) >= 2]
            if not chips and info.product == "mask_ref":  # DQ only: shown and decoded
                chips = [_BareChip(int(h.header.get("EXTVER", 1) or 1), i, i)
                         for i, h in enumerate(hdul) if (h.name or "").upper() == "DQ"
                         and h.is_image and h.header.get("NAXIS", 0) == 2]
            if not chips:  # a bare image: the primary array or the first image extension
                index = next((i for i, h in enumerate(hdul) if h.is_image and
                              h.header.get("NAXIS", 0) >= 2), None)
                if index is None:
                    raise InputError(self.path, "no 2-D image to edit")
                chips = [_BareChip(1, index, None)]
            states: list[ChipState] = []
            try:
                for k, chip in enumerate(chips):
                    states.append(self._chip_state(hdul, chip, old[k] if old else None))
            except BaseException:
                for c in states:
                    _close_planes(c)
                raise
        for c in old or []:
            _close_planes(c)
        self.chips: list[ChipState] = states

    def _chip_state(self, hdul: fits.HDUList, chip, old: ChipState | None) -> ChipState:
        """Open one chip's planes; the mask and shapes carry over from ``old`` (re-open)."""
        sci = Plane(self.path, hdul, chip.sci)
        try:
            dq = Plane(self.path, hdul, chip.dq) if chip.dq is not None else None
        except BaseException:
            sci.close()
            raise
        if dq is not None and dq.shape != sci.shape:
            dq.close()
            dq = None
        header = reference_of_header(hdul, chip.sci)
        mask = old.mask if old else np.zeros(sci.shape, bool)  # calloc: untouched pages free
        return ChipState(chip.extver, chip.sci, chip.dq, header, sci, dq, mask,
                         list(old.shapes) if old else [], _celestial_wcs(header, hdul))

    def close(self) -> None:
        for c in getattr(self, "chips", []):
            _close_planes(c)

    def _load_mask(self, spec: str) -> None:
        data = read_mask_file(spec, reference=reference_of(self.path))
        if len(data.planes) != len(self.chips):
            raise InputError(data.path, f"mask has {len(data.planes)} plane(s), {self.name} "
                                        f"has {len(self.chips)} chip(s)")
        for c, plane in zip(self.chips, data.planes, strict=True):
            if plane.shape != c.shape:
                raise InputError(data.path, f"mask shape {plane.shape} differs from "
                                            f"{self.name} SCI,{c.extver} {c.shape}")
            c.mask = np.array(plane, dtype=bool)
        self.mask_note = (f"{os.path.basename(data.path)} read as {data.convention} "
                          f"({data.reason}); shown as masked = bad")

    # -- description ----------------------------------------------------------------------

    def chip(self, k: int) -> ChipState:
        if not 0 <= k < len(self.chips):
            raise ValueError(f"no chip {k + 1} (the file has {len(self.chips)})")
        return self.chips[k]

    def flag_legend(self, k: int) -> list[dict]:
        """The flags of the file's table with their colour and (when cheap) pixel counts."""
        c = self.chip(k)
        if c.dq is None:
            return []
        if c.flag_counts is None:
            c.flag_counts = {}
            if c.shape[0] * c.shape[1] <= 32 << 20:
                c.flag_counts = flag_counts(c.dq.read(0, c.shape[0], 0, c.shape[1]), self.table)
        out, seen = [], set()
        for name, value in self.table.items():
            if value <= 0 or value & (value - 1) or value in seen:
                continue
            seen.add(value)
            bit = value.bit_length() - 1
            out.append({"name": name, "value": int(value), "bit": bit,
                        "color": "#{:02x}{:02x}{:02x}".format(*render.flag_color(bit)),
                        "count": c.flag_counts.get(name)})
        return out

    def describe(self, k: int) -> dict:
        """What the page needs to know about chip ``k``."""
        c = self.chip(k)
        return {"name": self.name, "path": self.path, "chip": k, "chips": len(self.chips),
                "extver": c.extver, "shape": list(c.shape), "product": self.info.product,
                "telescope": self.info.telescope, "instrument": self.info.instrument,
                "has_dq": c.dq is not None, "has_wcs": c.wcs is not None,
                "flags": self.flag_legend(k), "shapes": c.shapes,
                "masked": int(np.count_nonzero(c.mask)), "version": self.version,
                "can_undo": bool(self.history), "can_redo": bool(self.redo),
                "mask_note": self.mask_note, "outdir": self.outdir,
                "offer": self.offer, "written": sorted(self.written)}

    # -- display --------------------------------------------------------------------------

    def limits(self, k: int, kind: str, percent: float) -> tuple[float, float]:
        """Display limits of chip ``k`` from a strided sample of about 1024^2 pixels."""
        c = self.chip(k)
        key = (kind, round(float(percent), 4) if kind == "percentile" else 0)
        if key not in c.limits:
            step = max(1, math.ceil(max(c.shape) / _SAMPLE))
            sample = c.sci.read(0, c.shape[0], 0, c.shape[1], step)
            c.limits[key] = render.display_limits(sample, kind, percent)
        return c.limits[key]

    def tile(self, k: int, layer: str, level: int, tx: int, ty: int, *, stretch: str = "linear",
             limits: str = "zscale", percent: float = 99.5, flags: int = 0,
             color: tuple[int, int, int] = (255, 0, 0)) -> bytes:
        """PNG bytes of one tile: ``TILE`` x ``TILE`` picture pixels at 1 : 2**level.

        The tile covers image columns ``tx * TILE * f`` onwards and rows ``ty * TILE * f``
        onwards (``f = 2**level``, row 0 at the bottom); the picture is in PNG orientation.
        Zoomed out, the image is sampled (every f-th pixel), the DQ OR-ed and the mask
        any-ed over each f x f block, so that no flagged or masked pixel disappears.
        """
        c = self.chip(k)
        if layer not in LAYERS:
            raise ValueError(f"unknown layer {layer!r}")
        f = 1 << int(level)
        span = TILE * f
        ny, nx = c.shape
        y0, x0 = ty * span, tx * span
        if not (0 <= y0 < ny and 0 <= x0 < nx):
            raise ValueError("tile outside the image")
        y1, x1 = min(ny, y0 + span), min(nx, x0 + span)
        if layer == "image":
            lo, hi = self.limits(k, limits, percent)
            data = c.sci.read(y0, y1, x0, x1, f)
            return render.encode_png(render.grey_rgba(render.stretch(data, lo, hi, stretch)))
        if layer == "dq":
            if c.dq is None:
                raise ValueError("this image has no DQ")
            if f <= 16:
                dq = paint.block_or(c.dq.read(y0, y1, x0, x1), f)
            else:
                dq = c.dq.read(y0, y1, x0, x1, f)
            return render.encode_png(render.flag_rgba(dq, int(flags)))
        with self.lock:
            bad = paint.block_any(c.mask[y0:y1, x0:x1], f)
        return render.encode_png(render.mask_rgba(bad, color))

    def pixel(self, k: int, x: int, y: int) -> dict:
        """Cursor readout of pixel ``[y, x]`` (0-based; DS9 shows x + 1, y + 1)."""
        c = self.chip(k)
        ny, nx = c.shape
        if not (0 <= x < nx and 0 <= y < ny):
            return {"x": x, "y": y, "inside": False}
        value = c.sci.value(y, x)
        out: dict[str, Any] = {"x": x, "y": y, "x1": x + 1, "y1": y + 1, "inside": True,
               "sci": None if not np.isfinite(value) else float(value),
               "sci_text": str(value), "masked": bool(c.mask[y, x])}
        if c.dq is not None:
            dq = int(c.dq.value(y, x))
            out["dq"] = dq
            out["flags"] = decode(dq, self.table)
        if c.wcs is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ra, dec = c.wcs.pixel_to_world_values(float(x), float(y))
            if np.isfinite(ra) and np.isfinite(dec):
                out["ra"], out["dec"] = float(ra), float(dec)
        return out

    # -- edits ----------------------------------------------------------------------------

    def _record(self, edit: Edit) -> None:
        self.history.append(edit)
        self.redo.clear()
        while sum(e.nbytes for e in self.history) > HISTORY_BYTES and len(self.history) > 1:
            self.history.pop(0)
        self.version += 1
        self.dirty = True

    def _commit_full(self, k: int, new: np.ndarray, label: str,
                     shapes_after: list | None = None) -> Edit:
        """Replace chip ``k``'s mask by ``new`` (bool, True = masked) as one edit."""
        c = self.chips[k]
        diff = c.mask != new
        rows, cols = np.flatnonzero(diff.any(axis=1)), np.flatnonzero(diff.any(axis=0))
        del diff
        box = None
        before = after = b""
        if rows.size:
            box = (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)
            sl = np.s_[box[0]:box[1], box[2]:box[3]]
            before, after = _pack(c.mask[sl]), _pack(new[sl])
            c.mask[sl] = new[sl]
        edit = Edit(k, label, box, before, after, list(c.shapes),
                    list(c.shapes if shapes_after is None else shapes_after))
        if box is None and edit.shapes_after == edit.shapes_before:
            return edit  # nothing changed: no empty undo step
        c.shapes = list(edit.shapes_after)
        self._record(edit)
        return edit

    def _commit_box(self, k: int, box: tuple[int, int, int, int], new: np.ndarray,
                    label: str) -> Edit:
        c = self.chips[k]
        sl = np.s_[box[0]:box[1], box[2]:box[3]]
        edit = Edit(k, label, box, _pack(c.mask[sl]), _pack(new), list(c.shapes),
                    list(c.shapes))
        c.mask[sl] = new
        self._record(edit)
        return edit

    def _restore(self, edit: Edit, data: bytes, shapes_now: list) -> None:
        c = self.chips[edit.chip]
        if edit.box is not None:
            y0, y1, x0, x1 = edit.box
            c.mask[y0:y1, x0:x1] = _unpack(data, (y1 - y0, x1 - x0))
        c.shapes = list(shapes_now)
        self.version += 1
        self.dirty = True

    def undo(self) -> str:
        return self._replay(self.history, self.redo, forward=False)

    def redo_last(self) -> str:
        return self._replay(self.redo, self.history, forward=True)

    def _replay(self, source: list[Edit], target: list[Edit], *, forward: bool) -> str:
        """Move the newest edit of ``source`` (undo or redo stack) to ``target``, restoring
        the state after it (``forward``) or before it."""
        if not source:
            return f"nothing to {'redo' if forward else 'undo'}"
        edit = source.pop()
        if forward:
            self._restore(edit, edit.after, edit.shapes_after)
        else:
            self._restore(edit, edit.before, edit.shapes_before)
        target.append(edit)
        return f"{'redid' if forward else 'undid'} {edit.label}"

    def _whole(self, k: int, what: str) -> ChipState:
        c = self.chip(k)
        if c.shape[0] * c.shape[1] > WHOLE_MAX_PIXELS:
            raise InputError(self.path, f"{what} works on images up to "
                                        f"{WHOLE_MAX_PIXELS >> 20} Mpixels; this one has "
                                        f"{c.shape[0] * c.shape[1] >> 20}")
        return c

    def set_shapes(self, k: int, new_shapes: list) -> str:
        c = self.chip(k)
        checked = [shapes.normalise(s) for s in new_shapes]
        self._record(Edit(k, "shapes", None, b"", b"", list(c.shapes), checked))
        c.shapes = checked
        return f"{len(checked)} shape(s)"

    def paint(self, k: int, points: list, size: float, erase: bool) -> str:
        c = self.chip(k)
        hit = paint.stroke(points, size, c.shape)
        if hit is None:
            return "stroke outside the image"
        box, covered = hit
        old = c.mask[box[0]:box[1], box[2]:box[3]]
        new = old & ~covered if erase else old | covered
        self._commit_box(k, box, new, "erase" if erase else "paint")
        return f"{'erased' if erase else 'painted'} {int(covered.sum())} pixels"

    def grow_by(self, k: int, pixels: int) -> str:
        c = self._whole(k, "grow")
        n = int(pixels)
        if abs(n) > MAX_GROW:
            raise ValueError(f"grow by at most {MAX_GROW} pixels at a time (a full frame "
                             f"takes about 30 s at 50; use dqmask grow for more)")
        if n == 0:
            return "grow by 0: nothing to do"
        new = grow(c.mask, n) if n > 0 else ~grow(~c.mask, -n)
        self._commit_full(k, new, f"grow {n}")
        return f"{'grew' if n > 0 else 'shrank'} the mask by {abs(n)} pixel(s)"

    def invert(self, k: int) -> str:
        c = self._whole(k, "invert")
        self._commit_full(k, ~c.mask, "invert")
        return "inverted the mask"

    def clear(self, k: int) -> str:
        c = self._whole(k, "clear")
        self._commit_full(k, np.zeros(c.shape, bool), "clear")
        return "cleared the mask"

    def regions_to_mask(self, k: int) -> str:
        c = self._whole(k, "regions -> mask")
        include, exclude = shapes.layers(c.shapes, c.shape, c.header, self.workdir)
        inside = include & ~exclude
        self._commit_full(k, c.mask | inside, "regions -> mask")
        return f"{int(inside.sum())} pixels inside the regions masked"

    # -- cores ----------------------------------------------------------------------------

    def _detect_inputs(self, k: int) -> tuple[np.ndarray, np.ndarray | None]:
        """SCI as float64 and DQ, read as ``dqmask detect`` reads them."""
        c = self.chip(k)
        if c.shape[0] * c.shape[1] > DETECT_MAX_PIXELS:
            raise InputError(self.path, f"detect in the editor works on images up to "
                                        f"{DETECT_MAX_PIXELS >> 20} Mpixels; use dqmask detect")
        if k not in self._detect_cache:
            if len(self.chips) == 1:
                from ..claws.files import read_image

                image, _, dq = read_image(self.path)
            else:
                with open_fits(self.path, memmap=False) as hdul:
                    image = np.array(hdul[c.sci_index].data, dtype=float)
                    dq = None if c.dq_index is None else np.array(hdul[c.dq_index].data)
            self._detect_cache = {k: (image, dq)}
        return self._detect_cache[k]

    def run_detect(self, k: int, params: DetectParams) -> str:
        """``dqmask detect`` inside the include shapes; the 0/1 mask is OR-ed into the mask
        as it was before this run of consecutive detections."""
        c = self.chip(k)
        if not any(s["include"] for s in c.shapes):
            raise InputError(None, "draw an include region first: detect works inside them")
        image, dq = self._detect_inputs(k)
        inside, holes = shapes.layers(c.shapes, c.shape, c.header, self.workdir)
        include = inside & ~holes
        if not include.any():
            raise InputError(None, "the include regions cover no pixel of the image")
        if self.history and self.history[-1].label == "detect" and self.history[-1].chip == k:
            self.undo()
            self.redo.clear()
        try:
            det = detect(image, include, None, dq, params)
        except ValueError as exc:
            raise InputError(self.path, str(exc)) from None
        self._commit_full(k, c.mask | det.zeroonemask.astype(bool), "detect")
        notes = "".join(f"; {n}" for n in det.notes)
        return (f"detect: {int(det.detected.sum())} pixels detected, "
                f"{int(det.zeroonemask.sum())} in the mask, rms {det.rms:.4g}{notes}")

    def auto_background(self, k: int, n_sigma: float = 2.0, grow_pixels: int = 0,
                        min_region: int = 5, stats: str = "mode") -> str:
        """``dqmask background`` on this file: the mask becomes "not background"."""
        from ..nsclean.files import background_from_exposures, load_exposure

        c = self._whole(k, "automatic background")
        if c.shape[0] * c.shape[1] > DETECT_MAX_PIXELS:
            raise InputError(self.path, "automatic background needs a detector image")
        background = background_from_exposures([load_exposure(self.path)], n_sigma=n_sigma,
                                                grow=grow_pixels, min_region=min_region,
                                                stats=stats)
        self._commit_full(k, ~background, "auto background")
        n = int(background.sum())
        return (f"automatic background: {n} of {background.size} pixels background "
                f"({100 * n / background.size:.1f}%); the rest is masked")

    # -- saving ---------------------------------------------------------------------------

    def output_path(self, what: str) -> str:
        if what == "regions":
            return os.path.join(self.outdir, f"{self.root}_regions.reg")
        if what == "session":
            return os.path.join(self.outdir, f"{self.root}_edit_session.npz")
        if what in WRITE_CONVENTIONS:
            return os.path.join(self.outdir, f"{self.root}_mask_{what}.fits")
        raise ValueError(f"unknown output {what!r}")

    def _check_new(self, path: str, overwrite: bool) -> None:
        if os.path.exists(path) and path not in self.written and not overwrite:
            raise FileExistsError(path)
        os.makedirs(self.outdir, exist_ok=True)

    def save_mask(self, convention: str, *, flags: str | None = None,
                  overwrite: bool = False) -> str:
        """Write the masks of every chip in ``convention``; returns the path."""
        if convention not in WRITE_CONVENTIONS:
            raise ValueError(f"unknown convention {convention!r} (choose from "
                             f"{', '.join(WRITE_CONVENTIONS)})")
        path = self.output_path(convention)
        self._check_new(path, overwrite)
        planes = [c.mask for c in self.chips]
        params = {"image": self.name, "masked": int(sum(np.count_nonzero(p) for p in planes)),
                  "shapes": sum(len(c.shapes) for c in self.chips)}
        like = self.path if convention == "user_mask" and self.info.is_jwst else None
        try:
            write_mask(path, planes, convention, step=STEP, params=params, flags=flags,
                       like=like)
        except ValueError as exc:
            raise InputError(path, str(exc)) from None
        self.written.add(path)
        return path

    def save_regions(self, k: int, *, overwrite: bool = False) -> str:
        c = self.chip(k)
        path = self.output_path("regions")
        if len(self.chips) > 1:
            path = path.removesuffix(".reg") + f"_sci{c.extver}.reg"
        self._check_new(path, overwrite)
        text = shapes.to_ds9(c.shapes, f"dqmask edit: {self.name} SCI,{c.extver}")
        atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))
        self.written.add(path)
        return path

    def apply_to_dq(self, flags: str | None = None, max_fraction: float = 0.5) -> str:
        """OR ``flags`` into the file's DQ where masked, through ``dqmask apply``.

        In place with a backup ``<root>_orig.fits`` (kept if it exists), or into the output
        folder when one was given; refused if the file already records this mask + flags.
        """
        from ..apply.files import ApplyOptions, apply_to_file

        same_dir = os.path.abspath(self.outdir) == os.path.dirname(self.path)
        output = self.path if same_dir else os.path.join(self.outdir, self.name)
        if not same_dir:
            os.makedirs(self.outdir, exist_ok=True)
        data = MaskData(f"{self.root} (dqmask edit)", tuple(c.mask.copy() for c in self.chips),
                        "bad", "dqmask edit")
        opts = ApplyOptions(flags=flags or None, backup=same_dir, mask=data,
                            max_fraction=max_fraction)
        try:
            result = apply_to_file(self.path, output, opts)
        except AlreadyDoneError:
            raise InputError(self.path, "this mask is already applied with these flags "
                                        "(apply's idempotence record); nothing written") from None
        if output == self.path:
            with self.lock:
                self._open()  # the file was replaced: read the new DQ
            self._detect_cache.clear()
        self.written.add(output)
        return result.summary()

    # -- autosave -------------------------------------------------------------------------

    def _autosave_offer(self) -> dict | None:
        path = self.output_path("session")
        if not os.path.exists(path):
            return None
        try:
            meta = _session_meta(path)
        except (OSError, ValueError, KeyError) as exc:
            return {"path": path, "error": f"unreadable session file ({exc})"}
        if meta.get("image") != self.name or meta.get("shapes") != [list(c.shape)
                                                                    for c in self.chips]:
            return {"path": path, "error": "session of another image; ignored"}
        return {"path": path, "time": meta.get("time"), "masked": meta.get("masked"),
                "shapes": meta.get("nshapes")}

    def session_bytes(self) -> bytes:
        meta = {"image": self.name, "time": time.strftime("%Y-%m-%d %H:%M:%S"),
                "shapes": [list(c.shape) for c in self.chips],
                "masked": int(sum(np.count_nonzero(c.mask) for c in self.chips)),
                "nshapes": sum(len(c.shapes) for c in self.chips),
                "regions": [c.shapes for c in self.chips]}
        # Any: mypy checks each value of a ``**`` dict against savez's ``allow_pickle: bool``
        arrays: dict[str, Any] = {f"mask{k}": np.packbits(c.mask, axis=None)
                                  for k, c in enumerate(self.chips)}
        buffer = io.BytesIO()
        np.savez_compressed(buffer, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
                            **arrays)
        return buffer.getvalue()

    def autosave(self) -> str | None:
        """Write the session (shapes + mask) if changed; returns the path written."""
        with self.lock:
            if not self.dirty:
                return None
            if self.offer is not None and "error" not in self.offer:
                # an older session not yet restored or discarded: keep it aside, never lose it
                path = self.output_path("session")
                keep = path.removesuffix(".npz") + "_previous.npz"
                os.replace(path, keep)
                self.messages.append(f"the earlier session was kept as {keep}")
                self.offer = None
            data = self.session_bytes()
            self.dirty = False
        path = self.output_path("session")
        os.makedirs(self.outdir, exist_ok=True)
        atomic_write(path, lambda fh: fh.write(data))
        return path

    def restore_session(self) -> str:
        offer = self.offer
        if offer is None or "error" in offer:
            raise InputError(None, "no session to restore")
        path = offer["path"]
        with np.load(path) as npz:
            meta = json.loads(bytes(npz["meta"]).decode())
            masks = [np.unpackbits(npz[f"mask{k}"], count=c.shape[0] * c.shape[1])
                     .astype(bool).reshape(c.shape) for k, c in enumerate(self.chips)]
        for k, m in enumerate(masks):
            self._commit_full(k, m, "restore session", [shapes.normalise(s)
                                                        for s in meta["regions"][k]])
        self.offer = None
        return f"restored the session of {meta.get('time')} from {path}"

    def discard_session(self) -> str:
        if self.offer is None:
            return "no session to discard"
        path = self.offer["path"]
        self.offer = None
        if os.path.exists(path):
            os.unlink(path)
        return f"discarded {path}"


def _close_planes(c: ChipState) -> None:
    c.sci.close()
    if c.dq is not None:
        c.dq.close()


def _session_meta(path: str) -> dict:
    with np.load(path) as npz:
        return json.loads(bytes(npz["meta"]).decode())


@dataclass(frozen=True)
class _BareChip:
    extver: int
    sci: int
    dq: int | None
    shape: tuple[int, ...] = ()


def reference_of_header(hdul: fits.HDUList, index: int) -> fits.Header:
    """The SCI header with the primary's LTV/LTM keywords (as ``dqmask apply`` paints)."""
    header = hdul[index].header.copy()
    for key in ("LTV1", "LTV2", "LTM1_1", "LTM1_2", "LTM2_1", "LTM2_2"):
        if key not in header and key in hdul[0].header:
            header[key] = hdul[0].header[key]
    return header


def _celestial_wcs(header: fits.Header, hdul: fits.HDUList) -> WCS | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            wcs = WCS(header, hdul, naxis=2)
        except Exception:  # noqa: BLE001 - a broken WCS only loses the RA/Dec readout
            return None
    return wcs if wcs.has_celestial else None

