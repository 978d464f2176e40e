"""dqmask dqinit vs jwst's own ``do_dqinit`` on the same files: DQ arrays must be identical."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest
from astropy.io import fits

from dqmask.conftest import shared_file
from dqmask.dq_init.tests.test_dq_init_support import (
    assert_same_as_jwst,
    messages,
    random_raw,
    write_exposure,
    write_raw_mask,
)

pytest.importorskip("jwst")

NIRCAM_MASK = "jwst_nircam_mask_0026_nrca1_MASK_ref.fits"
FGS_ACQ1 = "jwst_fgs_acq1_uncal_jw01019.fits"


@pytest.fixture(scope="module")
def full_mask(tmp_path_factory):
    """A generated 2048x2048 NIRCam NRCA1 MASK with compressed values and a DQ_DEF."""
    path = tmp_path_factory.mktemp("mask") / "gen_mask.fits"
    return write_raw_mask(path, random_raw((2048, 2048), seed=7))


# --------------------------------------------------------------------------------------------
# Full frame
# --------------------------------------------------------------------------------------------


def test_full_frame_real_nircam_mask(tmp_path):
    mask = shared_file(NIRCAM_MASK)
    exp = write_exposure(tmp_path / "ff_uncal.fits", (1, 2, 2048, 2048))
    got = assert_same_as_jwst(tmp_path, exp, mask)
    assert np.count_nonzero(got["PIXELDQ"]) == 132503  # 442 bits without DQ_DEF rows vanish
    assert np.count_nonzero(got["GROUPDQ"][0, 0]) == 7401  # DO_NOT_USE only


def test_full_frame_generated_mask_with_existing_pixeldq(tmp_path, full_mask):
    old = np.zeros((2048, 2048), np.uint32)
    old[5, 5] = 4  # JUMP_DET already there: must survive the OR
    gdq = np.zeros((2, 2, 2048, 2048), np.uint8)
    gdq[1, 1, 7, 7] = 2
    exp = write_exposure(tmp_path / "ff2_uncal.fits", (2, 2, 2048, 2048),
                         extra_hdus=[fits.ImageHDU(old, name="PIXELDQ"),
                                     fits.ImageHDU(gdq, name="GROUPDQ")])
    got = assert_same_as_jwst(tmp_path, exp, full_mask)
    assert got["PIXELDQ"][5, 5] & 4 and got["GROUPDQ"][1, 1, 7, 7] & 2


# --------------------------------------------------------------------------------------------
# Subarrays
# --------------------------------------------------------------------------------------------

SUBARRAYS = [  # (SUBSTRT1, SUBSTRT2, SUBSIZE1, SUBSIZE2)
    (1, 1, 64, 64),  # SUB64P corner
    (887, 1022, 128, 128),  # 128x128 in the middle of the detector
    (1, 1985, 2048, 64),  # SUBGRISM64-like strip along the top
    (1793, 1, 256, 256),  # SUB256 in the lower right
]


@pytest.mark.parametrize("x0,y0,nx,ny", SUBARRAYS)
def test_subarrays_generated_mask(tmp_path, full_mask, x0, y0, nx, ny):
    exp = write_exposure(tmp_path / "sub_uncal.fits", (2, 3, ny, nx), substrt=(x0, y0),
                         keys={"SUBARRAY": "GENERIC"})
    got = assert_same_as_jwst(tmp_path, exp, full_mask)
    assert got["PIXELDQ"].shape == (ny, nx)


@pytest.mark.parametrize("x0,y0,nx,ny", SUBARRAYS[:2])
def test_subarrays_real_mask(tmp_path, x0, y0, nx, ny):
    exp = write_exposure(tmp_path / "subr_uncal.fits", (1, 2, ny, nx), substrt=(x0, y0))
    assert_same_as_jwst(tmp_path, exp, shared_file(NIRCAM_MASK))


def test_subarray_reference_containing_the_science_subarray(tmp_path):
    raw = random_raw((512, 1024), seed=3)
    mask = write_raw_mask(tmp_path / "sub_mask.fits", raw, substrt=(513, 257))
    exp = write_exposure(tmp_path / "in_uncal.fits", (1, 2, 100, 200), substrt=(600, 400))
    got = assert_same_as_jwst(tmp_path, exp, mask)
    assert got["PIXELDQ"].shape == (100, 200)


def test_reference_equal_to_the_science_subarray(tmp_path):
    raw = random_raw((160, 160), seed=4)
    mask = write_raw_mask(tmp_path / "m160.fits", raw, substrt=(1025, 1025))
    exp = write_exposure(tmp_path / "s160_uncal.fits", (1, 2, 160, 160), substrt=(1025, 1025))
    assert_same_as_jwst(tmp_path, exp, mask)


def test_miri_full_frame_and_subarray(tmp_path):
    raw = random_raw((1024, 1032), seed=5)
    keys = {"INSTRUME": "MIRI", "DETECTOR": "MIRIMAGE", "EXP_TYPE": "MIR_IMAGE",
            "FASTAXIS": 1, "SLOWAXIS": 2}
    mask = write_raw_mask(tmp_path / "miri_mask.fits", raw, keys=keys)
    full = write_exposure(tmp_path / "miri_uncal.fits", (1, 2, 1024, 1032), keys=keys)
    assert_same_as_jwst(tmp_path, full, mask)
    sub = write_exposure(tmp_path / "miri_sub_uncal.fits", (1, 2, 256, 256), substrt=(413, 51),
                         keys=keys)
    assert_same_as_jwst(tmp_path, sub, mask)


# --------------------------------------------------------------------------------------------
# Superstripe / multistripe
# --------------------------------------------------------------------------------------------

STRIPES: dict[str, dict[str, Any]] = {
    # NIRCam-like superstripe, fast axis along x, 3 stripe positions
    "superstripe_plain": dict(shape=(6, 2, 20, 64), substrt=(1, 1), axes=(-1, 2),
                              mstr=dict(MSTR_RD1=4, MSTR_SK1=0, MSTR_RD2=0, MSTR_SK2=0,
                                        MSTR_RPT=0, MSTR_ILV=0, SSTR_STP=16, SSTR_NST=3)),
    # repeat_stripe + interleave, negative slow axis, slow start 1 (warning path)
    "superstripe_repeat_interleave": dict(
        shape=(2, 1, 24, 32), substrt=(1, 1), axes=(1, -2),
        mstr=dict(MSTR_RD1=4, MSTR_SK1=2, MSTR_RD2=8, MSTR_SK2=4, MSTR_RPT=1, MSTR_ILV=1,
                  SSTR_STP=8, SSTR_NST=2)),
    # NIRISS-SOSS-like transposed readout (|FASTAXIS| = 2)
    "superstripe_transposed": dict(
        shape=(4, 2, 48, 20), substrt=(1, 1), axes=(-2, -1),
        mstr=dict(MSTR_RD1=4, MSTR_SK1=10, MSTR_RD2=0, MSTR_SK2=0, MSTR_RPT=0, MSTR_ILV=0,
                  SSTR_STP=16, SSTR_NST=4)),
    # repeat_stripe without interleave, slow start inside the detector, positive axes
    "superstripe_repeat": dict(
        shape=(2, 2, 24, 40), substrt=(101, 301), axes=(1, 2),
        mstr=dict(MSTR_RD1=4, MSTR_SK1=30, MSTR_RD2=8, MSTR_SK2=0, MSTR_RPT=1, MSTR_ILV=0,
                  SSTR_STP=8, SSTR_NST=2)),
    # substripe readout (SSTR_NST = 0): RampModel, 2-D PIXELDQ
    "substripe": dict(shape=(1, 2, 28, 64), substrt=(1, 1), axes=(-1, 2),
                      mstr=dict(MSTR_RD1=4, MSTR_SK1=100, MSTR_RD2=8, MSTR_SK2=50, MSTR_RPT=0,
                                MSTR_ILV=0, SSTR_STP=0, SSTR_NST=0)),
}


@pytest.mark.parametrize("case", sorted(STRIPES))
def test_stripes(tmp_path, full_mask, case):
    c = STRIPES[case]
    fast, slow = c["axes"]
    keys = dict(c["mstr"], FASTAXIS=fast, SLOWAXIS=slow, SUBARRAY="SUB17STRIPE_SOSS")
    exp = write_exposure(tmp_path / f"{case}_uncal.fits", c["shape"], substrt=c["substrt"],
                         keys=keys)
    got = assert_same_as_jwst(tmp_path, exp, full_mask)
    n = c["mstr"]["SSTR_NST"]
    want = (n, *c["shape"][-2:]) if n else c["shape"][-2:]
    assert got["PIXELDQ"].shape == want
    assert np.count_nonzero(got["PIXELDQ"]) > 0


def test_superstripe_dhs_name_resets_start(tmp_path, full_mask, caplog):
    keys = dict(STRIPES["superstripe_plain"]["mstr"], FASTAXIS=-1, SLOWAXIS=2,
                SUBARRAY="SUB160STRIPE4_DHS")
    exp = write_exposure(tmp_path / "dhs_uncal.fits", (3, 1, 20, 64), substrt=(1, 500),
                         keys=keys)
    with caplog.at_level(logging.INFO):
        assert_same_as_jwst(tmp_path, exp, full_mask)
    assert "Setting detector start index to 0 for DHS" in messages(caplog)


# --------------------------------------------------------------------------------------------
# FGS guide star, IRS2, user DQ, DQ_DEF names
# --------------------------------------------------------------------------------------------


def _fgs_mask(tmp_path):
    keys = {"INSTRUME": "FGS", "DETECTOR": "GUIDER2", "FASTAXIS": 2, "SLOWAXIS": -1}
    return write_raw_mask(tmp_path / "fgs_mask.fits", random_raw((2048, 2048), seed=11),
                          keys=keys)


def test_fgs_acq1_real_file(tmp_path):
    exp = shared_file(FGS_ACQ1)
    got = assert_same_as_jwst(tmp_path, exp, _fgs_mask(tmp_path))
    assert sorted(got) == ["DQ"] and got["DQ"].shape == (128, 128)
    assert np.count_nonzero(got["DQ"]) > 0


@pytest.mark.parametrize("exp_type", ["FGS_TRACK", "FGS_ID-STACK"])
def test_fgs_generated_guider_types(tmp_path, exp_type):
    keys = {"INSTRUME": "FGS", "DETECTOR": "GUIDER2", "EXP_TYPE": exp_type, "FASTAXIS": 2,
            "SLOWAXIS": -1}
    old = np.full((32, 32), 4, np.uint32)
    exp = write_exposure(tmp_path / "track_uncal.fits", (3, 1, 32, 32), substrt=(1001, 1201),
                         keys=keys, extra_hdus=[fits.ImageHDU(old, name="DQ")])
    got = assert_same_as_jwst(tmp_path, exp, _fgs_mask(tmp_path))
    assert "GROUPDQ" not in got and np.all(got["DQ"] & 4)


def test_irs2_3200_rows(tmp_path):
    keys = {"INSTRUME": "NIRSPEC", "DETECTOR": "NRS1", "EXP_TYPE": "NRS_FIXEDSLIT",
            "READPATT": "NRSIRS2RAPID", "FASTAXIS": 2, "SLOWAXIS": 1}
    raw = random_raw((3200, 2048), seed=13)
    mask = write_raw_mask(tmp_path / "irs2_mask.fits", raw, keys=dict(keys, SUBSIZE2=2048))
    exp = write_exposure(tmp_path / "irs2_uncal.fits", (1, 2, 3200, 2048), keys=keys,
                         subsize=(2048, 2048))
    got = assert_same_as_jwst(tmp_path, exp, mask)
    assert got["PIXELDQ"].shape == (3200, 2048)


def test_user_dq_reaches_groupdq(tmp_path, full_mask):
    from dqmask.dq_init.mask_ref import write_user_dq

    exp = write_exposure(tmp_path / "u_uncal.fits", (2, 2, 64, 96), substrt=(101, 201))
    user = np.zeros((64, 96), np.uint32)
    user[3, 4] = 1  # DO_NOT_USE -> every group
    user[5, 6] = 2**30  # OTHER_BAD_PIXEL -> PIXELDQ only
    write_user_dq(tmp_path / "user.fits", user)
    got = assert_same_as_jwst(tmp_path, exp, full_mask, user_dq=tmp_path / "user.fits")
    assert np.all(got["GROUPDQ"][:, :, 3, 4] & 1)
    assert got["PIXELDQ"][5, 6] & 2**30


def test_user_dq_superstripe_3d(tmp_path, full_mask):
    c = STRIPES["superstripe_plain"]
    keys = dict(c["mstr"], FASTAXIS=-1, SLOWAXIS=2)
    exp = write_exposure(tmp_path / "ss_uncal.fits", c["shape"], keys=keys)
    user = np.zeros((3, 20, 64), np.uint32)
    user[1, 2, 3] = 1
    fits.PrimaryHDU(user).writeto(tmp_path / "u3.fits")
    got = assert_same_as_jwst(tmp_path, exp, full_mask, user_dq=tmp_path / "u3.fits")
    assert np.all(got["GROUPDQ"][1::3, :, 2, 3] & 1)


def test_dq_def_renamed_and_unknown_names_warn_like_jwst(tmp_path, caplog):
    dq_def = [(0, 1, "DO_NOT_USE"), (8, 2, "UNRELIABLE_ERROR"), (4, 4, "RESERVED_1"),
              (3, 8, "FGS_WARM"), (1, 16, "dead"), (2, 16, "DEAD"), (6, 64, "HOT"),
              (6, 64, "WARM")]
    raw = random_raw((2048, 2048), seed=17, bits=0xFF)
    mask = write_raw_mask(tmp_path / "names_mask.fits", raw, dq_def=dq_def)
    exp = write_exposure(tmp_path / "n_uncal.fits", (1, 1, 128, 128), substrt=(33, 65))
    with caplog.at_level(logging.WARNING):
        got = assert_same_as_jwst(tmp_path, exp, mask)
    unknown = ["UNRELIABLE_ERROR", "RESERVED_1", "FGS_WARM", "dead"]
    text = "Keyword {} does not correspond to an existing DQ mnemonic, so will be ignored"
    jwst_msgs = messages(caplog, "stdatamodels.dynamicdq")
    ours_msgs = messages(caplog)
    for name in unknown:
        assert text.format(name) in jwst_msgs
        assert text.format(name) in ours_msgs
    # aliases are not resolved (faithful): bits 2/4/8 carry nothing; 16 -> DEAD, 64 -> HOT|WARM
    assert not np.any(got["PIXELDQ"] & np.uint32(4 | 8 | 16 | 256))
    assert np.any(got["PIXELDQ"] == 2048 | 4096)


def test_misshaped_pixeldq_and_groupdq_replaced_like_jwst(tmp_path, full_mask, caplog):
    bad_p = np.full((10, 10), 7, np.uint32)
    bad_g = np.full((1, 1, 10, 10), 1, np.uint8)
    exp = write_exposure(tmp_path / "bad_uncal.fits", (1, 2, 64, 64), substrt=(200, 200),
                         extra_hdus=[fits.ImageHDU(bad_p, name="PIXELDQ"),
                                     fits.ImageHDU(bad_g, name="GROUPDQ")])
    with caplog.at_level(logging.WARNING):
        got = assert_same_as_jwst(tmp_path, exp, full_mask)
    assert "Setting input pixel DQ to default array" in messages(caplog)
    assert "Setting input group DQ to default array" in messages(caplog)
    assert got["PIXELDQ"].shape == (64, 64)


def test_substripe_without_sstr_nst_differs_from_jwst_on_purpose(tmp_path, full_mask):
    """jwst 3.0 crashes (TypeError, ``None > 0``) on MSTR_* data lacking SSTR_NST; dqmask
    reads a missing SSTR_NST as 0 and gives what jwst gives with SSTR_NST = 0."""
    from dqmask.dq_init.tests.test_dq_init_support import jwst_dqinit, ours

    mstr = dict(STRIPES["substripe"]["mstr"])
    without = {k: v for k, v in mstr.items() if k != "SSTR_NST"}
    a = write_exposure(tmp_path / "no_nst_uncal.fits", (1, 2, 28, 64), keys=without)
    b = write_exposure(tmp_path / "nst0_uncal.fits", (1, 2, 28, 64), keys=mstr)
    with pytest.raises(TypeError):
        jwst_dqinit(a, full_mask)
    got = ours(a, full_mask, tmp_path / "a_out.fits")
    want = jwst_dqinit(b, full_mask)
    for name in ("PIXELDQ", "GROUPDQ"):
        np.testing.assert_array_equal(got[name], want[name])


def test_superstripe_reference_without_keywords_like_dhs(tmp_path, caplog):
    """Superstripe data never check the MASK keywords (DHS references have none)."""
    drop = ("SUBSTRT1", "SUBSTRT2", "SUBSIZE1", "SUBSIZE2")
    mask = write_raw_mask(tmp_path / "dhs_mask.fits", random_raw((2048, 2048), seed=21),
                          drop=drop)
    keys = dict(STRIPES["superstripe_plain"]["mstr"], FASTAXIS=-1, SLOWAXIS=2,
                SUBARRAY="SUB164STRIPE4_DHS")
    exp = write_exposure(tmp_path / "dhs2_uncal.fits", (3, 1, 20, 2048), keys=keys)
    with caplog.at_level(logging.WARNING):
        assert_same_as_jwst(tmp_path, exp, mask)
    assert "Missing subarray corner/size keywords in reference file" not in messages(caplog)


def test_superstripe_without_mstr_rd1_is_a_clear_error(tmp_path, full_mask):
    from dqmask.dq_init.files import dq_init_file
    from dqmask.errors import InputError

    exp = write_exposure(tmp_path / "nomstr_uncal.fits", (2, 1, 16, 16),
                         keys={"SSTR_NST": 2, "SSTR_STP": 8})
    with pytest.raises(InputError, match="without MSTR_RD1"):
        dq_init_file(exp, full_mask, tmp_path / "o.fits")
