"""DS9 region files -> pixel masks, through the ``regions`` package.

What this module adds to ``regions``
------------------------------------
* **Frames**: ``image`` and the sky frames (``fk5``, ``icrs``, ``galactic``, ...) are parsed by
  ``regions``; sky shapes are converted to pixels through the WCS of the image the mask is
  for. The DS9 ``physical`` frame, which ``regions`` silently skips, is read here and
  converted to image pixels with the IRAF keywords ``LTV1/2`` and ``LTM1_1 ... LTM2_2``
  (``image = LTM @ physical + LTV``; identity when the keywords are absent, as in DS9).
  A shape with no frame statement before it is ``physical``, as in DS9.
* **Exclude regions**: a DS9 shape written ``-circle(...)`` (``meta['include'] = False``) is
  subtracted, never added: ``mask = union(include shapes) & ~union(exclude shapes)``, over all
  the files given (order does not matter).
* **Off-image shapes**: a shape partly off the image contributes its on-image pixels, one
  wholly off the image contributes nothing; both emit a :class:`RegionWarning` (never crash).
  A sky shape whose positions have no pixel at all in the image's WCS (the far side of the
  sky from a TAN pointing) is wholly off the image too, and the warning says so; a sky shape
  with only *some* positions there (a polygon spanning more than a hemisphere from the
  pointing) cannot be drawn on the image and is an :class:`~dqmask.errors.InputError`.
* **Membership**: ``mode="center"`` (default, as DS9 and Crab.Toolkit.JWST): a pixel is in a
  shape when its centre is; ``mode="exact"``: when any part of it is.
* **Bounded work**: a shape is rasterised (by ``regions``) only on its bounding box cut to
  the image, so a huge or far-away shape costs no more than the image. A file is refused
  with one line beyond :data:`MAX_SHAPES` shapes (before parsing: ``regions`` parses about
  25,000 a second) or :data:`MAX_BYTES`, a polygon beyond :data:`MAX_POLYGON_WORK`
  (environment variables raise them, see :func:`limit`); so are FIFOs and other non-regular
  files (never opened blocking), binary or non-UTF-8 data, NaN / infinite values, pixel
  values beyond :data:`MAX_PIXEL_VALUE` and unknown coordinate systems.

Every mask returned is in the ``bad``-like boolean convention *True = inside the region*
(``bool``, numpy ``(ny, nx)`` order). Pixel coordinates follow ``regions``: 0-based, pixel
centres on integers (DS9 files are 1-based; the parser converts).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
from regions import PixCoord, PixelRegion, RegionBoundingBox, Regions, SkyRegion

from ..errors import InputError
from . import files
from .files import open_regular

__all__ = [
    "RegionWarning",
    "RegionInfo",
    "read_ds9",
    "physical_to_image_matrix",
    "region_layers",
    "regions_to_mask",
    "has_pixel_shapes",
    "region_report",
    "region_warnings_to_log",
    "require_regular_file",
    "limit",
]

PathLike = str | os.PathLike

#: DS9 coordinate-system statements (a line holding only one of these sets the frame).
_SKY_FRAMES = {"fk4", "fk5", "icrs", "galactic", "ecliptic", "j2000", "b1950", "wcs"}
_PIXEL_FRAMES = {"image", "physical", "detector", "amplifier", "linear"}
_FRAMES = _SKY_FRAMES | _PIXEL_FRAMES | {f"wcs{c}" for c in "abcdefghijklmnopqrstuvwxyz"}
_NO_AREA_NAMES = {"point", "line", "text"}
_MODES = ("center", "exact")


class RegionWarning(UserWarning):
    """A region that was skipped or clipped (off the image, no area, unsupported)."""


@dataclass(frozen=True)
class RegionInfo:
    """What one DS9 shape contributed to a mask.

    Attributes
    ----------
    source : str
        Region file.
    index : int
        1-based position of the shape among the file's usable shapes.
    shape : str
        ``polygon``, ``circle``, ...
    include : bool
        False for DS9 exclude shapes (``-polygon``).
    n_total : int or None
        Pixels inside the shape on an unbounded pixel grid (0 when the shape's bounding box
        misses the image: it is not rasterised then). None when not counted: a shape
        reaching off the image with a bounding box above :data:`BAND_PIXELS` is rasterised
        only where it meets the image.
    n_on_image : int
        Of those, pixels on the image.
    size : str
        The image size as DS9 shows it, ``NAXIS1xNAXIS2``.
    far_side : bool
        A sky shape none of whose positions has a pixel in the image's WCS.
    """

    source: str
    index: int
    shape: str
    include: bool
    n_total: int | None
    n_on_image: int
    size: str = ""
    far_side: bool = False

    @property
    def status(self) -> str:
        """``inside``, ``partial`` (clipped by the image edge) or ``off``."""
        if self.n_on_image == 0:
            return "off"
        return "inside" if self.n_on_image == self.n_total else "partial"  # None: partial

    def problem(self, image: str | None = None) -> str | None:
        """What is wrong with this shape on the image, without the file name, or None.

        ``image`` names the image (default ``the <size> image``).
        """
        image = image or f"the {self.size} image"
        where = f"region {self.index} ({self.shape})"
        if self.far_side:
            return (f"{where} falls outside {image}: its sky position is on the far side of "
                    f"the sky from the pointing (no pixel in the image's WCS)")
        if self.status == "off":
            return f"{where} lies entirely off {image}"
        if self.status == "partial" and self.n_total is None:
            return (f"{where} extends far beyond {image}; its {self.n_on_image} pixels on "
                    f"the image used")
        if self.status == "partial":
            return (f"{where} extends beyond {image}; {self.n_on_image} of {self.n_total} "
                    f"pixels used")
        return None

    def message(self, image: str | None = None) -> str | None:
        """The warning line for this shape (``FILE: region ...``), or None when it is inside."""
        problem = self.problem(image)
        if problem is None:
            return None
        return f"{self.source}: {problem}" + ("; ignored" if self.status == "off" else "")


# --------------------------------------------------------------------------------------------
# Limits (bounded work for any region file)
# --------------------------------------------------------------------------------------------

#: Environment variable raising or lowering :data:`MAX_SHAPES`.
MAX_SHAPES_ENV = "DQMASK_MAX_REGION_SHAPES"
#: Most shapes one region file may hold. ``regions`` parses about 25,000 shapes a second,
#: so 100,000 shapes take about 4 s before any pixel is drawn; a file with more is refused
#: at once, with one line (raise the limit with :data:`MAX_SHAPES_ENV`).
MAX_SHAPES = 100_000
#: Environment variable raising or lowering :data:`MAX_BYTES`.
MAX_BYTES_ENV = "DQMASK_MAX_REGION_BYTES"
#: Largest region file read (bytes); a DS9 file of :data:`MAX_SHAPES` circles is ~4 MB.
MAX_BYTES = 64 << 20
#: Environment variable raising or lowering :data:`MAX_POLYGON_WORK`.
MAX_POLYGON_WORK_ENV = "DQMASK_MAX_POLYGON_WORK"
#: Most ``vertices x pixels`` one polygon may cost: ``regions`` tests every vertex for every
#: pixel of the polygon's bounding box (clipped to the image), about 3 ns each, so the
#: default is about 30 s; a polygon beyond it is refused with one line.
MAX_POLYGON_WORK = 10**10
#: Largest pixel coordinate or length accepted. Beyond 2**52 float64 no longer resolves
#: single pixels, so a shape there cannot be drawn meaningfully (``radius 1e308``).
MAX_PIXEL_VALUE = 1e15
#: Warnings of one file shown in full (lines ``regions`` cannot read, shapes off the
#: image); the rest are counted in one more line.
MAX_NOTES = 10


def limit(name: str) -> int:
    """The value of a limit of this module: ``MAX_SHAPES``, ``MAX_BYTES`` or
    ``MAX_POLYGON_WORK``, from its environment variable when set (a positive integer,
    ``1e6`` allowed), else the module attribute.

    Raises
    ------
    InputError
        The environment variable is not a positive number (no file named).
    """
    default = globals()[name]
    env = globals()[f"{name}_ENV"]
    raw = os.environ.get(env, "").strip()
    if not raw:
        return int(default)
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 1):
        raise InputError(None, f"{env} must be a positive number, got {raw!r}")
    return int(value)


def require_regular_file(path: PathLike, what: str = "region file") -> str:
    """:func:`dqmask.io.files.require_regular_file`, worded for region files by default."""
    return files.require_regular_file(path, what)


def _os_problem(exc: OSError) -> str:
    return (exc.strerror or type(exc).__name__).lower()


def _read_text(path: str) -> str:
    """The text of a region file: regular files only (opened non-blocking, so a FIFO put
    in its place after a check cannot hang), at most :data:`MAX_BYTES`, UTF-8, no NUL."""
    with open_regular(path, "region file") as fh:
        st = os.fstat(fh.fileno())
        most = limit("MAX_BYTES")
        if st.st_size > most:
            raise InputError(path, f"region file of {st.st_size} bytes, more than the limit "
                                   f"of {most} (set {MAX_BYTES_ENV} to raise it)")
        try:
            data = fh.read(most + 1)
        except OSError as exc:
            raise InputError(path, f"cannot read the region file ({_os_problem(exc)})"
                             ) from None
    if len(data) > most:  # grew while read
        raise InputError(path, f"region file of more than {most} bytes, the limit (set "
                               f"{MAX_BYTES_ENV} to raise it)")
    nul = data.find(b"\0")
    if nul >= 0:
        raise InputError(path, f"binary data (a NUL byte at offset {nul}), not a DS9 region "
                               f"file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not a DS9 region file: not UTF-8 text (byte "
                               f"0x{data[exc.start]:02x} at offset {exc.start})") from None


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------

#: Characters that make a line need the careful statement splitter.
_SPECIAL = re.compile(r"[;\"']")
_TOKENS = re.compile(r"[\"'(){}\[\];#]")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: DS9 shapes (``regions`` reads the area ones; the others are annotations it skips).
_DS9_SHAPES = {"circle", "ellipse", "box", "polygon", "annulus", "point", "line", "text",
               "vector", "segment", "ruler", "compass", "projection", "panda", "epanda",
               "bpanda", "composite"}


def _split_statements(line: str) -> list[str]:
    """Split one DS9 line on ``;`` outside quotes, braces and parentheses; drop comments.

    Linear in the line's length, whatever it holds.
    """
    if not _SPECIAL.search(line):  # the usual line: one statement (or a comment)
        stmt = line.strip()
        return [stmt] if stmt and not stmt.startswith("#") else []
    out: list[str] = []
    start, depth, quote, blank = 0, 0, "", True
    for match in _TOKENS.finditer(line):
        ch, pos = match.group(), match.start()
        if quote:
            if ch == quote:
                quote = ""
            continue
        if blank and line[start:pos].strip():
            blank = False
        if ch in "\"'":
            quote, blank = ch, False
        elif ch in "({[":
            depth, blank = depth + 1, False
        elif ch in ")}]":
            depth, blank = max(depth - 1, 0), False
        elif ch == "#" and depth == 0 and blank:
            return [s for s in out if s]  # a comment (or '# text(...)': no area)
        elif ch == ";" and depth == 0:
            out.append(line[start:pos].strip())
            start, blank = pos + 1, True
    out.append(line[start:].strip())
    return [s for s in out if s]


@dataclass
class _Statements:
    """A DS9 file's statements, sorted (see :func:`_classify_statements`)."""

    globals_: list[str]
    regular: list[str]
    physical: list[str]

    @property
    def n_shapes(self) -> int:
        return len(self.regular) + len(self.physical)


