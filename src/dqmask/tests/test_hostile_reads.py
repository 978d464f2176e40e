"""Hostile inputs on the read side (issue 12): no hang, no blow-up, no traceback, no guess.

Every command that reads an input is run in-process on files built to hurt it: a FIFO, a
device, a socket, a ``.fits.gz`` claiming gigabytes, PNGs claiming 100k x 100k pixels,
impossible headers (NAXIS = 999, 0 x 0 images, float DQ, string EXTVER, a blanked END card,
TELESCOP and INSTRUME that contradict each other) and masks whose meaning would have to be
guessed. Each run must end with exit 0 or with exit 1 and exactly one line
``dqmask: FILE: problem``, and leave the input byte-identical.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import signal
import socket
import struct
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dqmask.io.fits as dqfits
from dqmask import datasets as sample
from dqmask.cli import main
from dqmask.errors import InputError
from dqmask.io import files
from dqmask.io.files import require_regular_file
from dqmask.io.fits import classify, open_fits
from dqmask.io.mask_file import read_fits_mask
from dqmask.io.png import read_png_rgb
from dqmask.tests.malformed import card, fits_bytes, valid_hst_hdul, valid_jwst_hdul

# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


#: How long a command may block before it counts as hung.
HANG_SECONDS = int(os.environ.get("DQMASK_TEST_HANG_SECONDS", "20"))


class _Hang(Exception):
    pass


def _alarm(signum, frame):  # pragma: no cover - only when a command hangs
    raise _Hang()


def run_guarded(*argv: str | os.PathLike, seconds: int = HANG_SECONDS
                ) -> tuple[int | str, str, str]:
    """``dqmask ARGV`` in-process with warnings as errors; ``"HANG"`` if it blocks."""
    err, out = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            warnings.simplefilter("ignore", ResourceWarning)
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                try:
                    code: int | str = main([os.fspath(a) for a in argv])
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else 1
    except _Hang:  # pragma: no cover
        code = "HANG"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return code, out.getvalue(), err.getvalue()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "not a file"


def assert_one_line_failure(code, err: str, path: os.PathLike | str, fragment: str = ""
                            ) -> str:
    """Exit 1, exactly one ``dqmask: PATH: problem`` line; returns the problem."""
    lines = err.splitlines()
    assert code == 1, (code, err)
    assert len(lines) == 1, err
    prefix = f"dqmask: {os.fspath(path)}: "
    assert lines[0].startswith(prefix), lines[0]
    problem = lines[0][len(prefix):]
    assert "internal error" not in problem and "Traceback" not in err
    assert fragment.lower() in problem.lower(), problem
    return problem


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> dict[str, Path]:
    """Small valid inputs every command accepts."""
    d = tmp_path_factory.mktemp("good")
    sub = sample.SMALL_NIRCAM_SUBARRAY
    out = {
        "rate": sample.make_nircam_rate(d / "jw_nrca1_rate.fits", subarray=sub),
        "uncal": sample.make_nircam_uncal(d / "jw_nrca1_uncal.fits", subarray=sub, ngroups=2),
        "mask_ref": d / "mask_ref.fits",
        "mask": d / "mask_bad.fits",
        "region": d / "box.reg",
        "bg": d / "nsclean_bg.fits",
    }
    from dqmask.dq_init.mask_ref import write_mask_ref

    write_mask_ref(out["mask_ref"], np.zeros((2048, 2048), np.uint32), instrument="NIRCAM",
                   detector="NRCA1")
    m = np.zeros((320, 320), np.uint8)
    m[10:20, 10:20] = 1
    hdu = fits.PrimaryHDU(m)
    hdu.header["DQMCONV"] = "bad"
    hdu.writeto(out["mask"])
    out["region"].write_text("image\nbox(50,50,20,20,0)\n")
    from dqmask.io.background_mask import nsclean_hdulist

    nsclean_hdulist(m == 0).writeto(out["bg"])
    return out


#: Every command, with X where the hostile input goes (main input or a mask / reference).
TEMPLATES = {
    "apply": "apply {X} --mask {mask} -o {out}/o.fits",
    "apply --mask": "apply {rate} --mask {X} -o {out}/o.fits",
    "png2fits": "png2fits {X} {out}/o.fits",
    "fits2png": "fits2png {X} {out}/o.png",
    "fits2png --mask": "fits2png {rate} {out}/o.png --mask {X}",
    "bgconvert": "bgconvert {X} {out}/o.fits",
    "bgconvert --like": "bgconvert {bg} {out}/o.fits --format jwst --like {X}",
    "background": "background -o {out}/o.fits {X}",
    "detect": "detect --include-region {region} {X} --output-dir {out}",
    "nircammask": "nircammask --output-dir {out} {X}",
    "nirissmask": "nirissmask --output-dir {out} {X}",
    "acsmask": "acsmask --output-dir {out} {X}",
    "wfc3mask": "wfc3mask --output-dir {out} {X}",
    "splitgroups": "splitgroups --output-dir {out} {X}",
    "dolphot": "dolphot --output-dir {out} {X}",
    "dqinit": "dqinit --mask {mask_ref} {X} -o {out}/o.fits",
    "dqinit --mask": "dqinit --mask {X} {uncal} -o {out}/o.fits",
    "dqinit --user-dq": "dqinit --mask {mask_ref} --user-dq {X} {uncal} -o {out}/o.fits",
    "explain": "explain {X}",
    "preview": "preview {X} -o {out}/o.png",
    "preview --mask": "preview {rate} --mask {X} -o {out}/o.png",
    "static": "static {X} --output-dir {out}",
    "combine": "combine {X} {mask} -o {out}/o.fits",
    "combine --like": "combine {mask} -o {out}/o.fits --like {X}",
    "grow": "grow --pixels 1 {X} -o {out}/o.fits",
    "convert": "convert {X} {out}/o.fits --to bad",
    "regions": "regions {X} -o {out}/o.reg",
}
#: Templates whose X is read as FITS (all but png2fits).
FITS_TEMPLATES = [name for name in TEMPLATES if name != "png2fits"]


def argv_for(template: str, x: os.PathLike | str, good: dict[str, Path], out: Path
             ) -> list[str]:
    out.mkdir(exist_ok=True)
    return TEMPLATES[template].format(X=os.fspath(x), out=out, **good).split()


# --------------------------------------------------------------------------------------------
# 4. Only regular files are read
# --------------------------------------------------------------------------------------------


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "pipe.fits"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("template", list(TEMPLATES))
def test_fifo_refused_by_every_command_never_waited_on(template, fifo, good, tmp_path):
    code, _, err = run_guarded(*argv_for(template, fifo, good, tmp_path / "out"))
    assert code != "HANG", f"{template} blocked on a FIFO"
    assert_one_line_failure(code, err, fifo, "FIFO")


@pytest.mark.parametrize("path", ["/dev/null", "/dev/zero"])
def test_devices_refused(path):
    with pytest.raises(InputError, match="is a character device, not a regular file"):
        classify(path)


def test_socket_refused(tmp_path):
    path = tmp_path / "s.fits"
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(os.fspath(path))
        code, _, err = run_guarded("explain", path)
        assert_one_line_failure(code, err, path, "is a socket, not a regular file")
        with pytest.raises(InputError, match="socket"):
            read_png_rgb(path)
    finally:
        sock.close()


def test_require_regular_file_messages(tmp_path, fifo):
    with pytest.raises(InputError, match="no such region file"):
        require_regular_file(tmp_path / "none.reg", "region file")
    with pytest.raises(InputError, match="is a directory"):
        require_regular_file(tmp_path)
    with pytest.raises(InputError, match=r"is a FIFO \(named pipe\)"):
        require_regular_file(fifo)
    link = tmp_path / "link.fits"
    link.symlink_to(fifo)
    with pytest.raises(InputError, match="FIFO"):
        require_regular_file(link)  # links are followed
    ok = tmp_path / "ok.fits"
    ok.write_bytes(b"x")
    assert require_regular_file(ok) == os.fspath(ok)


def test_a_fifo_swapped_in_after_the_check_does_not_hang(monkeypatch, fifo):
    """The race: the path is checked, then replaced by a FIFO before it is opened."""
    monkeypatch.setattr(files, "require_regular_file", lambda path, what="file": path)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(20)
    try:
        with pytest.raises(InputError, match="FIFO"):
            files.open_regular(fifo)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_list_file_and_association_fifos_refused(fifo, tmp_path):
    code, _, err = run_guarded("static", f"@{fifo}")
    assert code != "HANG"
    assert_one_line_failure(code, err, fifo, "FIFO")
    asn = tmp_path / "x_asn.fits"
    os.mkfifo(asn)
    code, _, err = run_guarded("static", asn)
    assert code != "HANG"
    assert_one_line_failure(code, err, asn, "FIFO")


def test_batch_with_a_fifo_and_an_unreadable_entry_finishes_with_its_summary(
        good, fifo, tmp_path):
    first, last = tmp_path / "a_rate.fits", tmp_path / "b_rate.fits"
    for p in (first, last):
        p.write_bytes(good["rate"].read_bytes())
    missing = tmp_path / "gone_rate.fits"
    code, out, err = run_guarded("apply", first, fifo, missing, last, "--mask", good["mask"],
                                 "--output-dir", tmp_path / "out")
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]  # (progress bar residue)
    assert lines[0] == f"dqmask: {fifo}: is a FIFO (named pipe), not a regular file"
    assert lines[1] == f"dqmask: {missing}: no such file"
    assert lines[2] == f"dqmask: 2 of 4 inputs failed: {fifo}, {missing}"
    assert (tmp_path / "out" / first.name).is_file() and (tmp_path / "out" / last.name).is_file()


# --------------------------------------------------------------------------------------------
# 5. Bounded work: compressed inputs and PNG sizes
# --------------------------------------------------------------------------------------------


def _header_claiming(nx: int, ny: int, bitpix: int = 32) -> bytes:
    raw = b"".join([card("SIMPLE", "T"), card("BITPIX", str(bitpix)), card("NAXIS", "2"),
                    card("NAXIS1", str(nx)), card("NAXIS2", str(ny)),
                    card("TELESCOP", "'JWST    '"), card("INSTRUME", "'NIRCAM  '")])
    raw += b"END".ljust(80)
    return raw + b" " * (-len(raw) % 2880)


@pytest.fixture(scope="module")
def gz_bomb(tmp_path_factory) -> Path:
    """4 MB of gzip that expands to 4 GiB: a header claiming 32768 x 32768 int32, then the
    zeros (64 gzip members of 64 MiB each, so building it compresses 64 MiB once)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.fits.gz"
    member = gzip.compress(b"\0" * (1 << 26), compresslevel=9)
    with open(path, "wb") as fh:
        fh.write(gzip.compress(_header_claiming(32768, 32768)))
        for _ in range(64):
            fh.write(member)
    assert path.stat().st_size < 5 << 20
    return path


