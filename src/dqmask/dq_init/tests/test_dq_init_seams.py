"""dqinit at its seams: what jwst reads next, which file an error names, polarity of user DQ.

Issue 11 items 1, 2, 7 (user DQ), 10 and 13 (``write_mask_ref``). jwst steps run here
through ``Step.call`` with a local reference and CRDS configured off line: the ``crds_offline``
fixture makes any CRDS network access fail the test and checks that nothing was downloaded.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from dqmask.conftest import shared_file
from dqmask.dq_init.files import dq_init_file
from dqmask.dq_init.tests.test_dq_init_support import random_raw, write_exposure, write_raw_mask
from dqmask.errors import InputError

NRCA1_MASK = "jwst_nircam_mask_0026_nrca1_MASK_ref.fits"
FGS_ACQ1 = "jwst_fgs_acq1_uncal_jw01019.fits"
NSCLEAN_MASK = "nsclean_masks/nrs1_ifu_mask_thorough.fits.gz"
SUPERSTRIPE = dict(MSTR_RD1=4, MSTR_SK1=0, MSTR_RD2=0, MSTR_SK2=0, MSTR_RPT=0, MSTR_ILV=0,
                   SSTR_STP=16, SSTR_NST=3, SUBARRAY="SUB160STRIPE4_DHS")


def _sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def crds_offline(tmp_path, monkeypatch):
    """CRDS with a local cache config only; any network access raises; nothing is fetched."""
    pytest.importorskip("jwst", reason="jwst is needed to run its steps")
    from crds.client import api, proxy
    from crds.core import utils

    environ = dict(os.environ)  # CRDS writes the config items it reads into os.environ
    cache = tmp_path / "crds_cache"
    (cache / "config" / "jwst").mkdir(parents=True)
    (cache / "config" / "jwst" / "server_config").write_text(repr({
        "observatory": "jwst", "operational_context": "jwst_0000.pmap",
        "edit_context": "jwst_0000.pmap", "force_remote_mode": False, "bad_files": "",
        "bad_files_list": [], "last_synced": "never"}))
    monkeypatch.setenv("CRDS_PATH", str(cache))
    monkeypatch.setenv("CRDS_SERVER_URL", "https://crds-serverless-mode.invalid")
    monkeypatch.setenv("CRDS_MODE", "local")
    monkeypatch.setenv("STPIPE_DISABLE_CRDS_STEPPARS", "true")
    monkeypatch.setenv("CRDS_CONFIG_URI", "none")  # CRDS's spelling of "not set"
    monkeypatch.setattr(api, "URL", "https://crds-serverless-mode.invalid" + api.URL_SUFFIX)

    def no_network(*args, **kwargs):
        raise AssertionError(f"CRDS tried the network: {args!r}")

    monkeypatch.setattr(proxy, "apply_with_retries", no_network)
    monkeypatch.setattr(utils, "get_url_content", no_network)
    yield cache
    os.environ.clear()
    os.environ.update(environ)
    fetched = sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file())
    assert fetched == ["config/jwst/server_config"]


@pytest.fixture
def mask(tmp_path):
    return write_raw_mask(tmp_path / "nrca1_mask.fits", random_raw((2048, 2048), seed=2, bits=0x3F))


def _stdatamodels_uncal(path: Path) -> Path:
    """An uncal file as the archive ships it (Level1bModel, ASDF extension)."""
    from stdatamodels.jwst import datamodels

    rng = np.random.default_rng(0)
    model = datamodels.Level1bModel(data=rng.integers(1000, 9000, (1, 4, 32, 48))
                                    .astype(np.uint16))
    model.meta.instrument.name = "NIRCAM"
    model.meta.instrument.detector = "NRCA1"
    model.meta.instrument.channel = "SHORT"
    model.meta.instrument.filter = "F200W"
    model.meta.instrument.pupil = "CLEAR"
    model.meta.exposure.type = "NRC_IMAGE"
    model.meta.exposure.readpatt = "RAPID"
    model.meta.exposure.nframes = 1
    model.meta.exposure.groupgap = 0
    model.meta.exposure.ngroups = 4
    model.meta.exposure.nints = 1
    model.meta.subarray.name = "SUB64P"
    model.meta.subarray.xstart, model.meta.subarray.ystart = 1001, 17
    model.meta.subarray.xsize, model.meta.subarray.ysize = 48, 32
    model.meta.subarray.fastaxis, model.meta.subarray.slowaxis = -1, 2
    model.save(str(path))
    model.close()
    return path


def _jwst_model_class(path: Path, mask: Path) -> str:
    """The class of the model jwst's own DQInitStep returns for this file."""
    from jwst.dq_init import DQInitStep

    result = DQInitStep.call(str(path), override_mask=str(mask))
    with result:
        return type(result).__name__


