"""dq_init error cases: the same exception text as jwst, raised before anything is written."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from dqmask.dq_init.files import dq_init_file
from dqmask.dq_init.tests.test_dq_init_support import (
    jwst_dqinit,
    messages,
    random_raw,
    write_exposure,
    write_raw_mask,
)
from dqmask.errors import InputError

pytest.importorskip("jwst")


@pytest.fixture(scope="module")
def full_mask(tmp_path_factory):
    return write_raw_mask(tmp_path_factory.mktemp("m") / "m.fits", random_raw((2048, 2048)))


def _both_raise(tmp_path, exposure, mask, text, user_dq=None):
    """jwst raises ValueError(text); dqmask raises InputError(exposure, text); no output."""
    with pytest.raises(ValueError) as upstream:
        jwst_dqinit(exposure, mask, user_dq)
    assert str(upstream.value) == text
    out = tmp_path / "never.fits"
    with pytest.raises(InputError) as ours:
        dq_init_file(exposure, mask, out, user_dq=user_dq)
    assert ours.value.problem == text
    assert ours.value.path == str(exposure)
    assert not out.exists()


def test_reference_corner_below_one(tmp_path, caplog):
    mask = write_raw_mask(tmp_path / "m0.fits", random_raw((64, 64)), substrt=(0, 1))
    exp = write_exposure(tmp_path / "e_uncal.fits", (1, 1, 64, 64))
    with caplog.at_level(logging.ERROR):
        _both_raise(tmp_path, exp, mask, "Bad subarray corners")
    assert "Reference file subarray corners are invalid" in messages(caplog)


def test_science_corner_below_one(tmp_path, full_mask, caplog):
    exp = write_exposure(tmp_path / "e_uncal.fits", (1, 1, 64, 64), substrt=(5, 0))
    with caplog.at_level(logging.ERROR):
        _both_raise(tmp_path, exp, full_mask, "Bad subarray corners")
    assert "Science file subarray corners are invalid" in messages(caplog)


@pytest.mark.parametrize("key", ["SUBSTRT1", "SUBSIZE2"])
def test_science_keyword_missing(tmp_path, full_mask, key, caplog):
    exp = write_exposure(tmp_path / "e_uncal.fits", (1, 1, 64, 64), substrt=(9, 9), drop=(key,))
    with caplog.at_level(logging.ERROR):
        _both_raise(tmp_path, exp, full_mask, "Can't determine science file subarray properties")
    assert "Missing subarray corner/size keywords in science file" in messages(caplog)


def test_slice_outside_reference(tmp_path, full_mask, caplog):
    exp = write_exposure(tmp_path / "e_uncal.fits", (1, 1, 64, 100), substrt=(2000, 7))
    with caplog.at_level(logging.ERROR):
        _both_raise(tmp_path, exp, full_mask, "Bad reference file slice indexes")
    assert messages(caplog, level=logging.ERROR) == [
        "Computed reference file slice indexes are incompatible with size of reference data "
        "array",
        "Science: SUBSTRT1=2000, SUBSTRT2=7, SUBSIZE1=100, SUBSIZE2=64",
        "Reference: SUBSTRT1=1, SUBSTRT2=1, SUBSIZE1=2048, SUBSIZE2=2048",
        "Slice indexes: xstart=1999, xstop=2099, ystart=6, ystop=70",
    ]


def test_user_dq_wrong_shape(tmp_path, full_mask):
    exp = write_exposure(tmp_path / "e_uncal.fits", (1, 1, 64, 64), substrt=(9, 9))
    from dqmask.dq_init.mask_ref import write_user_dq

    user = tmp_path / "u.fits"
    write_user_dq(user, np.zeros((10, 12), np.uint32))
    text = "user_dq has shape=(10, 12) but expecting (64, 64)"
    with pytest.raises(ValueError) as upstream:
        jwst_dqinit(exp, full_mask, user)
    assert str(upstream.value) == text
    with pytest.raises(InputError) as ours:  # the error names the user DQ, not the exposure
        dq_init_file(exp, full_mask, tmp_path / "never.fits", user_dq=user)
    assert ours.value.problem == f"{text} (the science frame of {exp})"
    assert ours.value.path == str(user)
    assert not (tmp_path / "never.fits").exists()


def test_substripe_reads2_zero(tmp_path, full_mask):
    keys = dict(MSTR_RD1=4, MSTR_SK1=0, MSTR_RD2=0, MSTR_SK2=0, MSTR_RPT=0, MSTR_ILV=0,
                SSTR_STP=0, SSTR_NST=0)
    exp = write_exposure(tmp_path / "e_uncal.fits", (1, 1, 20, 64), keys=keys)
    _both_raise(tmp_path, exp, full_mask,
                "Invalid value for multistripe_reads2 - stripe ranges could not be generated.")


def test_stripe_readout_does_not_match(tmp_path, full_mask):
    keys = dict(MSTR_RD1=4, MSTR_SK1=0, MSTR_RD2=7, MSTR_SK2=0, MSTR_RPT=0, MSTR_ILV=0,
                SSTR_STP=7, SSTR_NST=2)
    exp = write_exposure(tmp_path / "e_uncal.fits", (2, 1, 20, 64), keys=keys)
    _both_raise(tmp_path, exp, full_mask, "Stripe readout does not match science array shape.")


def test_irs2_data_with_a_2048_row_mask_is_a_clear_error(tmp_path):
    keys = {"INSTRUME": "NIRSPEC", "DETECTOR": "NRS1", "FASTAXIS": 2, "SLOWAXIS": 1}
    mask = write_raw_mask(tmp_path / "m.fits", random_raw((2048, 2048)), keys=keys)
    exp = write_exposure(tmp_path / "irs2_uncal.fits", (1, 1, 3200, 2048), keys=keys,
                         subsize=(2048, 2048))
    with pytest.raises(ValueError, match="broadcast"):  # jwst: a bare numpy error
        jwst_dqinit(exp, mask)
    with pytest.raises(InputError, match="mask has 2048 rows but the science data has 3200"):
        dq_init_file(exp, mask, tmp_path / "o.fits")


def test_reference_without_keywords(tmp_path, caplog):
    """jwst ``ref_matches_sci`` on a MASK without SUBSTRT/SUBSIZE: full-frame ref -> defaults +
    warnings; other shapes -> ValueError.

    jwst 3.0 itself crashes here (``MaskModel`` has no ``data`` attribute, AttributeError):
    dqmask follows the documented behaviour instead.
    """
    drop = ("SUBSTRT1", "SUBSTRT2", "SUBSIZE1", "SUBSIZE2")
    full = write_raw_mask(tmp_path / "full.fits", random_raw((2048, 2048)), drop=drop)
    small = write_raw_mask(tmp_path / "small.fits", random_raw((1024, 1024)), drop=drop)
    exp = write_exposure(tmp_path / "e_uncal.fits", (1, 1, 64, 64), substrt=(101, 101))
    with pytest.raises(AttributeError):
        jwst_dqinit(exp, full)
    with caplog.at_level(logging.WARNING):
        dq_init_file(exp, full, tmp_path / "o.fits")
    assert "Missing subarray corner/size keywords in reference file" in messages(caplog)
    assert "Setting them to full-frame default values" in messages(caplog)
    with pytest.raises(InputError, match="Can't determine ref file subarray properties"):
        dq_init_file(exp, small, tmp_path / "o2.fits")
