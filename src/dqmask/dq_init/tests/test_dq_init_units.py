"""dq_init pure functions and MASK / user-DQ file I/O."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from astropy.io import fits

from dqmask.conftest import shared_file
from dqmask.dq_init import core as alg
from dqmask.dq_init.mask_ref import (
    read_mask_ref,
    read_user_dq,
    write_mask_ref,
    write_user_dq,
)
from dqmask.dq_init.tests.test_dq_init_support import messages
from dqmask.errors import InputError

# --------------------------------------------------------------------------------------------
# DQ_DEF mapping
# --------------------------------------------------------------------------------------------


def test_fixture_dq_def_mapping_matches_spec(caplog):
    ref = read_mask_ref(shared_file("jwst_nircam_mask_0026_nrca1_MASK_ref.fits"))
    on_disk = np.array([0, 1, 2, 1025, 2048, 2049, 16385, 81920], np.uint32)
    with caplog.at_level(logging.WARNING):
        got = ref.standard(on_disk)
    assert got.tolist() == [0, 1, 2147483648, 1, 0, 1, 16385, 16384]
    assert got.dtype == np.uint32
    assert messages(caplog) == [
        "Keyword NOISY does not correspond to an existing DQ mnemonic, so will be ignored",
        "Keyword WEIRD does not correspond to an existing DQ mnemonic, so will be ignored",
    ]


def test_fixture_whole_mask_equals_stdatamodels():
    from stdatamodels.jwst import datamodels

    path = shared_file("jwst_nircam_mask_0026_nrca1_MASK_ref.fits")
    ref = read_mask_ref(path)
    with datamodels.MaskModel(str(path)) as model:
        np.testing.assert_array_equal(ref.standard(warn=False), model.dq)
    report = ref.report()
    assert report.unknown_names == ("NOISY", "WEIRD")
    assert report.undefined_bits == 1024 | 2048 | 65536  # on-disk bits with no DQ_DEF row
    assert report.pixels_losing_bits > 0


def test_construction_order_hazard_is_gone(tmp_path, caplog):
    """stdatamodels' DQ_DEF compression: standard [1, 2048, 1024, 0] with {1:DNU, 2:HOT, 4:DEAD}
    -> disk [1, 2, 4, 0], whatever the order the model was built in."""
    from stdatamodels.jwst import datamodels

    std = np.array([[1, 2048, 1024, 0]], np.uint32)
    rows = [(1, "DO_NOT_USE"), (2, "HOT"), (4, "DEAD")]
    write_mask_ref(tmp_path / "m.fits", std, instrument="NIRCAM", detector="NRCA1", dq_def=rows)
    with fits.open(tmp_path / "m.fits") as hdul:
        assert hdul["DQ"].data.tolist() == [[1, 2, 4, 0]]
        assert hdul["DQ"].header["BITPIX"] == 32 and hdul["DQ"].header["BZERO"] == 2**31
        assert hdul["DQ_DEF"].data["VALUE"].tolist() == [1, 2, 4]
    ref = read_mask_ref(tmp_path / "m.fits")
    assert ref.raw_dq.tolist() == [[1, 2, 4, 0]]  # on disk, compressed
    assert ref.standard().tolist() == std.tolist()  # standard, whatever the order
    with datamodels.MaskModel(str(tmp_path / "m.fits")) as model:
        assert model.dq.tolist() == std.tolist()
    assert alg.compress_dq(np.array([1, 2, 4, 8], np.uint32),
                           rows + [(8, "FGS_NOISY")]).tolist() == [1, 0, 0, 0]


def test_mask_writer_refuses_lossy_tables(tmp_path):
    std = np.array([[1, 2048]], np.uint32)
    with pytest.raises(ValueError, match="absent from DQ_DEF: HOT"):
        write_mask_ref(tmp_path / "m.fits", std, instrument="NIRCAM", detector="NRCA1",
                       dq_def=[(1, "DO_NOT_USE")])
    with pytest.raises(ValueError, match="absent from DQ_DEF: HOT"):  # NOISY stores nothing
        write_mask_ref(tmp_path / "m.fits", std, instrument="NIRCAM", detector="NRCA1",
                       dq_def=[(1, "DO_NOT_USE"), (2, "NOISY")])
    with pytest.raises(ValueError, match="neither"):
        write_mask_ref(tmp_path / "m.fits", std, instrument="NIRCAM", detector="NRCA1",
                       dq_def=[(1, "DO_NOT_USE", "x")])  # type: ignore[list-item]  # wrong on purpose
    with pytest.raises(TypeError):
        write_mask_ref(tmp_path / "m.fits", std.astype(float), instrument="N", detector="D")
    assert not (tmp_path / "m.fits").exists()


def test_default_identity_dq_def_round_trip(tmp_path):
    std = np.zeros((16, 16), np.uint32)
    std[1, 2] = 1 | 2**31
    std[3, 4] = 2**30
    rows = write_mask_ref(tmp_path / "m.fits", std, instrument="NIRCAM", detector="NRCB2",
                          subarray="SUB16", substrt=(5, 9))
    assert [n for _, n in rows] == ["DO_NOT_USE", "OTHER_BAD_PIXEL", "REFERENCE_PIXEL"]
    ref = read_mask_ref(tmp_path / "m.fits")
    assert ref.standard().tolist() == std.tolist()
    assert (ref.subarray.xstart, ref.subarray.ystart, ref.subarray.xsize) == (5, 9, 16)
    assert ref.detector == "NRCB2" and ref.reftype == "MASK"


def test_non_mask_reference_refused(tmp_path):
    fits.HDUList([fits.PrimaryHDU(header=fits.Header([("REFTYPE", "FLAT")])),
                  fits.ImageHDU(np.zeros((4, 4), np.uint32), name="DQ")]).writeto(
        tmp_path / "flat.fits")
    with pytest.raises(InputError, match=r"not a MASK reference file \(REFTYPE=FLAT\)"):
        read_mask_ref(tmp_path / "flat.fits")


# --------------------------------------------------------------------------------------------
# User DQ files
# --------------------------------------------------------------------------------------------


def test_user_dq_writer_and_reader(tmp_path):
    dq = np.arange(12, dtype=np.uint32).reshape(3, 4) * 2**28
    write_user_dq(tmp_path / "u.fits", dq)
    assert fits.getdata(tmp_path / "u.fits").tolist() == dq.tolist()  # what jwst reads
    assert read_user_dq(tmp_path / "u.fits").tolist() == dq.tolist()
    write_user_dq(tmp_path / "b.fits", np.array([[True, False]]))
    assert read_user_dq(tmp_path / "b.fits").tolist() == [[1, 0]]
    with pytest.raises(TypeError):
        write_user_dq(tmp_path / "f.fits", np.ones((2, 2), np.float32))
    with pytest.raises(ValueError, match="negatives"):
        write_user_dq(tmp_path / "n.fits", -np.ones((2, 2), np.int32))


def test_user_dq_read_from_extension_1_like_getdata(tmp_path):
    data = np.array([[1, 2], [4, 8]], np.int32)
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data, name="WHATEVER")]).writeto(
        tmp_path / "e1.fits")
    assert read_user_dq(tmp_path / "e1.fits").tolist() == fits.getdata(tmp_path / "e1.fits"
                                                                        ).tolist()
    fits.HDUList([fits.PrimaryHDU()]).writeto(tmp_path / "empty.fits")
    with pytest.raises(InputError, match="No data in this HDU"):
        read_user_dq(tmp_path / "empty.fits")


def test_user_dq_validation_and_faithful_cast():
    mask = np.zeros((2, 2), np.uint32)
    with pytest.raises(ValueError, match="non-integer"):
        alg.merge_user_dq(mask.copy(), np.full((2, 2), 1.5))
    with pytest.raises(ValueError, match="negative"):
        alg.merge_user_dq(mask.copy(), np.full((2, 2), -1, np.int64))
    user = np.array([[1.9, -1], [3, 0]])
    got = alg.merge_user_dq(mask.copy(), user, validate=False)
    assert got.tolist() == user.astype(np.uint32).tolist()  # jwst's astype semantics


# --------------------------------------------------------------------------------------------
# Geometry and the OR
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fast,slow", [(1, 2), (-1, 2), (1, -2), (-1, -2),
                                       (2, 1), (-2, 1), (2, -1), (-2, -1)])
def test_frame_transforms_match_jwst(fast, slow):
    pytest.importorskip("jwst", reason="jwst is not importable: this test runs it side by side")
    from jwst.lib import reffile_utils as ru

    a = np.arange(2 * 3 * 5, dtype=np.uint32).reshape(2, 3, 5)
    det = alg.science_to_detector(a, fast, slow)
    np.testing.assert_array_equal(det, ru.science_detector_frame_transform(a, fast, slow))
    back = alg.detector_to_science(det, fast, slow)
    np.testing.assert_array_equal(back, ru.detector_science_frame_transform(det, fast, slow))
    np.testing.assert_array_equal(back, a)


def test_exposure_kind():
    assert alg.exposure_kind("FGS_ACQ1", None) is alg.ExposureKind.GUIDER
    assert alg.exposure_kind("fgs_id-stack", 3) is alg.ExposureKind.GUIDER
    assert alg.exposure_kind("NRC_IMAGE", 3) is alg.ExposureKind.SUPERSTRIPE
    assert alg.exposure_kind("NRC_IMAGE", 0) is alg.ExposureKind.RAMP
    assert alg.exposure_kind(None, None) is alg.ExposureKind.RAMP


def test_groupdq_only_receives_do_not_use():
    mask = np.array([[1 | 2 | 4 | 2**31, 2]], np.uint32)
    made = alg.ensure_dq_arrays(alg.ExposureKind.RAMP, (2, 3, 1, 2),
                                {"pixeldq": None, "groupdq": None})
    arrays = {name: a for name, a in made.items() if a is not None}
    assert sorted(arrays) == ["groupdq", "pixeldq"]
    alg.apply_mask(alg.ExposureKind.RAMP, mask, arrays)
    assert arrays["groupdq"].dtype == np.uint8 and arrays["pixeldq"].dtype == np.uint32
    assert arrays["groupdq"][:, :, 0, 0].tolist() == [[1, 1, 1], [1, 1, 1]]
    assert not arrays["groupdq"][:, :, 0, 1].any()
    assert arrays["pixeldq"].tolist() == mask.tolist()


def test_superstripe_groupdq_layout_and_bad_nints():
    mask = np.zeros((2, 1, 1), np.uint32)
    mask[1] = 1
    arrays: dict[str, np.ndarray] = {"pixeldq": np.zeros((2, 1, 1), np.uint32),
                                     "groupdq": np.zeros((4, 2, 1, 1), np.uint8)}
    alg.apply_mask(alg.ExposureKind.SUPERSTRIPE, mask, arrays)
    assert arrays["groupdq"][:, 0, 0, 0].tolist() == [0, 1, 0, 1]  # row = integ * N + stripe
    arrays["groupdq"] = np.zeros((3, 2, 1, 1), np.uint8)
    with pytest.raises(ValueError, match="not a multiple of SSTR_NST=2"):
        alg.apply_mask(alg.ExposureKind.SUPERSTRIPE, mask, arrays)


def test_superstripe_needs_a_2d_reference():
    sci = alg.Subarray(1, 1, 8, 8, -1, 2, "S")
    st = alg.Stripes(reads1=0, reads2=0, superstripe_step=4, num_superstripe=2)
    with pytest.raises(ValueError, match=r"^Unsupported shape: len\(ref_shape\) == 3$"):
        alg.extract_stripes(np.zeros((2, 2048, 2048), np.uint32), sci, alg.Subarray(), st)


def test_slow_start_one_with_negative_axis_warns(caplog):
    with caplog.at_level(logging.WARNING):
        assert alg.detector_slow_start(-2, 1) == 0
        assert alg.detector_slow_start(-2, 2046) == 2
        assert alg.detector_slow_start(2, 3) == 2
        assert alg.detector_slow_start(2, 3, "SUB160STRIPE4_DHS") == 0
    assert messages(caplog) == [
        "Slow start is set to 1 for slowaxis=-2. Setting detector start index to 0.",
        "Setting detector start index to 0 for DHS",
    ]


def test_size_mismatch_warnings_and_irs2_tolerance(caplog):
    ref = alg.Subarray(1, 1, 2048, 2048)
    with caplog.at_level(logging.WARNING):
        assert alg.ref_matches_sci(alg.Subarray(1, 1, 2048, 2048), (3200, 2048), ref,
                                   (3200, 2048))
    assert messages(caplog) == []
    with caplog.at_level(logging.WARNING):
        alg.ref_matches_sci(alg.Subarray(1, 1, 60, 64), (64, 64), ref, (2048, 2048))
    assert messages(caplog) == ["Science file data array size doesn't match SUBSIZE1",
                                "Using actual array size"]


def test_decompress_with_report_equals_the_two_calls():
    ref = read_mask_ref(shared_file("jwst_nircam_mask_0026_nrca1_MASK_ref.fits"))
    raw = ref.raw_dq[100:700, 300:1500].copy()
    want = alg.decompress_dq(raw, ref.dq_def, warn=False)
    want_report = alg.dq_def_report(raw, ref.dq_def)
    got, report = alg.decompress_with_report(raw, ref.dq_def, warn=False)
    assert got is raw
    np.testing.assert_array_equal(got, want)
    assert report == want_report and report.undefined_bits


# --------------------------------------------------------------------------------------------
# Who owns the MASK array
# --------------------------------------------------------------------------------------------


def test_mask_for_science_copies_unless_told_it_may_return_the_reference():
    raw = np.arange(16, dtype=np.uint32).reshape(4, 4)
    ref = alg.Subarray(xstart=1, ystart=1, xsize=4, ysize=4, fastaxis=-1, slowaxis=2)
    copied = alg.mask_for_science(raw, ref, "NIRCAM", ref, (1, 2, 4, 4))
    assert copied is not raw and not np.shares_memory(copied, raw)
    assert alg.mask_for_science(raw, ref, "NIRCAM", ref, (1, 2, 4, 4), copy=False) is raw
    corner = alg.Subarray(xstart=1, ystart=1, xsize=2, ysize=2, fastaxis=-1, slowaxis=2)
    cut = alg.mask_for_science(raw, ref, "NIRCAM", corner, (1, 2, 2, 2), copy=False)
    assert cut.tolist() == [[0, 1], [4, 5]] and not np.shares_memory(cut, raw)


def test_a_mask_ref_given_to_several_exposures_is_never_modified(tmp_path):
    """A MaskRef passed in (one MASK read for a batch) stays as read; a MASK read by
    dq_init_file itself becomes the cut (no copy) with the same result."""
    from dqmask.dq_init.files import dq_init_file
    from dqmask.dq_init.tests.test_dq_init_support import (
        random_raw,
        write_exposure,
        write_raw_mask,
    )

    raw = random_raw((64, 80), seed=4)
    mask = write_raw_mask(tmp_path / "mask.fits", raw)
    exposure = write_exposure(tmp_path / "jw_uncal.fits", (1, 3, 64, 80))
    ref = read_mask_ref(mask)
    before = ref.raw_dq.copy()
    outs = [tmp_path / f"out{i}.fits" for i in range(3)]
    dq_init_file(exposure, ref, outs[0])
    dq_init_file(exposure, ref, outs[1])
    dq_init_file(exposure, mask, outs[2])
    assert np.array_equal(ref.raw_dq, before)
    with fits.open(outs[0]) as a, fits.open(outs[1]) as b, fits.open(outs[2]) as c:
        for ext in ("PIXELDQ", "GROUPDQ"):
            assert np.array_equal(a[ext].data, b[ext].data)
            assert np.array_equal(a[ext].data, c[ext].data)
        assert np.array_equal(a["PIXELDQ"].data, ref.standard(warn=False))