@pytest.mark.parametrize("name", ["bomb.fits.gz", "bomb.fits"])  # gzip told by its bytes
def test_gz_claiming_4gib_refused_before_its_data_is_read(gz_bomb, tmp_path, monkeypatch,
                                                          name):
    path = tmp_path / name
    path.write_bytes(gz_bomb.read_bytes())
    read: list[int] = []
    real_skip = dqfits._skip

    def counting_skip(stream, n):
        read.append(n)
        return real_skip(stream, n)

    monkeypatch.setattr(dqfits, "_skip", counting_skip)
    code, _, err = run_guarded("explain", path)
    problem = assert_one_line_failure(code, err, path, "claims (in its FITS headers) 4.0 GiB")
    assert "2.0 GiB limit (set DQMASK_MAX_DECOMPRESSED to raise it)" in problem
    assert read == []  # refused from the header alone: no data decompressed


@pytest.mark.parametrize("template", ["apply", "combine", "preview", "detect", "dqinit",
                                      "bgconvert"])
def test_gz_bomb_refused_by_commands(gz_bomb, good, tmp_path, template):
    code, _, err = run_guarded(*argv_for(template, gz_bomb, good, tmp_path / "out"))
    assert_one_line_failure(code, err, gz_bomb, "limit")


def test_gz_stream_longer_than_its_headers_refused_at_the_limit(tmp_path, monkeypatch):
    path = tmp_path / "trail.fits.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(fits_bytes(valid_jwst_hdul()))
        fh.write(b"\0" * (3 << 20))  # 3 MiB of "padding" no header accounts for
    monkeypatch.setenv(files.MAX_DECOMPRESSED_ENV, "1M")
    with pytest.raises(InputError, match=r"gzip-compressed file expands to more than the "
                                         r"1\.0 MiB limit"):
        classify(path)
    monkeypatch.setenv(files.MAX_DECOMPRESSED_ENV, "0")  # no limit
    assert classify(path).product == "rate"