# --------------------------------------------------------------------------------------------
# Item 1: the output is the model jwst writes, and the next jwst step takes it
# --------------------------------------------------------------------------------------------


def test_ramp_output_is_a_ramp_model_the_saturation_step_accepts(tmp_path, mask, crds_offline):
    from jwst.saturation import SaturationStep
    from stdatamodels.jwst import datamodels

    uncal = _stdatamodels_uncal(tmp_path / "jw_sdm_uncal.fits")
    out = tmp_path / "ours.fits"
    dq_init_file(uncal, mask, out)
    assert fits.getval(out, "DATAMODL") == _jwst_model_class(uncal, mask) == "RampModel"
    with datamodels.open(str(out)) as model:
        assert isinstance(model, datamodels.RampModel)
        assert np.count_nonzero(model.pixeldq) > 0
        pixeldq = np.array(model.pixeldq)

    sat = datamodels.SaturationModel(data=np.full((32, 48), 5000, np.float32),
                                     dq=np.zeros((32, 48), np.uint32))
    sat.meta.instrument.name, sat.meta.instrument.detector = "NIRCAM", "NRCA1"
    sat.meta.subarray.name = "SUB64P"
    sat.meta.subarray.xstart, sat.meta.subarray.ystart = 1001, 17
    sat.meta.subarray.xsize, sat.meta.subarray.ysize = 48, 32
    sat.meta.reftype, sat.meta.author, sat.meta.pedigree = "SATURATION", "test", "DUMMY"
    sat.meta.description, sat.meta.useafter = "test", "2020-01-01T00:00:00"
    sat_path = tmp_path / "sat.fits"
    sat.save(str(sat_path))
    sat.close()
    result = SaturationStep.call(str(out), override_saturation=str(sat_path),
                                 override_superbias="N/A")
    with result:
        assert isinstance(result, datamodels.RampModel)
        assert result.meta.cal_step.saturation == "COMPLETE"
        assert result.meta.cal_step.dq_init == "COMPLETE"
        np.testing.assert_array_equal(result.pixeldq & pixeldq, pixeldq)  # ours kept
        assert np.any(result.groupdq & 2)  # values 1000..9000 above 5000 saturate


def test_superstripe_output_opens_as_superstripe_model(tmp_path, mask, crds_offline):
    from stdatamodels.jwst import datamodels

    exp = write_exposure(tmp_path / "ss_uncal.fits", (3, 2, 20, 64), keys=SUPERSTRIPE)
    out = tmp_path / "ours.fits"
    dq_init_file(exp, mask, out)
    # jwst reads the class from the ASDF tree or DATAMODL; an astropy-written raw file has
    # neither, so the step's choice is checked on the same header through _ramp_type
    from jwst.stpipe.core import JwstStep

    with datamodels.RampModel(str(exp)) as probe:
        want = JwstStep._ramp_type(probe).__name__
    assert fits.getval(out, "DATAMODL") == want == "SuperstripeRampModel"
    with datamodels.open(str(out)) as model:
        assert model.pixeldq.shape == (3, 20, 64)


