"""PNG pictures for hand-painted NSClean masks (Pillow).

Reading returns the exact RGB channel values in PNG orientation (row 0 = top):

* ``RGB`` and ``RGBA`` (alpha dropped), 8 bits per channel;
* ``P`` / ``PA`` (palette) through the palette's exact RGB entries;
* 16 bits per channel RGB / RGBA exactly: Pillow only keeps the high byte of each 16-bit
  sample, so ``65280`` or ``(65535, 1, 0)`` would pass for pure red. The picture is decoded
  twice, once keeping the high and once the low bytes, and the two are joined.
* Grayscale (``1``, ``L``, ``LA``, ``I``, ``I;16``): no pure red is possible, so the file is
  refused with a one-line :class:`~dqmask.errors.InputError`, as is any non-PNG picture
  (JPEG compression destroys pure red).
* Only a regular file is read (:func:`~dqmask.io.files.open_regular`), and a picture whose
  header claims more than :func:`~dqmask.io.files.max_png_pixels` pixels
  (``DQMASK_MAX_PNG_PIXELS``, default 8192 x 8192) is refused before anything is decoded.

Writing takes an 8-bit RGB array and replaces the file atomically.

Rendering (shared by ``dqmask edit``, ``preview`` and ``fits2png``)
------------------------------------------------------------------
:func:`display_limits` (``zscale``, ``minmax``, ``percentile``), :func:`stretch` (``linear``,
``sqrt``, ``log``, ``asinh``), :func:`grey_rgba` (NaN in its own colour, not
the black of low sky), :func:`flag_rgba` (one colour per DQ bit, :func:`flag_color`) and
:func:`mask_rgba` turn arrays into 8-bit pictures; :func:`encode_png` makes PNG bytes.
Every array handed to these functions is in FITS orientation (row 0 = bottom); the pictures
they return are flipped to PNG orientation (row 0 = top).
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageFile, PngImagePlugin, UnidentifiedImageError

from ..errors import InputError
from .atomic import atomic_output
from .files import MAX_PNG_PIXELS_ENV, max_png_pixels, open_regular

__all__ = ["read_png_rgb", "write_png_rgb", "png_size", "LIMITS", "STRETCHES", "NAN_COLOR",
           "display_limits", "stretch", "grey_rgba", "flag_color", "flag_rgba", "mask_rgba",
           "encode_png"]

#: How the display limits are chosen (:func:`display_limits`).
LIMITS = ("zscale", "minmax", "percentile")
#: Stretches from the limits to grey (:func:`stretch`).
STRETCHES = ("linear", "sqrt", "log", "asinh")
#: Colour of NaN pixels: a dark blue-grey, distinct from the black of the low sky.
NAN_COLOR = (40, 60, 110)
#: One colour per DQ bit (bit 0 first); bits beyond the list reuse it.
_FLAG_COLORS = (
    (255, 0, 0), (255, 140, 0), (255, 255, 0), (0, 200, 255), (255, 0, 255), (0, 255, 0),
    (140, 90, 255), (255, 120, 160), (0, 130, 255), (180, 255, 80), (255, 200, 120),
    (0, 255, 180), (200, 0, 120), (120, 200, 255), (255, 80, 0), (160, 160, 0),
)

_GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
_HIGH_TO_LOW = {"RGB;16B": "RGB;16L", "RGBA;16B": "RGBA;16L"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _check_size(path: str, fh: BinaryIO) -> None:
    """Refuse a PNG whose header claims more pixels than allowed, before Pillow decodes it.

    The IHDR chunk (always first) holds width and height; the limit is
    :func:`~dqmask.io.files.max_png_pixels` (``DQMASK_MAX_PNG_PIXELS``).
    """
    head = fh.read(24)
    fh.seek(0)
    if len(head) < 24 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        return  # not a PNG: Pillow says what it is
    width, height = struct.unpack(">II", head[16:24])
    limit = max_png_pixels()
    if limit is not None and width * height > limit:
        raise InputError(path, f"PNG claims {width}x{height} pixels, more than the "
                               f"{limit} allowed (set {MAX_PNG_PIXELS_ENV} to raise it)")


def _open(path: str) -> ImageFile.ImageFile:
    with open_regular(path) as fh:
        _check_size(path, fh)
    try:
        with warnings.catch_warnings():
            # the size is checked above; Pillow's own bomb check would only warn again
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except UnidentifiedImageError:
        raise InputError(path, "not a PNG picture (unrecognised image format)") from None
    except Image.DecompressionBombError as exc:
        raise InputError(path, f"picture too big for Pillow ({exc})") from None
    except (OSError, ValueError, SyntaxError) as exc:  # SyntaxError: Pillow's broken-chunk error
        raise InputError(path, f"unreadable picture ({exc})") from None
    if im.format != "PNG":
        im.close()
        raise InputError(path, f"is a {im.format} picture, not PNG: lossy formats alter pure "
                               f"red; save the painted picture as PNG")
    return im


def png_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(height, width)`` of a PNG from its header, without decoding the pixels."""
    path = os.fspath(path)
    with _open(path) as im:
        return im.height, im.width


