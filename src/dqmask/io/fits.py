"""FITS reading, classification, atomic updates and provenance for JWST and HST files.

* :func:`open_fits` opens memory-mapped and checks the file is complete FITS; every problem
  becomes an :class:`~dqmask.errors.InputError` naming the file.
* :func:`classify` tells what a file is from its header and structure (never its name).
* :class:`FitsUpdate` edits some HDUs and writes the result atomically. HDUs whose data was
  not replaced are copied as raw bytes (astropy's direct copy): SCI is never decoded, scaled
  or converted; only the HDUs that change are re-encoded. :meth:`FitsUpdate.set_data_strips`
  / :meth:`FitsUpdate.append_strips` encode new data strip by strip while writing (the same
  bytes as astropy, never the whole array in memory: mosaics of 20000x20000 pixels).
* :func:`row_reader` / :func:`read_rows` read rows of an image with plain file reads (no
  memory map), decoded as astropy decodes them.
* :func:`add_provenance` / :func:`has_record` keep dqmask's keyword record of each step.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import os
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning

from .. import __version__
from ..errors import InputError
from .atomic import atomic_output, refuse_read_only, target_lock
from .files import (
    MAX_DECOMPRESSED_ENV,
    human_bytes,
    max_decompressed,
    open_regular,
    require_regular_file,
)
from .fits_scan import BITPIX_VALUES as _BITPIX  # one set of FITS rules for both readers
from .fits_scan import COMPRESSION_MAGIC as _MAGIC
from .fits_scan import MAX_HDUS as _MAX_HDUS
from .fits_scan import MAX_NAXIS as _MAX_NAXIS
from .fits_scan import ONCE_KEYWORDS as _ONCE
from .fits_scan import READ_CHUNK as _CHUNK
from .fits_scan import next_header as _next_header  # the byte-level scan lives there
from .fits_scan import scan_open
from .fits_scan import skip as _skip
from .provenance import HISTORY_WIDTH, history_line, params_digest  # noqa: F401 - re-exported
from .provenance import PARAMS_PREFIX as _PARAMS_PREFIX
from .provenance import RECORD_PREFIX as _RECORD_PREFIX

__all__ = [
    "HDUKey",
    "open_fits",
    "require_regular_file",
    "get_hdu",
    "require_keyword",
    "Chip",
    "FileInfo",
    "classify",
    "FitsUpdate",
    "write_hdulist",
    "STRIP_BYTES",
    "stored_dtype",
    "image_dtype",
    "strip_rows",
    "row_reader",
    "read_rows",
    "encode_rows",
    "add_provenance",
    "history_line",
    "HISTORY_WIDTH",
    "has_record",
    "step_records",
    "params_digest",
    "JWST_FGS_GUIDER_TYPES",
    "JWST_INSTRUMENTS",
    "HST_INSTRUMENTS",
]

HDUKey = int | str | tuple[str, int]

#: EXP_TYPE values of FGS guide-star products (GuiderRawModel; single 2-D DQ). The same set
#: as :data:`dqmask.dq_init.core.FGS_GUIDE_EXP_TYPES` (lower case there, as jwst compares
#: them); a test keeps the two equal, so shared I/O needs nothing from a job.
JWST_FGS_GUIDER_TYPES = frozenset(
    {"FGS_ACQ1", "FGS_ACQ2", "FGS_FINEGUIDE", "FGS_ID-IMAGE", "FGS_ID-STACK", "FGS_TRACK"}
)

_COMPRESSED = (".gz", ".bz2", ".zip", ".xz")


# --------------------------------------------------------------------------------------------
# Opening and checking
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def open_fits(path: str | os.PathLike, *, memmap: bool = True) -> Iterator[fits.HDUList]:
    """Open a FITS file read-only, memory-mapped, after checking it is complete.

    Only a regular file is opened (:func:`~dqmask.io.files.open_regular`: a FIFO, device or
    socket is refused at once, never waited on). A compressed file (gzip, bzip2, xz, zip,
    told by its first bytes as astropy tells it) is scanned first, header by header, and
    refused as soon as the sizes its headers claim pass
    :func:`~dqmask.io.files.max_decompressed`, before its data is decompressed.

    Raises
    ------
    InputError
        The file is missing, not a regular file, unreadable, too big once decompressed, not
        FITS, has a corrupt header or is truncated.
    """
    path = os.fspath(path)
    with open_regular(path) as fh:
        try:
            kind = _compression(fh)
            size = (_scan_compressed(fh, kind, path) if kind
                    else os.fstat(fh.fileno()).st_size)
            # a plain file scan_open vouches for is one astropy reads as it is, silently:
            # its cards need not be parsed and verified one by one (the costly checks)
            vouched = not kind and scan_open(fh) is not None
            fh.seek(0)
        except InputError:
            raise
        except OSError as exc:
            raise InputError(path, f"cannot read ({_short(exc)})") from None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", AstropyUserWarning)
                # zero padding after the last HDU: every HDU is complete, nothing to refuse
                warnings.filterwarnings("ignore", message="Unexpected extra padding",
                                        category=AstropyUserWarning)
                hdul = fits.open(fh, mode="readonly",
                                 memmap=None if memmap and not kind else False,
                                 lazy_load_hdus=True)
                _load_all_hdus(hdul, path)
        except InputError:
            raise
        except PermissionError:
            raise InputError(path, "permission denied") from None
        except fits.verify.VerifyWarning as exc:  # astropy checks headers as it reads
            raise InputError(path, f"corrupt header ({_short(exc)})") from None
        except AstropyUserWarning as exc:
            raise InputError(path, f"truncated or corrupt FITS file ({exc})") from None
        except Exception as exc:  # astropy raises OSError, ValueError, TypeError, IndexError...
            raise InputError(path, f"not a readable FITS file ({_short(exc)})") from None
        try:
            _check_complete(hdul, path, size, headers_checked=vouched)
            if vouched:
                _STANDARD_AS_READ.add(id(hdul))
            yield hdul
        finally:
            _STANDARD_AS_READ.discard(id(hdul))
            hdul.close()


#: ``id`` of the open HDULists (from :func:`open_fits`) whose file
#: :func:`~dqmask.io.fits_scan.scan_open` vouched for.
_STANDARD_AS_READ: set[int] = set()


def standard_as_read(hdul: fits.HDUList) -> bool:
    """Whether ``hdul`` (open, from :func:`open_fits`) is a plain file whose every card is
    standard FITS as it was read: astropy's ``verify("fix")`` would change nothing in it
    (the :func:`~dqmask.io.fits_scan.scan_plain` contract). A writer that copies its cards
    need only verify the cards it adds."""
    return id(hdul) in _STANDARD_AS_READ


def _load_all_hdus(hdul: fits.HDUList, path: str) -> None:
    """Read every HDU (as ``lazy_load_hdus=False`` would), refusing a file whose headers
    make astropy step backwards (a negative NAXISn, e.g. ``NAXIS2 = - 32``): astropy would
    read the same HDUs again and again, without end."""
    last = -1
    for i, hdu in enumerate(hdul):
        info = hdu.fileinfo()  # not hdul.fileinfo(i): that re-serialises every header
        start = -1 if info is None else int(info["hdrLoc"])
        if start <= last or _data_nbytes(hdu) < 0 or i >= _MAX_HDUS:
            hdul.close()
            raise InputError(path, f"HDU {i}: corrupt header (the HDU sizes do not add up)")
        last = start


def _compressed(path: str) -> bool:
    return path.lower().endswith(_COMPRESSED)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _compression(fh: BinaryIO) -> str | None:
    """The compression astropy will see in an open file (by its first bytes), or None."""
    fh.seek(0)
    magic = fh.read(6)
    fh.seek(0)
    return next((name for start, name in _MAGIC if magic.startswith(start)), None)


def _decompressed(fh: BinaryIO, kind: str, path: str) -> contextlib.AbstractContextManager:
    """The decompressed stream of an open compressed file (zip: its only member)."""
    if kind == "gzip":
        return gzip.GzipFile(fileobj=fh, mode="rb")
    if kind == "bzip2":
        return bz2.BZ2File(fh, mode="rb")
    if kind == "xz":
        return lzma.LZMAFile(fh, mode="rb")
    archive = zipfile.ZipFile(fh)
    names = archive.namelist()
    if len(names) != 1:
        raise InputError(path, f"zip archive holds {len(names)} files; dqmask reads a zip "
                               f"holding exactly one FITS file")
    return archive.open(names[0])


def _scan_compressed(fh: BinaryIO, kind: str, path: str) -> int:
    """Decompressed size of a compressed FITS file, read with bounded work and memory.

    The stream is read header by header; each header's data size (BITPIX, NAXISn, PCOUNT,
    GCOUNT) is added to the running size *before* the data is decompressed, and the file is
    refused as soon as that passes :func:`~dqmask.io.files.max_decompressed`. Bytes after the
    last HDU count too, up to the limit. astropy stops quietly at the end of a cut stream, so
    the size is also what :func:`_check_complete` compares the headers with.

    Raises
    ------
    InputError
        Too big once decompressed, or a corrupt compressed stream.
    """
    limit = max_decompressed()
    total = 0

    def too_big(claimed: int | None = None) -> InputError:
        how = ("expands to" if claimed is None else
               f"claims (in its FITS headers) {human_bytes(claimed)} once decompressed,")
        return InputError(path, f"{kind}-compressed file {how} more than the "
                                f"{human_bytes(limit or 0)} limit (set {MAX_DECOMPRESSED_ENV} to "
                                f"raise it)")

    try:
        with _decompressed(fh, kind, path) as stream:
            while True:
                header, data = _next_header(stream)
                total += len(header)
                if limit is not None and total > limit:
                    raise too_big()
                if data is None:  # end of the HDUs (or not a header): count what is left
                    break
                claimed = total + data
                if limit is not None and claimed > limit:
                    raise too_big(claimed)
                skipped = _skip(stream, data)
                total += skipped
                if skipped < data:
                    return total  # cut short: _check_complete says which HDU
            while chunk := stream.read(_CHUNK):
                total += len(chunk)
                if limit is not None and total > limit:
                    raise too_big()
    except InputError:
        raise
    except (EOFError, OSError, zlib.error, lzma.LZMAError, zipfile.BadZipFile,
            NotImplementedError, RuntimeError, ValueError) as exc:
        raise InputError(path, f"truncated or corrupt compressed file ({_short(exc)})") from None
    return total


def _check_headers(hdul: fits.HDUList, path: str) -> None:
    """Every HDU is a standard one and every header card parses (else one-line InputError).

    astropy parses cards lazily, so a corrupt card would otherwise surface as a ValueError
    (or a warning) wherever some later code first reads it.
    """
    for i, hdu in enumerate(hdul):
        _parse_header(hdu, i, path)
        if type(hdu) is fits.hdu.base._ValidHDU or isinstance(hdu, fits.hdu.base._CorruptedHDU):
            kind = hdu.header.get("XTENSION", "?") if i else "?"
            raise InputError(path, f"HDU {i} is not a standard FITS HDU (XTENSION={kind!r})")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for card in hdu.header.cards:
                try:
                    card.value  # noqa: B018 - parses the card
                except Exception as exc:
                    raise InputError(path, f"HDU {i}: corrupt header card "
                                           f"{card.keyword or '(blank)'} ({_short(exc)})"
                                     ) from None
                _check_not_record_valued(card, i, path)
        bitpix = hdu.header.get("BITPIX")  # before verify(), which "fixes" a wrong one to 8
        if bitpix not in _BITPIX or isinstance(bitpix, bool):  # while astropy decodes by it
            raise InputError(path, f"HDU {i}: BITPIX={bitpix!r} is not a FITS value")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            hdu.verify("fix+warn")  # what writeto(output_verify="silentfix") would fix
        unfixable = [" ".join(str(w.message).split()) for w in caught
                     if "Unfixable" in str(w.message)]
        if unfixable:
            raise InputError(path, f"HDU {i}: corrupt header ({unfixable[0][:160]})")
        header = hdu.header
        naxis = header.get("NAXIS", 0)
        if not isinstance(naxis, int) or isinstance(naxis, bool) or not 0 <= naxis <= 999:
            raise InputError(path, f"HDU {i}: NAXIS={naxis!r} is not a FITS value")
        if naxis > _MAX_NAXIS:
            raise InputError(path, f"HDU {i}: NAXIS={naxis}: dqmask reads arrays of at most "
                                   f"{_MAX_NAXIS} axes")
        for k in range(1, naxis + 1):
            n = header.get(f"NAXIS{k}")
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise InputError(path, f"HDU {i}: NAXIS{k}={n!r} is not a FITS value")
        if naxis:
            _check_scaling(header, i, path)
        _check_one_header(header, i, path)
        ver = header.get("EXTVER")
        if ver is not None and (isinstance(ver, bool) or not isinstance(ver, int) or ver < 1):
            name = _str(header, "EXTNAME") or "no EXTNAME"
            raise InputError(path, f"HDU {i} ({name}) has EXTVER={ver!r}; it must be a "
                                   f"positive integer")


#: Keywords whose value dqmask reads as they are: never a record-valued card.
_PLAIN_VALUED = frozenset({*_ONCE, "EXTEND", "BSCALE", "BZERO", "BLANK"})


def _check_not_record_valued(card: fits.Card, i: int, path: str) -> None:
    """A structural card whose string value looks like ``'field: number'`` (e.g.
    ``EXTNAME = 'AXIS.1: 1'``) is read by astropy as a record-valued keyword of the WCS
    distortion convention (``EXTNAME.AXIS.1 = 1``): the keyword itself would then be missing."""
    if card.field_specifier is not None and (card.rawkeyword in _PLAIN_VALUED
                                             or card.rawkeyword.startswith("NAXIS")):
        written = card.image[10:80].split("/", 1)[0].strip()
        raise InputError(path, f"HDU {i}: {card.rawkeyword} = {written} reads as a "
                               f"record-valued card, not as {card.rawkeyword}")


def _check_scaling(header: fits.Header, i: int, path: str) -> None:
    """BSCALE / BZERO of an HDU with data are numbers (astropy would scale by a string and
    fail in numpy with a ``UFuncTypeError``; a bad BLANK is already a header warning)."""
    for key in ("BSCALE", "BZERO"):
        value = header.get(key)
        if value is not None and (isinstance(value, bool)
                                  or not isinstance(value, int | float)):
            raise InputError(path, f"HDU {i}: {key}={value!r} is not a number")


def _check_one_header(header: fits.Header, i: int, path: str) -> None:
    """One header, not two run together: an END card blanked (or lost) makes astropy read the
    next HDU's header as more cards of this one, silently dropping that HDU."""
    first = "SIMPLE" if i == 0 else "XTENSION"
    for key in _ONCE:
        count = header.count(key) if key in header else 0
        if count > 1 or (key in ("SIMPLE", "XTENSION") and key != first and count):
            raise InputError(path, f"HDU {i}: header holds {count if count > 1 else 'a'} "
                                   f"{key} card{'s' if count > 1 else ''}: its END card is "
                                   f"missing or blanked, the next header ran into it")