def _classify_statements(text: str, path: str = "") -> _Statements:
    """Sort a DS9 file's statements: global lines, regular shapes, physical shapes.

    Regular shapes come back prefixed with their frame (``fk5;circle(...)``); physical ones
    with ``image;`` so that ``regions`` parses them (they are converted afterwards).

    Raises
    ------
    InputError
        A bare word that is neither a coordinate system nor a DS9 shape (``fk6``,
        ``imgae``): the shapes after it would be drawn in the wrong frame.
    """
    out = _Statements([], [], [])
    frame = "physical"  # DS9's default when a file names no frame
    for n, raw in enumerate(text.splitlines(), start=1):
        for stmt in _split_statements(raw):
            head = stmt.split("(", 1)[0].split()
            word = head[0].lower() if head else ""
            if word == "global":
                out.globals_.append(stmt)
            elif word in _FRAMES and "(" not in stmt:
                frame = word
            elif word.startswith("# region") or word == "version":
                continue
            elif "(" not in stmt and _WORD.fullmatch(stmt) and word not in _DS9_SHAPES:
                raise InputError(path, f"line {n}: unknown coordinate system "
                                       f"{_clip_text(stmt, 40)!r} (DS9's are image, physical, "
                                       f"fk5, icrs, galactic, ecliptic, fk4, ...)")
            elif frame == "physical":
                out.physical.append("image;" + stmt)
            else:
                out.regular.append(f"{frame};{stmt}")
    return out