def test_fgs_acq1_output_opens_as_guider_model(tmp_path, crds_offline):
    from stdatamodels.jwst import datamodels

    exp = shared_file(FGS_ACQ1)
    keys = {"INSTRUME": "FGS", "DETECTOR": "GUIDER2", "FASTAXIS": 2, "SLOWAXIS": -1}
    fgs_mask = write_raw_mask(tmp_path / "fgs_mask.fits", random_raw((2048, 2048), seed=11),
                              keys=keys)
    out = tmp_path / "ours.fits"
    dq_init_file(exp, fgs_mask, out)
    assert fits.getval(out, "DATAMODL") == _jwst_model_class(exp, fgs_mask) == "GuiderRawModel"
    with datamodels.open(str(out)) as model:
        assert model.dq.shape == (128, 128) and np.count_nonzero(model.dq) > 0


def test_skipped_output_is_a_ramp_model_too(tmp_path):
    from stdatamodels.jwst import datamodels

    uncal = _stdatamodels_uncal(tmp_path / "jw_na_uncal.fits")
    dq_init_file(uncal, "N/A", tmp_path / "na.fits")
    assert fits.getval(tmp_path / "na.fits", "DATAMODL") == "RampModel"
    with datamodels.open(str(tmp_path / "na.fits")) as model:
        assert model.meta.cal_step.dq_init == "SKIPPED"


def test_default_output_name_is_strun_s(run_cli, tmp_path, mask, crds_offline, monkeypatch):
    from jwst.dq_init import DQInitStep

    uncal = _stdatamodels_uncal(tmp_path / "jw01234001001_01101_00001_nrca1_uncal.fits")
    jwst_dir = tmp_path / "jwst"
    jwst_dir.mkdir()
    monkeypatch.chdir(jwst_dir)
    DQInitStep.call(str(uncal), override_mask=str(mask), save_results=True).close()
    (jwst_name,) = [p.name for p in jwst_dir.iterdir()]
    assert jwst_name == "jw01234001001_01101_00001_nrca1_dqinitstep.fits"
    code, out, err = run_cli("dqinit", uncal, "--mask", mask)
    assert code == 0, err
    ours = tmp_path / jwst_name
    assert ours.exists() and f"-> {ours}" in out
    assert fits.getval(ours, "FILENAME") == fits.getval(jwst_dir / jwst_name, "FILENAME")


@pytest.mark.parametrize("name,want", [
    ("jw_x_uncal.fits", "jw_x_dqinitstep.fits"),
    ("jw_x_uncal.fits.gz", "jw_x_dqinitstep.fits"),
    ("raw.fits", "raw_dqinitstep.fits"),
    ("jw_x_saturationstep.fits", "jw_x_dqinitstep.fits"),
    ("jw_x-ramp.fits", "jw_x-dqinitstep.fits"),
])
def test_default_output_name_rule(name, want):
    from dqmask.dq_init.files import default_output_name

    assert default_output_name(f"/data/{name}") == f"/data/{want}"


def test_suffix_table_is_jwst_s():
    suffix = pytest.importorskip("jwst.lib.suffix", reason="jwst is needed to compare")
    from dqmask.dq_init.files import JWST_SUFFIXES

    assert sorted(JWST_SUFFIXES) == sorted(suffix.KNOW_SUFFIXES)


# --------------------------------------------------------------------------------------------
# Item 2: a non-ramp is said to be one before "already initialised"
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [[], ["--force"], ["--in-place"]])
def test_initialised_rate_file_is_not_a_raw_ramp(run_cli, tmp_path, mask, extra):
    rate = tmp_path / "x_rate.fits"
    primary = fits.PrimaryHDU(header=fits.Header([("TELESCOP", "JWST"), ("S_DQINIT", "COMPLETE"),
                                                  ("EXP_TYPE", "NRC_IMAGE")]))
    fits.HDUList([primary, fits.ImageHDU(np.zeros((8, 8), np.float32), name="SCI")]).writeto(rate)
    before = _sha(rate)
    code, out, err = run_cli("dqinit", rate, "--mask", mask, *extra)
    assert code == 1
    assert err.splitlines() == [f"dqmask: {rate}: dqinit needs a raw ramp (4-D SCI, e.g. "
                                f"*_uncal.fits); SCI here is 2-D (8, 8)"]
    assert _sha(rate) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nrca1_mask.fits", "x_rate.fits"]