def _parse_header(hdu: fits.hdu.base._BaseHDU, i: int, path: str) -> None:
    """Parse HDU ``i``'s header (astropy defers it); a warning on the way is an InputError.

    astropy only warns about a damaged card (e.g. ``XTENSION0 'IMAGE'``, the value
    indicator gone) and reads on, so the damage would otherwise surface later as a stray
    warning or a wrong value.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", AstropyUserWarning)
            hdu.header  # noqa: B018 - parses the header
    except AstropyUserWarning as exc:
        raise InputError(path, f"HDU {i}: corrupt header ({_short(exc)})") from None


def _check_complete(hdul: fits.HDUList, path: str, size: int, *,
                    headers_checked: bool = False) -> None:
    """Every header is sound (:func:`_check_headers`, unless ``headers_checked``: the file
    passed :func:`~dqmask.io.fits_scan.scan_open`) and every HDU's data fits in the ``size``
    bytes the file holds (decompressed)."""
    if len(hdul) == 0:
        raise InputError(path, "not a FITS file (no HDU)")
    if not headers_checked:
        _check_headers(hdul, path)
    for i, hdu in enumerate(hdul):
        info = hdu.fileinfo()  # not hdul.fileinfo(i): that re-serialises every header
        if info is None:
            continue
        needed = info["datLoc"] + _data_nbytes(hdu)
        if needed > size:
            raise InputError(
                path, f"truncated FITS file: HDU {i} needs {needed} bytes, file has {size}"
            )


def _data_nbytes(hdu: fits.hdu.base._BaseHDU) -> int:
    try:
        return int(hdu._data_size)  # header-derived; does not read the data
    except Exception:  # pragma: no cover - exotic HDU types
        return 0


def get_hdu(hdul: fits.HDUList, key: HDUKey, path: str | os.PathLike | None = None
            ) -> fits.hdu.base._BaseHDU:
    """The HDU ``key`` (index, EXTNAME, or (EXTNAME, EXTVER)), or a one-line InputError."""
    try:
        return hdul[key]
    except (KeyError, IndexError):
        name = key if not isinstance(key, tuple) else f"{key[0]},{key[1]}"
        raise InputError(path or hdul.filename(), f"missing extension {name}") from None


def require_keyword(header: fits.Header, key: str, path: str | os.PathLike | None,
                    where: str = "primary header") -> Any:
    """``header[key]``, or InputError ``missing keyword KEY in <where>``."""
    if key not in header or header[key] is None:
        raise InputError(path, f"missing keyword {key} in {where}")
    value = header[key]
    if isinstance(value, fits.card.Undefined):
        raise InputError(path, f"keyword {key} has no value in {where}")
    return value


# --------------------------------------------------------------------------------------------
# Classification
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chip:
    """One HST chip (imset) or JWST science array.

    Attributes
    ----------
    extver : int
        EXTVER of the SCI extension (1-based).
    sci : int
        HDU index of SCI.
    dq : int or None
        HDU index of the matching DQ, if present and non-empty.
    shape : tuple
        SCI data shape (numpy order).
    ccdchip : int or None
        HST CCDCHIP keyword of the SCI header (ACS/WFC: SCI,1 is chip 2).
    """

    extver: int
    sci: int
    dq: int | None
    shape: tuple[int, ...]
    ccdchip: int | None = None


@dataclass(frozen=True)
class FileInfo:
    """What a file is, from its headers and HDU structure.

    ``product`` is one of: JWST ``uncal``, ``ramp``, ``rate``, ``rateints``, ``cal``,
    ``calints``, ``crf``, ``i2d``, ``mask_ref``; HST ``raw``, ``flt``, ``flc``, ``drz``,
    ``drc``; or ``mask`` (a bare primary-HDU mask image) and ``unknown``.
    """

    path: str
    telescope: str
    instrument: str
    detector: str
    product: str
    exp_type: str = ""
    subarray: str = ""
    substrt: tuple[int, int] | None = None  # (SUBSTRT1, SUBSTRT2), 1-based
    subsize: tuple[int, int] | None = None  # (SUBSIZE1, SUBSIZE2)
    chips: tuple[Chip, ...] = field(default_factory=tuple)
    extnames: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_jwst(self) -> bool:
        return self.telescope == "JWST"

    @property
    def is_hst(self) -> bool:
        return self.telescope == "HST"

    @property
    def is_subarray(self) -> bool:
        if self.is_jwst:
            return self.subarray not in ("", "FULL", "GENERIC") or (
                self.subsize is not None and self.subsize not in ((2048, 2048), (1032, 1024))
            )
        return self.subarray not in ("", "F", "FALSE", "FULL")

    def describe(self) -> str:
        """One line: ``JWST NIRCAM NRCA1 rate FULL 1 chip``."""
        chips = f"{len(self.chips)} chip" + ("s" if len(self.chips) != 1 else "")
        bits = [self.telescope, self.instrument, self.detector, self.product,
                self.subarray or "-", chips]
        return " ".join(b for b in bits if b)


def _str(header: fits.Header, key: str) -> str:
    value = header.get(key, "")
    return "" if value is None or isinstance(value, fits.card.Undefined) else str(value).strip()


def _int_or_none(header: fits.Header, key: str) -> int | None:
    value = header.get(key)
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def classify(path: str | os.PathLike) -> FileInfo:
    """Classify a JWST or HST FITS file from its headers and HDU structure.

    Raises
    ------
    InputError
        Unreadable file, or a file that is neither JWST nor HST data nor a bare mask image.
    """
    path = os.fspath(path)
    with open_fits(path) as hdul:
        return classify_hdulist(hdul, path)


def classify_hdulist(hdul: fits.HDUList, path: str) -> FileInfo:
    """:func:`classify` for an already open HDU list."""
    primary = hdul[0].header
    telescope = _str(primary, "TELESCOP").upper()
    instrument = _str(primary, "INSTRUME").upper()
    extnames = tuple(_str(h.header, "EXTNAME").upper() for h in hdul)
    if telescope == "JWST" and instrument in HST_INSTRUMENTS:
        raise InputError(path, f"TELESCOP='JWST' but INSTRUME={instrument!r} is an HST "
                               f"instrument: the header contradicts itself; fix one of them")
    if telescope == "HST" and instrument in JWST_INSTRUMENTS:
        raise InputError(path, f"TELESCOP='HST' but INSTRUME={instrument!r} is a JWST "
                               f"instrument: the header contradicts itself; fix one of them")
    if not telescope and instrument in HST_INSTRUMENTS:  # old HST files lack TELESCOP
        telescope = "HST"
    if telescope == "JWST":
        return _classify_jwst(hdul, path, primary, instrument, extnames)
    if telescope == "HST":
        return _classify_hst(hdul, path, primary, instrument, extnames)
    if len(hdul) >= 1 and hdul[0].header.get("NAXIS", 0) >= 2:
        chips = (Chip(1, 0, None, _shape(hdul[0])),)
        _check_chips(chips, path)
        return FileInfo(path, telescope, instrument, _str(primary, "DETECTOR").upper(), "mask",
                        chips=chips, extnames=extnames)
    raise InputError(path, f"unsupported file: TELESCOP={telescope or 'missing'}, "
                           f"not a JWST or HST product")


def _shape(hdu: fits.hdu.base._BaseHDU) -> tuple[int, ...]:
    naxis = int(hdu.header.get("NAXIS", 0))
    return tuple(int(hdu.header.get(f"NAXIS{k}", 0)) for k in range(naxis, 0, -1))


def _sci_chips(hdul: fits.HDUList, extnames: tuple[str, ...], dq_name: str = "DQ"
               ) -> tuple[Chip, ...]:
    chips = []
    for i, hdu in enumerate(hdul):
        if extnames[i] != "SCI":
            continue
        ver = int(hdu.header.get("EXTVER", 1) or 1)
        dq = None
        for j, other in enumerate(hdul):
            if extnames[j] == dq_name and int(other.header.get("EXTVER", 1) or 1) == ver:
                dq = j if other.header.get("NAXIS", 0) else None
                break
        chips.append(Chip(ver, i, dq, _shape(hdu), _int_or_none(hdu.header, "CCDCHIP")))
    return tuple(chips)


#: JWST INSTRUME values dqmask knows.
JWST_INSTRUMENTS = frozenset({"NIRCAM", "NIRSPEC", "NIRISS", "MIRI", "FGS"})
#: HST INSTRUME values (a file without TELESCOP is HST by them).
HST_INSTRUMENTS = frozenset({"ACS", "WFC3", "STIS", "WFPC2", "NICMOS"})


def _check_chips(chips: tuple[Chip, ...], path: str, hdul: fits.HDUList | None = None
                 ) -> None:
    """Every chip is an image with pixels (not NAXIS < 2, not an axis of length 0) whose DQ,
    if any, is stored as integers (bit flags; a float DQ cannot be read as flags)."""
    for chip in chips:
        name = f"extension SCI,{chip.extver}" if chip.sci else "primary image"
        if len(chip.shape) < 2:
            raise InputError(path, f"{name} has no image data (NAXIS={len(chip.shape)})")
        if 0 in chip.shape:
            raise InputError(path, f"{name} has no pixels ({'x'.join(map(str, chip.shape))})")
        if hdul is not None and chip.dq is not None:
            header = hdul[chip.dq].header
            dtype = stored_dtype(header)
            if dtype is None or dtype.kind not in "iu":
                what = (f"{dtype.name} values" if dtype is not None
                        else f"scaled values (BITPIX={header.get('BITPIX')}, BSCALE/BZERO: "
                             f"read as float)")
                raise InputError(path, f"extension {_str(header, 'EXTNAME') or 'DQ'},"
                                       f"{chip.extver} holds {what}; a DQ array must be "
                                       f"integer bit flags")


def _classify_jwst(hdul, path, primary, instrument, extnames) -> FileInfo:
    if not instrument:
        raise InputError(path, "missing keyword INSTRUME in primary header")
    if instrument not in JWST_INSTRUMENTS:
        raise InputError(path, f"unsupported JWST instrument INSTRUME={instrument!r} "
                               f"(known: {', '.join(sorted(JWST_INSTRUMENTS))})")
    detector = _str(primary, "DETECTOR").upper()
    exp_type = _str(primary, "EXP_TYPE").upper()
    x0, y0 = _int_or_none(primary, "SUBSTRT1"), _int_or_none(primary, "SUBSTRT2")
    nx, ny = _int_or_none(primary, "SUBSIZE1"), _int_or_none(primary, "SUBSIZE2")
    common = dict(
        path=path, telescope="JWST", instrument=instrument, detector=detector,
        exp_type=exp_type, subarray=_str(primary, "SUBARRAY").upper(),
        substrt=(x0, y0) if x0 is not None and y0 is not None else None,
        subsize=(nx, ny) if nx is not None and ny is not None else None,
        extnames=extnames,
    )
    if _str(primary, "REFTYPE").upper() == "MASK":
        return FileInfo(product="mask_ref", chips=_sci_chips(hdul, extnames), **common)
    if "SCI" not in extnames:
        raise InputError(path, "missing extension SCI")
    chips = _sci_chips(hdul, extnames)
    if "PIXELDQ" in extnames and not any(c.dq for c in chips):
        chips = tuple(Chip(c.extver, c.sci, extnames.index("PIXELDQ"), c.shape) for c in chips)
    _check_chips(chips, path, hdul)
    for chip in chips:
        if chip.dq is not None:
            dq_shape = _shape(hdul[chip.dq])
            if dq_shape[-2:] != chip.shape[-2:]:
                raise InputError(path, f"extension {extnames[chip.dq]} shape "
                                       f"{'x'.join(map(str, dq_shape))} does not match SCI "
                                       f"shape {'x'.join(map(str, chip.shape))}")
    sci = hdul[chips[0].sci]
    ndim = len(chips[0].shape)
    bitpix = int(sci.header.get("BITPIX", -32))
    if ndim == 4:
        product = "uncal" if bitpix > 0 or exp_type in JWST_FGS_GUIDER_TYPES else "ramp"
    elif ndim == 3 and exp_type in JWST_FGS_GUIDER_TYPES and bitpix > 0:
        product = "uncal"
    elif "WHT" in extnames or _str(primary, "S_RESAMP") == "COMPLETE":
        product = "i2d"
    else:
        calibrated = (_str(primary, "S_PHOTOM") == "COMPLETE"
                      or "MJY" in _str(sci.header, "BUNIT").upper())
        if ndim == 3:
            product = "calints" if calibrated else "rateints"
        elif not calibrated:
            product = "rate"
        elif _str(primary, "S_OUTLIR") == "COMPLETE":
            product = "crf"
        else:
            product = "cal"
    return FileInfo(product=product, chips=chips, **common)


def _classify_hst(hdul, path, primary, instrument, extnames) -> FileInfo:
    detector = _str(primary, "DETECTOR").upper()
    chips = _sci_chips(hdul, extnames)
    if not chips:
        if primary.get("NAXIS", 0) >= 2:
            chips = (Chip(1, 0, None, _shape(hdul[0])),)
        else:
            raise InputError(path, "missing extension SCI")
    _check_chips(chips, path, hdul)
    sci = hdul[chips[0].sci]
    drizzled = "WHT" in extnames or "CTX" in extnames or sci.header.get("D001VER") is not None
    cte = _str(primary, "PCTECORR").upper() == "COMPLETE"
    if drizzled:
        product = "drc" if cte else "drz"
    elif int(sci.header.get("BITPIX", -32)) > 0 and _str(primary, "FLATCORR").upper() == "PERFORM":
        product = "raw"
    else:
        product = "flc" if cte else "flt"
    subarray = _str(primary, "SUBARRAY").upper()
    if subarray in ("T", "TRUE"):
        subarray = _str(primary, "APERTURE").upper() or "T"
    elif subarray in ("F", "FALSE"):
        subarray = "FULL"
    return FileInfo(path=path, telescope="HST", instrument=instrument, detector=detector,
                    product=product, exp_type=_str(primary, "OBSTYPE").upper(),
                    subarray=subarray, chips=chips, extnames=extnames)


# --------------------------------------------------------------------------------------------
# Provenance
# --------------------------------------------------------------------------------------------

def step_records(header: fits.Header, step: str | None = None) -> list[tuple[str, str]]:
    """The ``(step, record)`` pairs dqmask wrote into ``header``, oldest first."""
    out = []
    for key in header:
        if len(key) == 8 and key.startswith(_RECORD_PREFIX) and key[4:].isdigit():
            parts = str(header[key]).split(maxsplit=1)  # a record may contain blanks
            if len(parts) == 2 and (step is None or parts[0] == step):
                out.append((parts[0], parts[1]))
    return out


def has_record(header: fits.Header, step: str, record: str) -> bool:
    """True if ``header`` holds exactly this step record (exact match, never a prefix)."""
    return (step, record) in step_records(header, step)


def add_provenance(header: fits.Header, step: str, params: Mapping[str, Any],
                   record: str | None = None) -> str:
    """Record a dqmask step in ``header``.

    Adds ``DQM_VER`` (dqmask version), ``DQMRnnnn = '<step> <record>'`` (the idempotence
    record later runs check with :func:`has_record`) and ONE HISTORY card
    (:func:`history_line`): jwst's ``model.history`` shows each step as one entry. When the
    parameters do not fit in that card, all of them also go into ``DQMPnnnn`` (a long
    string, same ``nnnn`` as the record) and the HISTORY card names it.

    Parameters
    ----------
    header : Header
        Usually the primary header; modified in place.
    step : str
        Step name without blanks (``dqinit``, ``apply``, ...).
    params : mapping
        Parameters, JSON-serialisable; go into HISTORY and the default record.
    record : str, optional
        Idempotence record; default :func:`params_digest` of ``params``.

    Returns
    -------
    str
        The record written.
    """
    if not step or any(c.isspace() for c in step):
        raise ValueError(f"bad step name {step!r}")
    record = record or params_digest(params)
    if record != record.strip() or "\n" in record:
        raise ValueError(f"bad record {record!r}: no leading/trailing blanks or newlines")
    n = 1 + max((int(k[4:]) for k in header
                 if len(k) == 8 and k.startswith(_RECORD_PREFIX) and k[4:].isdigit()), default=0)
    header["DQM_VER"] = (__version__, "dqmask version of the last write")
    header[f"{_RECORD_PREFIX}{n:04d}"] = (f"{step} {record}", "dqmask step record")
    line, full = history_line(step, params, n)
    if full is not None:
        header[f"{_PARAMS_PREFIX}{n:04d}"] = full  # no comment: it would not fit the card
    header.add_history(line)
    return record


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def write_hdulist(hdul: fits.HDUList, path: str | os.PathLike) -> None:
    """Write an HDU list atomically to ``path`` (replacing any existing file).

    A ``path`` ending in ``.gz`` is written gzip-compressed, so that a file updated in place
    keeps the format its name announces. Image data that is a non-contiguous view (a
    transposed or strided array, a broadcast) is made C-contiguous first: astropy writes
    such an array to a file object element by element, which takes minutes for a mosaic.
    The bytes written are the same.
    """
    _contiguous_image_data(hdul)
    with atomic_output(path) as fh:
        if os.fspath(path).lower().endswith(".gz"):
            with gzip.GzipFile(fileobj=fh, mode="wb", mtime=0) as gz:
                hdul.writeto(gz, output_verify="silentfix")
        else:
            hdul.writeto(fh, output_verify="silentfix")


def _contiguous_image_data(hdul: fits.HDUList) -> None:
    """Give every image HDU whose loaded data is not C-contiguous a contiguous copy.

    Data never loaded (copied raw from the input) is not touched, nor the strip writer's
    zero-stride placeholders (:meth:`FitsUpdate.set_data_strips`: their bytes come from
    the strip writer, and a copy would allocate the whole array). A partly broadcast array
    (``np.broadcast_to`` of a plane to a cube) is copied: astropy writes all its bytes
    anyway. The copy replaces the array only, not through astropy's ``data`` setter, so the
    header stays as it is.
    """
    for hdu in hdul:
        if (not isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU))
                or isinstance(hdu, (fits.CompImageHDU, fits.GroupsHDU))
                or not hdu._data_loaded or "_writedata_internal" in vars(hdu)):
            continue
        data = hdu.__dict__.get("data")
        if (isinstance(data, np.ndarray) and data.size > 1 and not data.flags.c_contiguous
                and any(data.strides)):  # all strides 0: a placeholder's signature
            hdu.__dict__["data"] = np.ascontiguousarray(data)


class FitsUpdate:
    """Edit some HDUs of a FITS file and write the result atomically.

    Only the HDUs whose data is replaced with :meth:`set_data` are re-encoded; every other
    HDU's data is copied byte for byte from the input. Nothing is written if the ``with``
    block raises or :meth:`cancel` is called, and the input is never modified in place.
    A read-only ``out`` (see :func:`~dqmask.io.atomic.refuse_read_only`) is refused when the
    update is created, before any work. The write lock of ``out``
    (:func:`~dqmask.io.atomic.target_lock`) is taken on entering the ``with`` block, before
    the input is read, and held until the result is written: another dqmask process
    rewriting the same file waits, and each sees the other's update.

    Examples
    --------
    >>> with FitsUpdate("x_rate.fits") as up:                 # doctest: +SKIP
    ...     dq = up.data("DQ") | flags
    ...     up.set_data("DQ", dq)
    ...     add_provenance(up.header(0), "apply", {"flags": flags})

    Parameters
    ----------
    path : path-like
        Input file.
    out : path-like, optional
        Output file; default: replace ``path`` (atomically).

    Raises
    ------
    InputError
        ``out`` exists and is read-only.
    """

    def __init__(self, path: str | os.PathLike, out: str | os.PathLike | None = None) -> None:
        self.path = os.fspath(path)
        self.out = os.fspath(out) if out is not None else self.path
        refuse_read_only(self.out)  # before any work: a protected file is never replaced
        self._lock = target_lock(self.out)
        self._ctx = open_fits(self.path)
        self.hdul: fits.HDUList = None  # the open input, set on entering the ``with`` block
        self._cancelled = False
        self.changed: set[int] = set()

    def __enter__(self) -> FitsUpdate:
        self._lock.__enter__()  # before the read: the state read is the state rewritten
        try:
            self.hdul = self._ctx.__enter__()
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            try:
                if exc_type is None and not self._cancelled:
                    self._write()
            finally:
                self._ctx.__exit__(exc_type, exc, tb)
        finally:
            self._lock.__exit__(None, None, None)

    def index(self, key: HDUKey) -> int:
        """HDU index of ``key`` (InputError if missing)."""
        hdu = get_hdu(self.hdul, key, self.path)
        return self.hdul.index(hdu)

    def header(self, key: HDUKey = 0) -> fits.Header:
        """The header of HDU ``key``, to edit in place (marks the HDU changed)."""
        i = self.index(key)
        self.changed.add(i)
        return self.hdul[i].header

    def data(self, key: HDUKey) -> np.ndarray:
        """A private copy of the data of HDU ``key`` (InputError if it has none)."""
        hdu = self.hdul[self.index(key)]
        if hdu.data is None:
            raise InputError(self.path, f"extension {key} has no data")
        return np.array(hdu.data, copy=True)

    def peek(self, key: HDUKey) -> np.ndarray | None:
        """The data of HDU ``key`` without copying (memory-mapped; do not modify)."""
        return self.hdul[self.index(key)].data

    def set_data(self, key: HDUKey, data: np.ndarray) -> None:
        """Replace the data of HDU ``key``; dtype is kept as given (no float conversion)."""
        i = self.index(key)
        self.hdul[i].data = data
        self.changed.add(i)

    def append(self, hdu: fits.hdu.base._BaseHDU) -> None:
        """Append a new HDU."""
        self.hdul.append(hdu)
        self.changed.add(len(self.hdul) - 1)

    def set_data_strips(self, key: HDUKey, shape: tuple[int, ...], dtype: np.dtype | type,
                        rows: RowSource) -> None:
        """Replace the data of HDU ``key`` with data produced strip by strip while writing.

        The bytes written are those :meth:`set_data` would write for the whole array (same
        header, same encoding: e.g. ``uint32`` as ``BITPIX = 32``, ``BZERO = 2**31``), but
        the whole array never exists: ``rows(start, stop)`` is called once per strip of
        about :data:`STRIP_BYTES` and must return the rows ``start:stop`` (first numpy axis)
        as an array of ``dtype`` and shape ``(stop - start,) + shape[1:]``. It is called
        inside the ``with`` block's exit, while the input file is still open.

        An HDU that carries ``CHECKSUM`` / ``DATASUM`` is assembled in memory instead (the
        checksum needs all the data), with the same result.

        Parameters
        ----------
        key : int, str or (str, int)
            The HDU.
        shape : tuple of int
            Data shape (numpy order).
        dtype : dtype
            Data dtype (kept: DQ stays integer and full width).
        rows : callable
            ``rows(start, stop) -> ndarray``.
        """
        i = self.index(key)
        self._set_streamed(self.hdul[i], tuple(int(n) for n in shape), np.dtype(dtype), rows)
        self.changed.add(i)

    def append_strips(self, shape: tuple[int, ...], dtype: np.dtype | type, rows: RowSource,
                      *, name: str | None = None, ver: int | None = None) -> None:
        """Append an image extension whose data is produced strip by strip while writing.

        The bytes written equal those of ``append(fits.ImageHDU(array, name=name,
        ver=ver))`` for the whole array; ``rows`` is as in :meth:`set_data_strips`.
        """
        shape, dtype = tuple(int(n) for n in shape), np.dtype(dtype)
        _check_streamable(shape, dtype)
        hdu = fits.ImageHDU(_placeholder(shape, dtype), name=name, ver=ver)
        self._set_streamed(hdu, shape, dtype, rows)
        self.append(hdu)

    @staticmethod
    def _set_streamed(hdu: fits.ImageHDU, shape: tuple[int, ...], dtype: np.dtype,
                      rows: RowSource) -> None:
        if not isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU)):
            raise TypeError(f"strips can only be written to image HDUs, not {type(hdu).__name__}")
        _check_streamable(shape, dtype)
        if "CHECKSUM" in hdu.header or "DATASUM" in hdu.header:
            step = strip_rows(shape, dtype.itemsize)
            data = np.empty(shape, dtype)
            for start in range(0, shape[0], step):
                data[start:start + step] = rows(start, min(shape[0], start + step))
            hdu.data = data
            return
        # a zero-stride stand-in gives the header astropy derives from shape and dtype;
        # the data itself is written by the strip writer (astropy still pads the block)
        hdu.data = _placeholder(shape, dtype)
        hdu._writedata_internal = _strip_writer(shape, dtype, rows)

    def cancel(self) -> None:
        """Leave the output untouched when the block ends."""
        self._cancelled = True

    def _write(self) -> None:
        for i in sorted(self.changed):
            header = self.hdul[i].header
            if "CHECKSUM" in header or "DATASUM" in header:
                # keep the file verifiable (CRDS reference files carry checksums); only the
                # HDUs that changed get new sums, the others are copied with theirs
                self.hdul[i].add_checksum()
        # raw streaming (and the in-kernel copy) only between plain files: a .gz output is
        # written through a GzipFile, whose fd must never receive uncompressed bytes
        stream = not _compressed(self.path) and not _compressed(self.out)
        for hdu in self.hdul:
            if not hdu._data_loaded:
                # astropy decodes and re-encodes every scaled image (BZERO: uint16 SCI,
                # uint32 DQ) it writes unless told not to; data never loaded is unchanged,
                # so keep it a raw byte copy.
                hdu._data_needs_rescale = False
                if stream and hdu._data_offset is not None and hdu._data_size:
                    # and stream that copy through a small buffer instead of astropy's
                    # memory map (which maps, and counts in RSS, the whole of SCI)
                    hdu._writedata_direct_copy = _raw_copier(self.path, hdu._data_offset,
                                                             hdu._data_size)
        write_hdulist(self.hdul, self.out)


_COPY_CHUNK = 4 << 20


def _raw_copier(src: str, offset: int, size: int):
    """A replacement for astropy's ``_writedata_direct_copy``: ``size`` bytes at ``offset``."""

    def truncated() -> InputError:
        return InputError(src, f"truncated FITS file: data ends before byte {offset + size}")

    def copy(fileobj) -> int:
        with open(src, "rb") as fh:
            if _kernel_copy(fh, fileobj, offset, size, truncated):
                return size
            fh.seek(offset)
            left = size
            while left:
                chunk = fh.read(min(left, _COPY_CHUNK))
                if not chunk:
                    raise truncated()
                fileobj.write(chunk)
                left -= len(chunk)
        return size

    return copy