def _parse(path: str, globals_: list[str], statements: list[str], notes: list[str]
           ) -> list:
    """``regions``' shapes of some statements; its warnings (lines it skips) go to
    ``notes``, one line each."""
    if not statements:
        return []
    text = "\n".join(["# Region file format: DS9 version 4.1", *globals_, *statements])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            regs = list(Regions.parse(text, format="ds9"))
        except Exception as exc:
            raise InputError(path, f"not a readable DS9 region file ({_short(exc)})") from None
    notes += [_clip_text(" ".join(str(w.message).split()), 200) for w in caught]
    return regs


def _clip_text(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 3] + "..."


def _short(exc: BaseException) -> str:
    return _clip_text(" ".join(str(exc).split()) or type(exc).__name__, 160)


def physical_to_image_matrix(header: fits.Header | None) -> tuple[np.ndarray, np.ndarray]:
    """The IRAF physical -> image transform of a header: ``(LTM (2x2), LTV (2,))``.

    ``image = LTM @ physical + LTV`` in DS9's 1-based pixel coordinates; identity and zero
    when the keywords are absent.
    """
    h = header if header is not None else fits.Header()
    ltm = np.array([[float(h.get("LTM1_1", 1.0)), float(h.get("LTM1_2", 0.0))],
                    [float(h.get("LTM2_1", 0.0)), float(h.get("LTM2_2", 1.0))]])
    ltv = np.array([float(h.get("LTV1", 0.0)), float(h.get("LTV2", 0.0))])
    return ltm, ltv


