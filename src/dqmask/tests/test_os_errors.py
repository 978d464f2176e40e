"""Every operating-system failure while writing is one line (issue 12, item 3).

``dqmask: FILE: no space left on device while writing OUT`` (quota, read-only file system,
permission, too many open files likewise), exit 1, inputs and any previous output
byte-identical, no partial or temporary file left. A full disk used to print ``internal
error (AttributeError: 'list' object has no attribute '_file')`` (astropy's own free-space
check crashing on the error it was reporting) or a traceback.

Each writing command is run twice: on a real, full tmpfs (needs root and ``mount``; skipped
with the reason otherwise) and with the disk-full refusal simulated (``os.write`` raising
ENOSPC, ``os.fsync`` raising EDQUOT, on dqmask's temporary files only).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from dqmask.dolphot.tests.test_dolphot_builders import hst_flt
from dqmask.dq_init.tests.test_dq_init_support import random_raw, write_exposure, write_raw_mask
from dqmask.errors import InputError
from dqmask.io import atomic
from dqmask.io.atomic import LOCK_MARK, TMP_MARK, WriteError, atomic_output, atomic_write
from dqmask.io.fits import FitsUpdate, write_hdulist

SHAPE = (128, 128)


# --------------------------------------------------------------------------------------------
# Inputs of every writing command
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    """Small inputs, made once; each test copies what it needs into its own folder."""
    from dqmask import datasets as sample
    from dqmask.nsclean.files import fits2png, make_background

    folder = tmp_path_factory.mktemp("sources")
    out = {"rate": sample.make_nircam_rate(folder / "x_rate.fits", shape=SHAPE),
           "cal": sample.make_nircam_cal(folder / "x_cal.fits", shape=SHAPE)}
    bad = np.zeros(SHAPE, np.uint8)
    bad[20:40, 30:50] = 1
    hdu = fits.PrimaryHDU(bad)
    hdu.header["DQMCONV"] = "bad"
    hdu.writeto(folder / "m.fits")
    out["mask"] = folder / "m.fits"
    hdu.data = np.roll(bad, 30, axis=0)
    hdu.writeto(folder / "m2.fits")
    out["mask2"] = folder / "m2.fits"
    (folder / "r.reg").write_text("image\nbox(64,64,60,60,0)\n")
    out["reg"] = folder / "r.reg"
    fits2png(out["rate"], folder / "p.png")
    out["png"] = folder / "p.png"
    make_background([out["rate"]], folder / "bg.fits")
    out["bg"] = folder / "bg.fits"
    rng = np.random.default_rng(3)
    sky = [rng.normal(100.0, 5.0, (32, 40)).astype(np.float32) for _ in range(2)]
    out["flt"] = hst_flt(folder / "j_flt.fits", "ACS", "WFC", sky,
                         [np.zeros((32, 40), np.int16)] * 2, ccdchips=[2, 1])
    out["flt1"] = hst_flt(folder / "j1_flt.fits", "ACS", "WFC", sky[:1],
                          [np.zeros((32, 40), np.int16)], ccdchips=[1])
    out["uncal"] = write_exposure(folder / "jw_nrca1_uncal.fits", (1, 2, 16, 20),
                                  substrt=(3, 4))
    out["MASK"] = write_raw_mask(folder / "nrca1_mask.fits", random_raw((16, 20), seed=2, bits=0x3F),
                                 substrt=(3, 4))
    return out


Case = Callable[[dict[str, Path], Path], tuple[list, list[Path]]]


def _take(src: dict[str, Path], d: Path, *keys: str) -> list[Path]:
    return [Path(shutil.copyfile(src[k], d / src[k].name)) for k in keys]


def _old(path: Path, content: bytes = b"an older output\n") -> Path:
    path.write_bytes(content)
    return path


def _apply_in_place(s, d):
    rate, mask = _take(s, d, "rate", "mask")
    return ["apply", rate, "--mask", mask, "--in-place"], []


def _apply_existing_output(s, d):
    rate, mask = _take(s, d, "rate", "mask")
    return ["apply", rate, "--mask", mask, "-o", _old(d / "out.fits")], []


def _dqinit(s, d):
    uncal, ref = _take(s, d, "uncal", "MASK")
    return ["dqinit", uncal, "--mask", ref, "--in-place"], []


def _nircammask(s, d):
    (cal,) = _take(s, d, "cal")
    return ["nircammask", cal], []


def _dolphot_output_dir(s, d):
    (cal,) = _take(s, d, "cal")
    (d / "prep").mkdir()
    return ["dolphot", "--output-dir", d / "prep", cal], []


def _acsmask(s, d):
    (flt,) = _take(s, d, "flt1")
    return ["acsmask", "-wfc1sub=0,0", flt], []


def _splitgroups(s, d):
    (cal,) = _take(s, d, "cal")
    return ["splitgroups", cal], []


def _static(s, d):
    (flt,) = _take(s, d, "flt")
    return ["static", flt, "--output-dir", d], []


def _combine(s, d):
    m1, m2 = _take(s, d, "mask", "mask2")
    return ["combine", m1, m2, "-o", _old(d / "c.fits")], []


def _grow(s, d):
    (m,) = _take(s, d, "mask")
    return ["grow", m, "--pixels", "2", "-o", d / "g.fits"], []


def _convert(s, d):
    (m,) = _take(s, d, "mask")
    return ["convert", m, _old(d / "good.fits"), "--to", "good"], []


def _regions(s, d):
    (m,) = _take(s, d, "mask")
    return ["regions", m, "-o", _old(d / "m.reg")], []


def _detect(s, d):
    cal, reg = _take(s, d, "cal", "reg")
    return ["detect", cal, "--include-region", reg], []


def _preview(s, d):
    (cal,) = _take(s, d, "cal")
    return ["preview", cal, "-o", _old(d / "p.png")], []


def _fits2png(s, d):
    (rate,) = _take(s, d, "rate")
    return ["fits2png", rate, _old(d / "paint.png"), "--force"], []


def _png2fits(s, d):
    (png,) = _take(s, d, "png")
    return ["png2fits", png, d / "bg_from_png.fits", "--size", "128x128"], []


def _bgconvert(s, d):
    bg, rate = _take(s, d, "bg", "rate")
    return ["bgconvert", bg, d / "user_mask.fits", "--like", rate], []


def _background(s, d):
    (rate,) = _take(s, d, "rate")
    return ["background", rate, "-o", d / "auto.fits"], []


CASES: dict[str, Case] = {
    "apply --in-place": _apply_in_place,
    "apply -o EXISTING": _apply_existing_output,
    "dqinit --in-place": _dqinit,
    "nircammask": _nircammask,
    "dolphot --output-dir": _dolphot_output_dir,
    "acsmask": _acsmask,
    "splitgroups": _splitgroups,
    "static": _static,
    "combine -o EXISTING": _combine,
    "grow": _grow,
    "convert EXISTING": _convert,
    "regions -o EXISTING": _regions,
    "detect": _detect,
    "preview -o EXISTING": _preview,
    "fits2png EXISTING --force": _fits2png,
    "png2fits": _png2fits,
    "bgconvert": _bgconvert,
    "background": _background,
}


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _check_one_line_and_nothing_changed(code: int, err: str, before: dict[str, bytes],
                                        folder: Path, reason: str) -> None:
    assert code == 1, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("dqmask: ") and f": {reason} while writing " in lines[0], err
    assert "internal error" not in err and "Traceback" not in err
    assert _snapshot(folder) == before  # inputs and old outputs intact, nothing new
    assert [p.name for p in folder.rglob(".*")] == []  # no temporary, no lock file


# --------------------------------------------------------------------------------------------
# Simulated refusals, every command
# --------------------------------------------------------------------------------------------


def _is_temporary(fd: int) -> bool:
    try:
        return TMP_MARK in os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return False


def _refuse(monkeypatch, name: str, code: int) -> None:
    real = getattr(os, name)

    def refused(fd, *args):
        if _is_temporary(fd):
            raise OSError(code, os.strerror(code))
        return real(fd, *args)

    monkeypatch.setattr(os, name, refused)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
@pytest.mark.parametrize(("call", "code", "reason"), [
    ("write", errno.ENOSPC, "no space left on device"),
    ("fsync", errno.EDQUOT, "disk quota exceeded"),
])
@pytest.mark.parametrize("name", list(CASES))
def test_simulated_refusal_is_one_line_for_every_writing_command(
        name, call, code, reason, sources, tmp_path, run_cli, monkeypatch):
    argv, _ = CASES[name](sources, tmp_path)
    before = _snapshot(tmp_path)
    _refuse(monkeypatch, call, code)
    code_, _, err = run_cli(*argv)
    _check_one_line_and_nothing_changed(code_, err, before, tmp_path, reason)


def test_the_line_names_the_input_and_the_output(sources, tmp_path, run_cli, monkeypatch):
    rate, mask = _take(sources, tmp_path, "rate", "mask")
    out = tmp_path / "out.fits"
    _refuse(monkeypatch, "write", errno.ENOSPC)
    code, _, err = run_cli("apply", rate, "--mask", mask, "-o", out)
    assert code == 1
    assert err.splitlines() == [f"dqmask: {rate}: no space left on device while writing {out}"]


# --------------------------------------------------------------------------------------------
# A real full file system
# --------------------------------------------------------------------------------------------


@pytest.fixture
def small_fs(tmp_path):
    """A fresh 16 MiB tmpfs (root only); filled up by :func:`_fill` once the inputs are in."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    folder = tmp_path / f"fs-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(folder)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(folder: Path) -> None:
    """Take every free block of the file system (``zz_filler``, part of the snapshot)."""
    st = os.statvfs(folder)
    fd = os.open(folder / "zz_filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        with contextlib.suppress(OSError):
            os.posix_fallocate(fd, 0, st.f_bavail * st.f_frsize)
        os.lseek(fd, 0, os.SEEK_END)
        with contextlib.suppress(OSError):
            while os.write(fd, b"\0" * 4096):
                pass
    finally:
        os.close(fd)


@pytest.mark.parametrize("name", list(CASES))
def test_full_tmpfs_is_one_line_for_every_writing_command(name, sources, small_fs, run_cli):
    argv, _ = CASES[name](sources, small_fs)
    _fill(small_fs)
    before = _snapshot(small_fs)
    code, _, err = run_cli(*argv)
    _check_one_line_and_nothing_changed(code, err, before, small_fs, "no space left on device")


# --------------------------------------------------------------------------------------------
# The shared writers, each refusal
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "reason"), [
    (errno.ENOSPC, "no space left on device"),
    (errno.EDQUOT, "disk quota exceeded"),
    (errno.EIO, "input/output error"),
    (errno.EFBIG, "file too large"),
])
def test_write_refusals_name_the_output(tmp_path, monkeypatch, code, reason):
    target = tmp_path / "t.fits"
    target.write_bytes(b"old")
    _refuse(monkeypatch, "write", code)
    with pytest.raises(WriteError) as err:
        atomic_write(target, lambda fh: fh.write(b"new" * 1000))
    assert err.value.oneline() == f"{target}: {reason} while writing {target}"
    assert err.value.errno == code
    assert err.value.for_input("in.fits").oneline() == f"in.fits: {reason} while writing {target}"
    assert target.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["t.fits"]