def test_initialised_rate_file_with_na_mask(run_cli, tmp_path):
    rate = tmp_path / "x_rate.fits"
    primary = fits.PrimaryHDU(header=fits.Header([("TELESCOP", "JWST"), ("S_DQINIT", "COMPLETE")]))
    fits.HDUList([primary, fits.ImageHDU(np.zeros((8, 8), np.float32), name="SCI")]).writeto(rate)
    code, _, err = run_cli("dqinit", rate, "--mask", "N/A")
    assert code == 1 and "needs a raw ramp" in err and "skipped" not in err


# --------------------------------------------------------------------------------------------
# Item 10: a user DQ of the wrong shape: one line naming it and both shapes
# --------------------------------------------------------------------------------------------


def test_wrong_shape_user_dq_is_one_line_naming_it(run_cli, tmp_path, mask):
    from dqmask.dq_init.mask_ref import write_user_dq

    exp = write_exposure(tmp_path / "e_uncal.fits", (1, 2, 64, 80), substrt=(9, 9))
    user = tmp_path / "u.fits"
    write_user_dq(user, np.zeros((10, 12), np.uint32))
    code, out, err = run_cli("dqinit", exp, "--mask", mask, "--user-dq", user)
    assert code == 1
    assert err.splitlines() == [f"dqmask: {user}: user_dq has shape=(10, 12) but expecting "
                                f"(64, 80) (the science frame of {exp})"]
    assert not (tmp_path / "e_dqinitstep.fits").exists()


def test_wrong_shape_user_dq_api_names_it_and_logs_no_error(tmp_path, mask, caplog):
    from dqmask.dq_init.mask_ref import write_user_dq

    exp = write_exposure(tmp_path / "e_uncal.fits", (1, 1, 64, 64), substrt=(9, 9))
    write_user_dq(tmp_path / "u.fits", np.zeros((10, 12), np.uint32))
    with caplog.at_level(logging.DEBUG), pytest.raises(InputError) as err:
        dq_init_file(exp, mask, tmp_path / "o.fits", user_dq=tmp_path / "u.fits")
    assert err.value.path == str(tmp_path / "u.fits")
    assert err.value.problem.startswith("user_dq has shape=(10, 12) but expecting (64, 64)")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not (tmp_path / "o.fits").exists()


def test_user_dq_values_error_names_the_user_dq(tmp_path, mask):
    exp = write_exposure(tmp_path / "e_uncal.fits", (1, 1, 16, 16))
    user = tmp_path / "neg.fits"
    fits.PrimaryHDU(np.full((16, 16), -1, np.int32)).writeto(user)
    with pytest.raises(InputError) as err:
        dq_init_file(exp, mask, tmp_path / "o.fits", user_dq=user)
    assert err.value.path == str(user)
    assert "negative" in err.value.problem


# --------------------------------------------------------------------------------------------
# Item 7: a background mask given as user DQ, --max-fraction
# --------------------------------------------------------------------------------------------


def test_nsclean_background_mask_refused_as_user_dq(run_cli, tmp_path):
    nsclean = shared_file(NSCLEAN_MASK)
    keys = {"INSTRUME": "NIRSPEC", "DETECTOR": "NRS1", "EXP_TYPE": "NRS_IFU", "FASTAXIS": 2,
            "SLOWAXIS": 1}
    nrs_mask = write_raw_mask(tmp_path / "nrs1_mask.fits", random_raw((2048, 2048)), keys=keys)
    exp = write_exposure(tmp_path / "nrs_uncal.fits", (1, 1, 2048, 2048), keys=keys)
    before = _sha(exp)
    code, out, err = run_cli("dqinit", exp, "--mask", nrs_mask, "--user-dq", nsclean)
    assert code == 1
    assert err.splitlines() == [
        f"dqmask: {nsclean}: its header says it is a background mask ('Pixels = 1 are "
        f"background'), 1 = background, not DQ flags; a user DQ holds flags (1 = DO_NOT_USE)"]
    assert _sha(exp) == before
    assert not (tmp_path / "nrs_dqinitstep.fits").exists()