def _physical_to_image(region: PixelRegion, ltm: np.ndarray, ltv: np.ndarray,
                       path: str) -> PixelRegion:
    """Convert a region parsed as image-frame but written in DS9 ``physical`` coordinates."""
    if np.allclose(ltm, np.eye(2)) and not ltv.any():
        return region
    scale = math.sqrt(abs(np.linalg.det(ltm)))
    conformal = np.isclose(ltm[0, 1], 0) and np.isclose(ltm[1, 0], 0) and np.isclose(
        abs(ltm[0, 0]), abs(ltm[1, 1]))

    def point(p: PixCoord) -> PixCoord:
        xy1 = np.stack([np.asarray(p.x, float) + 1.0, np.asarray(p.y, float) + 1.0])
        img = np.tensordot(ltm, xy1, axes=1) + ltv.reshape((2,) + (1,) * (xy1.ndim - 1))
        return PixCoord(img[0] - 1.0, img[1] - 1.0)

    kwargs = {}
    for name in region._params:
        value = getattr(region, name)
        if isinstance(value, PixCoord):
            kwargs[name] = point(value)
        elif name == "angle" or name == "text":
            kwargs[name] = value
        else:  # a length: radius, width, height, inner/outer radius...
            if not conformal:
                raise InputError(path, f"physical-frame {type(region).__name__} needs an "
                                       f"isotropic, unrotated LTM; got {ltm.tolist()}")
            kwargs[name] = value * scale
    return type(region)(**kwargs, meta=region.meta, visual=region.visual)


def _read(path: str, header: fits.Header | None) -> tuple[list, list[str]]:
    """``(shapes, notes)`` of a DS9 file: see :func:`read_ds9`; ``notes`` are the lines
    ``regions`` skipped, one line each (not yet warned)."""
    statements = _classify_statements(_read_text(path), path)
    most = limit("MAX_SHAPES")
    if statements.n_shapes > most:
        raise InputError(path, f"{statements.n_shapes} region shapes, more than the limit of "
                               f"{most} (set {MAX_SHAPES_ENV} to raise it)")
    notes: list[str] = []
    out = _parse(path, statements.globals_, statements.regular, notes)
    if statements.physical:
        try:
            ltm, ltv = physical_to_image_matrix(header)
        except (TypeError, ValueError) as exc:
            raise InputError(path, f"physical coordinates need the image's LTV/LTM keywords "
                                   f"as numbers ({_short(exc)})") from None
        out += [_physical_to_image(r, ltm, ltv, path)
                for r in _parse(path, statements.globals_, statements.physical, notes)]
    return out, notes


def _warn_notes(path: str, notes: Sequence[str], what: str = "lines skipped") -> None:
    """Warn with the first :data:`MAX_NOTES` notes of a file and count the others."""
    for line in _capped([f"{path}: {note}" for note in notes], f"{path}: {{n}} more {what}"):
        warnings.warn(line, RegionWarning, stacklevel=3)


def read_ds9(path: PathLike, header: fits.Header | None = None) -> list:
    """Read a DS9 region file into ``regions`` shapes.

    Parameters
    ----------
    path : path-like
        DS9 region file (any mix of frames, several shapes, ``-`` exclude shapes).
    header : Header, optional
        Header of the image the regions belong to: its LTV/LTM convert ``physical``
        coordinates to image pixels (identity without it).

    Returns
    -------
    list
        ``PixelRegion`` (image and converted physical shapes) and ``SkyRegion`` objects;
        ``region.meta['include']`` is False for exclude shapes.

    Warns
    -----
    RegionWarning
        Lines ``regions`` skips (at most :data:`MAX_NOTES`, then a count); no shapes.

    Raises
    ------
    InputError
        Missing file, not a regular file (FIFO, device, directory), beyond the limits
        (:func:`limit`), binary or non-UTF-8, an unknown coordinate system, malformed.
    """
    path = os.fspath(path)
    out, notes = _read(path, header)
    _warn_notes(path, notes)
    if not out:
        warnings.warn(f"{path}: no region shapes found", RegionWarning, stacklevel=2)
    return out


# --------------------------------------------------------------------------------------------
# Masks
# --------------------------------------------------------------------------------------------


def _celestial_wcs(header: fits.Header | None, wcs: WCS | None, path: str,
                   fobj: fits.HDUList | None = None) -> WCS:
    if wcs is not None:  # astropy's WCS, or any APE 14 WCS (a jwst model's gwcs)
        return wcs.celestial if isinstance(wcs, WCS) and wcs.naxis > 2 else wcs
    if header is None:
        raise InputError(path, "sky-coordinate regions need the image's WCS; none given")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = WCS(header, fobj, naxis=2)
    if not w.has_celestial:
        raise InputError(path, "sky-coordinate regions need a celestial WCS; the image "
                               "header has none")
    return w


