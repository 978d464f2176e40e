"""jwst user_mask format: written masks go through jwst's own loading path; either format reads.

jwst ``clean_flicker_noise._make_scene_mask`` is the code the step runs on its ``user_mask``
parameter (``datamodels.open(user_mask)``, ``data.astype(bool)``), and
``_check_data_shapes`` decides whether the step runs or is skipped.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image
from stdatamodels.jwst import datamodels

from dqmask.conftest import shared_file
from dqmask.errors import InputError
from dqmask.io.background_mask import read_background_mask, write_background_mask
from dqmask.nsclean.core import clip_to_background, force_border_false
from dqmask.nsclean.files import png2fits
from dqmask.nsclean.tests.test_background_scenes import SHAPE, write_rate

_NO_JWST = "jwst is not importable: this test runs jwst's clean_flicker_noise side by side"


def _cfn():
    """jwst's clean_flicker_noise module, or skip (the other tests here need no jwst)."""
    return pytest.importorskip("jwst.clean_flicker_noise.clean_flicker_noise",
                               reason=_NO_JWST)


def _background_level():
    return pytest.importorskip("jwst.clean_flicker_noise.background_level", reason=_NO_JWST)


def _jwst_loads(user_mask, data_model):
    """Run jwst's user_mask path; returns (mask, shapes mismatch?)."""
    cfn = _cfn()
    mask, _ = cfn._make_scene_mask(user_mask=str(user_mask), image_model=data_model,
                                   mask_science_regions=False, n_sigma=2.0,
                                   fit_histogram=False, single_mask=True, save_mask=False)
    mismatch, *_ = cfn._check_data_shapes(data_model, mask)
    return mask, mismatch


@pytest.fixture(scope="module")
def rate(tmp_path_factory):
    rng = np.random.default_rng(4)
    sci = rng.normal(0.01, 0.01, SHAPE).astype(np.float32)
    sci[300:400] += 2.0
    path = tmp_path_factory.mktemp("jw") / "jw01_nrs1_rate.fits"
    return write_rate(path, sci, np.zeros(SHAPE, dtype=np.uint32))


def test_png2fits_jwst_format_opens_in_jwst(tmp_path, rate):
    rgb = np.zeros(SHAPE + (3,), dtype=np.uint8)
    rgb[1000:1500, 100:1900] = (255, 0, 0)
    Image.fromarray(rgb, "RGB").save(tmp_path / "m.png")
    png2fits(tmp_path / "m.png", tmp_path / "m_jwst.fits", fmt="jwst")
    png2fits(tmp_path / "m.png", tmp_path / "m_nsclean.fits")
    expected = force_border_false((rgb == (255, 0, 0)).all(axis=2))[::-1]
    with datamodels.open(tmp_path / "m_jwst.fits") as model:
        assert isinstance(model, datamodels.ImageModel)
        assert model.data.dtype.newbyteorder("=") == np.float32
        assert set(np.unique(model.data)) == {0.0, 1.0}
    with datamodels.open(rate) as data_model:
        mask, mismatch = _jwst_loads(tmp_path / "m_jwst.fits", data_model)
    assert not mismatch
    np.testing.assert_array_equal(mask, expected)
    # both formats read back the same in dqmask
    for name in ("m_jwst.fits", "m_nsclean.fits"):
        np.testing.assert_array_equal(read_background_mask(tmp_path / name).background,
                                      expected)
    assert read_background_mask(tmp_path / "m_jwst.fits").format == "jwst"
    assert read_background_mask(tmp_path / "m_nsclean.fits").format == "nsclean"


@pytest.mark.filterwarnings("ignore:model_type not found")
def test_nsclean_layout_is_what_jwst_cannot_use(tmp_path):
    """Why --format jwst exists: NSClean's primary-only file has no SCI for jwst."""
    write_background_mask(tmp_path / "n.fits", np.ones(SHAPE, dtype=bool), "nsclean",
                          step="test", params={})
    with datamodels.open(tmp_path / "n.fits") as model, pytest.raises(AttributeError):
        _ = model.data


def test_background_jwst_format_with_metadata(tmp_path, rate, run_cli):
    code, out, err = run_cli("background", rate, "-o", tmp_path / "auto.fits",
                             "--format", "jwst")
    assert code == 0, err
    with datamodels.open(tmp_path / "auto.fits") as model:
        assert isinstance(model, datamodels.ImageModel)
        assert model.meta.instrument.detector == "NRS1"  # copied as jwst's save_mask does
        assert model.meta.filename == "auto.fits"
    with datamodels.open(rate) as data_model:
        mask, mismatch = _jwst_loads(tmp_path / "auto.fits", data_model)
    assert not mismatch
    np.testing.assert_array_equal(mask, read_background_mask(tmp_path / "auto.fits").background)
    assert not mask[300:400, 10:-10].any() and mask[600:1800, 10:-10].mean() > 0.9
    assert fits.getheader(tmp_path / "auto.fits")["DQMR0001"].startswith("background ")