@pytest.mark.parametrize("conv", ["background", "user_mask", "good"])
def test_dqmconv_of_opposite_polarity_refused(tmp_path, mask, conv):
    exp = write_exposure(tmp_path / "e_uncal.fits", (1, 1, 16, 16))
    user = tmp_path / "u.fits"
    hdu = fits.PrimaryHDU(np.zeros((16, 16), np.uint8))
    hdu.header["DQMCONV"] = conv
    hdu.writeto(user)
    with pytest.raises(InputError, match=f"DQMCONV = '{conv}'") as err:
        dq_init_file(exp, mask, tmp_path / "o.fits", user_dq=user)
    assert err.value.path == str(user)
    assert not (tmp_path / "o.fits").exists()


def test_jwst_user_mask_model_refused_as_user_dq(tmp_path, mask):
    from dqmask.io.background_mask import write_background_mask

    exp = write_exposure(tmp_path / "e_uncal.fits", (1, 1, 16, 16))
    user = tmp_path / "cfn_mask.fits"
    background = np.ones((16, 16), bool)
    write_background_mask(user, background, "jwst", step="test", params={})
    with fits.open(user, mode="update") as hdul:  # as jwst writes it: no dqmask keyword
        hdul[0].header.remove("DQMCONV", ignore_missing=True)
    with pytest.raises(InputError, match="user_mask") as err:
        dq_init_file(exp, mask, tmp_path / "o.fits", user_dq=user)
    assert err.value.path == str(user)


def test_plain_dq_and_bad_user_dq_still_accepted(tmp_path, mask):
    from dqmask.dq_init.mask_ref import write_user_dq

    exp = write_exposure(tmp_path / "e_uncal.fits", (1, 1, 16, 16))
    plain = np.zeros((16, 16), np.uint8)
    plain[3, 4] = 1
    fits.PrimaryHDU(plain).writeto(tmp_path / "plain.fits")  # jwst's documented layout
    dq_init_file(exp, mask, tmp_path / "o1.fits", user_dq=tmp_path / "plain.fits")
    flagged = np.zeros((16, 16), np.uint32)
    flagged[5, 6] = 1
    write_user_dq(tmp_path / "dq.fits", flagged)  # DQ_CONV = 'standard'
    dq_init_file(exp, mask, tmp_path / "o2.fits", user_dq=tmp_path / "dq.fits")
    bad = fits.PrimaryHDU(flagged.astype(np.uint8))
    bad.header["DQMCONV"] = "bad"
    bad.writeto(tmp_path / "bad.fits")
    dq_init_file(exp, mask, tmp_path / "o3.fits", user_dq=tmp_path / "bad.fits")
    assert fits.getdata(tmp_path / "o1.fits", "GROUPDQ")[0, 0, 3, 4] == 1
    assert fits.getdata(tmp_path / "o2.fits", "GROUPDQ")[0, 0, 5, 6] == 1
    assert fits.getdata(tmp_path / "o3.fits", "GROUPDQ")[0, 0, 5, 6] == 1


