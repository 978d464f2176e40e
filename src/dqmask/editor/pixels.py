"""Reading parts of an image plane straight from its FITS file, for tiles and the cursor.

A :class:`Plane` reads rectangles (optionally every ``step``-th row and column) of one 2-D
image HDU with positioned reads (``os.pread``) of just the bytes needed, never through a
memory map: a 20000x20000 mosaic costs the server the tiles being drawn, not the file.
HDUs astropy must decode itself (scaled integers, compressed files) are loaded into memory
once instead (they are small in practice: tile-compressed and gzipped files are read whole
by astropy anyway).

Coordinates are numpy ``[row, column]`` = ``[y, x]``, 0-based, FITS orientation (row 0 =
bottom of the picture). Values come back decoded as astropy decodes them (native byte
order, pseudo-unsigned integers such as JWST ``DQ`` as ``uint32``).
"""

from __future__ import annotations

import os
import threading

import numpy as np
from astropy.io import fits

from ..errors import InputError
from ..io.fits import image_dtype

__all__ = ["Plane"]


class Plane:
    """One 2-D image HDU of a file, read on demand.

    Parameters
    ----------
    path : str
        The FITS file.
    hdul : HDUList
        The file, open (used only here, to find the data and decode small HDUs).
    index : int
        HDU index of the image.
    """

    def __init__(self, path: str, hdul: fits.HDUList, index: int) -> None:
        hdu = hdul[index]
        shape = tuple(int(n) for n in hdu.shape)
        if len(shape) != 2:
            raise InputError(path, f"{hdu.name or 'PRIMARY'} is {len(shape)}-D; the editor "
                                   f"shows 2-D images (a rate or cal, not rateints)")
        self.path = path
        self.shape: tuple[int, int] = (shape[0], shape[1])
        dtype = image_dtype(hdu)
        info = hdul.fileinfo(index)
        self._memory: np.ndarray | None = None
        self._fd: int | None = None
        self._lock = threading.Lock()
        compressed = path.lower().endswith((".gz", ".bz2", ".zip", ".xz"))
        if dtype is None or info is None or compressed or hdul.filename() is None:
            data = np.asarray(hdu.data)  # astropy decodes (scaled / compressed data)
            self._memory = data.astype(data.dtype.newbyteorder("="))
            self.dtype: np.dtype = self._memory.dtype
            return
        self.dtype = dtype
        self._offset = int(info["datLoc"])
        bitpix = int(hdu._orig_bitpix)
        self._raw = np.dtype(fits.hdu.base.BITPIX2DTYPE[bitpix]).newbyteorder(">")
        self._fd = os.open(path, os.O_RDONLY)

    def close(self) -> None:
        """Release the file descriptor."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def read(self, y0: int, y1: int, x0: int, x1: int, step: int = 1) -> np.ndarray:
        """Rows ``y0:y1:step`` and columns ``x0:x1:step`` (clipped to the image).

        Returns
        -------
        ndarray
            A new array of :attr:`dtype` (``dq`` convention for DQ planes: the bitfield).
        """
        ny, nx = self.shape
        y0, y1 = max(0, int(y0)), min(ny, int(y1))
        x0, x1 = max(0, int(x0)), min(nx, int(x1))
        step = max(1, int(step))
        if y1 <= y0 or x1 <= x0:
            return np.zeros((0, 0), self.dtype)
        if self._memory is not None:
            return np.array(self._memory[y0:y1:step, x0:x1:step])
        rows = range(y0, y1, step)
        width = x1 - x0
        item = self._raw.itemsize
        out = np.empty((len(rows), -(-width // step)), self._raw)
        fd = self._fd
        if fd is None:
            raise InputError(self.path, "file closed")
        for k, y in enumerate(rows):
            data = os.pread(fd, width * item, self._offset + (y * nx + x0) * item)
            if len(data) != width * item:
                raise InputError(self.path, "truncated FITS file: image data cut short")
            out[k] = np.frombuffer(data, self._raw)[::step]
        return _decode(out, self.dtype)

    def value(self, y: int, x: int):
        """The value of pixel ``[y, x]`` (a numpy scalar)."""
        return self.read(y, y + 1, x, x + 1)[0, 0]


def _decode(raw: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Big-endian stored values -> astropy's decoded values (pseudo-unsigned flipped)."""
    if raw.dtype.kind != dtype.kind and dtype.kind == "u":
        raw = raw.view(raw.dtype.str.replace("i", "u"))
        raw = raw ^ raw.dtype.type(1 << (8 * dtype.itemsize - 1))
    elif raw.dtype.kind != dtype.kind and dtype == np.dtype("int8"):
        raw = (raw.astype(np.int16) - 128).astype(np.int8)
    return np.ascontiguousarray(raw.astype(dtype.newbyteorder("="), copy=False))