def test_gz_under_the_limit_reads_as_before(tmp_path, monkeypatch):
    path = tmp_path / "ok_rate.fits.gz"
    path.write_bytes(gzip.compress(fits_bytes(valid_jwst_hdul())))
    monkeypatch.setenv(files.MAX_DECOMPRESSED_ENV, "64K")
    assert classify(path).product == "rate"
    with open_fits(path) as hdul:
        assert hdul["DQ"].data.dtype == np.uint32


def test_bad_limit_value_is_one_line(tmp_path, monkeypatch):
    path = tmp_path / "ok.fits.gz"
    path.write_bytes(gzip.compress(fits_bytes(valid_jwst_hdul())))
    monkeypatch.setenv(files.MAX_DECOMPRESSED_ENV, "lots")
    code, _, err = run_guarded("explain", path)
    assert code == 1
    assert err.splitlines() == [
        "dqmask: DQMASK_MAX_DECOMPRESSED='lots' is not a size (e.g. 2G, 500M, 0 for no limit)"]


def test_zip_with_two_members_and_bzip2_xz(tmp_path, monkeypatch):
    raw = fits_bytes(valid_jwst_hdul())
    two = tmp_path / "two.fits.zip"
    with zipfile.ZipFile(two, "w") as z:
        z.writestr("a.fits", raw)
        z.writestr("b.fits", raw)
    with pytest.raises(InputError, match="zip archive holds 2 files"):
        classify(two)
    import bz2
    import lzma

    monkeypatch.setenv(files.MAX_DECOMPRESSED_ENV, "16K")
    for name, data in (("x.fits.bz2", bz2.compress(raw)), ("x.fits.xz", lzma.compress(raw))):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(InputError, match="more than the 16.0 KiB limit"):
            classify(path)