def _check_shape(path: str, im: Image.Image, expected: tuple[int, int] | None) -> None:
    if expected is not None and (im.height, im.width) != tuple(expected):
        raise InputError(path, f"PNG is {im.width}x{im.height} pixels, expected "
                               f"{expected[1]}x{expected[0]} (width x height)")


def _decode_16bit(path: str, rawmode: str) -> np.ndarray:
    """Exact 16-bit channels: decode once keeping high bytes, once keeping low bytes."""
    planes = []
    for raw in (rawmode, _HIGH_TO_LOW[rawmode]):
        with _open(path) as im:
            im.tile = [im.tile[0]._replace(args=raw)]
            im.load()
            planes.append(np.asarray(im))
    high, low = planes
    return (high.astype(np.uint16) << 8) | low.astype(np.uint16)


def read_png_rgb(path: str | os.PathLike, expected_shape: tuple[int, int] | None = None
                 ) -> tuple[np.ndarray, int]:
    """Read a PNG's RGB values exactly.

    Parameters
    ----------
    path : path-like
        PNG file.
    expected_shape : (height, width), optional
        Refuse a picture of another size (checked before decoding).

    Returns
    -------
    rgb : ndarray, (H, W, 3), uint8 or uint16
        Channel values in PNG orientation (row 0 = top of the picture); alpha dropped.
    max_value : int
        Full scale of a channel: 255 or 65535.

    Raises
    ------
    InputError
        Missing, unreadable or non-PNG file; grayscale picture; wrong size.
    """
    path = os.fspath(path)
    with _open(path) as im:
        _check_shape(path, im, expected_shape)
        mode = im.mode
        rawmode = im.tile[0].args if im.tile else None
        if mode in _GRAY_MODES:
            raise InputError(path, f"grayscale PNG (mode {mode}): no pure red (FF0000) "
                                   f"possible; paint the background red in an RGB picture")
        try:
            if isinstance(rawmode, str) and rawmode in _HIGH_TO_LOW and len(im.tile) == 1:
                return _decode_16bit(path, rawmode)[..., :3].copy(), 65535
            rgb = np.asarray(im.convert("RGB"))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise InputError(path, f"cannot decode PNG ({_short(exc)})") from None
    return rgb, 255


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def write_png_rgb(path: str | os.PathLike, rgb: np.ndarray,
                  text: dict[str, str] | None = None) -> None:
    """Write an 8-bit RGB picture as PNG, atomically.

    Parameters
    ----------
    path : path-like
        Output file (replaced atomically).
    rgb : ndarray of uint8, (H, W, 3)
        Picture in PNG orientation (row 0 = top).
    text : dict, optional
        PNG text chunks (e.g. ``Software``, ``Description``).
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"need (H, W, 3) uint8 RGB, got {rgb.dtype} {rgb.shape}")
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    image = Image.fromarray(rgb, mode="RGB")
    with atomic_output(Path(path)) as fh:
        image.save(fh, format="PNG", pnginfo=info, compress_level=3)


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def display_limits(sample: np.ndarray, kind: str = "zscale", percent: float = 99.5
                   ) -> tuple[float, float]:
    """Display limits ``(low, high)`` of an image from a sample of its pixels.

    Parameters
    ----------
    sample : ndarray of float
        Pixels (any shape; NaN and inf ignored), e.g. a strided subsample of a mosaic.
    kind : {"zscale", "minmax", "percentile"}
        ``zscale``: astropy ``ZScaleInterval`` (IRAF / DS9 zscale); ``minmax``: extremes;
        ``percentile``: the central ``percent`` per cent of the values.
    percent : float
        For ``percentile``, in (0, 100].

    Returns
    -------
    (float, float)
        ``low < high`` (``(0, 1)`` when no finite pixel; a constant image gets ``high =
        low + 1``).
    """
    if kind not in LIMITS:
        raise ValueError(f"unknown limits {kind!r} (choose from {', '.join(LIMITS)})")
    values = np.asarray(sample, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    if kind == "minmax":
        lo, hi = float(values.min()), float(values.max())
    elif kind == "percentile":
        if not 0 < percent <= 100:
            raise ValueError(f"percentile must be in (0, 100], got {percent}")
        lo, hi = (float(v) for v in np.percentile(values, [50 - percent / 2,
                                                           50 + percent / 2]))
    else:
        from astropy.visualization import ZScaleInterval

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lo, hi = (float(v) for v in ZScaleInterval().get_limits(values))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def stretch(image: np.ndarray, low: float, high: float, kind: str = "linear") -> np.ndarray:
    """Values scaled to [0, 1] between the limits, then stretched.

    ``t = clip((v - low) / (high - low), 0, 1)``; ``linear``: t; ``sqrt``: sqrt(t);
    ``log``: log10(1000 t + 1) / log10(1001) (DS9's log with exponent 1000, normalised so
    that 1 stays 1, as astropy ``LogStretch``); ``asinh``: asinh(10 t) / asinh(10) (DS9's
    asinh(10 t) / 3, normalised the same way).

    Parameters
    ----------
    image : ndarray of float
        Pixel values (NaN allowed).

    Returns
    -------
    ndarray of float32
        Same shape, in [0, 1]; NaN where ``image`` is not finite.
    """
    if kind not in STRETCHES:
        raise ValueError(f"unknown stretch {kind!r} (choose from {', '.join(STRETCHES)})")
    span = high - low if high > low else 1.0
    with np.errstate(invalid="ignore", over="ignore"):
        t = np.clip((np.asarray(image, dtype=np.float32) - np.float32(low)) / np.float32(span),
                    0.0, 1.0)
        if kind == "sqrt":
            t = np.sqrt(t)
        elif kind == "log":
            t = np.log10(1000.0 * t + 1.0) / np.log10(1001.0)
        elif kind == "asinh":
            t = np.arcsinh(10.0 * t) / np.arcsinh(10.0)
    t = t.astype(np.float32, copy=False)
    t[~np.isfinite(np.asarray(image))] = np.nan
    return t


def grey_rgba(scaled: np.ndarray, nan_color: Sequence[int] = NAN_COLOR) -> np.ndarray:
    """Opaque grey picture of :func:`stretch` output, flipped to PNG orientation.

    Parameters
    ----------
    scaled : ndarray of float, (ny, nx), FITS orientation
        Values in [0, 1]; NaN drawn in ``nan_color``.

    Returns
    -------
    ndarray of uint8, (ny, nx, 4)
        Row 0 = the last image row (top of the picture, as DS9 shows it).
    """
    scaled = np.asarray(scaled)[::-1]
    nan = np.isnan(scaled)
    grey = np.round(np.where(nan, 0.0, scaled) * 255.0).astype(np.uint8)
    rgba = np.empty(scaled.shape + (4,), np.uint8)
    rgba[..., :3] = grey[..., None]
    rgba[..., 3] = 255
    rgba[nan, :3] = np.asarray(nan_color, np.uint8)
    return rgba


def flag_color(bit: int) -> tuple[int, int, int]:
    """The overlay colour of DQ bit number ``bit`` (0 = value 1)."""
    return _FLAG_COLORS[bit % len(_FLAG_COLORS)]


def flag_rgba(dq: np.ndarray, flags: int) -> np.ndarray:
    """DQ overlay: each pixel with one of ``flags`` set, in the colour of its lowest such bit.

    Parameters
    ----------
    dq : ndarray of int, (ny, nx), FITS orientation
        ``dq`` convention (uint32 JWST or int16 HST bitfield).
    flags : int
        Bits to draw (the legend's ticked flags).

    Returns
    -------
    ndarray of uint8, (ny, nx, 4)
        PNG orientation; alpha 255 on drawn pixels, 0 elsewhere.
    """
    dq = np.asarray(dq)[::-1]
    bits = dq.view(np.dtype(dq.dtype.str.replace("i", "u"))) if dq.dtype.kind == "i" else dq
    rgba = np.zeros(dq.shape + (4,), np.uint8)
    todo = np.ones(dq.shape, bool)
    for bit in range(8 * dq.dtype.itemsize):
        if not (flags >> bit) & 1:
            continue
        hit = todo & ((bits >> bits.dtype.type(bit)) & 1).astype(bool)
        if hit.any():
            rgba[hit] = (*flag_color(bit), 255)
            todo &= ~hit
    return rgba


def mask_rgba(bad: np.ndarray, color: Sequence[int] = (255, 0, 0)) -> np.ndarray:
    """Mask overlay: ``color`` where ``bad``, transparent elsewhere, PNG orientation.

    Parameters
    ----------
    bad : ndarray of bool, (ny, nx), FITS orientation
        ``bad`` convention (True = masked).

    Returns
    -------
    ndarray of uint8, (ny, nx, 4)
    """
    bad = np.asarray(bad, dtype=bool)[::-1]
    rgba = np.zeros(bad.shape + (4,), np.uint8)
    rgba[bad] = (*(int(c) for c in color), 255)
    return rgba


def encode_png(rgba: np.ndarray, compress_level: int = 1) -> bytes:
    """PNG bytes of an 8-bit RGB or RGBA picture (PNG orientation)."""
    rgba = np.ascontiguousarray(rgba)
    if rgba.dtype != np.uint8 or rgba.ndim != 3 or rgba.shape[2] not in (3, 4):
        raise ValueError(f"need (H, W, 3 or 4) uint8, got {rgba.dtype} {rgba.shape}")
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(
        buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()
