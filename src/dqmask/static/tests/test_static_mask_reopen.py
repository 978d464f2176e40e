"""``dqmask static`` reads each chip's data by opening its file again after every input was
checked: a file that changed in between is refused in one line, never read as it now is."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from dqmask.static import files as st
from dqmask.static.tests.test_static_mask_inputs import acs_flts, hst_flt, sky_image

SHAPE = (50, 70)


@pytest.fixture
def two_flts(tmp_path) -> list[Path]:
    return acs_flts(tmp_path, "jreo0", SHAPE, seed=5, n_low=5)


def _after_check(monkeypatch, victim: Path, change) -> None:
    """Run ``change(victim)`` once ``victim`` has been checked (before any chip is read)."""
    real = st._check_file

    def check_then_change(path, **options):
        work = real(path, **options)
        if path == os.fspath(victim):
            change(victim)
        return work

    monkeypatch.setattr(st, "_check_file", check_then_change)


def _truncate_in_second_sci(path: Path) -> None:
    with fits.open(path) as hdul:
        cut = hdul["SCI", 2].fileinfo()["datLoc"] + 1000
    os.truncate(path, cut)


def test_file_truncated_after_its_check_is_one_line_exit_1(two_flts, tmp_path, monkeypatch,
                                                            run_cli):
    """Before: a traceback from astropy when the chip of the truncated file was read
    (``TypeError: buffer is too small for requested array``)."""
    _after_check(monkeypatch, two_flts[1], _truncate_in_second_sci)
    out = tmp_path / "o"
    code, _, err = run_cli("static", *two_flts, "--output-dir", out)
    assert code == 1
    assert err.strip() == (f"dqmask: {two_flts[1]}: changed since it was checked "
                           "(size, time or inode differ); not read")
    assert not out.exists()


def test_file_replaced_after_its_check_is_refused(two_flts, tmp_path, monkeypatch):
    """A valid file of another shape put in place of a checked one: refused by name, nothing
    written (before: the new file was read and the mask combination failed on its shape)."""
    from dqmask.errors import InputError

    rng = np.random.default_rng(6)

    def replace(path: Path) -> None:
        other = hst_flt(tmp_path / "other_flt.fits", "acs_wfc",
                        [sky_image(rng, (60, 70)), sky_image(rng, (60, 70))])
        os.replace(other, path)

    _after_check(monkeypatch, two_flts[0], replace)
    with pytest.raises(InputError) as info:
        st.make_static_masks(two_flts, output_name="combined_drz.fits",
                             output_dir=tmp_path / "o", jobs=1)
    assert info.value.oneline().startswith(f"{two_flts[0]}: changed since it was checked")
    assert not (tmp_path / "o").exists()


def test_unchanged_files_read_as_before(two_flts, tmp_path):
    """The identity check refuses nothing that did not change."""
    result = st.make_static_masks(two_flts, output_dir=tmp_path / "o", jobs=1)
    assert [Path(p).name for p in result.outputs] == [
        f"jreo0{i}abq_{SHAPE[0]}x{SHAPE[1]}_{c}_staticMask.fits" for i in range(2) for c in (1, 2)]