def _png(width: int, height: int, depth: int = 8, color: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("width, height, depth", [(100_000, 100_000, 8), (30_000, 30_000, 16),
                                                  (10_000, 10_000, 8)])
def test_png_claiming_too_many_pixels_is_one_line(tmp_path, width, height, depth):
    path = tmp_path / "huge.png"
    path.write_bytes(_png(width, height, depth))
    code, _, err = run_guarded("png2fits", path, tmp_path / "o.fits")
    assert_one_line_failure(code, err, path, f"PNG claims {width}x{height} pixels, more than "
                                             f"the 67108864 allowed (set DQMASK_MAX_PNG_PIXELS")
    assert not (tmp_path / "o.fits").exists()


def test_png_limit_is_configurable(tmp_path, monkeypatch):
    from PIL import Image

    path = tmp_path / "red.png"
    Image.fromarray(np.full((20, 30, 3), (255, 0, 0), np.uint8)).save(path)
    monkeypatch.setenv(files.MAX_PNG_PIXELS_ENV, "500")
    with pytest.raises(InputError, match="PNG claims 30x20 pixels, more than the 500 allowed"):
        read_png_rgb(path)
    monkeypatch.setenv(files.MAX_PNG_PIXELS_ENV, "600")
    assert read_png_rgb(path)[0].shape == (20, 30, 3)


def test_truncated_png_is_one_line(tmp_path):
    from PIL import Image

    path = tmp_path / "cut.png"
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), np.uint8)).save(
        buf, format="PNG")
    path.write_bytes(buf.getvalue()[:300])
    code, _, err = run_guarded("png2fits", path, tmp_path / "o.fits")
    assert_one_line_failure(code, err, path, "")


# --------------------------------------------------------------------------------------------
# 6. No traceback for any input
# --------------------------------------------------------------------------------------------


def _naxis_999(path: Path) -> Path:
    raw = b"".join([card("SIMPLE", "T"), card("BITPIX", "8"), card("NAXIS", "999")]
                   + [card(f"NAXIS{k}", "1") for k in range(1, 1000)]) + b"END".ljust(80)
    raw += b" " * (-len(raw) % 2880)
    path.write_bytes(raw + b"\0" * 2880)
    return path


def _zero_rate(path: Path) -> Path:
    h = valid_jwst_hdul()
    for name in ("SCI", "ERR", "DQ"):
        h[name].data = np.zeros((0, 0), h[name].data.dtype)
    path.write_bytes(fits_bytes(h))
    return path


def _zero_mask(path: Path) -> Path:
    fits.PrimaryHDU(np.zeros((0, 0), np.uint8)).writeto(path)
    return path


def _float_dq(path: Path) -> Path:
    h = valid_jwst_hdul()
    h["DQ"].data = np.zeros((32, 32), np.float32)
    path.write_bytes(fits_bytes(h))
    return path