@pytest.mark.parametrize(("code", "reason"), [
    (errno.EMFILE, "too many open files"),
    (errno.EROFS, "read-only file system"),
    (errno.EACCES, "permission denied"),
])
def test_refusal_to_create_the_temporary_file(tmp_path, monkeypatch, code, reason):
    target = tmp_path / "t.fits"

    def refused(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refused)
    with pytest.raises(WriteError, match=f"^{target}: {reason} while writing {target}$"):
        write_hdulist(fits.HDUList([fits.PrimaryHDU()]), target)
    assert sorted(os.listdir(tmp_path)) == []


def test_refusal_to_create_the_lock_file(tmp_path, monkeypatch):
    target = tmp_path / "t.fits"
    target.write_bytes(b"old")
    real_open = os.open

    def refused(path, *args, **kwargs):
        if str(path).endswith(LOCK_MARK):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refused)
    with pytest.raises(WriteError, match="read-only file system while writing"):
        atomic_write(target, lambda fh: fh.write(b"new"))
    assert target.read_bytes() == b"old"


def test_rename_refused_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "t.fits"
    target.write_bytes(b"old")

    def refused(*args):
        raise OSError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(atomic.os, "replace", refused)
    with pytest.raises(WriteError, match="permission denied while writing"):
        atomic_write(target, lambda fh: fh.write(b"new"))
    monkeypatch.undo()
    assert target.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["t.fits"]


def test_fits_update_on_full_disk_keeps_the_input_readable(tmp_path, monkeypatch):
    path = tmp_path / "x_rate.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((64, 64), np.float32), name="SCI"),
                  fits.ImageHDU(np.zeros((64, 64), np.uint32), name="DQ")]).writeto(path)
    before = path.read_bytes()
    _refuse(monkeypatch, "write", errno.ENOSPC)
    with pytest.raises(WriteError, match="no space left on device"), FitsUpdate(path) as up:
        up.set_data("DQ", np.ones((64, 64), np.uint32))
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["x_rate.fits"]


def test_errors_of_the_writer_itself_are_not_disguised(tmp_path):
    """An error that is not the system refusing our bytes keeps its own message."""
    target = tmp_path / "t.fits"
    with pytest.raises(InputError, match="^in.fits: bad input$"), atomic_output(target):
        raise InputError("in.fits", "bad input")
    with pytest.raises(FileNotFoundError), atomic_output(target):
        open(tmp_path / "missing.fits", "rb")  # noqa: SIM115 - reading an input failed
    assert sorted(os.listdir(tmp_path)) == []
