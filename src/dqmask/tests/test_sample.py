"""The sample generator writes files the pipelines and dqmask recognise, with the truth."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from dqmask import datasets as sample
from dqmask.datasets.jwst import NIRSPEC_FS_ROWS, _subarray
from dqmask.flags import ACS, JWST_PIXEL, WFC3_IR
from dqmask.io.fits import classify
from dqmask.tests.helpers import fresh_interpreter_json

DNU = JWST_PIXEL["DO_NOT_USE"]
SAT = JWST_PIXEL["SATURATED"]
REF = JWST_PIXEL["REFERENCE_PIXEL"]


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> dict[str, Path]:
    return sample.make_all(tmp_path_factory.mktemp("samples"), small=True)


EXPECTED = {
    # key: (telescope, instrument, detector, product, n chips, stdatamodels class)
    "nircam_cal": ("JWST", "NIRCAM", "NRCA1", "cal", 1, "ImageModel"),
    "nircam_rate": ("JWST", "NIRCAM", "NRCA1", "rate", 1, "ImageModel"),
    "nircam_rateints": ("JWST", "NIRCAM", "NRCA1", "rateints", 1, "CubeModel"),
    "nircam_uncal": ("JWST", "NIRCAM", "NRCA1", "uncal", 1, "Level1bModel"),
    "nircam_i2d": ("JWST", "NIRCAM", "NRCA1", "i2d", 1, "ImageModel"),
    "niriss_cal": ("JWST", "NIRISS", "NIS", "cal", 1, "ImageModel"),
    "nirspec_ifu_rate": ("JWST", "NIRSPEC", "NRS1", "rate", 1, "ImageModel"),
    "acs_wfc_flt": ("HST", "ACS", "WFC", "flt", 2, None),
    "wfc3_uvis_flt": ("HST", "WFC3", "UVIS", "flt", 2, None),
    "wfc3_ir_flt": ("HST", "WFC3", "IR", "flt", 1, None),
}


def test_make_all_keys(small):
    assert tuple(small) == sample.SAMPLE_KEYS
    assert set(EXPECTED) == set(small)
    assert all(p.exists() and p.stat().st_size > 0 for p in small.values())


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_classify(small, key):
    tel, inst, det, product, nchips, _ = EXPECTED[key]
    info = classify(small[key])
    assert (info.telescope, info.instrument, info.detector, info.product) == (
        tel, inst, det, product)
    assert len(info.chips) == nchips


@pytest.mark.parametrize("key", [k for k, v in EXPECTED.items() if v[5]])
def test_stdatamodels_opens_as_right_model(small, key):
    from stdatamodels.jwst import datamodels

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no validation warnings
        with datamodels.open(small[key]) as model:
            assert type(model).__name__ == EXPECTED[key][5]
            assert model.meta.telescope == "JWST"
    with fits.open(small[key]) as hdul:
        assert "ASDF" in [h.name for h in hdul]


@pytest.mark.parametrize("key", ["nircam_cal", "nircam_rate", "nircam_rateints", "niriss_cal",
                                 "nirspec_ifu_rate"])
def test_jwst_dtypes(small, key):
    with fits.open(small[key]) as hdul:
        assert hdul["SCI"].data.dtype == np.dtype(">f4")
        assert hdul["DQ"].data.dtype == np.uint32  # BZERO 2**31 int32 on disk, read as uint32
        assert hdul["ERR"].data.dtype == np.dtype(">f4")


def test_jwst_cal_keywords(small):
    with fits.open(small["nircam_cal"]) as hdul:
        h0, h1 = hdul[0].header, hdul["SCI"].header
        names = [h.name for h in hdul]
        for key in ("EFFEXPTM", "TMEASURE", "TGROUP", "TFRAME", "NGROUPS", "NINTS",
                    "NFRAMES", "GROUPGAP", "READPATT", "EXPSTART", "EXPEND", "SUBSTRT1",
                    "SUBSTRT2", "SUBSIZE1", "SUBSIZE2", "SUBARRAY", "EXP_TYPE", "FILTER",
                    "PUPIL", "DATE-OBS"):
            assert key in h0, key
        for key in ("PHOTMJSR", "PHOTUJA2", "PIXAR_SR", "PIXAR_A2", "CRPIX1", "CRVAL1"):
            assert key in h1, key
        assert h0["S_PHOTOM"] == "COMPLETE"
        assert h1["BUNIT"] == "MJy/sr"
        assert h0["EXP_TYPE"] == "NRC_IMAGE"
        assert (h0["SUBARRAY"], h0["SUBSTRT1"], h0["SUBSTRT2"], h0["SUBSIZE1"],
                h0["SUBSIZE2"]) == sample.SMALL_NIRCAM_SUBARRAY
        assert hdul["SCI"].data.shape == (h0["SUBSIZE2"], h0["SUBSIZE1"])
        assert {"AREA", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT"} <= set(names)
        # TMEASURE = TGROUP (NGROUPS - 1) NINTS; EFFEXPTM from the frame counts
        assert h0["TMEASURE"] == pytest.approx(h0["TGROUP"] * (h0["NGROUPS"] - 1) * h0["NINTS"],
                                               rel=1e-4)
        assert h0["EFFEXPTM"] == pytest.approx(
            h0["TFRAME"] * (h0["NGROUPS"] * h0["NFRAMES"]
                            + (h0["NGROUPS"] - 1) * h0["GROUPGAP"]) * h0["NINTS"], rel=1e-4)
        assert h1["PIXAR_SR"] == pytest.approx(h1["PIXAR_A2"] * 2.350443e-11, rel=1e-5)


def test_rate_is_cal_before_photom(small):
    with fits.open(small["nircam_cal"]) as cal, fits.open(small["nircam_rate"]) as rate:
        assert rate[0].header.get("S_PHOTOM") != "COMPLETE"
        assert rate["SCI"].header["BUNIT"] == "DN/s"
        assert "AREA" not in [h.name for h in rate]
        k = cal["SCI"].header["PHOTMJSR"]
        np.testing.assert_allclose(cal["SCI"].data, rate["SCI"].data * np.float32(k),
                                   rtol=1e-6, equal_nan=True)
        np.testing.assert_array_equal(cal["DQ"].data, rate["DQ"].data)


def test_jwst_full_frame_reference_border(small):
    path = small["nirspec_ifu_rate"]  # always full frame
    with fits.open(path) as hdul:
        dq = hdul["DQ"].data
        sci = hdul["SCI"].data
        ref = (dq & REF) != 0
        expect = np.zeros(dq.shape, bool)
        expect[:4, :] = expect[-4:, :] = expect[:, :4] = expect[:, -4:] = True
        np.testing.assert_array_equal(ref, expect)
        assert np.all(dq[ref] & DNU)
        assert np.all(np.isnan(sci[ref]))
        assert hdul[0].header["SUBARRAY"] == "FULL"
        assert sci.shape == sample.JWST_FULL


def test_subarray_border_only_where_overlapping(small):
    # SUB320 at xstart 1729, ystart 1: touches the bottom and right borders only
    with fits.open(small["nircam_rate"]) as hdul:
        ref = (hdul["DQ"].data & REF) != 0
    assert ref[:4].all() and ref[:, -4:].all()
    assert not ref[4:, :-4].any()


def test_jwst_truth_matches_file(small):
    x0, y0 = sample.SMALL_NIRCAM_SUBARRAY[1:3]
    scene = sample.jwst_image_scene((320, 320), seed=0, detector="NRCA1", xstart=x0, ystart=y0)
    with fits.open(small["nircam_rate"]) as hdul:
        sci, dq = hdul["SCI"].data, hdul["DQ"].data
        np.testing.assert_array_equal(dq, scene.dq)
        np.testing.assert_array_equal(np.isnan(sci), scene.truth["nan"])
    t = scene.truth
    # saturated stars: flagged SATURATED, cores DO_NOT_USE with NaN SCI
    assert t["saturated"].sum() > 10
    assert np.all(dq[t["saturated"]] & SAT)
    core = (dq & SAT).astype(bool) & (dq & DNU).astype(bool)
    assert core.sum() > 0 and np.all(np.isnan(sci[core]))
    # dead pixels: DEAD | DO_NOT_USE, NaN
    assert np.all(dq[t["dead"]] & (JWST_PIXEL["DEAD"] | DNU))
    assert np.all(np.isnan(sci[t["dead"]]))
    # unflagged NaNs: NaN with DQ 0
    assert t["unflagged_nan"].sum() == 6
    assert np.all(dq[t["unflagged_nan"]] == 0) and np.all(np.isnan(sci[t["unflagged_nan"]]))
    # every NaN is either DO_NOT_USE or one of the unflagged ones
    assert np.array_equal(np.isnan(sci), ((dq & DNU) != 0) | t["unflagged_nan"])
    # the diffuse claw is there and brighter than the sky around it
    claw = t["diffuse"]
    assert claw.sum() > 100
    ok = (dq == 0) & np.isfinite(sci)
    sky_only = ok & ~claw & (scene.model < 0.3)
    assert np.median(sci[ok & claw]) > np.median(sci[sky_only]) + 0.02


def test_bad_value_zero_for_old_pipelines(tmp_path):
    path = sample.make_nircam_cal(tmp_path / "o_cal.fits", shape=(128, 128), bad_value=0.0)
    with fits.open(path) as hdul:
        sci, dq = hdul["SCI"].data, hdul["DQ"].data
        dnu = (dq & DNU) != 0
        assert dnu.any() and np.all(sci[dnu] == 0.0)


def test_deterministic(tmp_path):
    a = sample.make_nircam_cal(tmp_path / "a_cal.fits", shape=(128, 128), seed=7)
    b = sample.make_nircam_cal(tmp_path / "b_cal.fits", shape=(128, 128), seed=7)
    c = sample.make_nircam_cal(tmp_path / "c_cal.fits", shape=(128, 128), seed=8)
    with fits.open(a) as ha, fits.open(b) as hb, fits.open(c) as hc:
        for ext in ("SCI", "DQ", "ERR", "AREA"):
            np.testing.assert_array_equal(ha[ext].data, hb[ext].data)
        assert not np.array_equal(ha["SCI"].data, hc["SCI"].data, equal_nan=True)
    x = sample.make_acs_wfc_flt(tmp_path / "x_flt.fits", shape=(64, 128), seed=1)
    y = sample.make_acs_wfc_flt(tmp_path / "y_flt.fits", shape=(64, 128), seed=1)
    with fits.open(x) as hx, fits.open(y) as hy:
        for i in range(1, 7):
            np.testing.assert_array_equal(hx[i].data, hy[i].data)


def test_rateints(small):
    with fits.open(small["nircam_rateints"]) as hdul:
        assert hdul["SCI"].data.shape == (2, 320, 320)
        assert hdul["DQ"].data.shape == (2, 320, 320)
        assert hdul["DQ"].data.dtype == np.uint32
        assert hdul[0].header["NINTS"] == 2
        sci = hdul["SCI"].data
        assert not np.array_equal(sci[0], sci[1], equal_nan=True)


def test_uncal(small):
    with fits.open(small["nircam_uncal"]) as hdul:
        names = [h.name for h in hdul]
        assert "PIXELDQ" not in names and "GROUPDQ" not in names
        data = hdul["SCI"].data
        h0 = hdul[0].header
        assert data.dtype == np.uint16
        assert data.shape == (h0["NINTS"], h0["NGROUPS"], h0["SUBSIZE2"], h0["SUBSIZE1"])
        assert h0["NGROUPS"] == 4 and h0["SUBARRAY"] == "SUB320"
        ramps = data.astype(np.int64)
        # ramps go up on average and some pixels saturate (flat top)
        assert np.median(ramps[0, -1] - ramps[0, 0]) > 0
        assert (ramps[0, -1] > 55000).sum() > 0


def test_uncal_runs_through_jwst_dq_init(tmp_path):
    pytest.importorskip("jwst", reason="jwst is not importable: this test runs it side by side")
    from jwst.dq_init.dq_initialization import do_dqinit
    from stdatamodels.jwst import datamodels

    sub = ("SUB160", 101, 201, 160, 160)
    uncal = sample.make_nircam_uncal(tmp_path / "u_uncal.fits", ngroups=3, subarray=sub)
    dq = np.zeros((2048, 2048), np.uint32)
    dq[300, 200] = DNU | JWST_PIXEL["DEAD"]  # 0-based (y, x) inside the subarray
    mask = datamodels.MaskModel(dq=dq)
    mask.meta.instrument.name = "NIRCAM"
    mask.meta.instrument.detector = "NRCA1"
    mask.meta.subarray.name = "FULL"
    mask.meta.subarray.xstart = mask.meta.subarray.ystart = 1
    mask.meta.subarray.xsize = mask.meta.subarray.ysize = 2048
    mask.meta.description = "test"
    mask.meta.reftype = "MASK"
    mask.meta.author = "test"
    mask.meta.pedigree = "DUMMY"
    mask.meta.useafter = "2020-01-01T00:00:00"
    ref = tmp_path / "mask.fits"
    mask.save(ref)
    # as DQInitStep opens them (the step itself would ask CRDS, which tests cannot reach)
    with datamodels.RampModel(str(uncal)) as model, datamodels.MaskModel(str(ref)) as mm:
        out = do_dqinit(model, mm)
    assert out.pixeldq.shape == (160, 160)
    assert out.pixeldq[300 - 200, 200 - 100] == DNU | JWST_PIXEL["DEAD"]
    assert np.count_nonzero(out.pixeldq) == 1


def test_i2d(small):
    with fits.open(small["nircam_i2d"]) as hdul:
        names = [h.name for h in hdul]
        assert {"SCI", "ERR", "CON", "WHT"} <= set(names) and "DQ" not in names
        sci, wht, con = hdul["SCI"].data, hdul["WHT"].data, hdul["CON"].data
        assert con.dtype == np.dtype(">i4") and con.shape == (1,) + sci.shape
        assert hdul[0].header["S_RESAMP"] == "COMPLETE"
        empty = wht == 0
        assert empty.any() and (~empty).any()
        np.testing.assert_array_equal(np.isnan(sci), empty)
        assert np.all(con[0][empty] == 0)
        # single and double coverage: WHT is one or two exposure times
        levels = np.unique(wht[~empty])
        np.testing.assert_allclose(levels, [levels[0], 2 * levels[0]], rtol=1e-6)
        assert levels[0] == pytest.approx(hdul[0].header["EFFEXPTM"] / 2, rel=1e-4)


def test_nirspec_footprint_is_truth(small):
    path = small["nirspec_ifu_rate"]
    with fits.open(path) as hdul:
        h0 = hdul[0].header
        assert h0["EXP_TYPE"] == "NRS_IFU" and h0["DETECTOR"] == "NRS1"
        sci, dq = hdul["SCI"].data, hdul["DQ"].data
        shape = sci.shape
        foot = sample.nirspec_ifu_footprint(shape, detector="NRS1", xstart=h0["SUBSTRT1"],
                                            ystart=h0["SUBSTRT2"])
    assert foot.dtype == bool and 0.05 < foot.mean() < 0.95
    ok = (dq == 0) & np.isfinite(sci)
    assert np.median(sci[ok & foot]) > 0.3 > 0.05 > np.median(sci[ok & ~foot])


def test_nirspec_full_footprint_shape():
    foot = sample.nirspec_ifu_footprint()
    assert foot.shape == (2048, 2048)
    assert not foot[:4].any() and not foot[:, -4:].any()
    fs = sample.nirspec_ifu_footprint(include_fixed_slits=False)
    rows = slice(*NIRSPEC_FS_ROWS)
    assert foot[rows].any() and not fs[rows].any()
    assert 0.2 < foot.mean() < 0.7
    nrs2 = sample.nirspec_ifu_footprint(detector="NRS2")
    assert not np.array_equal(foot, nrs2)


@pytest.mark.parametrize("key,shape,ccdchips", [("acs_wfc_flt", (128, 256), (2, 1)),
                                                ("wfc3_uvis_flt", (128, 256), (2, 1))])
def test_hst_two_chip(small, key, shape, ccdchips):
    info = classify(small[key])
    assert tuple(c.ccdchip for c in info.chips) == ccdchips
    with fits.open(small[key]) as hdul:
        h0 = hdul[0].header
        for k in ("TELESCOP", "INSTRUME", "DETECTOR", "APERTURE", "CCDAMP", "READNSEA",
                  "READNSEB", "READNSEC", "READNSED", "ATODGNA", "ATODGNB", "ATODGNC",
                  "ATODGND", "EXPTIME", "EXPSTART", "EXPEND", "FILETYPE", "NRPTEXP",
                  "CRSPLIT"):
            assert k in h0, k
        assert h0["FLATCORR"] == "COMPLETE" and h0["SUBARRAY"] is False
        assert h0["FILETYPE"] == "SCI" and h0["CCDAMP"] == "ABCD"
        assert [h.name for h in hdul[1:]] == ["SCI", "ERR", "DQ"] * 2
        for ver in (1, 2):
            sci, dq = hdul["SCI", ver], hdul["DQ", ver]
            assert sci.data.dtype == np.dtype(">f4") and sci.data.shape == shape
            assert dq.data.dtype == np.dtype(">i2") and dq.data.shape == shape
            assert hdul["ERR", ver].data.dtype == np.dtype(">f4")
            for k in ("CCDCHIP", "GOODMIN", "GOODMAX", "NCOMBINE", "CRPIX1", "CRVAL1",
                      "CD1_1", "CD2_2", "CTYPE1"):
                assert k in sci.header, k
            assert sci.header["BUNIT"] == "ELECTRONS"
            good = dq.data == 0
            assert sci.header["GOODMAX"] == pytest.approx(float(sci.data[good].max()))
            assert np.any(dq.data & ACS["SATPIXEL"])
            assert np.any(dq.data & ACS["DRIZ_CR"])
            assert not np.isnan(sci.data).any()


def test_full_size_defaults():
    # full-size geometry without writing 170 MB: the scene default shapes
    assert sample.ACS_WFC_CHIP == (2048, 4096) and sample.WFC3_UVIS_CHIP == (2051, 4096)
    assert sample.WFC3_IR_SHAPE == (1014, 1014) and sample.JWST_FULL == (2048, 2048)
    assert _subarray(None, None) == ("FULL", 1, 1, 2048, 2048)
    assert _subarray((160, 160), None) == ("SUB160", 1889, 1, 160, 160)
    with pytest.raises(ValueError):
        _subarray(None, ("BAD", 2000, 1, 160, 160))


def test_subarray_border_far_corner(tmp_path):
    path = sample.make_nircam_rate(tmp_path / "c_rate.fits",
                                   subarray=("SUB64", 1985, 1985, 64, 64))
    with fits.open(path) as hdul:
        ref = (hdul["DQ"].data & REF) != 0
    assert ref[-4:].all() and ref[:, -4:].all() and not ref[:-4, :-4].any()


@pytest.mark.parametrize("key,camera", [("acs_wfc_flt", "ACS/WFC"),
                                        ("wfc3_uvis_flt", "WFC3/UVIS")])
def test_hst_truth_matches_file(small, key, camera):
    with fits.open(small[key]) as hdul:
        for ver in (1, 2):
            ccdchip = hdul["SCI", ver].header["CCDCHIP"]
            scene = sample.hst_chip_scene(camera, ccdchip, shape=(128, 256))
            np.testing.assert_array_equal(hdul["DQ", ver].data, scene.dq)
            np.testing.assert_array_equal(hdul["SCI", ver].data, scene.sci)
            assert np.all(scene.dq[scene.truth["saturated"]] & ACS["SATPIXEL"])
            assert np.all(scene.dq[scene.truth["cosmic_ray"]] & ACS["DRIZ_CR"])


def test_hst_saturated_and_bleeding():
    scene = sample.hst_ccd_scene((256, 256), seed=2, tag="t")
    sat = scene.truth["saturated"]
    assert sat.sum() > 20
    assert np.all(scene.dq[sat] & ACS["SATPIXEL"])
    # bleeding: saturated runs along columns are longer than along rows
    cols = sat.sum(axis=0).max()
    rows = sat.sum(axis=1).max()
    assert cols > rows
    assert scene.dq.dtype == np.int16


def test_hst_nan_option(tmp_path):
    path = sample.make_acs_wfc_flt(tmp_path / "n_flt.fits", shape=(64, 64), nan_pixels=5)
    with fits.open(path) as hdul:
        assert np.isnan(hdul["SCI", 1].data).sum() == 5


def test_wfc3_ir(small):
    with fits.open(small["wfc3_ir_flt"]) as hdul:
        assert [h.name for h in hdul[1:]] == ["SCI", "ERR", "DQ", "SAMP", "TIME"]
        assert hdul["SCI"].header["BUNIT"] == "ELECTRONS/S"
        assert hdul["DQ"].data.dtype == np.dtype(">i2")
        assert hdul["SAMP"].data.dtype == np.dtype(">i2")
        assert hdul["TIME"].data.dtype == np.dtype(">f4")
        dq = hdul["DQ"].data
        for flag in ("SATPIXEL", "DATAREJECT", "BADFLAT", "DETECTORPROB"):
            assert np.any(dq & WFC3_IR[flag]), flag
        sat = (dq & WFC3_IR["SATPIXEL"]) != 0
        assert hdul["SAMP"].data[sat].max() < hdul[0].header["NSAMP"]
        assert "GOODMAX" in hdul["SCI"].header


def test_render_stars_flux_conserved():
    img = sample.render_stars((64, 64), np.array([31.3]), np.array([30.7]), np.array([100.0]),
                              sigma=1.5, half=8)
    assert img.dtype == np.float32
    assert img.sum() == pytest.approx(100.0, rel=1e-3)
    # a star at the corner loses the off-image part, without wrapping around
    img = sample.render_stars((64, 64), np.array([0.0]), np.array([0.0]), np.array([100.0]),
                              sigma=1.5, half=8)
    assert img[-8:, :].sum() == 0 and img[:, -8:].sum() == 0
    assert 20 < img.sum() < 45


def test_datasets_by_mission():
    """datasets re-exports every sample of both missions; HST needs no stdatamodels."""

    from dqmask.datasets import _common, hst, jwst, samples

    for module in (_common, jwst, hst, samples):
        for name in module.__all__:
            assert getattr(sample, name) is getattr(module, name), name
    assert set(hst.__all__) >= {"make_acs_wfc_flt", "make_wfc3_uvis_flt", "make_wfc3_ir_flt",
                                "hst_ccd_scene", "wfc3_ir_scene"}
    assert not any("acs" in n or "wfc3" in n or "hst" in n for n in jwst.__all__)
    code = ("import json, sys\nimport dqmask.datasets.hst\n"
            "print(json.dumps([m for m in ('stdatamodels', 'asdf') if m in sys.modules]))\n")
    assert fresh_interpreter_json(code) == []