def _string_extver(path: Path) -> Path:
    h = valid_jwst_hdul()
    h["SCI"].header["EXTVER"] = "one"
    path.write_bytes(fits_bytes(h))
    return path


HOSTILE_FITS = {
    "naxis_999": (_naxis_999, "NAXIS=999"),
    "zero_by_zero_rate": (_zero_rate, "no pixels"),
    "zero_by_zero_mask": (_zero_mask, "no pixels"),
    "float_dq": (_float_dq, "float32 values; a DQ array must be integer"),
    "string_extver": (_string_extver, "EXTVER='one'"),
}


@pytest.mark.parametrize("template", FITS_TEMPLATES)
@pytest.mark.parametrize("case", list(HOSTILE_FITS))
def test_hostile_headers_one_line_everywhere(case, template, good, tmp_path):
    make, fragment = HOSTILE_FITS[case]
    path = make(tmp_path / f"{case}.fits")
    before = digest(path)
    if template == "explain":  # reads every header: names the problem
        code, _, err = run_guarded("explain", path)
        if case != "zero_by_zero_mask":  # a bare 0x0 mask has no DQ to explain
            assert_one_line_failure(code, err, path, fragment)
    code, _, err = run_guarded(*argv_for(template, path, good, tmp_path / "out"))
    if code == 0:  # a command that does not need what is broken (e.g. explain of 0x0 mask)
        assert err == "" or "WARNING" in err
    else:
        lines = err.splitlines()
        assert code == 1 and len(lines) == 1, err
        assert lines[0].startswith("dqmask: ") and "internal error" not in lines[0], lines[0]
    assert digest(path) == before


@pytest.mark.parametrize("template", ["fits2png", "preview", "background", "bgconvert"])
def test_zero_by_zero_images_named(template, good, tmp_path):
    path = _zero_mask(tmp_path / "zero.fits") if template == "bgconvert" else _zero_rate(
        tmp_path / "zero_rate.fits")
    code, _, err = run_guarded(*argv_for(template, path, good, tmp_path / "out"))
    assert_one_line_failure(code, err, path, "no pixels")


@pytest.mark.parametrize("template", ["fits2png", "background", "apply", "explain"])
def test_float_dq_named(template, good, tmp_path):
    path = _float_dq(tmp_path / "float_dq_rate.fits")
    code, _, err = run_guarded(*argv_for(template, path, good, tmp_path / "out"))
    assert_one_line_failure(code, err, path, "extension DQ,1 holds float32 values")


# --------------------------------------------------------------------------------------------
# 8. No silent guesses that flip meaning
# --------------------------------------------------------------------------------------------


def _mask(path: Path, data: np.ndarray, **keys) -> Path:
    hdu = fits.PrimaryHDU(data)
    hdu.header.update(keys)
    hdu.writeto(path)
    return path


CONVENTIONS = "choose from bad, good, background, user_mask, dq, seed"


@pytest.mark.parametrize("template", ["apply --mask", "combine", "grow", "convert", "regions",
                                      "preview --mask", "fits2png --mask"])
def test_unknown_dqmconv_refused_naming_the_conventions(template, good, tmp_path):
    m = np.zeros((320, 320), np.uint8)
    m[10:20, 10:20] = 1
    path = _mask(tmp_path / "m.fits", m, DQMCONV="bad_pixels")
    code, _, err = run_guarded(*argv_for(template, path, good, tmp_path / "out"))
    problem = assert_one_line_failure(code, err, path, "DQMCONV = 'bad_pixels' is not a mask "
                                                       "convention")
    if template != "fits2png --mask":
        assert CONVENTIONS in problem
    assert not any((tmp_path / "out").iterdir())


def test_bgconvert_refuses_a_bad_mask_and_an_unknown_dqmconv(tmp_path):
    m = np.zeros((32, 32), np.uint8)
    bad = _mask(tmp_path / "bad.fits", m, DQMCONV="bad")
    with pytest.raises(InputError, match="DQMCONV = 'bad': not a background mask"):
        from dqmask.io.background_mask import read_background_mask

        read_background_mask(bad)
    odd = _mask(tmp_path / "odd.fits", m, DQMCONV="bad_pixels")
    code, _, err = run_guarded("bgconvert", odd, tmp_path / "o.fits")
    assert_one_line_failure(code, err, odd, CONVENTIONS)