def _kernel_copy(src, fileobj, offset: int, size: int, truncated) -> bool:
    """Copy with ``os.copy_file_range`` (no user-space buffer); False if not possible here."""
    out = getattr(fileobj, "_file", None)  # astropy's _File around our binary file
    if not hasattr(os, "copy_file_range") or out is None or isinstance(
            out, (gzip.GzipFile, bz2.BZ2File, lzma.LZMAFile)):
        return False
    try:
        fileobj.flush()
        out.flush()
        dst, pos = out.fileno(), out.tell()
    except (AttributeError, OSError, ValueError):
        return False
    done = 0
    try:
        while done < size:
            n = os.copy_file_range(src.fileno(), dst, size - done, offset + done, pos + done)
            if n == 0:
                raise truncated()
            done += n
    except OSError:
        if done:  # partial: finish the rest the slow way from where it stopped
            out.seek(pos)
        return False
    out.seek(pos + size)
    return True


# --------------------------------------------------------------------------------------------
# Reading and writing image data in strips (bounded memory on mosaics)
# --------------------------------------------------------------------------------------------

#: Target size of one strip of rows read or written by the strip functions (bytes).
STRIP_BYTES = 16 << 20

_PSEUDO_UNSIGNED: dict[int, np.dtype] = {16: np.dtype("uint16"), 32: np.dtype("uint32"),
                                         64: np.dtype("uint64")}