def test_per_integration_cube_matches_rateints(tmp_path, run_cli):
    rng = np.random.default_rng(8)
    shape = (3, 256, 512)  # a subarray at the detector corner keeps the test quick
    sci = rng.normal(0.01, 0.01, shape).astype(np.float32)
    for i in range(3):  # the source moves between integrations
        sci[i, 20 + 70 * i: 50 + 70 * i] += 1.0
    with datamodels.CubeModel(data=sci, dq=np.zeros(shape, np.uint32)) as model:
        model.meta.telescope = "JWST"
        model.meta.instrument.name = "NIRSPEC"
        model.meta.instrument.detector = "NRS2"
        model.meta.exposure.type = "NRS_MSASPEC"
        model.meta.subarray.name = "SUB512"
        model.meta.subarray.xstart, model.meta.subarray.ystart = 1, 1
        model.meta.subarray.xsize, model.meta.subarray.ysize = 512, 256
        model.save(str(tmp_path / "x_rateints.fits"))
    code, _, err = run_cli("background", tmp_path / "x_rateints.fits", "-o",
                           tmp_path / "cube.fits", "--per-integration")
    assert code == 2 and "--format jwst" in err
    code, _, err = run_cli("background", tmp_path / "x_rateints.fits", "-o",
                           tmp_path / "cube.fits", "--per-integration", "--format", "jwst")
    assert code == 0, err
    with datamodels.open(tmp_path / "cube.fits") as model:
        assert isinstance(model, datamodels.CubeModel) and model.data.shape == shape
    with datamodels.open(tmp_path / "x_rateints.fits") as data_model:
        mask, mismatch = _jwst_loads(tmp_path / "cube.fits", data_model)
    assert not mismatch and mask.shape == shape
    # reference pixels: the first 4 rows and columns of this corner subarray only
    assert not mask[:, :4].any() and not mask[:, :, :4].any()
    assert mask[:, -4:, 10:-10].mean() > 0.9 and mask[:, 230:250, -4:].mean() > 0.9
    for i in range(3):
        rows = slice(20 + 70 * i, 50 + 70 * i)
        assert not mask[i, rows, 10:-10].any()
        assert mask[(i + 1) % 3, rows, 10:-10].mean() > 0.9


def test_jwst_saved_mask_reads_in_dqmask(tmp_path, rate):
    """The mask jwst writes with save_mask=True is a valid dqmask input."""
    background = np.zeros(SHAPE, dtype=bool)
    background[100:900, 50:1500] = True
    with datamodels.open(rate) as data_model:
        saved = _cfn().make_intermediate_model(data_model, background)
        saved.save(str(tmp_path / "jw_mask.fits"))
    got = read_background_mask(tmp_path / "jw_mask.fits")
    assert got.format == "jwst"
    np.testing.assert_array_equal(got.background, background)


def test_reader_refuses_what_is_not_a_background_mask(tmp_path, rate):
    with pytest.raises(InputError, match="values other than 0 and 1"):
        read_background_mask(rate)
    fits.PrimaryHDU(np.ones((8, 8), dtype=np.int64)).writeto(tmp_path / "claws.fits")
    with pytest.raises(InputError, match="polarity unknown"):
        read_background_mask(tmp_path / "claws.fits")
    fits.PrimaryHDU(np.full((8, 8), 7, dtype=np.uint8)).writeto(tmp_path / "pic.fits")
    with pytest.raises(InputError, match="values other than 0 and 1"):
        read_background_mask(tmp_path / "pic.fits")
    fits.PrimaryHDU().writeto(tmp_path / "empty.fits")
    with pytest.raises(InputError, match="no mask image"):
        read_background_mask(tmp_path / "empty.fits")


def test_nan_in_user_mask_is_not_background(tmp_path):
    sci = np.ones((8, 8), dtype=np.float32)
    sci[2, 3] = np.nan
    sci[5, 5] = 0.0
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(sci, name="SCI")]).writeto(
        tmp_path / "nan.fits")
    background = read_background_mask(tmp_path / "nan.fits").background
    assert background.sum() == 62 and not background[2, 3] and not background[5, 5]


@pytest.mark.parametrize("n_sigma", [2.0, 5.0])
def test_clip_rule_is_jwsts(n_sigma):
    rng = np.random.default_rng(11)
    image = rng.normal(1.0, 0.1, (300, 400))
    image[50:80, :] += rng.uniform(0.2, 3.0, (30, 400))  # a trace
    image[rng.random(image.shape) < 0.01] = -5.0          # bad low values
    image[5, 5] = np.nan
    candidates = np.isfinite(image) & (image != 0)
    ours, signal = clip_to_background(image, candidates, n_sigma)
    theirs = candidates.copy()
    with np.errstate(invalid="ignore"):
        _background_level().clip_to_background(image, theirs, sigma_upper=n_sigma)
    np.testing.assert_array_equal(ours, theirs)
    assert signal[50:80].mean() > 0.5 and not (signal & theirs).any()



@pytest.mark.parametrize("name", ["nrs1_ifu_mask_thorough.fits.gz",
                                  "20230306_nrs2_ifu_mask.fits.gz"])
def test_real_nsclean_mask_as_jwst_user_mask(name, tmp_path, rate, run_cli):
    real = shared_file(f"nsclean_masks/{name}")
    code, out, err = run_cli("bgconvert", real, tmp_path / "user_mask.fits", "--like", rate)
    assert code == 0, err
    assert "jwst format" in out
    expected = fits.getdata(real).astype(bool)
    with datamodels.open(rate) as data_model:
        mask, mismatch = _jwst_loads(tmp_path / "user_mask.fits", data_model)
    assert not mismatch
    np.testing.assert_array_equal(mask, expected)
    # and back to NSClean's layout: the same bytes of data as the shipped file
    code, _, err = run_cli("bgconvert", tmp_path / "user_mask.fits", tmp_path / "back.fits",
                           "--format", "nsclean")
    assert code == 0, err
    with fits.open(real) as ref, fits.open(tmp_path / "back.fits") as back:
        assert back[0].data.dtype == np.uint8
        np.testing.assert_array_equal(back[0].data, ref[0].data)
        assert back[0].header["COMMENT"] == "Pixels = 1 are background"
