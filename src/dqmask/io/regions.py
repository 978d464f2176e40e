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
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning
from astropy.wcs import WCS
from regions import PixCoord, PixelRegion, RegionBoundingBox, Regions, SkyRegion

from ..errors import InputError

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
]

PathLike = str | os.PathLike

#: DS9 coordinate-system statements (a line holding only one of these sets the frame).
_SKY_FRAMES = {"fk4", "fk5", "icrs", "galactic", "ecliptic", "j2000", "b1950", "wcs"}
_PIXEL_FRAMES = {"image", "physical", "detector", "amplifier", "linear"}
_FRAMES = _SKY_FRAMES | _PIXEL_FRAMES | {f"wcs{c}" for c in "abcdefghijklmnopqrstuvwxyz"}
_NO_AREA = {"PointPixelRegion", "LinePixelRegion", "TextPixelRegion"}
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
    n_total : int
        Pixels inside the shape on an unbounded pixel grid (0 when the shape's bounding box
        misses the image: it is not rasterised then).
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
    n_total: int
    n_on_image: int
    size: str = ""
    far_side: bool = False

    @property
    def status(self) -> str:
        """``inside``, ``partial`` (clipped by the image edge) or ``off``."""
        if self.n_on_image == 0:
            return "off"
        return "inside" if self.n_on_image == self.n_total else "partial"

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
# Reading
# --------------------------------------------------------------------------------------------


def _split_statements(line: str) -> list[str]:
    """Split one DS9 line on ``;`` outside quotes, braces and parentheses; drop comments."""
    out, buf, depth, quote = [], [], 0, ""
    for ch in line:
        if quote:
            buf.append(ch)
            if ch == quote:
                quote = ""
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth = max(depth - 1, 0)
        elif ch == "#" and depth == 0 and not "".join(buf).strip():
            break  # a comment line (or '# text(...)', '# vector(...)': no area)
        elif ch == ";" and depth == 0:
            out.append("".join(buf).strip())
            buf = []
            continue
        buf.append(ch)
    out.append("".join(buf).strip())
    return [s for s in out if s]


def _classify_statements(text: str) -> tuple[list[str], list[str], list[str]]:
    """Sort a DS9 file's statements: (global lines, regular shapes, physical shapes).

    Regular shapes come back prefixed with their frame (``fk5;circle(...)``); physical ones
    with ``image;`` so that ``regions`` parses them (they are converted afterwards).
    """
    globals_, regular, physical = [], [], []
    frame = "physical"  # DS9's default when a file names no frame
    for raw in text.splitlines():
        for stmt in _split_statements(raw):
            word = stmt.split("(")[0].split()[0].lower() if stmt.split() else ""
            if word == "global":
                globals_.append(stmt)
            elif word in _FRAMES and "(" not in stmt:
                frame = word
            elif word.startswith("# region") or word == "version":
                continue
            elif frame == "physical":
                physical.append("image;" + stmt)
            else:
                regular.append(f"{frame};{stmt}")
    return globals_, regular, physical


def _parse(path: str, globals_: list[str], statements: list[str]) -> list:
    if not statements:
        return []
    text = "\n".join(["# Region file format: DS9 version 4.1", *globals_, *statements])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AstropyWarning)
        try:
            regs = list(Regions.parse(text, format="ds9"))
        except Exception as exc:
            raise InputError(path, f"not a readable DS9 region file ({_short(exc)})") from None
    for w in caught:
        warnings.warn(f"{path}: {' '.join(str(w.message).split())}", RegionWarning,
                      stacklevel=3)
    return regs


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


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

    Raises
    ------
    InputError
        Missing, unreadable or malformed file.
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8", errors="strict") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise InputError(path, "no such region file") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, not a region file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not a readable DS9 region file ({_short(exc)})") from None
    globals_, regular, physical = _classify_statements(text)
    out = _parse(path, globals_, regular)
    if physical:
        ltm, ltv = physical_to_image_matrix(header)
        out += [_physical_to_image(r, ltm, ltv, path) for r in _parse(path, globals_, physical)]
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


#: Largest bounding box (pixels) rasterised in one piece; ``regions`` computes a float64
#: overlap grid over the whole box (8 bytes a pixel), so larger boxes go in bands of rows.
BAND_PIXELS = 1 << 22

#: Shapes whose ``to_mask`` computes each pixel of its bounding box independently from the
#: box (so a box cut into bands gives the same pixels); others are rasterised whole.
_BANDABLE = ("CirclePixelRegion", "EllipsePixelRegion", "RectanglePixelRegion",
             "PolygonPixelRegion")


