"""JWST MASK reference files and user-supplied DQ files: read and write.

MASK reference file (CRDS ``REFTYPE = MASK``; the layout jwst's ``MaskModel`` schema reads and
writes)::

    HDU 0 PRIMARY   TELESCOP, REFTYPE=MASK, INSTRUME, DETECTOR, SUBARRAY, SUBSTRT1/2,
                    SUBSIZE1/2, FASTAXIS/SLOWAXIS (+ EXP_TYPE for FGS, READPATT for NIRSpec)
    HDU 1 DQ        uint32 image (BITPIX 32, BZERO 2**31), values *compressed* by DQ_DEF
    HDU 2 DQ_DEF    table BIT int32, VALUE uint32, NAME 40A, DESCRIPTION 80A

Two value spaces are kept apart: :class:`MaskRef` holds the on-disk ``raw_dq`` (``dq``
compressed) and gives the standard flags only through :meth:`MaskRef.standard` (``dq``
standard, JWST pixel flags), never depending on construction order.

User DQ file (jwst ``user_supplied_dq``): a primary HDU with a 2-D (or, for superstripe data,
3-D) integer image of standard JWST pixel flags, read like ``astropy.io.fits.getdata``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from astropy.io import fits

from ..errors import InputError
from ..flags import JWST_PIXEL, decode
from ..io.background_mask import NSCLEAN_COMMENT
from ..io.fits import open_fits, write_hdulist
from .core import (
    DqDefReport,
    Subarray,
    compress_dq,
    decompress_dq,
    dq_def_report,
    dq_def_rows,
)

__all__ = [
    "MaskRef",
    "read_mask_ref",
    "check_mask_ref",
    "write_mask_ref",
    "identity_dq_def",
    "read_user_dq",
    "write_user_dq",
    "subarray_from_header",
]

_U32_MAX = 0xFFFFFFFF


def _opt_int(header: fits.Header, key: str) -> int | None:
    value = header.get(key)
    if value is None or isinstance(value, (fits.card.Undefined, str)):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _opt_str(header: fits.Header, key: str) -> str:
    value = header.get(key)
    if value is None or isinstance(value, fits.card.Undefined):
        return ""
    return str(value).strip()


def subarray_from_header(header: fits.Header) -> Subarray:
    """SUBSTRT1/2, SUBSIZE1/2, FASTAXIS/SLOWAXIS, SUBARRAY of a primary header."""
    return Subarray(
        xstart=_opt_int(header, "SUBSTRT1"), ystart=_opt_int(header, "SUBSTRT2"),
        xsize=_opt_int(header, "SUBSIZE1"), ysize=_opt_int(header, "SUBSIZE2"),
        fastaxis=_opt_int(header, "FASTAXIS"), slowaxis=_opt_int(header, "SLOWAXIS"),
        name=_opt_str(header, "SUBARRAY") or None,
    )


@dataclass(frozen=True)
class MaskRef:
    """A MASK reference file in memory.

    Attributes
    ----------
    path : str
        File read (``""`` for one built in memory).
    raw_dq : ndarray of uint32
        ``dq`` compressed: the on-disk DQ values, meaning given by ``dq_def``.
    dq_def : list of (value, name)
        DQ_DEF rows in table order (BIT is not used by the mapping).
    dq_def_table : list of (bit, value, name, description)
        The same rows as stored, every column kept (rows with names that are not JWST flags
        included), for :func:`write_mask_ref` to write them back unchanged.
    subarray : Subarray
        Keywords as found (missing ones stay ``None``).
    instrument, detector, exp_type, readpatt, reftype, filename : str
        Header values (upper case; ``""`` when absent).
    header : Header
        The primary header (copy).
    """

    path: str
    raw_dq: np.ndarray
    dq_def: list[tuple[int, str]]
    subarray: Subarray
    instrument: str = ""
    detector: str = ""
    exp_type: str = ""
    readpatt: str = ""
    reftype: str = ""
    filename: str = ""
    dq_def_table: list[tuple[int, int, str, str]] = field(default_factory=list, repr=False)
    header: fits.Header = field(default_factory=fits.Header, repr=False, compare=False)

    def standard(self, raw: np.ndarray | None = None, *, warn: bool = True) -> np.ndarray:
        """``raw`` (default the whole ``raw_dq``, ``dq`` compressed) as ``dq`` standard flags.

        Exactly stdatamodels' MaskModel load mapping (faithful: unknown names and bits with
        no DQ_DEF row are dropped; see :meth:`report`).
        """
        return decompress_dq(self.raw_dq if raw is None else raw, self.dq_def, warn=warn)

    def report(self) -> DqDefReport:
        """What the faithful mapping drops (unknown DQ_DEF names, undefined on-disk bits)."""
        return dq_def_report(self.raw_dq, self.dq_def)


def _check_structure(hdul: fits.HDUList, path: str) -> tuple[str, list[str]]:
    primary = hdul[0].header
    reftype = _opt_str(primary, "REFTYPE").upper()
    if reftype != "MASK":
        raise InputError(path, f"not a MASK reference file (REFTYPE={reftype or 'missing'})")
    names = [(h.name or "").upper() for h in hdul]
    if "DQ" not in names:
        raise InputError(path, "MASK reference file has no DQ extension")
    hdu = hdul["DQ"]
    if hdu.header.get("NAXIS", 0) != 2 or not isinstance(hdu, fits.ImageHDU):
        raise InputError(path, "MASK reference DQ extension is not a 2-D image")
    if int(hdu.header.get("BITPIX", 0)) < 0:
        raise InputError(path, f"MASK reference DQ is floating point "
                               f"(BITPIX={hdu.header['BITPIX']}), not integer")
    return reftype, names


def check_mask_ref(path: str | os.PathLike) -> None:
    """Check that ``path`` is a MASK reference file (headers only; no data is read).

    Raises
    ------
    InputError
        As :func:`read_mask_ref`.
    """
    path = os.fspath(path)
    with open_fits(path) as hdul:
        _check_structure(hdul, path)


def read_mask_ref(path: str | os.PathLike) -> MaskRef:
    """Read a MASK reference file: DQ (on-disk values, uint32), DQ_DEF rows, keywords.

    Raises
    ------
    InputError
        Not FITS, REFTYPE is not MASK, no 2-D integer DQ extension.
    """
    path = os.fspath(path)
    with open_fits(path) as hdul:
        primary = hdul[0].header
        reftype, names = _check_structure(hdul, path)
        raw = _read_uint32(hdul, names.index("DQ"), path)
        table = _read_dq_def(hdul, path) if "DQ_DEF" in names else []
        rows = [(value, name) for _, value, name, _ in table]
        return MaskRef(
            path=path, raw_dq=raw, dq_def=rows, subarray=subarray_from_header(primary),
            instrument=_opt_str(primary, "INSTRUME").upper(),
            detector=_opt_str(primary, "DETECTOR").upper(),
            exp_type=_opt_str(primary, "EXP_TYPE").upper(),
            readpatt=_opt_str(primary, "READPATT").upper(),
            reftype=reftype, filename=_opt_str(primary, "FILENAME"), dq_def_table=table,
            header=primary.copy(),
        )


def _read_uint32(hdul: fits.HDUList, index: int, path: str) -> np.ndarray:
    """An integer image as a new native uint32 array (the usual BITPIX 32 + BZERO 2**31 one
    is read straight from the file: one array, no memory map, no scaling temporaries)."""
    hdu = hdul[index]
    h = hdu.header
    shape = tuple(int(h[f"NAXIS{k}"]) for k in range(int(h["NAXIS"]), 0, -1))
    info = hdu.fileinfo()  # not hdul.fileinfo(): that re-serialises every header first
    plain = (int(h["BITPIX"]) == 32 and h.get("BSCALE", 1) == 1 and h.get("BZERO") == 2**31
             and info is not None and not path.lower().endswith((".gz", ".bz2", ".zip")))
    if not plain:
        return np.array(hdu.data, dtype=np.uint32, copy=True)
    count = int(np.prod(shape))
    data = np.fromfile(path, dtype=">u4", count=count, offset=info["datLoc"])
    if data.size != count:
        raise InputError(path, "truncated MASK reference DQ extension")
    data = data.byteswap(inplace=True).view(np.uint32)
    data ^= np.uint32(2**31)  # int32 on disk + BZERO 2**31 = the same bits, top bit flipped
    return data.reshape(shape)


def _read_dq_def(hdul: fits.HDUList, path: str) -> list[tuple[int, int, str, str]]:
    """``(BIT, VALUE, NAME, DESCRIPTION)`` of every DQ_DEF row, in table order.

    VALUE and NAME as the mapping reads them (:func:`dq_def_rows`); a missing BIT or
    DESCRIPTION column reads as the bit number of VALUE and ``""``.
    """
    table = hdul["DQ_DEF"].data
    if table is None:
        return []
    columns = {n.upper(): n for n in table.dtype.names}
    missing = {"VALUE", "NAME"} - set(columns)
    if missing:
        raise InputError(path, f"DQ_DEF table lacks column(s) {', '.join(sorted(missing))}")
    rows = dq_def_rows(table)
    bits = (table[columns["BIT"]] if "BIT" in columns else
            [_bit_of(value) for value, _ in rows])
    descriptions = (table[columns["DESCRIPTION"]] if "DESCRIPTION" in columns else
                    [""] * len(rows))
    return [(int(bit), value, name, _text(desc))
            for bit, (value, name), desc in zip(bits, rows, descriptions, strict=True)]


def _bit_of(value: int) -> int:
    return int(value).bit_length() - 1 if value else 0


def _text(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value).rstrip()


# --------------------------------------------------------------------------------------------
# Writing MASK files
# --------------------------------------------------------------------------------------------

_DESCRIPTIONS = {
    "DO_NOT_USE": "Bad pixel. Do not use.",
    "REFERENCE_PIXEL": "Reference pixel",
    "NON_SCIENCE": "Pixel not on science portion of detector",
    "DEAD": "Dead pixel",
    "HOT": "Hot pixel",
    "WARM": "Warm pixel",
    "LOW_QE": "Low quantum efficiency",
    "RC": "RC pixel",
    "TELEGRAPH": "Telegraph pixel",
    "NONLINEAR": "Pixel highly nonlinear",
    "OPEN": "Open pixel (counts move to adjacent pixels)",
    "ADJ_OPEN": "Adjacent to open pixel",
    "OTHER_BAD_PIXEL": "A catch-all flag",
}


def identity_dq_def(dq_standard: np.ndarray) -> list[tuple[int, str]]:
    """DQ_DEF rows mapping each standard flag present in ``dq_standard`` to itself."""
    present = int(np.bitwise_or.reduce(np.unique(dq_standard), initial=0))
    return [(1 << b, decode(1 << b, JWST_PIXEL)[0]) for b in range(32) if present >> b & 1]


#: A DQ_DEF row given to :func:`write_mask_ref`: ``(value, name)`` or
#: ``(bit, value, name, description)``.
DqDefRow = tuple[int, str] | tuple[int, int, str, str]


def _full_rows(rows: Sequence[DqDefRow], descriptions: Mapping[str, str]
               ) -> list[tuple[int, int, str, str]]:
    """``(BIT, VALUE, NAME, DESCRIPTION)`` rows from (value, name) or full rows."""
    out = []
    for row in rows:
        if len(row) == 4:
            bit, value, name, desc = row
        elif len(row) == 2:
            value, name = row
            bit, desc = _bit_of(int(value) & _U32_MAX), None
        else:
            raise ValueError(f"DQ_DEF row {row!r} is neither (value, name) nor "
                             f"(bit, value, name, description)")
        name = str(name).strip()
        if desc is None:
            desc = descriptions.get(name, _DESCRIPTIONS.get(name, ""))
        out.append((int(bit), int(value) & _U32_MAX, name, str(desc)))
    return out


def _dq_def_hdu(rows: Sequence[tuple[int, int, str, str]]) -> fits.BinTableHDU:
    bits = np.array([r[0] for r in rows], dtype=np.int32)
    values = np.array([r[1] for r in rows], dtype=np.uint32)
    names = [r[2] for r in rows]
    desc = [r[3] for r in rows]
    cols = [
        fits.Column(name="BIT", format="J", array=bits),
        fits.Column(name="VALUE", format="J", bzero=2**31, array=values),
        fits.Column(name="NAME", format="40A", array=np.array(names, dtype="S40")),
        fits.Column(name="DESCRIPTION", format="80A", array=np.array(desc, dtype="S80")),
    ]
    return fits.BinTableHDU.from_columns(cols, name="DQ_DEF")


def write_mask_ref(path: str | os.PathLike, dq_standard: np.ndarray, *,
                   instrument: str, detector: str,
                   dq_def: Sequence[DqDefRow] | None = None,
                   subarray: str = "GENERIC", substrt: tuple[int, int] = (1, 1),
                   subsize: tuple[int, int] | None = None,
                   fastaxis: int | None = None, slowaxis: int | None = None,
                   exp_type: str | None = None, readpatt: str | None = None,
                   descriptions: Mapping[str, str] | None = None,
                   keywords: Mapping[str, Any] | None = None) -> list[tuple[int, str]]:
    """Write a MASK reference file that jwst (MaskModel / DQInitStep) reads back unchanged.

    Parameters
    ----------
    path : path-like
        Output file (written atomically).
    dq_standard : ndarray of unsigned int, 2-D
        ``dq`` standard: JWST pixel flags in the reference frame (rows, columns).
    instrument, detector : str
        INSTRUME and DETECTOR (CRDS selectors; dqmask checks them against exposures).
    dq_def : sequence of (value, name) or of (bit, value, name, description), optional
        Compression table, written in this order: row ``(v, NAME)`` stores standard flag
        NAME as on-disk bit(s) ``v``. Default: identity rows for the flags present. Full
        rows (e.g. :attr:`MaskRef.dq_def_table` of a CRDS file) are written exactly as given
        (BIT and DESCRIPTION too); for ``(value, name)`` rows BIT is the bit number of VALUE.
        Rows whose NAME is not a JWST flag (``NOISY``, ``WEIRD`` in CRDS NIRCam MASK files)
        are kept in the table but store nothing, as stdatamodels does when it saves one;
        jwst ignores them on load (with a warning).
    subarray, substrt, subsize, fastaxis, slowaxis, exp_type, readpatt
        Header keywords; ``subsize`` defaults to the array shape (columns, rows).
    descriptions : mapping, optional
        DESCRIPTION column by NAME.
    keywords : mapping, optional
        More primary-header cards (AUTHOR, PEDIGREE, USEAFTER, DESCRIP...).

    Returns
    -------
    list of (value, name)
        The DQ_DEF rows written (VALUE, NAME).

    Raises
    ------
    TypeError
        ``dq_standard`` is not an integer array.
    ValueError
        Not 2-D, negative or over-32-bit values, a malformed DQ_DEF row, or standard flags
        set that no DQ_DEF row with a JWST flag name stores (they would be lost).
    """
    dq = np.asarray(dq_standard)
    if not np.issubdtype(dq.dtype, np.integer):
        raise TypeError(f"MASK DQ must be an integer array, not {dq.dtype}")
    if dq.ndim != 2:
        raise ValueError(f"MASK DQ must be 2-D, got shape {dq.shape}")
    if dq.size and (int(dq.min()) < 0 or int(dq.max()) > _U32_MAX):
        raise ValueError("MASK DQ values must fit in uint32 (no negatives)")
    dq = dq.astype(np.uint32, copy=False)
    table = _full_rows(list(dq_def) if dq_def is not None else identity_dq_def(dq),
                       descriptions or {})
    rows = [(value, name) for _, value, name, _ in table]
    stored = 0
    for _, n in rows:
        stored |= JWST_PIXEL.get(n, 0)
    present = int(np.bitwise_or.reduce(np.unique(dq), initial=0))
    if present & ~stored:
        lost = decode(present & ~stored, JWST_PIXEL)
        raise ValueError(f"flags set in the mask but absent from DQ_DEF: {', '.join(lost)}")
    raw = compress_dq(dq, rows, warn=False) if rows else dq.copy()
    primary = fits.PrimaryHDU()
    _primary_keywords(primary.header, dq.shape, instrument, detector, subarray, substrt,
                      subsize, fastaxis, slowaxis, exp_type, readpatt, path)
    for key, value in (keywords or {}).items():
        primary.header[key] = value
    hdul = fits.HDUList([primary, fits.ImageHDU(raw, name="DQ"), _dq_def_hdu(table)])
    write_hdulist(hdul, path)
    return rows


def _primary_keywords(h: fits.Header, shape, instrument, detector, subarray, substrt, subsize,
                      fastaxis, slowaxis, exp_type, readpatt, path) -> None:
    ny, nx = shape
    subsize = subsize or (nx, ny)
    h["DATE"] = (np.datetime64("now", "ms").astype(str), "Date this file was created (UTC)")
    h["FILENAME"] = (os.path.basename(os.fspath(path)), "Name of the file")
    h["DATAMODL"] = ("MaskModel", "Type of data model")
    h["TELESCOP"] = ("JWST", "Telescope used to acquire the data")
    h["REFTYPE"] = ("MASK", "Type of reference file")
    h["INSTRUME"] = (instrument.upper(), "Instrument used to acquire the data")
    h["DETECTOR"] = (detector.upper(), "Name of detector used to acquire the data")
    if exp_type:
        h["EXP_TYPE"] = (exp_type.upper(), "Type of data in the exposure")
    if readpatt:
        h["READPATT"] = (readpatt.upper(), "Readout pattern")
    h["SUBARRAY"] = (subarray.upper(), "Subarray used")
    h["SUBSTRT1"] = (int(substrt[0]), "Starting pixel in axis 1 direction")
    h["SUBSTRT2"] = (int(substrt[1]), "Starting pixel in axis 2 direction")
    h["SUBSIZE1"] = (int(subsize[0]), "Number of pixels in axis 1 direction")
    h["SUBSIZE2"] = (int(subsize[1]), "Number of pixels in axis 2 direction")
    if fastaxis is not None:
        h["FASTAXIS"] = (int(fastaxis), "Fast readout axis direction")
    if slowaxis is not None:
        h["SLOWAXIS"] = (int(slowaxis), "Slow readout axis direction")
    h["USEAFTER"] = ("2000-01-01T00:00:00", "Use after date of the reference file")
    h["PEDIGREE"] = ("DUMMY", "The pedigree of the reference file")
    h["AUTHOR"] = ("dqmask", "Author of the reference file")
    h["DESCRIP"] = ("MASK reference written by dqmask", "Description of the reference file")


# --------------------------------------------------------------------------------------------
# User-supplied DQ
# --------------------------------------------------------------------------------------------


#: DQMCONV values (dqmask's convention keyword) whose 1 does not mean "bad": as DQ flags
#: their pixels would become DO_NOT_USE exactly where the data are good.
_OPPOSITE_POLARITY = {"background": "1 = background", "user_mask": "1.0 = background",
                      "good": "1 = good"}


def _polarity_problem(hdu: fits.hdu.base._BaseHDU, primary: fits.Header) -> str | None:
    """Why the header of a would-be user DQ says it is not DQ flags (``None``: nothing says so).

    Evidence read, in the image's header and the primary header: dqmask's ``DQMCONV``
    naming a background / user_mask / good convention; NSClean's ``COMMENT Pixels = 1 are
    background``; a float ``SCI`` image of a jwst datamodel (``DATAMODL``), the layout of
    jwst's ``clean_flicker_noise`` ``user_mask`` (1.0 = background). A header that says
    nothing is not second-guessed: jwst reads any image as flags.
    """
    headers = (hdu.header, primary) if hdu.header is not primary else (primary,)
    for header in headers:
        conv = str(header.get("DQMCONV", "") or "").strip().lower()
        if conv in _OPPOSITE_POLARITY:
            return f"its header says DQMCONV = '{conv}' ({_OPPOSITE_POLARITY[conv]})"
        comments = " ".join(str(c) for c in header.get("COMMENT", []))
        if NSCLEAN_COMMENT.lower() in " ".join(comments.split()).lower():
            return (f"its header says it is a background mask ('{NSCLEAN_COMMENT}'), "
                    f"1 = background")
    if ((hdu.name or "").upper() == "SCI" and "DATAMODL" in primary
            and int(hdu.header.get("BITPIX", 0)) < 0):
        return (f"it is a jwst {primary['DATAMODL']} whose float SCI is a clean_flicker_noise "
                f"user_mask (1.0 = background)")
    return None


def read_user_dq(path: str | os.PathLike) -> np.ndarray:
    """Read a user DQ file the way jwst does (``fits.getdata(path)``), refusing masks whose
    header says they hold something else.

    The primary HDU's data, or, if the primary is empty, extension 1's; EXTNAME is not
    consulted (astropy/jwst behaviour).

    Returns
    -------
    ndarray
        As stored (not cast, not validated: see
        :func:`dqmask.dq_init.core.merge_user_dq`); meant as ``dq`` standard flags.

    Raises
    ------
    InputError
        Not FITS; no data in the primary HDU nor extension 1; a header saying the image is
        a background or good-pixel mask (NSClean's ``Pixels = 1 are background``, ``DQMCONV
        = 'background' / 'user_mask' / 'good'``, a jwst ``user_mask`` model): as flags its
        1s would make the good pixels DO_NOT_USE.
    """
    path = os.fspath(path)
    with open_fits(path) as hdul:
        for hdu in hdul[:2]:
            if hdu.header.get("NAXIS", 0) and isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU)):
                problem = _polarity_problem(hdu, hdul[0].header)
                if problem:
                    raise InputError(path, f"{problem}, not DQ flags; a user DQ holds flags "
                                           f"(1 = DO_NOT_USE)")
                if hdu.data is not None:
                    return np.array(hdu.data, copy=True)
        raise InputError(path, "No data in this HDU. (user DQ: neither the primary HDU nor "
                               "extension 1 holds an image)")


def write_user_dq(path: str | os.PathLike, dq: np.ndarray) -> None:
    """Write a user-supplied DQ file for jwst ``--user_supplied_dq`` / ``dqmask dqinit``.

    Parameters
    ----------
    path : path-like
        Output file (atomic). A primary HDU only, uint32 (BITPIX 32, BZERO 2**31).
    dq : ndarray of integer (or bool)
        ``dq`` standard: JWST pixel flags, shape of the science frame (SUBSIZE2 x SUBSIZE1,
        3200 rows for IRS2) or (N, ny, nx) for superstripe data. Booleans become
        DO_NOT_USE where True.

    Raises
    ------
    TypeError
        Float (or other non-integer) input: convert explicitly first.
    ValueError
        Not 2-D or 3-D, negative values or values above 2**32 - 1.
    """
    a = np.asarray(dq)
    if a.dtype.kind == "b":
        a = np.where(a, np.uint32(JWST_PIXEL["DO_NOT_USE"]), np.uint32(0))
    if not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"user DQ must be an integer array of flags, not {a.dtype}; convert "
                        f"it explicitly (e.g. from a boolean mask) first")
    if a.ndim not in (2, 3):
        raise ValueError(f"user DQ must be 2-D (or 3-D for superstripe data), got {a.shape}")
    if a.size and (int(a.min()) < 0 or int(a.max()) > _U32_MAX):
        raise ValueError("user DQ values must fit in uint32 (no negatives)")
    primary = fits.PrimaryHDU(a.astype(np.uint32, copy=False))
    primary.header["DQ_CONV"] = ("standard", "values are standard JWST pixel DQ flags")
    write_hdulist(fits.HDUList([primary]), path)