def stored_dtype(header: fits.Header) -> np.dtype | None:
    """The dtype astropy decodes an image HDU's data to, when strips can reproduce it.

    That is: data stored without scaling (no ``BSCALE`` / ``BZERO`` / integer ``BLANK``),
    returned in its ``BITPIX`` type, or pseudo-unsigned integers (``BITPIX`` 16/32/64,
    ``BSCALE = 1``, ``BZERO = 2**(BITPIX-1)``: ``uint16`` / ``uint32`` / ``uint64``, e.g.
    JWST ``DQ``; ``BITPIX = 8``, ``BZERO = -128``: ``int8``). None for anything else
    (scaled data: read it through astropy).

    ``header`` is the header as stored in the file (astropy removes ``BZERO`` from an open
    HDU's header once some data are loaded; :func:`read_rows` accounts for that).
    """
    naxis = header.get("NAXIS", 0)
    if not isinstance(naxis, int) or naxis < 1:
        return None
    return _decoded_dtype(header.get("BITPIX"), header.get("BSCALE", 1),
                          header.get("BZERO", 0), header.get("BLANK"))


def _decoded_dtype(bitpix: Any, bscale: Any, bzero: Any, blank: Any) -> np.dtype | None:
    if bitpix not in _BITPIX or isinstance(bitpix, bool):
        return None
    if bscale == 1 and bzero == 0:
        if bitpix > 0 and blank is not None:
            return None  # astropy turns integers with BLANK into floats
        return np.dtype(fits.hdu.base.BITPIX2DTYPE[bitpix])
    if bitpix in _PSEUDO_UNSIGNED and bscale == 1 and bzero == 1 << (bitpix - 1):
        return _PSEUDO_UNSIGNED[bitpix]
    if bitpix == 8 and bscale == 1 and bzero == -128:
        return np.dtype("int8")
    return None