def _paint(region: PixelRegion, out: np.ndarray, mode: str) -> tuple[int, int]:
    """OR the region's pixels into ``out``; return (pixels in shape, pixels on image).

    A shape whose bounding box misses the image is not rasterised: ``(0, 0)``.
    """
    total = on = 0
    if not _overlaps(region.bounding_box, out.shape):
        return total, on
    for rmask in _masks(region, mode):
        inside = np.asarray(rmask.data) > 0
        total += int(np.count_nonzero(inside))
        big, small = rmask.get_overlap_slices(out.shape)
        if big is None:
            continue
        part = inside[small]
        out[big] |= part
        on += int(np.count_nonzero(part))
    return total, on


def _overlaps(bbox: RegionBoundingBox, shape: tuple[int, ...]) -> bool:
    """Whether a bounding box (``regions`` half-open pixel ranges) meets a ``(ny, nx)``
    image; the box is that of ``mode="exact"`` too, so no pixel is lost."""
    return (bbox.ixmax > 0 and bbox.iymax > 0 and bbox.ixmin < shape[1]
            and bbox.iymin < shape[0])


def _masks(region: PixelRegion, mode: str) -> Iterator:
    """``region.to_mask(mode)``, as one mask or as bands of rows of its bounding box.

    A region whose bounding box exceeds :data:`BAND_PIXELS` (a long satellite trail across a
    mosaic, a large circle) is rasterised band by band, each band through the same
    ``regions`` code restricted to the band's rows, so that the float64 grid never covers
    more than about :data:`BAND_PIXELS` pixels; the pixels are identical.
    """
    bbox = region.bounding_box
    ny, nx = bbox.shape
    if ny * nx <= BAND_PIXELS or type(region).__name__ not in _BANDABLE or ny < 2:
        yield region.to_mask(mode=mode)
        return
    rows = max(1, BAND_PIXELS // max(nx, 1))
    for y0 in range(bbox.iymin, bbox.iymax, rows):
        band = RegionBoundingBox(bbox.ixmin, bbox.ixmax, y0, min(bbox.iymax, y0 + rows))
        yield _in_band(region, band).to_mask(mode=mode)


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
                  report: bool = True
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

    Returns
    -------
    include, exclude : ndarray of bool, shape ``shape``
        True = inside any include shape / inside any exclude shape.
    infos : list of RegionInfo
        One per usable shape, in file order.

    Warns
    -----
    RegionWarning
        For shapes partly or wholly off the image (``report``) and shapes without area.

    Raises
    ------
    InputError
        Unreadable region file, sky shapes without a celestial WCS, a sky shape only partly
        projectable onto the image.
    """
    if mode not in _MODES:
        raise ValueError(f"unknown region mode {mode!r} (choose from {', '.join(_MODES)})")
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    shape = tuple(int(n) for n in shape[-2:])
    include = np.zeros(shape, dtype=bool)
    exclude = np.zeros(shape, dtype=bool)
    infos: list[RegionInfo] = []
    for path in map(os.fspath, paths):
        for i, region in enumerate(read_ds9(path, header), start=1):
            info = _one_region(path, i, region, shape, (header, wcs, fobj), mode, include,
                               exclude)
            if info is None:
                continue
            infos.append(info)
            if report and info.message() is not None:
                warnings.warn(info.message(), RegionWarning, stacklevel=2)
    return include, exclude, infos


def _one_region(path, i, region, shape, frame, mode, include, exclude
                ) -> RegionInfo | None:
    name = _shape_name(region)
    header, wcs, fobj = frame
    keep = bool(region.meta.get("include", True))
    size = f"{shape[1]}x{shape[0]}"  # NAXIS1 x NAXIS2, as DS9 shows it
    pix = _to_pixel(region, header, wcs, path, fobj, i)
    if pix is None:
        return RegionInfo(path, i, name, keep, 0, 0, size, far_side=True)
    if type(pix).__name__ in _NO_AREA:
        warnings.warn(f"{path}: region {i} ({name}) has no area; ignored", RegionWarning,
                      stacklevel=3)
        return None
    total, on = _paint(pix, include if keep else exclude, mode)
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
        HST file is expected to miss the others), or for each chip it is cut by.
    """
    if len(infos_by_chip) == 1 and infos_by_chip[0][0] is None:
        return [m for info in infos_by_chip[0][1] if (m := info.message()) is not None]
    shapes: dict[tuple[str, int], list[tuple[str, RegionInfo]]] = {}
    for label, infos in infos_by_chip:
        for info in infos:
            shapes.setdefault((info.source, info.index), []).append((label, info))
    lines = []
    for seen in shapes.values():
        if all(info.status == "off" for _, info in seen):
            label, first = seen[0]
            where = (f"{label} ({first.size}) of {target}" if len(seen) == 1 else
                     f"every chip of {target} ({', '.join(str(lb) for lb, _ in seen)})")
            lines.append(first.message(where) or "")
            continue
        lines += [info.message(f"{label} ({info.size}) of {target}") or ""
                  for label, info in seen if info.status == "partial"]
    return lines


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