def test_max_fraction_applies_to_user_dq(run_cli, tmp_path, mask):
    from dqmask.dq_init.mask_ref import write_user_dq

    exp = write_exposure(tmp_path / "e_uncal.fits", (1, 1, 16, 16))
    user = np.zeros((16, 16), np.uint32)
    user[:10] = 1  # 62.5 %
    write_user_dq(tmp_path / "u.fits", user)
    code, _, err = run_cli("dqinit", exp, "--mask", mask, "--user-dq", tmp_path / "u.fits")
    assert code == 1
    assert err.splitlines() == [f"dqmask: {tmp_path / 'u.fits'}: mask covers 62.5% of the "
                                f"pixels, above --max-fraction 0.5; refused"]
    assert not (tmp_path / "e_dqinitstep.fits").exists()
    code, _, err = run_cli("dqinit", exp, "--mask", mask, "--user-dq", tmp_path / "u.fits",
                           "--max-fraction", "0.7")
    assert code == 0, err
    code, _, err = run_cli("dqinit", exp, "--mask", mask, "--max-fraction", "0")
    assert code == 2 and "--max-fraction" in err


def test_max_fraction_api(tmp_path, mask):
    exp = write_exposure(tmp_path / "e_uncal.fits", (1, 1, 16, 16))
    user = np.ones((16, 16), np.uint32)
    with pytest.raises(InputError, match="100.0% of the pixels"):
        dq_init_file(exp, mask, tmp_path / "o.fits", user_dq=user)
    dq_init_file(exp, mask, tmp_path / "o.fits", user_dq=user, max_fraction=1)
    assert np.all(fits.getdata(tmp_path / "o.fits", "PIXELDQ") & 1)


# --------------------------------------------------------------------------------------------
# Item 13: write_mask_ref keeps a real MASK file's own DQ_DEF
# --------------------------------------------------------------------------------------------


def test_write_mask_ref_round_trips_the_crds_dq_def(tmp_path, caplog):
    from stdatamodels.jwst import datamodels

    from dqmask.dq_init.mask_ref import read_mask_ref, write_mask_ref

    path = shared_file(NRCA1_MASK)
    with caplog.at_level(logging.ERROR):
        ref = read_mask_ref(path)
        standard = ref.standard(warn=False)
        out = tmp_path / "again.fits"
        write_mask_ref(out, standard, instrument=ref.instrument, detector=ref.detector,
                       dq_def=ref.dq_def_table)
    with fits.open(path) as a, fits.open(out) as b:
        want = [tuple(r) for r in a["DQ_DEF"].data]
        got = [tuple(r) for r in b["DQ_DEF"].data]
        assert [(int(bit), int(v), n, d) for bit, v, n, d in got] == \
               [(int(bit), int(v), n, d) for bit, v, n, d in want]
        assert [n for *_, n, _ in got][5::7] == ["NOISY", "WEIRD"]
    again = read_mask_ref(out)
    np.testing.assert_array_equal(again.standard(warn=False), standard)
    with datamodels.MaskModel(str(out)) as model, datamodels.MaskModel(str(path)) as original:
        np.testing.assert_array_equal(model.dq, original.dq)
        assert [tuple(r) for r in model.dq_def] == [tuple(r) for r in original.dq_def]
        original.save(str(tmp_path / "stdatamodels.fits"))  # what stdatamodels writes back
    with fits.open(out) as ours, fits.open(tmp_path / "stdatamodels.fits") as theirs:
        np.testing.assert_array_equal(ours["DQ"].data, theirs["DQ"].data)
        assert [tuple(r) for r in ours["DQ_DEF"].data] == [tuple(r) for r in theirs["DQ_DEF"].data]


@pytest.mark.parametrize("stem", [
    "jw_x_uncal", "jw_x-uncal", "x_uncal_ramp", "x_dq_init", "x-ami-oi", "x_ami-oi", "_uncal",
    "uncal", "a_b_c", "jw01234_00001_nrca1_saturationstep", "x__uncal", "x_-uncal",
    "x_rate_cal", "x_ratex", "x_", "-", "x-", "a_x1dints", "a_cal_cal",
])
def test_suffix_split_is_jwst_s(stem):
    suffix = pytest.importorskip("jwst.lib.suffix", reason="jwst is needed to compare")
    from dqmask.dq_init.files import split_suffix

    root, sep = split_suffix(stem)
    assert (root, sep or "_") == suffix.remove_suffix(stem)