@pytest.mark.parametrize("dtype, what", [(np.uint8, "uint8"), (np.int16, "int16")])
def test_mask_values_that_do_not_fit_the_guess_are_refused(tmp_path, dtype, what):
    data = (np.arange(320 * 320) % 200).astype(dtype).reshape(320, 320)
    path = _mask(tmp_path / "m.fits", data)
    with pytest.raises(InputError, match=f"{what} image with values other than 0 and 1 is not "
                                         f"a"):
        read_fits_mask(path)
    code, _, err = run_guarded("convert", path, tmp_path / "o.fits", "--to", "bad")
    assert_one_line_failure(code, err, path, CONVENTIONS)
    assert not (tmp_path / "o.fits").exists()
    # said explicitly, it is read
    assert read_fits_mask(path, "dq").planes[0].sum() == np.count_nonzero(data)


def test_float_model_mask_with_other_values_refused_but_nan_allowed(tmp_path):
    rate_like = np.full((8, 8), 3.5, np.float32)
    path = _mask(tmp_path / "rate_sci.fits", rate_like, TELESCOP="JWST")
    with pytest.raises(InputError, match="not a jwst user_mask"):
        read_fits_mask(path)
    ok = np.ones((8, 8), np.float32)
    ok[0, 0], ok[1, 1] = np.nan, 0.0
    path = _mask(tmp_path / "user_mask.fits", ok, TELESCOP="JWST")
    data = read_fits_mask(path)
    assert data.convention == "user_mask" and data.planes[0].sum() == 2


def _five_chips_primary_end_blanked(path: Path) -> Path:
    hdus: list = [fits.PrimaryHDU()]
    hdus[0].header.update(TELESCOP="HST", INSTRUME="WFC3", DETECTOR="UVIS")
    for ver in range(1, 6):
        hdus += [fits.ImageHDU(np.ones((16, 16), np.float32), name="SCI", ver=ver),
                 fits.ImageHDU(np.ones((16, 16), np.float32), name="ERR", ver=ver),
                 fits.ImageHDU(np.zeros((16, 16), np.int16), name="DQ", ver=ver)]
    raw = bytearray(fits_bytes(fits.HDUList(hdus)))
    end = raw.index(b"END     ")  # the primary's
    raw[end:end + 3] = b"   "
    path.write_bytes(bytes(raw))
    return path


@pytest.mark.parametrize("template", ["splitgroups", "detect", "combine", "explain", "apply",
                                      "wfc3mask", "static", "convert"])
def test_blanked_end_card_refused_everywhere(template, good, tmp_path):
    path = _five_chips_primary_end_blanked(tmp_path / "x_flt.fits")
    code, out, err = run_guarded(*argv_for(template, path, good, tmp_path / "out"))
    assert_one_line_failure(code, err, path, "HDU 0: header holds a XTENSION card: its END "
                                             "card is missing or blanked")
    assert not any((tmp_path / "out").iterdir())


def test_detect_on_a_rate_without_sci_does_not_use_err(good, tmp_path):
    path = tmp_path / "nosci_rate.fits"
    with fits.open(good["rate"]) as hdul:
        fits.HDUList([h for h in hdul if h.name != "SCI"]).writeto(path)
    code, _, err = run_guarded(*argv_for("detect", path, good, tmp_path / "out"))
    assert_one_line_failure(code, err, path, "missing extension SCI (the file has ERR, DQ")
    assert not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("telescope, instrument, kind", [("JWST", "ACS", "an HST"),
                                                         ("HST", "NIRCAM", "a JWST")])
def test_telescope_and_instrument_that_contradict_are_refused(good, tmp_path, telescope,
                                                              instrument, kind):
    path = tmp_path / "odd_rate.fits"
    source = good["rate"] if telescope == "JWST" else None
    hdul = fits.open(source) if source else valid_hst_hdul()
    with hdul:
        hdul[0].header["TELESCOP"] = telescope
        hdul[0].header["INSTRUME"] = instrument
        hdul.writeto(path)
    before = digest(path)
    code, _, err = run_guarded("apply", path, "--mask", good["mask"], "--in-place")
    assert_one_line_failure(code, err, path, f"TELESCOP='{telescope}' but INSTRUME="
                                             f"'{instrument}' is {kind} instrument")
    assert digest(path) == before


def test_hst_instrument_without_telescop_is_still_hst(tmp_path):
    h = valid_hst_hdul()
    del h[0].header["TELESCOP"]
    path = tmp_path / "old_flt.fits"
    path.write_bytes(fits_bytes(h))
    assert classify(path).telescope == "HST"


