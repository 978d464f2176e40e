"""The ``make demo`` hook of ``dqinit`` reads its sample through ``open_fits``: a damaged
sample is one ``InputError`` naming the file, as for every other read of dqmask."""

from __future__ import annotations

from pathlib import Path

import pytest

from dqmask.dq_init.cli import demo
from dqmask.errors import InputError


def test_demo_with_a_damaged_uncal_sample_is_one_line_naming_it(tmp_path):
    """Before: astropy's own error (``VerifyWarning``, or ``OSError: Empty or corrupt FITS
    file`` outside the suite), not naming the file."""
    from dqmask.datasets import make_nircam_uncal

    whole = make_nircam_uncal(tmp_path / "whole_uncal.fits", ngroups=2, shape=(64, 64))
    cut = tmp_path / "jw01234001001_01101_00001_nrca1_uncal.fits"
    cut.write_bytes(Path(whole).read_bytes()[:1500])  # ends inside the primary header
    said: list[str] = []
    with pytest.raises(InputError) as info:
        demo(tmp_path / "work", {"nircam_uncal": cut}, said.append)
    line = info.value.oneline()
    assert line.startswith(f"{cut}: ")
    assert "\n" not in line
    assert said == []  # nothing made before the sample was refused
    assert list((tmp_path / "work").iterdir()) == []