def _to_pixel(region, header, wcs, path: str, fobj=None, index: int = 0
              ) -> PixelRegion | None:
    """The pixel version of a region; None for a sky shape on the far side of the sky."""
    if isinstance(region, PixelRegion):
        return region
    if not isinstance(region, SkyRegion):  # pragma: no cover - regions only returns these
        raise InputError(path, f"unsupported region type {type(region).__name__}")
    celestial = _celestial_wcs(header, wcs, path, fobj)
    lost, total = _positions_without_pixel(region, celestial)
    if total and lost == total:
        return None
    if lost:
        raise InputError(path, f"region {index} ({_shape_name(region)}): {lost} of its "
                               f"{total} positions have no pixel in the image's WCS (more "
                               f"than 90 degrees from the pointing); the shape cannot be "
                               f"drawn on this image")
    try:
        return region.to_pixel(celestial)
    except Exception as exc:
        raise InputError(path, f"cannot convert {type(region).__name__} to pixels "
                               f"({_short(exc)})") from None


def _positions_without_pixel(region: SkyRegion, wcs: WCS) -> tuple[int, int]:
    """``(positions with no pixel, positions)`` of a sky region (centre, vertices, ends).

    A TAN (or any zenithal) projection gives no pixel (NaN) for a position more than 90
    degrees from the pointing; ``regions`` would then fail deep inside (NaN bounding box,
    SVD not converging).
    """
    from astropy.coordinates import SkyCoord
    from astropy.wcs.utils import skycoord_to_pixel

    lost = total = 0
    for name in region._params:
        value = getattr(region, name)
        if not isinstance(value, SkyCoord):
            continue
        with warnings.catch_warnings(), np.errstate(invalid="ignore"):
            warnings.simplefilter("ignore")
            try:
                x, y = skycoord_to_pixel(value, wcs)
            except Exception:  # e.g. NoConvergence of a distortion inverse: let to_pixel say
                continue
        ok = np.isfinite(x) & np.isfinite(y)
        total += int(ok.size)
        lost += int(ok.size - np.count_nonzero(ok))
    return lost, total


def _shape_name(region) -> str:
    name = type(region).__name__
    for tail in ("PixelRegion", "SkyRegion"):
        name = name.removesuffix(tail)
    return name.lower()


#: Largest box (pixels) rasterised in one piece; ``regions`` computes a float64 overlap grid
#: over the whole box (8 bytes a pixel), so larger boxes go in bands of rows. Also the
#: largest bounding box of a shape partly off the image whose off-image pixels are counted
#: (:attr:`RegionInfo.n_total`).
BAND_PIXELS = 1 << 22

#: Shapes whose ``to_mask`` computes each pixel of its bounding box independently from the
#: box, so that any box (a band of rows, the part on the image) gives the same pixels.
_BOXABLE = ("CirclePixelRegion", "EllipsePixelRegion", "RectanglePixelRegion",
            "PolygonPixelRegion")
#: Annuli: ``outer xor inner`` of two boxable shapes, as ``regions`` computes them.
_ANNULI = ("CircleAnnulusPixelRegion", "EllipseAnnulusPixelRegion",
           "RectangleAnnulusPixelRegion")


def _check_values(region, path: str, index: int) -> None:
    """Every coordinate, length and angle of a shape is a finite number, and the pixel
    ones lie within :data:`MAX_PIXEL_VALUE` (InputError naming the shape otherwise)."""
    from astropy.coordinates import SkyCoord
    from astropy.units import Quantity

    if _simple_values_ok(region):
        return
    where = f"region {index} ({_shape_name(region)})"
    for name in region._params:
        value = getattr(region, name)
        pixels = isinstance(region, PixelRegion)
        if isinstance(value, PixCoord):
            values = np.concatenate([np.ravel(value.x), np.ravel(value.y)]).astype(float)
        elif isinstance(value, SkyCoord):
            sph = value.spherical
            values, pixels = np.concatenate([np.ravel(sph.lon.deg), np.ravel(sph.lat.deg)]), False
        elif isinstance(value, Quantity):
            values, pixels = np.ravel(value.value).astype(float), False
        elif isinstance(value, (int, float, np.number)):
            values = np.array([float(value)])
        else:  # text
            continue
        bad = ~np.isfinite(values)
        if bad.any():
            raise InputError(path, f"{where}: {name} {values[bad][0]} is not a finite number")
        if pixels and values.size and np.abs(values).max() > MAX_PIXEL_VALUE:
            big = values[np.argmax(np.abs(values))]
            raise InputError(path, f"{where}: {name} {big:g} pixels is beyond "
                                   f"{MAX_PIXEL_VALUE:g}, where float64 no longer resolves "
                                   f"single pixels")


#: Pixel shapes whose parameters are a centre and plain lengths (and an angle).
_SIMPLE = {"CirclePixelRegion": ("radius",), "EllipsePixelRegion": ("width", "height"),
           "RectanglePixelRegion": ("width", "height")}


def _simple_values_ok(region) -> bool:
    """Fast check of the common shapes (circles by the 100,000): True when every value is
    finite and within :data:`MAX_PIXEL_VALUE`; False to look closer."""
    lengths = _SIMPLE.get(type(region).__name__)
    if lengths is None:
        return False
    try:
        values = [float(region.center.x), float(region.center.y),
                  *(float(getattr(region, n)) for n in lengths)]
    except (TypeError, ValueError):  # array-valued: look closer
        return False
    angle = getattr(region, "angle", None)
    return (all(-MAX_PIXEL_VALUE <= v <= MAX_PIXEL_VALUE for v in values)
            and (angle is None or math.isfinite(float(angle.value))))


