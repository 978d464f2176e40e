"""dqmask combine / grow / convert / regions on files: outcomes, formats, round trips, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from dqmask.conventions import DEFAULT_DQ_FLAGS
from dqmask.flags import JWST_PIXEL
from dqmask.io.mask_file import read_mask_file
from dqmask.io.regions import regions_to_mask
from dqmask.tests.helpers import bad_mask_file, digest

SHAPE = (40, 50)
DNU, SAT, OBP = JWST_PIXEL["DO_NOT_USE"], JWST_PIXEL["SATURATED"], JWST_PIXEL["OTHER_BAD_PIXEL"]


def _rate(path: Path, dq: np.ndarray) -> Path:
    primary = fits.PrimaryHDU()
    primary.header.update(TELESCOP="JWST", INSTRUME="NIRCAM", DETECTOR="NRCA1",
                          EXP_TYPE="NRC_IMAGE", SUBARRAY="FULL")
    sci = fits.ImageHDU(np.ones(dq.shape, np.float32), name="SCI")
    sci.header["BUNIT"] = "DN/s"
    fits.HDUList([primary, sci, fits.ImageHDU(dq.astype(np.uint32), name="DQ")]).writeto(path)
    return path


def _readbad_mask_file(path: Path, **kw) -> np.ndarray:
    (plane,) = read_mask_file(str(path), **kw).planes
    return plane


@pytest.fixture
def inputs(tmp_path):
    dq = np.zeros(SHAPE, np.uint32)
    dq[5, 5] = DNU
    dq[6, 6] = SAT
    dq[7, 7] = DNU | SAT
    bad = np.zeros(SHAPE, bool)
    bad[20:25, 30:35] = True
    bad[7, 7] = True
    reg = tmp_path / "claw.reg"
    reg.write_text("# Region file format: DS9 version 4.1\nimage\nbox(11,31,5,3,0)\n")
    return {"rate": _rate(tmp_path / "x_rate.fits", dq), "bad": bad_mask_file(tmp_path / "m.fits", bad),
            "reg": reg, "dq": dq, "badarr": bad}


def _region_pixels() -> np.ndarray:
    m = np.zeros(SHAPE, bool)
    m[29:32, 8:13] = True  # DS9 box (11,31) 5x3, 1-based -> 0-based centre (10,30)
    return m


def test_combine_or_across_conventions(tmp_path, inputs, run_cli):
    before = {k: digest(inputs[k]) for k in ("rate", "bad")}
    out = tmp_path / "or.fits"
    code, stdout, err = run_cli("combine", inputs["rate"], inputs["bad"], inputs["reg"],
                                "--dq", "DO_NOT_USE", "-o", out)
    assert code == 0, err
    expected = (inputs["dq"] & DNU != 0) | inputs["badarr"] | _region_pixels()
    with fits.open(out) as h:
        assert h[0].data.dtype == np.uint8 and h[0].header["DQMCONV"] == "bad"
        assert np.array_equal(h[0].data.astype(bool), expected)
        assert "combine" in h[0].header["DQMR0001"]
    assert f"{int(expected.sum())} of {expected.size} pixels bad" in stdout
    assert {k: digest(inputs[k]) for k in ("rate", "bad")} == before


def test_combine_and_and_not(tmp_path, inputs, run_cli):
    out_and, out_not = tmp_path / "and.fits", tmp_path / "not.fits"
    assert run_cli("combine", inputs["rate"], inputs["bad"], "--op", "and", "-o", out_and)[0] == 0
    assert np.array_equal(_readbad_mask_file(out_and), (inputs["dq"] != 0) & inputs["badarr"])
    assert run_cli("combine", inputs["bad"], inputs["rate"], "--op", "not", "--to", "good",
                   "-o", out_not)[0] == 0
    with fits.open(out_not) as h:
        assert h[0].data.dtype.newbyteorder("=") == np.int16
        assert np.array_equal(h[0].data == 0, inputs["badarr"] & (inputs["dq"] == 0))


def test_combine_to_dq_is_a_user_supplied_dq_file(tmp_path, inputs, run_cli):
    from dqmask.dq_init.mask_ref import read_user_dq

    out = tmp_path / "user_dq.fits"
    code, _, err = run_cli("combine", inputs["bad"], inputs["reg"], "--to", "dq", "-o", out)
    assert code == 0, err
    dq = read_user_dq(out)
    assert dq.dtype == np.uint32
    expected = inputs["badarr"] | _region_pixels()
    assert np.array_equal(dq, np.where(expected, DEFAULT_DQ_FLAGS, 0))
    with fits.open(out) as h:
        assert len(h) == 1 and h[0].header["BITPIX"] == 32 and h[0].header["BZERO"] == 2**31


@pytest.mark.parametrize("to", ["bad", "good", "background", "user_mask", "dq"])
def test_convert_round_trip_is_lossless(tmp_path, inputs, run_cli, to):
    there, back = tmp_path / f"m_{to}.fits", tmp_path / "back.fits"
    assert run_cli("convert", inputs["bad"], there, "--to", to)[0] == 0
    assert np.array_equal(_readbad_mask_file(there), inputs["badarr"])
    assert run_cli("convert", there, back, "--to", "bad")[0] == 0
    assert np.array_equal(_readbad_mask_file(back), inputs["badarr"])


def test_convert_user_mask_opens_in_stdatamodels(tmp_path, inputs, run_cli):
    from stdatamodels.jwst import datamodels

    out = tmp_path / "user_mask.fits"
    assert run_cli("convert", inputs["bad"], out, "--to", "user_mask")[0] == 0
    with datamodels.open(str(out)) as model:
        assert model.data.dtype.newbyteorder("=") == np.float32
        assert np.array_equal(model.data.astype(bool), ~inputs["badarr"])  # True = background


def test_convert_dq_to_dq_keeps_every_bit(tmp_path, inputs, run_cli):
    out = tmp_path / "dq.fits"
    assert run_cli("convert", inputs["rate"], out, "--to", "dq")[0] == 0
    with fits.open(out) as h:
        assert h[0].data.dtype.newbyteorder("=") == np.uint32
        assert np.array_equal(h[0].data, inputs["dq"])
    # with flags: only the selected bits decide, the given value is written
    out2 = tmp_path / "dq2.fits"
    assert run_cli("convert", inputs["rate"], out2, "--to", "dq", "--dq", "SATURATED",
                   "--flags", "DO_NOT_USE")[0] == 0
    with fits.open(out2) as h:
        assert np.array_equal(h[0].data, np.where(inputs["dq"] & SAT, DNU, 0))


@pytest.mark.parametrize("footprint, count", [("circle", 13), ("square", 25), ("plus", 13)])
def test_grow_footprints(tmp_path, run_cli, footprint, count):
    bad = np.zeros(SHAPE, bool)
    bad[10, 10] = True
    src, out = bad_mask_file(tmp_path / "one.fits", bad), tmp_path / "grown.fits"
    code, _, err = run_cli("grow", src, "--pixels", "2", "--footprint", footprint, "-o", out)
    assert code == 0, err
    grown = _readbad_mask_file(out)
    assert grown.sum() == count and grown[10, 12] and grown[8, 10]
    assert grown[12, 12] == (footprint == "square")


def test_grow_zero_keeps_the_mask_and_its_convention(tmp_path, inputs, run_cli):
    good = tmp_path / "good.fits"
    assert run_cli("convert", inputs["bad"], good, "--to", "good")[0] == 0
    out = tmp_path / "g0.fits"
    assert run_cli("grow", good, "--pixels", "0", "-o", out)[0] == 0
    with fits.open(out) as h:
        assert h[0].header["DQMCONV"] == "good" and h[0].data.dtype.newbyteorder("=") == np.int16
    assert np.array_equal(_readbad_mask_file(out), inputs["badarr"])


def test_regions_round_trip_through_ds9_reader(tmp_path, run_cli):
    rng = np.random.default_rng(3)
    bad = rng.random(SHAPE) < 0.3
    bad[10:30, 10:30] = True
    bad[15:25, 15:25] = False  # a hole
    bad[19:21, 19:21] = True  # an island in it
    src, reg = bad_mask_file(tmp_path / "r.fits", bad), tmp_path / "r.reg"
    code, stdout, err = run_cli("regions", src, "-o", reg)
    assert code == 0, err
    text = reg.read_text()
    assert text.splitlines()[0] == "# Region file format: DS9 version 4.1"
    assert "image" in text.splitlines() and "-polygon" not in text
    assert np.array_equal(regions_to_mask([reg], SHAPE), bad)
    assert f"{text.count('polygon(')} polygons" in stdout


def test_regions_output_reads_back_through_the_regions_package_without_a_warning(
        tmp_path, run_cli):
    """Issue 11 item 5: the file is clean DS9 for astropy ``regions`` too (a ``;`` in a
    comment line used to start a statement "union (...)" that regions warned about)."""
    import warnings

    from regions import PolygonPixelRegion, Regions

    bad = np.zeros(SHAPE, bool)
    bad[3:6, 4:9] = True
    bad[20:22, 30:31] = True
    src, reg = bad_mask_file(tmp_path / "a;b(1).fits", bad), tmp_path / "r.reg"  # odd name too
    code, _, err = run_cli("regions", src, "-o", reg)
    assert code == 0, err
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        shapes = Regions.read(str(reg), format="ds9")
    assert len(shapes) == 2 and all(isinstance(s, PolygonPixelRegion) for s in shapes)
    painted = np.zeros(SHAPE, bool)
    for s in shapes:
        painted |= s.to_mask(mode="center").to_image(SHAPE).astype(bool)
    assert np.array_equal(painted, bad)
    code, _, err = run_cli("regions", src, "-o", tmp_path / "c.reg", "--color", "red;x(1)")
    assert code == 2 and "DS9 colour" in err and not (tmp_path / "c.reg").exists()


def test_chip_selector_and_explicit_convention(tmp_path):
    ones = np.zeros(SHAPE, np.int64)
    ones[3, 4] = 1
    path = tmp_path / "zeroone.fits"
    fits.PrimaryHDU(ones).writeto(path)
    assert _readbad_mask_file(Path(f"{path}@bad"))[3, 4]
    assert not _readbad_mask_file(Path(f"{path}@good"))[3, 4]
    two = tmp_path / "two.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros(SHAPE, np.uint8), name="SCI", ver=1),
                  fits.ImageHDU(np.ones(SHAPE, np.uint8), name="SCI", ver=2)]).writeto(two)
    for h in (1, 2):
        fits.setval(two, "DQMCONV", value="bad", ext=h)
    assert _readbad_mask_file(Path(f"{two}[2]")).all()
    assert not _readbad_mask_file(Path(f"{two}[1]")).any()


@pytest.mark.parametrize("argv, problem", [
    (["combine", "{reg}", "-o", "{tmp}/o.fits"], "needs a reference image"),
    (["combine", "{bad}", "{small}", "-o", "{tmp}/o.fits"], "masks are never reshaped"),
    (["combine", "{bad}", "{rate}", "-o", "{bad}"], "output would overwrite an input"),
    (["convert", "{bad}@nonsense", "{tmp}/o.fits", "--to", "bad"], "unknown mask convention"),
    (["convert", "{tmp}/missing.fits", "{tmp}/o.fits", "--to", "bad"], "no such file"),
    (["regions", "{bad}[3]", "-o", "{tmp}/o.reg"], "chip 3 asked, the file has 1"),
])
def test_errors_are_one_line_and_write_nothing(tmp_path, inputs, run_cli, argv, problem):
    small = bad_mask_file(tmp_path / "small.fits", np.zeros((4, 4), bool))
    names = {"reg": inputs["reg"], "bad": inputs["bad"], "rate": inputs["rate"],
             "small": small, "tmp": tmp_path}
    before = sorted((p.name, digest(p)) for p in tmp_path.iterdir() if p.is_file())
    code, _, err = run_cli(*[a.format(**names) for a in argv])
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dqmask: ") and problem in lines[0]
    assert sorted((p.name, digest(p)) for p in tmp_path.iterdir() if p.is_file()) == before


def test_regions_of_a_real_crab_claw_mask_round_trip(tmp_path, run_cli):
    from dqmask.conftest import shared_file

    src = shared_file("crab_claws/jw01727044001_04101_00001_nrcb1_cal_claws_seed_image_"
                      "zeroonemask.fits.gz")
    claw = _readbad_mask_file(src)
    assert claw.shape == (2048, 2048) and claw.sum() == 14077
    reg = tmp_path / "claw.reg"
    code, stdout, err = run_cli("regions", src, "-o", reg)
    assert code == 0, err
    assert "48 polygons" in stdout
    assert np.array_equal(regions_to_mask([reg], claw.shape), claw)
    # and through apply's region reader into a user DQ file: the same pixels
    out = tmp_path / "claw_user_dq.fits"
    assert run_cli("combine", reg, "--like", src, "--to", "dq", "--flags", "DO_NOT_USE",
                   "-o", out)[0] == 0
    with fits.open(out) as h:
        assert np.array_equal(h[0].data != 0, claw) and set(np.unique(h[0].data)) == {0, DNU}


def _flt(path: Path, dqs: list[np.ndarray]) -> Path:
    primary = fits.PrimaryHDU()
    primary.header.update(TELESCOP="HST", INSTRUME="ACS", DETECTOR="WFC")
    hdus = [primary]
    for ver, dq in enumerate(dqs, start=1):
        hdus += [fits.ImageHDU(np.zeros(dq.shape, np.float32), name="SCI", ver=ver),
                 fits.ImageHDU(dq.astype(np.int16), name="DQ", ver=ver)]
    fits.HDUList(hdus).writeto(path)
    return path


def test_two_chip_flt_combine_convert_and_chip_selection(tmp_path, run_cli):
    dq1, dq2 = np.zeros(SHAPE, np.int16), np.zeros(SHAPE, np.int16)
    dq1[1, 1] = 16  # HOTPIX
    dq2[2, 2] = np.int16(-32768)  # bit 15 set (CROSSTALK), the sign bit of int16
    flt = _flt(tmp_path / "j_flt.fits", [dq1, dq2])
    reg = tmp_path / "r.reg"
    reg.write_text("image\nbox(11,31,5,3,0)\n")  # painted on each chip
    out = tmp_path / "both.fits"
    code, _, err = run_cli("combine", flt, reg, "-o", out)
    assert code == 0, err
    with fits.open(out) as h:
        assert [(x.name, x.ver) for x in h[1:]] == [("SCI", 1), ("SCI", 2)]
        assert np.array_equal(h[1].data.astype(bool), (dq1 != 0) | _region_pixels())
        assert np.array_equal(h[2].data.astype(bool), (dq2 != 0) | _region_pixels())
    assert np.array_equal(_readbad_mask_file(Path(f"{out}[2]")), (dq2 != 0) | _region_pixels())
    # dq -> dq keeps the int16 bits of both chips, in DQ extensions
    raw = tmp_path / "raw.fits"
    assert run_cli("convert", flt, raw, "--to", "dq")[0] == 0
    with fits.open(raw) as h:
        assert [(x.name, x.ver) for x in h[1:]] == [("DQ", 1), ("DQ", 2)]
        assert h[2].data.dtype.kind == "i" and h[2].data[2, 2] == -32768
        assert "DQ_CONV" not in h[0].header
    # a one-chip format needs a chip
    code, _, err = run_cli("convert", flt, tmp_path / "u.fits", "--to", "user_mask")
    assert code == 1 and "pick one with FILE[CHIP]" in err


def test_grow_dq_keeps_original_bits_and_flags_the_ring(tmp_path, inputs, run_cli):
    out = tmp_path / "grown_dq.fits"
    code, _, err = run_cli("grow", inputs["rate"], "--dq", "SATURATED", "--pixels", "1",
                           "--footprint", "plus", "--flags", "OTHER_BAD_PIXEL", "-o", out)
    assert code == 0, err
    with fits.open(out) as h:
        dq = h[0].data
    assert dq[5, 5] == DNU and dq[6, 6] == SAT and dq[7, 7] == DNU | SAT  # untouched bits
    assert dq[6, 7] == OBP and dq[5, 6] == OBP and dq[7, 6] == OBP  # ring of (6,6)
    assert dq[7, 8] == OBP and dq[8, 7] == OBP  # ring of (7,7)
    assert dq[5, 4] == 0  # (5,5) is DO_NOT_USE only: not selected by --dq SATURATED


def test_grow_of_an_hst_dq_without_flags_names_the_file_and_the_batch_goes_on(tmp_path,
                                                                                run_cli):
    """JWST's default flags do not fit an HST int16 DQ: that is this file's problem (exit 1,
    one line naming it), not a usage error that would stop a batch; ``--flags 4`` works."""
    from dqmask.datasets import make_acs_wfc_flt

    flt = make_acs_wfc_flt(tmp_path / "j_flt.fits", shape=(64, 80))
    before = digest(flt)
    code, _, err = run_cli("grow", flt, "--pixels", "1", "-o", tmp_path / "g.fits", "--to", "dq")
    assert code == 1
    assert err.strip() == (f"dqmask: {flt}: the default flags of grown pixels do not fit its "
                           f">i2 DQ: name the flags to set (e.g. 4 for HST DETECTORPROB)")
    assert digest(flt) == before and not (tmp_path / "g.fits").exists()
    code, _, err = run_cli("grow", flt, "--pixels", "1", "-o", tmp_path / "g.fits", "--to", "dq",
                           "--flags", "4")
    assert code == 0, err
