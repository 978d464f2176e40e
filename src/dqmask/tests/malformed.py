"""A corpus of malformed inputs for the error-policy tests.

:func:`build_corpus` writes each case into a folder and returns them by name. Every case
must make ``dqmask explain FILE`` fail with exit code 1 and exactly one line
``dqmask: FILE: problem`` on stderr, and must be left byte-identical.
"""

from __future__ import annotations

import gzip
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

__all__ = ["Case", "build_corpus", "valid_jwst_hdul", "valid_hst_hdul", "fits_bytes", "card"]


@dataclass(frozen=True)
class Case:
    """One malformed input.

    Attributes
    ----------
    name : str
        Short identifier (used as the pytest id).
    path : Path
        Where it lives (may not exist, or be a directory).
    problem : str
        A fragment (lower case) the one-line error must contain.
    """

    name: str
    path: Path
    problem: str


def card(key: str, value: str) -> bytes:
    """One raw 80-byte header card ``KEY     = value`` (value written verbatim)."""
    return f"{key:<8s}= {value:>20s}".ljust(80).encode("ascii")


def _block(cards: list[bytes], end: bool = True) -> bytes:
    raw = b"".join(cards) + (b"END".ljust(80) if end else b"")
    return raw + b" " * (-len(raw) % 2880)


def fits_bytes(hdul: fits.HDUList) -> bytes:
    """Serialise an HDU list to bytes."""
    buf = io.BytesIO()
    hdul.writeto(buf, output_verify="silentfix")
    return buf.getvalue()


def valid_jwst_hdul(shape: tuple[int, int] = (32, 32)) -> fits.HDUList:
    """A small well-formed JWST NIRCam rate-like file (SCI float32, DQ uint32)."""
    primary = fits.PrimaryHDU()
    primary.header.update(TELESCOP="JWST", INSTRUME="NIRCAM", DETECTOR="NRCA1",
                          EXP_TYPE="NRC_IMAGE", SUBARRAY="FULL")
    sci = fits.ImageHDU(np.ones(shape, np.float32), name="SCI")
    err = fits.ImageHDU(np.ones(shape, np.float32), name="ERR")
    dq = fits.ImageHDU(np.zeros(shape, np.uint32), name="DQ")
    return fits.HDUList([primary, sci, err, dq])


