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
"""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from ..errors import InputError
from .atomic import atomic_output
from .files import MAX_PNG_PIXELS_ENV, max_png_pixels, open_regular

__all__ = ["read_png_rgb", "write_png_rgb", "png_size"]

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


def _open(path: str) -> Image.Image:
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