def _clip(bbox: RegionBoundingBox, shape: tuple[int, ...]) -> RegionBoundingBox | None:
    """The part of a bounding box (``regions`` half-open pixel ranges) on a ``(ny, nx)``
    image, or None when it misses the image. The box is that of ``mode="exact"`` too, so
    no pixel is lost."""
    box = (max(bbox.ixmin, 0), min(bbox.ixmax, shape[1]),
           max(bbox.iymin, 0), min(bbox.iymax, shape[0]))
    if box[0] >= box[1] or box[2] >= box[3]:
        return None
    return RegionBoundingBox(*box)


def _slices(box: RegionBoundingBox) -> tuple[slice, slice]:
    return slice(box.iymin, box.iymax), slice(box.ixmin, box.ixmax)


def _area(box: RegionBoundingBox) -> int:
    return (box.ixmax - box.ixmin) * (box.iymax - box.iymin)


def _paint(region: PixelRegion, out: np.ndarray, mode: str) -> tuple[int | None, int]:
    """OR the region's pixels into ``out`` (bool, True = inside); return (pixels in the
    shape, pixels on the image).

    Only the shape's bounding box clipped to the image is rasterised, so a shape far off
    the image, or millions of pixels wide, costs no more than the image. The first count is
    that of the whole shape when its bounding box is inside the image or up to
    :data:`BAND_PIXELS` (a shape cut by the edge), else None (not counted). A shape whose
    bounding box misses the image is not rasterised: ``(0, 0)``.
    """
    bbox = region.bounding_box
    clip = _clip(bbox, out.shape)
    if clip is None:
        return 0, 0
    if clip != bbox and _area(bbox) <= BAND_PIXELS:  # cut by the edge: count the rest too
        inside = _inside(region, bbox, mode)
        dx, dy = clip.ixmin - bbox.ixmin, clip.iymin - bbox.iymin
        part = inside[dy:dy + clip.iymax - clip.iymin, dx:dx + clip.ixmax - clip.ixmin]
        out[_slices(clip)] |= part
        return int(np.count_nonzero(inside)), int(np.count_nonzero(part))
    on = 0
    for band in _bands(clip):
        part = _inside(region, band, mode)
        out[_slices(band)] |= part
        on += int(np.count_nonzero(part))
    return (on if clip == bbox else None), on