# --------------------------------------------------------------------------------------------
# 6. Fuzz: header values and shapes, every command that reads FITS
# --------------------------------------------------------------------------------------------

_BASES = {
    "jwst": lambda: valid_jwst_hdul((16, 16)),
    "hst": lambda: valid_hst_hdul((8, 8)),
    "mask": lambda: fits.HDUList([fits.PrimaryHDU(np.eye(16, dtype=np.uint8))]),
}
#: Structural cards: edited in the bytes (astropy would rewrite them from the data).
_RAW_KEYS = ("NAXIS", "NAXIS1", "NAXIS2", "BITPIX", "PCOUNT", "GCOUNT")
_KEYS = ("EXTVER", "EXTNAME", "TELESCOP", "INSTRUME", "DETECTOR", "DQMCONV", "BSCALE",
         "BZERO", "SUBSTRT1", "SUBSIZE1", "EXP_TYPE", "REFTYPE", "CCDCHIP", "BUNIT", "MPIXAREA")
_VALUES = st.sampled_from([-1, 0, 1, 2, 3, 8, 16, -32, 999, 2**31, 1.5, -0.0, "", "SCI", "DQ",
                           "ERR", "JWST", "HST", "ACS", "NIRCAM", "MASK", "bad_pixels", "good",
                           "background", "x", True, False])
_SHAPES = st.sampled_from([(0,), (0, 0), (1, 1), (3, 1), (1, 17), (2, 2, 2), (1, 1, 1, 1)])
_DTYPES = st.sampled_from([np.uint8, np.int16, np.int32, np.uint32, np.float32, np.float64])


def _fits_value(value) -> str:
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, str):
        return f"'{value:<8s}'"
    return repr(value)


def _hostile_bytes(base: str, edits, reshape) -> bytes:
    hdul = _BASES[base]()
    if reshape is not None:
        index, shape, dtype = reshape
        hdul[index % len(hdul)].data = np.zeros(shape, dtype)
    raw_edits = []
    for index, key, value in edits:
        hdu = hdul[index % len(hdul)]
        if key in _RAW_KEYS:
            raw_edits.append((index % len(hdul), key, value))
        else:
            hdu.header[key] = value
    raw = bytearray(fits_bytes(hdul))
    starts = [i for i in range(0, len(raw), 2880)
              if raw[i:i + 8] in (b"SIMPLE  ", b"XTENSION")]
    for index, key, value in raw_edits:
        if index >= len(starts):
            continue
        end = raw.find(b"END" + b" " * 77, starts[index])
        pos = raw.find(f"{key:<8s}=".encode(), starts[index], end)
        if pos >= 0 and (pos - starts[index]) % 80 == 0:
            raw[pos:pos + 80] = card(key, _fits_value(value))
    return bytes(raw)


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hostile-fuzz")


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(template=st.sampled_from(FITS_TEMPLATES), base=st.sampled_from(sorted(_BASES)),
       edits=st.lists(st.tuples(st.integers(0, 9),
                                st.sampled_from(_KEYS + _RAW_KEYS), _VALUES), max_size=3),
       reshape=st.none() | st.tuples(st.integers(0, 9), _SHAPES, _DTYPES))
def test_fuzzed_headers_and_shapes_give_one_line_or_succeed(good, fuzz_dir, template, base,
                                                            edits, reshape):
    raw = _hostile_bytes(base, edits, reshape)
    path = fuzz_dir / "x_rate.fits"
    path.write_bytes(raw)
    out = fuzz_dir / "out"
    if out.exists():
        for child in out.iterdir():
            child.unlink()
    code, _, err = run_guarded(*argv_for(template, path, good, out))
    assert code in (0, 1), (code, err)
    if code == 1:
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("dqmask: "), err
        assert "internal error" not in lines[0], lines[0]
    assert path.read_bytes() == raw


# --------------------------------------------------------------------------------------------
# 6. Warnings alongside a failure: one line (the warnings only with -v)
# --------------------------------------------------------------------------------------------


def test_a_warning_before_a_failure_is_not_an_extra_line(good, tmp_path, run_cli):
    """An NSClean-looking mask (the polarity guess is warned about) that then does not fit
    the target: the failure is the one line; ``-v`` shows the warning too."""
    path = _mask(tmp_path / "small_bg.fits", np.eye(16, dtype=np.uint8))
    argv = ("apply", good["rate"], "--mask", path, "-o", tmp_path / "o.fits")
    code, _, err = run_cli(*argv)
    assert_one_line_failure(code, err, path, "mask is 16x16 but the target is 320x320")
    code, _, err = run_cli(*argv, "-v")
    assert code == 1
    assert "nothing in the file says which value is bad" in err
    assert f"dqmask: {path}: mask is 16x16" in err


