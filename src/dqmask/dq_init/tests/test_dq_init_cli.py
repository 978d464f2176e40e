"""``dqmask dqinit``: outputs, file safety, idempotence, one-line errors, jwst can read us."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from dqmask.dq_init.tests.test_dq_init_support import (
    random_raw,
    sci_bytes_digest,
    write_exposure,
    write_raw_mask,
)
from dqmask.io.fits import step_records


def _sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def mask(tmp_path):
    return write_raw_mask(tmp_path / "nrca1_mask.fits", random_raw((2048, 2048), seed=2))


@pytest.fixture
def exposure(tmp_path):
    return write_exposure(tmp_path / "jw_nrca1_uncal.fits", (2, 3, 64, 80), substrt=(300, 400))


def test_default_output_beside_input(run_cli, tmp_path, mask, exposure):
    before = _sha(exposure)
    code, out, err = run_cli("dqinit", exposure, "--mask", mask)
    assert code == 0, err
    result = tmp_path / "jw_nrca1_dqinitstep.fits"
    assert result.exists() and f"-> {result}" in out
    assert _sha(exposure) == before  # input untouched
    assert sci_bytes_digest(result) == sci_bytes_digest(exposure)  # SCI copied byte for byte
    with fits.open(result) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SCI", "PIXELDQ", "GROUPDQ"]
        assert hdul["SCI"].header["BITPIX"] == 16  # still uint16, never float
        assert hdul[0].header["S_DQINIT"] == "COMPLETE"
        assert hdul[0].header["R_MASK"] == str(mask.resolve())
        assert [s for s, _ in step_records(hdul[0].header)] == ["dqinit"]
        assert hdul["PIXELDQ"].data.dtype == np.uint32
        assert hdul["GROUPDQ"].data.dtype == np.uint8


def test_in_place_then_skip_then_force(run_cli, mask, exposure):
    sci = sci_bytes_digest(exposure)
    code, _, err = run_cli("dqinit", exposure, "--mask", mask, "--in-place")
    assert code == 0, err
    assert sci_bytes_digest(exposure) == sci
    done = _sha(exposure)
    code, _, err = run_cli("dqinit", exposure, "--mask", mask, "--in-place")
    assert code == 0
    assert "S_DQINIT = COMPLETE" in err and "skipped" in err
    assert _sha(exposure) == done  # not rewritten
    code, _, err = run_cli("dqinit", exposure, "--mask", mask, "--in-place", "--force")
    assert code == 0, err
    with fits.open(exposure) as hdul:
        assert len(step_records(hdul[0].header, "dqinit")) == 2
    assert sci_bytes_digest(exposure) == sci


def test_output_dir_and_jobs(run_cli, tmp_path, mask):
    a = write_exposure(tmp_path / "a_uncal.fits", (1, 2, 32, 32), substrt=(1, 1))
    b = write_exposure(tmp_path / "b_uncal.fits", (1, 2, 32, 32), substrt=(17, 33))
    code, _, err = run_cli("dqinit", a, b, "--mask", mask, "--output-dir", tmp_path / "out",
                           "--jobs", "2")
    assert code == 0, err
    assert (tmp_path / "out" / "a_uncal.fits").exists()
    assert (tmp_path / "out" / "b_uncal.fits").exists()


def test_output_with_two_inputs_is_usage_error(run_cli, tmp_path, mask, exposure):
    code, _, err = run_cli("dqinit", exposure, exposure, "--mask", mask, "-o", tmp_path / "x")
    assert code == 2 and "exactly one input" in err


def _bad(run_cli, exposure, mask, *extra):
    before = _sha(exposure)
    code, out, err = run_cli("dqinit", exposure, "--mask", mask, *extra)
    lines = [ln for ln in err.splitlines() if ln.startswith("dqmask:")]
    assert code == 1
    assert _sha(exposure) == before
    return lines


def test_wrong_detector_is_an_error_unless_overridden(run_cli, tmp_path, exposure):
    other = write_raw_mask(tmp_path / "nrcb1_mask.fits", random_raw((2048, 2048)),
                           keys={"DETECTOR": "NRCB1"})
    lines = _bad(run_cli, exposure, other)
    assert lines == [f"dqmask: {exposure}: MASK nrcb1_mask.fits is for DETECTOR NRCB1 "
                     f"(exposure: NRCA1); use --ignore-detector to apply it anyway"]
    assert not (tmp_path / "jw_nrca1_dqinitstep.fits").exists()
    code, _, err = run_cli("dqinit", exposure, "--mask", other, "--ignore-detector")
    assert code == 0, err


def test_wrong_instrument(run_cli, tmp_path, exposure):
    miri = write_raw_mask(tmp_path / "miri.fits", random_raw((1024, 1032)),
                          keys={"INSTRUME": "MIRI", "DETECTOR": "MIRIMAGE"})
    (line,) = _bad(run_cli, exposure, miri)
    assert "INSTRUME MIRI (exposure: NIRCAM), DETECTOR MIRIMAGE (exposure: NRCA1)" in line


def test_non_mask_reference(run_cli, tmp_path, exposure):
    flat = write_raw_mask(tmp_path / "flat.fits", random_raw((64, 64)), keys={"REFTYPE": "FLAT"})
    assert _bad(run_cli, exposure, flat) == [
        f"dqmask: {flat}: not a MASK reference file (REFTYPE=FLAT)"]


def test_missing_substrt(run_cli, tmp_path, mask):
    exp = write_exposure(tmp_path / "nokey_uncal.fits", (1, 1, 16, 16), drop=("SUBSTRT2",))
    assert _bad(run_cli, exp, mask) == [
        f"dqmask: {exp}: Can't determine science file subarray properties"]


def test_mask_that_cannot_match(run_cli, tmp_path):
    small = write_raw_mask(tmp_path / "small.fits", random_raw((128, 128)), substrt=(1, 1))
    exp = write_exposure(tmp_path / "far_uncal.fits", (1, 1, 64, 64), substrt=(500, 500))
    assert _bad(run_cli, exp, small) == [f"dqmask: {exp}: Bad reference file slice indexes"]


def test_rate_file_refused(run_cli, tmp_path, mask):
    rate = tmp_path / "x_rate.fits"
    fits.HDUList([fits.PrimaryHDU(header=fits.Header([("TELESCOP", "JWST")])),
                  fits.ImageHDU(np.zeros((8, 8), np.float32), name="SCI")]).writeto(rate)
    (line,) = _bad(run_cli, rate, mask)
    assert "needs a raw ramp (4-D SCI" in line


def test_batch_continues_after_a_bad_file(run_cli, tmp_path, mask, exposure):
    bad = write_exposure(tmp_path / "bad_uncal.fits", (1, 1, 16, 16), drop=("SUBSTRT1",))
    code, _, err = run_cli("dqinit", bad, exposure, "--mask", mask)
    assert code == 1
    assert (tmp_path / "jw_nrca1_dqinitstep.fits").exists()
    assert not (tmp_path / "bad_dqinitstep.fits").exists()
    assert "1 of 2 inputs failed" in err


def test_output_opens_in_stdatamodels_and_jwst_agrees(run_cli, tmp_path, mask):
    """A real stdatamodels-written uncal (ASDF extension): RampModel sees our new DQ."""
    pytest.importorskip("jwst", reason="jwst is not importable: this test runs it side by side")
    from jwst.dq_init.dq_initialization import do_dqinit
    from stdatamodels.jwst import datamodels

    model = datamodels.Level1bModel(
        data=np.random.default_rng(0).integers(0, 9000, (1, 4, 32, 48)).astype(np.uint16))
    model.meta.instrument.name = "NIRCAM"
    model.meta.instrument.detector = "NRCA1"
    model.meta.exposure.type = "NRC_IMAGE"
    model.meta.subarray.name = "SUB64P"
    model.meta.subarray.xstart, model.meta.subarray.ystart = 1001, 17
    model.meta.subarray.xsize, model.meta.subarray.ysize = 48, 32
    model.meta.subarray.fastaxis, model.meta.subarray.slowaxis = -1, 2
    uncal = tmp_path / "sdm_uncal.fits"
    model.save(str(uncal))
    code, _, err = run_cli("dqinit", uncal, "--mask", mask)
    assert code == 0, err
    out = tmp_path / "sdm_dqinitstep.fits"
    with datamodels.RampModel(str(out)) as ours, datamodels.RampModel(str(uncal)) as ref, \
            datamodels.MaskModel(str(mask)) as mm:
        do_dqinit(ref, mm)
        assert ours.meta.cal_step.dq_init == "COMPLETE"
        assert ours.meta.ref_file.mask.name == str(mask.resolve())
        assert np.count_nonzero(ours.pixeldq) > 0
        np.testing.assert_array_equal(ours.pixeldq, ref.pixeldq)
        np.testing.assert_array_equal(ours.groupdq, ref.groupdq)
        np.testing.assert_array_equal(ours.data, ref.data)


def test_na_mask_records_skipped(run_cli, tmp_path, exposure):
    code, _, err = run_cli("dqinit", exposure, "--mask", "N/A", "-o", tmp_path / "na.fits")
    assert code == 0
    assert "No MASK reference file found" in err
    with fits.open(tmp_path / "na.fits") as hdul:
        assert hdul[0].header["S_DQINIT"] == "SKIPPED"
        assert hdul[0].header["R_MASK"] == "N/A"
        assert [h.name for h in hdul] == ["PRIMARY", "SCI"]


def test_replaced_pixeldq_keeps_its_cards_and_superstripe_opens(run_cli, tmp_path, mask):
    from stdatamodels.jwst import datamodels

    old = fits.ImageHDU(np.full((3, 20, 64), 8, np.uint32), name="PIXELDQ")
    old.header["MYCARD"] = "kept"
    keys = dict(MSTR_RD1=4, MSTR_SK1=0, MSTR_RD2=0, MSTR_SK2=0, MSTR_RPT=0, MSTR_ILV=0,
                SSTR_STP=16, SSTR_NST=3, SUBARRAY="SUB160STRIPE4_DHS")
    exp = write_exposure(tmp_path / "ss_uncal.fits", (3, 2, 20, 64), keys=keys,
                         extra_hdus=[old])
    code, _, err = run_cli("dqinit", exp, "--mask", mask)
    assert code == 0, err
    out = tmp_path / "ss_dqinitstep.fits"
    with fits.open(out) as hdul:
        assert hdul["PIXELDQ"].header["MYCARD"] == "kept"
        assert np.all(hdul["PIXELDQ"].data & 8)
    with datamodels.SuperstripeRampModel(str(out)) as model:
        assert model.pixeldq.shape == (3, 20, 64)
        assert model.meta.cal_step.dq_init == "COMPLETE"


def test_demo_hook(tmp_path):
    from dqmask.dq_init.cli import demo

    lines: list[str] = []
    demo(tmp_path, {}, lines.append)
    assert any("dqinit" in ln and "DO_NOT_USE" in ln for ln in lines)
    with fits.open(tmp_path / "demo_nircam_dqinitstep.fits") as hdul:
        assert hdul["GROUPDQ"].data[0, 0, 10:20, 10:20].all()  # the user DQ box


def test_2d_user_dq_on_superstripe_data_needs_the_option(run_cli, tmp_path, mask):
    from dqmask.dq_init.mask_ref import write_user_dq

    keys = dict(MSTR_RD1=4, MSTR_SK1=0, MSTR_RD2=0, MSTR_SK2=0, MSTR_RPT=0, MSTR_ILV=0,
                SSTR_STP=16, SSTR_NST=3)
    exp = write_exposure(tmp_path / "ss_uncal.fits", (3, 1, 20, 64), keys=keys)
    user = np.zeros((20, 64), np.uint32)
    user[2, 3] = 1
    write_user_dq(tmp_path / "u2.fits", user)
    code, _, err = run_cli("dqinit", exp, "--mask", mask, "--user-dq", tmp_path / "u2.fits")
    assert code == 1 and "user_dq has shape=(20, 64) but expecting (3, 20, 64)" in err
    code, _, err = run_cli("dqinit", exp, "--mask", mask, "--user-dq", tmp_path / "u2.fits",
                           "--user-dq-all-stripes")
    assert code == 0, err
    with fits.open(tmp_path / "ss_dqinitstep.fits") as hdul:
        assert np.all(hdul["PIXELDQ"].data[:, 2, 3] & 1)
        assert np.all(hdul["GROUPDQ"].data[:, :, 2, 3] & 1)


def test_compressed_input_and_output(run_cli, tmp_path, mask, exposure):
    import gzip
    import shutil

    gz_in = tmp_path / "z_uncal.fits.gz"
    with open(exposure, "rb") as src, gzip.open(gz_in, "wb") as dst:
        shutil.copyfileobj(src, dst)
    code, _, err = run_cli("dqinit", gz_in, "--mask", mask, "-o", tmp_path / "z_out.fits.gz")
    assert code == 0, err
    code, _, err = run_cli("dqinit", exposure, "--mask", mask, "-o", tmp_path / "plain.fits")
    assert code == 0, err
    with fits.open(tmp_path / "z_out.fits.gz") as a, fits.open(tmp_path / "plain.fits") as b:
        for name in ("SCI", "PIXELDQ", "GROUPDQ"):
            np.testing.assert_array_equal(a[name].data, b[name].data)
        assert a["SCI"].data.any()


def test_options_and_python_defaults_come_from_parameters():
    """Issue 13 item 4: every PARAMETERS entry is a ``dqmask dqinit`` option with its default
    and help, and ``dq_init_file`` takes the same defaults."""
    import inspect

    from dqmask.cli import build_parser
    from dqmask.dq_init.files import dq_init_file
    from dqmask.dq_init.options import PARAMETERS

    parser = build_parser("dqinit", lazy=True)
    choices = next(a for a in parser._actions if a.dest == "command").choices
    assert isinstance(choices, dict)  # subparsers: name -> ArgumentParser
    sub = choices["dqinit"]
    actions = {a.dest: a for a in sub._actions}
    for option in PARAMETERS:
        action = actions[option.name]
        assert action.option_strings[0] == option.cli_flag
        assert action.help == option.cli_help_text()
        assert action.default == option.default
    signature = inspect.signature(dq_init_file).parameters
    assert {o.name: o.default for o in PARAMETERS if o.name != "mask"} == {
        o.name: signature[o.name].default for o in PARAMETERS if o.name != "mask"}
    assert actions["mask"].required


def test_a_run_in_this_process_opens_the_mask_once(run_cli, tmp_path, mask, monkeypatch):
    """Several inputs share one read; one input's worker reads it (no header check first)."""
    import dqmask.dq_init.files as files_mod
    import dqmask.dq_init.mask_ref as mask_ref_mod

    reads = []
    real = mask_ref_mod.read_mask_ref

    def counting(path):
        reads.append(path)
        return real(path)

    def no_check(path):
        raise AssertionError("the MASK is opened twice")

    monkeypatch.setattr(mask_ref_mod, "read_mask_ref", counting)
    monkeypatch.setattr(files_mod, "read_mask_ref", counting)
    monkeypatch.setattr(mask_ref_mod, "check_mask_ref", no_check)
    a = write_exposure(tmp_path / "a_uncal.fits", (1, 2, 32, 32), substrt=(1, 1))
    b = write_exposure(tmp_path / "b_uncal.fits", (1, 2, 32, 32), substrt=(17, 33))
    code, _, err = run_cli("dqinit", a, b, "--mask", mask, "--output-dir", tmp_path / "both")
    assert code == 0, err
    assert len(reads) == 1
    for one in (a, b):  # the same bytes as a run on that input alone (which reads it itself)
        code, _, err = run_cli("dqinit", one, "--mask", mask, "--output-dir", tmp_path / "one")
        assert code == 0, err
        assert _sha(tmp_path / "both" / one.name) == _sha(tmp_path / "one" / one.name)
    assert len(reads) == 3