def _bands(box: RegionBoundingBox) -> Iterator[RegionBoundingBox]:
    """A box cut into bands of rows of at most about :data:`BAND_PIXELS` pixels."""
    nx = box.ixmax - box.ixmin
    rows = max(1, BAND_PIXELS // max(nx, 1))
    for y0 in range(box.iymin, box.iymax, rows):
        yield RegionBoundingBox(box.ixmin, box.ixmax, y0, min(box.iymax, y0 + rows))


def _inside(region: PixelRegion, box: RegionBoundingBox, mode: str) -> np.ndarray:
    """Membership of the pixels of ``box`` (bool, True = in the shape, shape of the box).

    ``regions``' own rasteriser run on ``box`` instead of the shape's bounding box. An
    annulus is ``outer xor inner`` as in ``regions``; in ``exact`` mode (which ``regions``
    lacks for annuli) a pixel is in when it overlaps the outer shape and is not wholly
    inside the inner one.
    """
    name = type(region).__name__
    if name in _BOXABLE:
        _check_polygon_work(region, box)
        return np.asarray(_in_band(region, box).to_mask(mode=mode).data) > 0
    if name in _ANNULI:
        if mode == "center":
            return _inside(region._outer_region, box, mode) ^ _inside(
                region._inner_region, box, mode)
        outer = np.asarray(_in_band(region._outer_region, box).to_mask(mode=mode).data)
        inner = np.asarray(_in_band(region._inner_region, box).to_mask(mode=mode).data)
        return (outer > 0) & (inner < 1)
    raise _Unpaintable(f"{_shape_name(region)} shapes cannot be drawn")  # pragma: no cover


def _check_polygon_work(region: PixelRegion, box: RegionBoundingBox) -> None:
    """Refuse a polygon whose rasterisation would take ``vertices x pixels`` beyond
    :func:`limit` ``("MAX_POLYGON_WORK")`` (the caller names the file)."""
    if type(region).__name__ != "PolygonPixelRegion":
        return
    work = len(np.ravel(region.vertices.x)) * _area(box)
    most = limit("MAX_POLYGON_WORK")
    if work > most:
        raise _Unpaintable(f"a polygon of {len(np.ravel(region.vertices.x))} vertices over "
                           f"{box.ixmax - box.ixmin}x{box.iymax - box.iymin} pixels is "
                           f"{work:.3g} vertex-pixel tests, more than the limit of {most:.3g} "
                           f"(simplify it, or set {MAX_POLYGON_WORK_ENV} to raise the limit)")


class _Unpaintable(Exception):
    """A shape that cannot be drawn, e.g. beyond a work limit (made an InputError naming
    the file and the shape)."""


_BANDED_TYPES: dict[type, type] = {}


def _in_band(region: PixelRegion, band: RegionBoundingBox) -> PixelRegion:
    """A copy of ``region`` whose ``bounding_box`` (hence ``to_mask`` grid) is ``band``."""
    cls = type(region)
    banded = _BANDED_TYPES.get(cls)
    if banded is None:
        banded = type(f"Banded{cls.__name__}", (cls,),
                      {"bounding_box": property(lambda self: self._dqmask_band)})
        _BANDED_TYPES[cls] = banded
    out = copy.copy(region)
    out.__class__ = banded
    out._dqmask_band = band
    return out


def region_layers(paths: PathLike | Iterable[PathLike], shape: Sequence[int],
                  header: fits.Header | None = None, wcs: WCS | None = None, *,
                  mode: str = "center", fobj: fits.HDUList | None = None,
                  report: bool = True, allow_empty: bool = True
                  ) -> tuple[np.ndarray, np.ndarray, list[RegionInfo]]:
    """The include and exclude masks of DS9 region files for one image.

    Parameters
    ----------
    paths : path-like or iterable of path-like
        DS9 region files.
    shape : (ny, nx)
        Image shape (numpy order).
    header : Header, optional
        Image header: WCS for sky shapes (unless ``wcs`` is given) and LTV/LTM for
        ``physical`` shapes.
    wcs : astropy.wcs.WCS or APE 14 WCS, optional
        WCS for sky shapes (overrides the header's); any object with the APE 14 high-level
        API works, e.g. the gwcs of a jwst datamodel (``model.meta.wcs``).
    mode : {"center", "exact"}
        Pixel membership (see module docstring).
    fobj : HDUList, optional
        The open file of ``header``, for HST lookup-table distortions (D2IMARR, WCSDVARR).
    report : bool
        Warn about shapes off or partly off the image (False: the caller reports them from
        the ``infos``, e.g. once over all the chips of a file, see :func:`region_report`).
    allow_empty : bool
        False: a file without any shape that has an area is an InputError (an empty region
        file given to change a file is almost surely a mistake) instead of a warning.

    Returns
    -------
    include, exclude : ndarray of bool, shape ``shape``
        True = inside any include shape / inside any exclude shape.
    infos : list of RegionInfo
        One per usable shape, in file order.

    Warns
    -----
    RegionWarning
        For shapes partly or wholly off the image (``report``), shapes without area, lines
        ``regions`` skips; at most :data:`MAX_NOTES` of each kind per file, then a count.

    Raises
    ------
    InputError
        Unreadable region file (see :func:`read_ds9`), sky shapes without a celestial WCS,
        a sky shape only partly projectable onto the image, a coordinate or length that is
        not finite or beyond :data:`MAX_PIXEL_VALUE`, a polygon beyond the work limit, an
        empty file (``allow_empty=False``).
    """
    if mode not in _MODES:
        raise ValueError(f"unknown region mode {mode!r} (choose from {', '.join(_MODES)})")
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    shape = tuple(int(n) for n in shape[-2:])
    include = np.zeros(shape, dtype=bool)
    exclude = np.zeros(shape, dtype=bool)
    infos: list[RegionInfo] = []
    for path in (os.fspath(p) for p in paths):
        shapes, notes = _read(path, header)
        flat = [i for i, r in enumerate(shapes, start=1) if _shape_name(r) in _NO_AREA_NAMES]
        if len(flat) == len(shapes) and not allow_empty:
            raise InputError(path, f"no region shape with an area "
                                   f"({_why_empty(shapes, notes)})")
        _warn_notes(path, notes)
        _warn_notes(path, [f"region {i} ({_shape_name(shapes[i - 1])}) has no area; ignored"
                           for i in flat], "shapes without area ignored")
        if not shapes:
            warnings.warn(f"{path}: no region shapes found", RegionWarning, stacklevel=2)
        lines: list[str] = []
        for i, region in enumerate(shapes, start=1):
            if _shape_name(region) in _NO_AREA_NAMES:
                continue
            info = _one_region(path, i, region, shape, (header, wcs, fobj), mode, include,
                               exclude)
            infos.append(info)
            if report and (message := info.message()) is not None:
                lines.append(message)
        for line in _capped(lines, f"{path}: {{n}} more shapes off or partly off the image"):
            warnings.warn(line, RegionWarning, stacklevel=2)
    return include, exclude, infos


def _why_empty(shapes: Sequence, notes: Sequence[str]) -> str:
    if notes:
        return notes[0]
    return "only points, lines or text" if shapes else "the file has no shapes"


def _capped(lines: Sequence[str], more: str) -> list[str]:
    """The first :data:`MAX_NOTES` lines, and one saying how many more (``more`` with
    ``{n}``)."""
    if len(lines) <= MAX_NOTES:
        return list(lines)
    return [*lines[:MAX_NOTES], more.format(n=len(lines) - MAX_NOTES)]


def _one_region(path, i, region, shape, frame, mode, include, exclude) -> RegionInfo:
    name = _shape_name(region)
    header, wcs, fobj = frame
    keep = bool(region.meta.get("include", True))
    size = f"{shape[1]}x{shape[0]}"  # NAXIS1 x NAXIS2, as DS9 shows it
    _check_values(region, path, i)
    pix = _to_pixel(region, header, wcs, path, fobj, i)
    if pix is None:
        return RegionInfo(path, i, name, keep, 0, 0, size, far_side=True)
    if pix is not region:
        _check_values(pix, path, i)
    try:
        total, on = _paint(pix, include if keep else exclude, mode)
    except _Unpaintable as exc:
        raise InputError(path, f"region {i} ({name}): {exc}") from None
    except (ValueError, ArithmeticError) as exc:  # regions on degenerate shapes
        raise InputError(path, f"region {i} ({name}) cannot be drawn ({_short(exc)})"
                         ) from None
    return RegionInfo(path, i, name, keep, total, on, size)


def has_pixel_shapes(path: PathLike) -> bool:
    """Whether a DS9 file has shapes in pixel coordinates (``image`` or ``physical``).

    Such shapes are drawn on one image; sky shapes can land on any image whose WCS contains
    them. Warnings of the reading (no shapes, unsupported lines) are left to the reader that
    paints the file.

    Raises
    ------
    InputError
        Missing, unreadable or malformed file.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RegionWarning)
        return any(isinstance(r, PixelRegion) for r in read_ds9(path))


def region_report(infos_by_chip: Sequence[tuple[str | None, Sequence[RegionInfo]]],
                  target: str) -> list[str]:
    """Warning lines for the shapes of region files painted on the chips of one file.

    Parameters
    ----------
    infos_by_chip : sequence of (label, infos)
        For each chip the shapes were painted on, its label (``SCI,2``; None for the only
        chip of a single-chip file) and the :func:`region_layers` infos.
    target : str
        The file the chips belong to.

    Returns
    -------
    list of str
        For a single-chip file, the lines :func:`region_layers` warns with. Otherwise a
        shape is reported once: when it lies off every chip it was painted on (``lies
        entirely off every chip of TARGET (SCI,1, SCI,2)``; a sky shape on one chip of an
        HST file is expected to miss the others), or for each chip it is cut by; at most
        :data:`MAX_NOTES` lines per region file, then one counting the others.
    """
    if len(infos_by_chip) == 1 and infos_by_chip[0][0] is None:
        single: dict[str, list[str]] = {}
        for info in infos_by_chip[0][1]:
            if (line := info.message()) is not None:
                single.setdefault(info.source, []).append(line)
        return [line for source, lines in single.items() for line in _capped(
            lines, f"{source}: {{n}} more shapes off or partly off the image")]
    shapes: dict[tuple[str, int], list[tuple[str | None, RegionInfo]]] = {}
    for label, infos in infos_by_chip:
        for info in infos:
            shapes.setdefault((info.source, info.index), []).append((label, info))
    by_file: dict[str, list[str]] = {}
    for (source, _), seen in shapes.items():
        lines = by_file.setdefault(source, [])
        if all(info.status == "off" for _, info in seen):
            label, first = seen[0]
            where = (f"{label} ({first.size}) of {target}" if len(seen) == 1 else
                     f"every chip of {target} ({', '.join(str(lb) for lb, _ in seen)})")
            lines.append(first.message(where) or "")
            continue
        lines += [info.message(f"{label} ({info.size}) of {target}") or ""
                  for label, info in seen if info.status == "partial"]
    return [line for source, lines in by_file.items() for line in _capped(
        lines, f"{source}: {{n}} more shapes off or partly off {target}")]


def regions_to_mask(paths: PathLike | Iterable[PathLike], shape: Sequence[int],
                    header: fits.Header | None = None, wcs: WCS | None = None, *,
                    mode: str = "center", fobj: fits.HDUList | None = None) -> np.ndarray:
    """Boolean mask of DS9 region files: inside an include shape and in no exclude shape.

    Parameters are those of :func:`region_layers`.

    Returns
    -------
    ndarray of bool, shape ``shape``
        True = inside the regions (``union(include) & ~union(exclude)``).
    """
    include, exclude, _ = region_layers(paths, shape, header, wcs, mode=mode, fobj=fobj)
    # include & ~exclude, in place (no third full-size array): True > False only
    return np.greater(include, exclude, out=include)



@contextlib.contextmanager
def region_warnings_to_log(logger: logging.Logger | None = None) -> Iterator[None]:
    """Send the :class:`RegionWarning` raised inside the block to a logger (``dqmask``).

    The CLI shows the ``dqmask`` logger on stderr, while Python warnings may be swallowed by
    other libraries' logging set-up; steps use this so that off-image regions are always
    reported. Other warnings are re-emitted unchanged.
    """
    logger = logger or logging.getLogger(__name__)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RegionWarning)
        yield
    for w in caught:
        if issubclass(w.category, RegionWarning):
            logger.warning("%s", w.message)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
