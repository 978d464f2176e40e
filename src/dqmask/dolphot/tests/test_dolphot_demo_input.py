"""The ``make demo`` hook of the DOLPHOT commands reads each sample copy through
``open_fits``: a damaged sample is one ``InputError`` naming the file."""

from __future__ import annotations

import os

import pytest
from astropy.io import fits

from dqmask.dolphot import cli as cmd_dolphot
from dqmask.errors import InputError


def test_demo_with_a_truncated_hst_sample_is_one_line_naming_it(tmp_path):
    """Before: ``TypeError: buffer is too small for requested array`` from astropy (an
    ``AstropyUserWarning`` in the suite), not naming the file."""
    from dqmask.datasets import make_acs_wfc_flt

    sample = make_acs_wfc_flt(tmp_path / "jdemo1abq_flt.fits", shape=(64, 128))
    with fits.open(sample) as hdul:
        cut = hdul["SCI", 1].fileinfo()["datLoc"] + 100
    os.truncate(sample, cut)  # ends inside SCI,1
    said: list[str] = []
    with pytest.raises(InputError) as info:
        cmd_dolphot.demo(tmp_path / "work", {"acs_wfc_flt": sample}, said.append)
    copy = tmp_path / "work" / "dolphot" / sample.name
    line = info.value.oneline()
    assert line.startswith(f"{copy}: truncated")
    assert "\n" not in line
    assert not any(text.startswith("$ ") for text in said)  # refused before any command ran