def test_warnings_of_a_successful_input_are_still_shown(good, tmp_path, run_cli):
    m = np.ones((320, 320), np.uint8)  # NSClean-like: 1 = background, 0 = bad
    m[5:9, 5:9] = 0
    path = _mask(tmp_path / "bg.fits", m)
    code, _, err = run_cli("apply", good["rate"], "--mask", path, "-o", tmp_path / "o.fits")
    assert code == 0, err
    assert "nothing in the file says which value is bad" in " ".join(err.split())


@pytest.mark.parametrize("bitpix", [-1, 7, 0])
def test_mask_file_with_a_bitpix_astropy_would_fix_to_8_is_one_line(tmp_path, bitpix):
    """astropy's verify('fix') rewrites a bad BITPIX card to 8 while still decoding by the bad
    one (a KeyError traceback): the card is judged as read, before any fixing."""
    rate = tmp_path / "jw_nrca1_rate.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((4, 16), np.float32), name="SCI"),
                  fits.ImageHDU(np.zeros((4, 16), np.uint32), name="DQ")]).writeto(rate)
    mask = tmp_path / "mask.fits"
    raw = b"".join([card("SIMPLE", "T"), card("BITPIX", str(bitpix)), card("NAXIS", "2"),
                    card("NAXIS1", "16"), card("NAXIS2", "4"), card("DQMCONV", "'bad     '")])
    raw += b"END".ljust(80)
    mask.write_bytes(raw + b" " * (-len(raw) % 2880) + bytes(2880))
    before = mask.read_bytes()
    code, _, err = run_guarded("apply", rate, "--mask", mask, "--in-place")
    assert_one_line_failure(code, err, mask, f"HDU 0: BITPIX={bitpix} is not a FITS value")
    assert mask.read_bytes() == before


@pytest.mark.parametrize("key, value, kind", [("BSCALE", "''", "number"),
                                              ("BZERO", "'x'", "number")])
def test_mask_file_with_a_scaling_card_that_is_no_number_is_one_line(tmp_path, key, value,
                                                                     kind):
    """astropy scales by whatever BSCALE/BZERO holds: a string ended in a numpy
    UFuncTypeError traceback (found by the random hypothesis profile)."""
    rate = tmp_path / "jw_nrca1_rate.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((4, 16), np.float32), name="SCI"),
                  fits.ImageHDU(np.zeros((4, 16), np.uint32), name="DQ")]).writeto(rate)
    mask = tmp_path / "mask.fits"
    raw = b"".join([card("SIMPLE", "T"), card("BITPIX", "16"), card("NAXIS", "2"),
                    card("NAXIS1", "16"), card("NAXIS2", "4"), card(key, value),
                    card("DQMCONV", "'bad     '")])
    raw += b"END".ljust(80)
    mask.write_bytes(raw + b" " * (-len(raw) % 2880) + bytes(2880))
    before = mask.read_bytes()
    code, _, err = run_guarded("apply", rate, "--mask", mask, "--in-place")
    assert_one_line_failure(code, err, mask, f"HDU 0: {key}=")
    assert f"is not a {kind}" in err
    assert mask.read_bytes() == before


@pytest.mark.parametrize("command", ["splitgroups", "explain"])
def test_extname_that_reads_as_a_record_valued_card_is_one_line(tmp_path, command):
    """``EXTNAME = 'AXIS.1: 1'`` is read by astropy as the record-valued keyword
    ``EXTNAME.AXIS.1``: EXTNAME itself went missing and the command ended in an internal
    KeyError ("Keyword 'EXTNAME' not found")."""
    ext = fits.ImageHDU(np.zeros((4, 4), np.float32))
    ext.header["EXTNAME"] = "AXIS.1: 1"
    path = tmp_path / "rv.fits"
    fits.HDUList([fits.PrimaryHDU(), ext]).writeto(path)
    before = path.read_bytes()
    code, _, err = run_guarded(command, path)
    assert_one_line_failure(code, err, path, "HDU 1: EXTNAME = 'AXIS.1: 1' reads as a "
                                             "record-valued card, not as EXTNAME")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rv.fits"]
