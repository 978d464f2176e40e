"""A file the user protected (``chmod a-w``) is never replaced, by any command, even as root.

An atomic rename replaces a file whatever its mode, so the check lives in the shared writers
(:func:`dqmask.io.atomic.atomic_output`, :class:`dqmask.io.fits.FitsUpdate`). Each command
that rewrites its input (or overwrites an existing output) must refuse with the same one
line, exit 1, and leave the file byte-identical with its mode.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from dqmask.dolphot.tests.test_dolphot_builders import hst_flt, jwst_cal
from dqmask.dq_init.tests.test_dq_init_support import random_raw, write_exposure, write_raw_mask
from dqmask.errors import InputError
from dqmask.io.atomic import READ_ONLY, atomic_output, atomic_write, is_read_only
from dqmask.io.fits import FitsUpdate, write_hdulist

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _protect(path: Path, mode: int = 0o444) -> tuple[bytes, int]:
    path.chmod(mode)
    return path.read_bytes(), stat.S_IMODE(path.stat().st_mode)


def _assert_untouched(path: Path, state: tuple[bytes, int]) -> None:
    assert path.read_bytes() == state[0]
    assert stat.S_IMODE(path.stat().st_mode) == state[1]
    assert [p.name for p in path.parent.iterdir() if ".dqmask-tmp-" in p.name] == []


# --------------------------------------------------------------------------------------------
# The shared writers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o444, 0o400, 0o000, 0o555])
def test_atomic_output_refuses_a_file_without_write_bits_even_as_root(tmp_path, mode):
    target = tmp_path / "r.fits"
    target.write_bytes(b"original")
    state = _protect(target, mode)
    with pytest.raises(InputError) as err, atomic_output(target) as fh:
        fh.write(b"new")
    assert err.value.oneline() == f"{target}: {READ_ONLY}"
    target.chmod(0o600)
    state = (state[0], 0o600)
    _assert_untouched(target, state)


def test_one_write_bit_is_enough(tmp_path):
    target = tmp_path / "w.fits"
    target.write_bytes(b"original")
    target.chmod(0o644)
    assert not is_read_only(target)
    atomic_write(target, lambda fh: fh.write(b"new"))
    assert target.read_bytes() == b"new" and stat.S_IMODE(target.stat().st_mode) == 0o644


@pytest.mark.skipif(IS_ROOT, reason="root may write a file whatever its group/other bits")
def test_a_file_this_user_may_not_write_is_read_only(tmp_path):
    target = tmp_path / "g.fits"
    target.write_bytes(b"x")
    target.chmod(0o464)  # group may write, the owner may not
    assert is_read_only(target)


def test_missing_file_is_not_read_only_and_a_link_is_judged_by_its_target(tmp_path):
    assert not is_read_only(tmp_path / "absent.fits")
    real = tmp_path / "real.fits"
    real.write_bytes(b"x")
    link = tmp_path / "link.fits"
    link.symlink_to(real)
    real.chmod(0o444)
    assert is_read_only(link)
    with pytest.raises(InputError, match="read-only"):
        atomic_write(link, lambda fh: fh.write(b"y"))
    assert real.read_bytes() == b"x" and link.is_symlink()


def test_write_hdulist_and_fits_update_refuse_before_any_work(tmp_path):
    path = tmp_path / "m.fits"
    fits.PrimaryHDU(np.zeros((3, 3), np.uint8)).writeto(path)
    state = _protect(path)
    with pytest.raises(InputError, match="read-only"):
        write_hdulist(fits.HDUList([fits.PrimaryHDU(np.ones((3, 3), np.uint8))]), path)
    with pytest.raises(InputError, match="read-only"):
        FitsUpdate(path)  # refused when created: no computation is wasted
    other = tmp_path / "copy.fits"
    with FitsUpdate(path, other) as up:  # a read-only input may still be read
        up.header(0)["X"] = 1
    assert fits.getheader(other)["X"] == 1
    _assert_untouched(path, state)


# --------------------------------------------------------------------------------------------
# Every command that rewrites a file
# --------------------------------------------------------------------------------------------


def _jwst_cal(tmp_path: Path) -> Path:
    sci = np.arange(1.0, 13.0, dtype=np.float32).reshape(3, 4)
    return jwst_cal(tmp_path / "jw_nrca1_cal.fits", sci, np.zeros(sci.shape, np.uint32))


def _region(tmp_path: Path) -> Path:
    reg = tmp_path / "r.reg"
    reg.write_text("image\ncircle(2,2,0.8)\n")
    return reg


def _apply_in_place(tmp_path):
    cal = _jwst_cal(tmp_path)
    return cal, ["apply", cal, "--region", _region(tmp_path), "--in-place"]


def _apply_backup(tmp_path):
    cal = _jwst_cal(tmp_path)
    return cal, ["apply", cal, "--region", _region(tmp_path), "--in-place", "--backup"]


def _apply_existing_output(tmp_path):
    cal = _jwst_cal(tmp_path)
    out = tmp_path / "out.fits"
    out.write_bytes(cal.read_bytes())
    return out, ["apply", cal, "--region", _region(tmp_path), "-o", out]


def _dqinit_in_place(tmp_path):
    mask = write_raw_mask(tmp_path / "nrca1_mask.fits", random_raw((2048, 2048), seed=2))
    uncal = write_exposure(tmp_path / "jw_nrca1_uncal.fits", (1, 2, 16, 20), substrt=(3, 4))
    return uncal, ["dqinit", uncal, "--mask", mask, "--in-place"]


def _nircammask(tmp_path):
    cal = _jwst_cal(tmp_path)
    return cal, ["nircammask", cal]


def _acsmask(tmp_path):
    sci = np.full((8, 10), 10.0, np.float32)
    flt = hst_flt(tmp_path / "j_flt.fits", "ACS", "WFC", [sci], [np.zeros((8, 10), np.int16)],
                  ccdchips=[1])
    return flt, ["acsmask", "-wfc1sub=0,0", flt]


def _splitgroups_existing_chip(tmp_path):
    cal = _jwst_cal(tmp_path)
    chip = tmp_path / "jw_nrca1_cal.chip1.fits"
    chip.write_bytes(b"an older chip file, protected")
    return chip, ["splitgroups", cal]


def _combine_existing_output(tmp_path):
    cal = _jwst_cal(tmp_path)
    out = tmp_path / "combined.fits"
    fits.PrimaryHDU(np.zeros((3, 4), np.uint8)).writeto(out)
    return out, ["combine", f"{cal}", "-o", out]


def _preview_existing_png(tmp_path):
    cal = _jwst_cal(tmp_path)
    out = tmp_path / "p.png"
    out.write_bytes(b"an older picture")
    return out, ["preview", cal, "-o", out]


COMMANDS = {
    "apply --in-place": _apply_in_place,
    "apply --in-place --backup": _apply_backup,
    "apply -o EXISTING": _apply_existing_output,
    "dqinit --in-place": _dqinit_in_place,
    "nircammask": _nircammask,
    "acsmask": _acsmask,
    "splitgroups (existing chip file)": _splitgroups_existing_chip,
    "combine -o EXISTING": _combine_existing_output,
    "preview -o EXISTING": _preview_existing_png,
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_refuses_a_read_only_file_with_one_line(tmp_path, run_cli, name):
    protected, argv = COMMANDS[name](tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    state = _protect(protected)
    code, _, err = run_cli(*argv)
    assert code == 1, err
    assert err.splitlines() == [f"dqmask: {protected}: {READ_ONLY}"]
    _assert_untouched(protected, state)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no backup, no new file
    protected.chmod(0o644)  # the same command then works
    code, _, err = run_cli(*argv)
    assert code == 0, err