def _hdu_dtype(hdu: fits.hdu.base._BaseHDU) -> tuple[int, np.dtype] | None:
    """(stored BITPIX, decoded dtype) of an image HDU read from a file, or None."""
    if not isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU)) or getattr(
            hdu, "_do_not_scale_image_data", False) or not getattr(hdu, "_uint", True):
        return None
    bitpix = getattr(hdu, "_orig_bitpix", None)
    if bitpix is None or len(_shape(hdu)) < 1:
        return None
    dtype = _decoded_dtype(bitpix, getattr(hdu, "_orig_bscale", 1),
                           getattr(hdu, "_orig_bzero", 0), getattr(hdu, "_orig_blank", None))
    return None if dtype is None else (int(bitpix), dtype)


def strip_rows(shape: tuple[int, ...], itemsize: int, strip_bytes: int | None = None) -> int:
    """How many entries of the first axis make one strip of about ``strip_bytes`` (default
    :data:`STRIP_BYTES`, read at each call)."""
    strip_bytes = STRIP_BYTES if strip_bytes is None else strip_bytes
    per_row = itemsize * int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else itemsize
    return max(1, strip_bytes // max(per_row, 1))


def image_dtype(hdu: fits.hdu.base._BaseHDU) -> np.dtype | None:
    """The dtype astropy decodes an image HDU to, if :func:`row_reader` can read it directly.

    None for data astropy scales (``BSCALE`` / ``BZERO`` other than pseudo-unsigned,
    integer ``BLANK``), HDUs that are not images, and data replaced in memory.
    """
    if getattr(hdu, "_data_replaced", False):
        return None
    stored = _hdu_dtype(hdu)
    return None if stored is None else stored[1]


def row_reader(hdul: fits.HDUList, key: HDUKey) -> Callable[[int, int], np.ndarray] | None:
    """A function returning rows ``start:stop`` (first numpy axis) of an image HDU, read
    straight from the file and decoded as astropy decodes them.

    The rows are read with plain file reads, never through a memory map, so that reading a
    whole image strip by strip keeps one strip resident. The reader keeps working after the
    HDU's data is replaced (e.g. by :meth:`FitsUpdate.set_data_strips`), as long as the
    file is open: it reads what the file holds.

    Returns
    -------
    callable or None
        ``reader(start, stop) -> ndarray``: a new, writeable, native-byte-order array of
        dtype :func:`image_dtype` (``dq`` convention for DQ extensions: the integer
        bitfield, dtype kept). None when the HDU cannot be read that way (scaled data,
        a compressed or in-memory file): use ``hdu.data`` / ``hdu.section`` then.
    """
    hdu = get_hdu(hdul, key)
    i = hdul.index(hdu)
    stored = None if getattr(hdu, "_data_replaced", False) else _hdu_dtype(hdu)
    name, info = hdul.filename(), hdu.fileinfo()
    if stored is None or name is None or info is None or _compressed(name) or getattr(
            hdul._file, "compression", None):  # compressed whatever its name: no plain reads
        return None
    bitpix, dtype = stored
    shape = _shape(hdu)
    raw_type = np.dtype(fits.hdu.base.BITPIX2DTYPE[bitpix]).newbyteorder(">")
    per_row = raw_type.itemsize * int(np.prod(shape[1:], dtype=np.int64))
    offset = int(info["datLoc"])

    def read(start: int, stop: int) -> np.ndarray:
        start, stop = max(0, int(start)), min(int(stop), shape[0])
        n = max(stop - start, 0)
        buf = np.empty(per_row * n, np.uint8)  # not zero-filled: every byte is read into it
        if n:
            with open_regular(name) as fh:
                fh.seek(offset + start * per_row)
                if fh.readinto(buf) != buf.size:  # type: ignore[attr-defined]  # a FileIO
                    raise InputError(name, f"truncated FITS file: HDU {i} data is cut short")
        raw = buf.view(raw_type).reshape((n,) + shape[1:])
        if raw_type.kind != dtype.kind:  # pseudo-unsigned (or int8): the sign bit flipped
            raw = raw.view(raw_type.str.replace("i", "u"))
            np.bitwise_xor(raw, raw.dtype.type(1 << (8 * dtype.itemsize - 1)), out=raw)
        if not raw.dtype.isnative:  # in place: the buffer is ours
            raw = raw.byteswap(inplace=True).view(raw.dtype.newbyteorder("="))
        return raw.view(dtype)

    return read


def read_rows(hdul: fits.HDUList, key: HDUKey, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` (first numpy axis) of an image HDU, decoded as astropy decodes them.

    Through :func:`row_reader` (plain reads, no memory map) when possible, else astropy's
    ``section`` (scaled data, compressed files).

    Returns
    -------
    ndarray
        A new array of the rows (``dq`` convention for DQ extensions: dtype kept).
    """
    reader = row_reader(hdul, key)
    if reader is not None:
        return reader(start, stop)
    return np.array(get_hdu(hdul, key).section[int(start):int(stop)])


def encode_rows(rows: np.ndarray) -> np.ndarray:
    """The big-endian FITS encoding of an array, as astropy writes it.

    Unsigned 16/32/64-bit integers become the signed values minus ``2**(n-1)`` (the sign bit
    flipped; astropy writes ``BZERO = 2**(n-1)``), ``int8`` becomes ``uint8`` plus 128;
    everything else is the same values in big-endian order.
    """
    dtype = rows.dtype
    if dtype.kind == "u" and dtype.itemsize >= 2:
        bits = 8 * dtype.itemsize
        flipped = np.bitwise_xor(rows, dtype.type(1 << (bits - 1)))
        return flipped.view(f"i{dtype.itemsize}").astype(f">i{dtype.itemsize}")
    if dtype.kind == "i" and dtype.itemsize == 1:
        return np.bitwise_xor(rows.view(np.uint8), np.uint8(0x80))
    if dtype.kind == "b" or dtype.name not in fits.hdu.base.DTYPE2BITPIX:
        raise TypeError(f"cannot write {dtype} image data to FITS")
    return rows.astype(dtype.newbyteorder(">"), copy=False)


RowSource = Callable[[int, int], np.ndarray]


def _check_streamable(shape: tuple[int, ...], dtype: np.dtype) -> None:
    if not shape or dtype.kind == "b" or dtype.name not in fits.hdu.base.DTYPE2BITPIX:
        raise TypeError(f"cannot write {dtype} data of shape {shape} in strips")


def _placeholder(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A read-only array of ``shape`` and ``dtype`` that takes no memory (zero strides)."""
    return np.broadcast_to(np.zeros((), dtype=dtype), shape)


def _strip_writer(shape: tuple[int, ...], dtype: np.dtype, rows: RowSource):
    """A replacement for astropy's ``_writedata_internal``: the data, strip by strip."""
    step = strip_rows(shape, dtype.itemsize)

    def write(fileobj) -> int:
        size = 0
        for start in range(0, shape[0], step):
            stop = min(shape[0], start + step)
            block = np.asarray(rows(start, stop))
            want = (stop - start,) + tuple(shape[1:])
            if block.shape != want or block.dtype != dtype:
                raise ValueError(f"strip {start}:{stop} is {block.dtype}{block.shape}, "
                                 f"expected {dtype}{want}")
            out = encode_rows(block)
            for piece in _contiguous_pieces(out):
                fileobj.writearray(piece)
            size += out.nbytes
        return size

    return write


def _contiguous_pieces(out: np.ndarray) -> Iterator[np.ndarray]:
    """``out`` as C-contiguous blocks, in C order: itself, or, for a strided array (e.g. a
    broadcast of one plane), its largest contiguous trailing sub-arrays, so that nothing is
    copied and astropy, which writes a non-contiguous array element by element, never sees
    one."""
    lead = 0
    while lead < out.ndim and not out[(0,) * lead].flags.c_contiguous:
        lead += 1
    if lead == out.ndim:
        yield np.ascontiguousarray(out)
        return
    for index in np.ndindex(*out.shape[:lead]):
        yield out[index]