def valid_hst_hdul(shape: tuple[int, int] = (16, 16)) -> fits.HDUList:
    """A small well-formed HST WFC3/UVIS flt-like file with two imsets."""
    primary = fits.PrimaryHDU()
    primary.header.update(TELESCOP="HST", INSTRUME="WFC3", DETECTOR="UVIS")
    hdus: list[fits.hdu.base._BaseHDU] = [primary]
    for ver in (1, 2):
        hdus.append(fits.ImageHDU(np.ones(shape, np.float32), name="SCI", ver=ver))
        hdus.append(fits.ImageHDU(np.ones(shape, np.float32), name="ERR", ver=ver))
        hdus.append(fits.ImageHDU(np.zeros(shape, np.int16), name="DQ", ver=ver))
    return fits.HDUList(hdus)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def build_corpus(folder: str | os.PathLike) -> dict[str, Case]:
    """Write the malformed corpus into ``folder``.

    Parameters
    ----------
    folder : path-like
        An existing, writable directory (a pytest ``tmp_path``).

    Returns
    -------
    dict
        ``{name: Case}``; at least 15 cases. ``permission_denied`` is included; callers skip
        it when running as root (root reads a mode-000 file).
    """
    d = Path(folder)
    good_jwst = fits_bytes(valid_jwst_hdul())
    cases: list[Case] = []

    def add(name: str, path: Path, problem: str) -> None:
        cases.append(Case(name, path, problem))

    add("text_file", _write(d / "notes.fits", b"This is a text file, not FITS.\n" * 40),
        "not a readable fits file")
    add("empty_file", _write(d / "empty.fits", b""), "empty")
    add("truncated_header", _write(d / "trunc_header.fits", good_jwst[:1000]), "")
    # Cut in the middle of the last HDU's data (DQ of 32x32 uint32 = 4096 bytes).
    add("truncated_data", _write(d / "trunc_data.fits", good_jwst[: len(good_jwst) - 4000]),
        "truncated")
    # Header cards but no END card anywhere.
    no_end = _block([card("SIMPLE", "T"), card("BITPIX", "8"), card("NAXIS", "0"),
                     card("TELESCOP", "'JWST    '")], end=False)
    add("missing_end", _write(d / "no_end.fits", no_end), "")
    rng = np.random.default_rng(7)
    add("garbage", _write(d / "garbage.fits", rng.integers(0, 256, 5760, np.uint8).tobytes()),
        "")
    # Valid FITS start, then garbage where the first extension header should be.
    head = fits_bytes(fits.HDUList([fits.PrimaryHDU()]))
    head_hdr = fits.Header()
    head_hdr.update(SIMPLE=True, BITPIX=8, NAXIS=0, EXTEND=True, TELESCOP="JWST",
                    INSTRUME="NIRCAM")
    primary_jwst = fits_bytes(fits.HDUList([fits.PrimaryHDU(header=head_hdr)]))
    add("garbage_extension",
        _write(d / "garbage_ext.fits", primary_jwst + b"XTENSION= 'IMAGE   '" + b"\x00" * 2860),
        "")
    del head
    # JWST header, no extensions at all.
    add("jwst_primary_only", _write(d / "jwst_primary_only.fits", primary_jwst),
        "missing extension sci")
    # JWST with ERR and DQ but no SCI.
    h = valid_jwst_hdul()
    del h["SCI"]
    add("jwst_missing_sci", _write(d / "jwst_no_sci.fits", fits_bytes(h)),
        "missing extension sci")
    # HST with ERR and DQ but no SCI.
    h = valid_hst_hdul()
    h = fits.HDUList([x for x in h if x.name != "SCI"])
    add("hst_missing_sci", _write(d / "hst_no_sci.fits", fits_bytes(h)), "missing extension sci")
    # Float DQ (JWST) and float DQ (HST).
    h = valid_jwst_hdul()
    h["DQ"].data = np.zeros((32, 32), np.float32)
    add("jwst_float_dq", _write(d / "jwst_float_dq.fits", fits_bytes(h)), "float")
    h = valid_hst_hdul()
    h["DQ", 2].data = np.zeros((16, 16), np.float64)
    add("hst_float_dq", _write(d / "hst_float_dq.fits", fits_bytes(h)), "float")
    # Table-only file with no TELESCOP keyword anywhere.
    table = fits.BinTableHDU.from_columns([fits.Column("X", "E", array=np.arange(3.0))])
    add("table_no_telescop",
        _write(d / "table_only.fits", fits_bytes(fits.HDUList([fits.PrimaryHDU(), table]))),
        "telescop")
    # A directory and a path that does not exist.
    (d / "a_directory.fits").mkdir()
    add("directory", d / "a_directory.fits", "directory")
    add("nonexistent", d / "does_not_exist.fits", "no such file")
    # Corrupt gzip: gzip magic then garbage; and a valid gzip stream cut short.
    add("gzip_corrupt", _write(d / "corrupt.fits.gz", b"\x1f\x8b\x08\x00" + b"\xff" * 2000), "")
    add("gzip_truncated",
        _write(d / "trunc.fits.gz", gzip.compress(good_jwst)[:300]), "")
    # Unsupported telescope with extensions; unsupported JWST instrument.
    h = valid_jwst_hdul()
    h[0].header["TELESCOP"] = "SPITZER"
    add("unsupported_telescope", _write(d / "spitzer.fits", fits_bytes(h)), "unsupported")
    h = valid_jwst_hdul()
    h[0].header["INSTRUME"] = "WFIRSTCAM"
    add("unsupported_instrument", _write(d / "jwst_badinst.fits", fits_bytes(h)),
        "unsupported")
    # JWST: no INSTRUME keyword; an empty SCI; a DQ whose shape differs from SCI's.
    h = valid_jwst_hdul()
    del h[0].header["INSTRUME"]
    add("jwst_missing_instrume", _write(d / "jwst_no_instrume.fits", fits_bytes(h)),
        "missing keyword instrume")
    h = valid_jwst_hdul()
    h["SCI"].data = None
    add("jwst_empty_sci", _write(d / "jwst_empty_sci.fits", fits_bytes(h)), "no image data")
    h = valid_jwst_hdul()
    h["DQ"].data = np.zeros((32, 31), np.uint32)
    add("jwst_dq_wrong_shape", _write(d / "jwst_dq_shape.fits", fits_bytes(h)),
        "does not match sci shape")
    # A NaN where the structure needs a number (NAXIS1 = NaN in the SCI header).
    raw = bytearray(good_jwst)
    pos = raw.index(b"NAXIS1  =", 2880)
    raw[pos: pos + 80] = card("NAXIS1", "NAN")
    add("nan_naxis", _write(d / "nan_naxis.fits", bytes(raw)), "")
    # EXTVER that is not a positive integer.
    h = valid_hst_hdul()
    h["DQ", 2].header["EXTVER"] = "two"
    add("bad_extver", _write(d / "hst_bad_extver.fits", fits_bytes(h)), "extver")
    # A MASK reference whose DQ_DEF table lacks the VALUE column.
    ref = fits.PrimaryHDU()
    ref.header.update(TELESCOP="JWST", INSTRUME="NIRCAM", DETECTOR="NRCA1", REFTYPE="MASK")
    dq_def = fits.BinTableHDU.from_columns(
        [fits.Column("BIT", "J", array=[0]), fits.Column("NAME", "20A", array=["DO_NOT_USE"])],
        name="DQ_DEF")
    add("dq_def_without_value",
        _write(d / "mask_bad_dqdef.fits",
               fits_bytes(fits.HDUList([ref, fits.ImageHDU(np.ones((8, 8), np.uint32),
                                                           name="DQ"), dq_def]))),
        "dq_def")
    # A NUL byte inside a header comment (astropy can read it, but never write it back).
    raw = bytearray(good_jwst)
    pos = raw.index(b"/", raw.index(b"BITPIX  =")) + 1
    raw[pos] = 0
    add("nul_in_comment", _write(d / "nul_comment.fits", bytes(raw)), "corrupt header")
    # Bytes after the last HDU that are not zero padding.
    add("trailing_garbage", _write(d / "trailing.fits", good_jwst + b"garbage!" * 10), "")
    # BITPIX that FITS does not allow.
    raw = bytearray(good_jwst)
    pos = raw.index(b"BITPIX  =", 2880)
    raw[pos: pos + 80] = card("BITPIX", "12")
    add("bad_bitpix", _write(d / "bad_bitpix.fits", bytes(raw)), "")
    # Issue 12, read side. A FIFO (every command used to wait on it forever).
    os.mkfifo(d / "named_pipe.fits")
    add("fifo", d / "named_pipe.fits", "is a fifo (named pipe), not a regular file")
    # NAXIS = 999 (legal FITS, beyond numpy's 64 dimensions).
    cards = b"".join([card("SIMPLE", "T"), card("BITPIX", "8"), card("NAXIS", "999")]
                     + [card(f"NAXIS{k}", "1") for k in range(1, 1000)])
    add("naxis_999", _write(d / "naxis999.fits", _block([cards]) + b"\0" * 2880), "naxis=999")
    # A JWST rate whose SCI, ERR and DQ are 0 x 0.
    h = valid_jwst_hdul()
    for name in ("SCI", "ERR", "DQ"):
        h[name].data = np.zeros((0, 0), h[name].data.dtype)
    add("zero_pixels", _write(d / "zero_rate.fits", fits_bytes(h)), "no pixels")
    # The primary header's END card blanked: astropy reads SCI,1's header as more primary
    # cards and the file silently has one chip less.
    h = valid_hst_hdul()
    raw = bytearray(fits_bytes(h))
    end = raw.index(b"END     ")
    raw[end:end + 3] = b"   "
    add("blank_end", _write(d / "blank_end_flt.fits", bytes(raw)), "end card is missing")
    # INSTRUME = 'ACS' on a JWST file (would get HST flag values in its uint32 DQ).
    h = valid_jwst_hdul()
    h[0].header["INSTRUME"] = "ACS"
    add("telescope_instrument_contradict", _write(d / "acs_on_jwst.fits", fits_bytes(h)),
        "contradicts itself")
    # A .fits.gz whose header claims 32768 x 32768 int32 (4 GiB): refused from the header.
    header = _block([card("SIMPLE", "T"), card("BITPIX", "32"), card("NAXIS", "2"),
                     card("NAXIS1", "32768"), card("NAXIS2", "32768"),
                     card("TELESCOP", "'JWST    '")])
    add("gz_claims_4gib", _write(d / "bomb.fits.gz", gzip.compress(header + b"\0" * 28800)),
        "more than the 2.0 gib limit")
    # Unreadable file.
    p = _write(d / "no_permission.fits", good_jwst)
    p.chmod(0)
    add("permission_denied", p, "permission denied")
    return {c.name: c for c in cases}
