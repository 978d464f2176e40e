"""``dqmask apply``: flags OR-ed into DQ where a mask or DS9 regions are set."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from dqmask.apply import core as alg
from dqmask.apply.files import ApplyOptions, apply_to_file, backup_path, read_mask
from dqmask.conftest import shared_file
from dqmask.errors import AlreadyDoneError, InputError
from dqmask.flags import JWST_PIXEL
from dqmask.io.atomic import TMP_MARK
from dqmask.io.fits import step_records
from dqmask.io.regions import RegionWarning, regions_to_mask
from dqmask.toolbox.morphology import grow

DNU, OBP = JWST_PIXEL["DO_NOT_USE"], JWST_PIXEL["OTHER_BAD_PIXEL"]
SAT, JUMP = JWST_PIXEL["SATURATED"], JWST_PIXEL["JUMP_DET"]
SHAPE = (64, 80)


# ------------------------------------------------------------------------------- helpers


def make_rate(path: Path, shape=SHAPE, *, nints: int | None = None, seed: int = 0) -> Path:
    """A small JWST NIRCam rate (or rateints) written by stdatamodels, with some DQ set."""
    from stdatamodels.jwst import datamodels

    rng = np.random.default_rng(seed)
    full = shape if nints is None else (nints, *shape)
    model = (datamodels.ImageModel if nints is None else datamodels.CubeModel)(full)
    model.data = rng.normal(1.0, 0.1, full).astype(np.float32)
    model.err = np.full(full, 0.1, np.float32)
    dq = np.zeros(full, np.uint32)
    dq[..., 3, 4] = SAT | DNU
    dq[..., 10, 10] = JUMP
    dq[..., 20, 30] = 1 << 31  # top bit must survive
    model.dq = dq
    model.meta.telescope = "JWST"
    model.meta.instrument.name = "NIRCAM"
    model.meta.instrument.detector = "NRCB1"
    model.meta.instrument.filter = "F200W"
    model.meta.exposure.type = "NRC_IMAGE"
    model.meta.filename = path.name
    model.save(path)
    model.close()
    return path


def make_flt(path: Path, shape=(30, 40)) -> Path:
    """A 2-chip ACS/WFC flt: SCI/ERR/DQ ver 1 and 2, DQ int16, a TAN WCS per chip."""
    prim = fits.PrimaryHDU()
    prim.header.update(TELESCOP="HST", INSTRUME="ACS", DETECTOR="WFC", FLATCORR="COMPLETE")
    hdus = [prim]
    for ver in (1, 2):
        sci = fits.ImageHDU(np.full(shape, float(ver), np.float32), name="SCI", ver=ver)
        sci.header.update(CCDCHIP=3 - ver, CTYPE1="RA---TAN", CTYPE2="DEC--TAN",
                          CRVAL1=10.0, CRVAL2=20.0 + 0.01 * ver, CRPIX1=20.0, CRPIX2=15.0,
                          CD1_1=-1.4e-5, CD1_2=0.0, CD2_1=0.0, CD2_2=1.4e-5)
        dq = np.zeros(shape, np.int16)
        dq[0, 0] = 16
        hdus += [sci, fits.ImageHDU(np.ones(shape, np.float32), name="ERR", ver=ver),
                 fits.ImageHDU(dq, name="DQ", ver=ver)]
    fits.HDUList(hdus).writeto(path)
    return path


def write_mask(path: Path, data: np.ndarray, **keys) -> Path:
    hdu = fits.PrimaryHDU(data)
    hdu.header.update(keys)
    hdu.writeto(path)
    return path


def claw(shape=SHAPE) -> np.ndarray:
    """A bad mask (True = bad): a diagonal band, about 15% of the image."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.abs(yy - 0.6 * xx - 5) < 5


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def getdq(path: Path, ver: int = 1) -> np.ndarray:
    with fits.open(path) as h:
        return np.array(h["DQ", ver].data)


# ------------------------------------------------------------------------- pure functions


def test_or_flags_keeps_dtype_and_only_sets_flags_under_the_mask():
    dq = np.array([[0, 2], [4, 1 << 31]], np.uint32)
    bad = np.array([[True, False], [True, True]])
    out = alg.or_flags(dq, bad, DNU | OBP)
    assert out.dtype == np.uint32
    np.testing.assert_array_equal(out, [[DNU | OBP, 2], [4 | DNU | OBP, (1 << 31) | DNU | OBP]])
    assert dq[0, 0] == 0  # input untouched


def test_or_flags_int16_bit15_and_width_guard():
    dq = np.zeros((2, 2), np.int16)
    out = alg.or_flags(dq, np.eye(2, dtype=bool), 0x8000 | 4)
    assert out.dtype == np.int16 and out[0, 0] == np.int16(-32768 + 4) and out[0, 1] == 0
    with pytest.raises(ValueError, match="16-bit"):
        alg.or_flags(dq, np.eye(2, dtype=bool), OBP)


def test_or_flags_broadcasts_a_2d_mask_over_integrations_and_refuses_other_shapes():
    dq = np.zeros((3, 4, 5), np.uint32)
    bad = np.zeros((4, 5), bool)
    bad[1, 2] = True
    out = alg.or_flags(dq, bad, 1)
    assert out[:, 1, 2].tolist() == [1, 1, 1] and out.sum() == 3
    with pytest.raises(alg.ShapeMismatch, match="mask is 4x5 but the target is 5x4x3"):
        alg.or_flags(dq, bad.T, 1)


def test_mask_record_depends_on_mask_flags_and_fill_only():
    a = claw()
    r = alg.mask_record([a], DNU | OBP)
    assert r == alg.mask_record([a.copy()], DNU | OBP) and len(r) == 16
    b = a.copy()
    b[0, 0] ^= True
    assert len({r, alg.mask_record([b], DNU | OBP), alg.mask_record([a], DNU),
                alg.mask_record([a], DNU | OBP, "zero"), alg.mask_record([a.T], DNU | OBP)}) == 5


def test_zero_where_and_stats():
    sci = np.ones((2, 3, 4), np.float32)
    bad = np.zeros((3, 4), bool)
    bad[0] = True
    out = alg.zero_where(sci, bad)
    assert out.dtype == np.float32 and out.sum() == 2 * 8 and sci.sum() == 24
    s = alg.mask_stats([bad, np.zeros((2, 2), bool)])
    assert (s.masked, s.total, s.fraction) == (4, 16, 0.25)


# ------------------------------------------------------------------------- JWST end to end


def test_apply_default_flags_to_a_rate(tmp_path, run_cli):
    rate = make_rate(tmp_path / "a_rate.fits")
    mask = write_mask(tmp_path / "m.fits", claw().astype(np.uint8), DQMCONV="bad")
    before = getdq(rate)
    sci_before = fits.getdata(rate, "SCI").copy()
    code, out, err = run_cli("apply", rate, "--mask", mask, "-o", tmp_path / "out.fits")
    assert code == 0, err
    n = int(claw().sum())
    assert f"{n} of {SHAPE[0] * SHAPE[1]} pixels masked ({100 * (n / 5120):.3f}%)" in out
    dq = getdq(tmp_path / "out.fits")
    assert dq.dtype == np.uint32
    np.testing.assert_array_equal(dq, np.where(claw(), before | DNU | OBP, before))
    assert not ((dq & ~before) & (SAT | JUMP)).any()  # never SATURATED / JUMP_DET
    assert dq[20, 30] & (1 << 31)
    np.testing.assert_array_equal(fits.getdata(tmp_path / "out.fits", "SCI"), sci_before)
    assert digest(rate) == digest(tmp_path / "a_rate.fits")  # input not modified


def test_output_is_openable_by_stdatamodels_with_history_and_record(tmp_path, run_cli):
    from stdatamodels.jwst import datamodels

    rate = make_rate(tmp_path / "b_rate.fits")
    mask = write_mask(tmp_path / "m.fits", claw().astype(np.uint8), DQMCONV="bad")
    code, _, err = run_cli("apply", rate, "--mask", mask, "--in-place")
    assert code == 0, err
    with datamodels.open(rate) as model:
        assert model.meta.instrument.name == "NIRCAM"
        assert model.meta.instrument.detector == "NRCB1"
        assert model.dq.dtype == np.uint32
        assert ((model.dq & DNU) != 0)[claw()].all()
    header = fits.getheader(rate)
    hist = " ".join(str(h) for h in header["HISTORY"])
    assert "dqmask" in hist and "apply" in hist and "mask=m.fits" in hist
    recs = step_records(header, "apply")
    assert recs == [("apply", alg.mask_record([claw()], DNU | OBP))]


def test_reapplying_the_same_mask_changes_nothing_not_even_history(tmp_path, run_cli):
    rate = make_rate(tmp_path / "c_rate.fits")
    mask = write_mask(tmp_path / "m.fits", claw().astype(np.uint8), DQMCONV="bad")
    assert run_cli("apply", rate, "--mask", mask, "--in-place")[0] == 0
    first = digest(rate)
    code, _, err = run_cli("apply", rate, "--mask", mask, "--in-place")
    assert code == 0 and "already processed" in err
    assert digest(rate) == first
    # the same pixels from regions give the same record too (record = mask + flags)
    # ... while other flags are a new application
    code, out, _ = run_cli("apply", rate, "--mask", mask, "--in-place", "--flags", "OTHER_BAD_PIXEL")
    assert code == 0 and "0 newly flagged" in out and digest(rate) != first
    assert len(step_records(fits.getheader(rate), "apply")) == 2


def test_backup_keeps_the_first_original(tmp_path, run_cli):
    rate = make_rate(tmp_path / "d_rate.fits")
    original = digest(rate)
    mask = write_mask(tmp_path / "m.fits", claw().astype(np.uint8), DQMCONV="bad")
    code, out, _ = run_cli("apply", rate, "--mask", mask, "--in-place", "--backup")
    assert code == 0 and "backup" in out
    orig = tmp_path / "d_rate_orig.fits"
    assert backup_path(rate) == str(orig) and digest(orig) == original
    assert digest(rate) != original
    code, out, _ = run_cli("apply", rate, "--mask", mask, "--in-place", "--backup", "--flags", "1")
    assert code == 0 and digest(orig) == original and "already exists; kept" in out


def test_compressed_in_place_is_refused(tmp_path, run_cli):
    import gzip

    rate = make_rate(tmp_path / "q_rate.fits")
    gz = tmp_path / "q_rate.fits.gz"
    gz.write_bytes(gzip.compress(rate.read_bytes()))
    before = digest(gz)
    mask = write_mask(tmp_path / "m.fits", claw().astype(np.uint8), DQMCONV="bad")
    code, _, err = run_cli("apply", gz, "--mask", mask, "--in-place")
    assert code == 1 and "compressed" in err and digest(gz) == before
    code, _, err = run_cli("apply", gz, "--mask", mask, "--output-dir", tmp_path / "o")
    assert code == 0, err
    assert ((getdq(tmp_path / "o" / "q_rate.fits") & DNU) != 0)[claw()].all()


def test_shape_mismatch_is_an_error_and_nothing_is_written(tmp_path, run_cli):
    rate = make_rate(tmp_path / "e_rate.fits")
    before = digest(rate)
    mask = write_mask(tmp_path / "m.fits", np.ones((64, 81), np.uint8), DQMCONV="bad")
    code, _, err = run_cli("apply", rate, "--mask", mask, "--in-place")
    assert code == 1
    assert "mask is 81x64 but the target is 80x64" in err and "never reshaped" in err
    assert digest(rate) == before
    assert not [p for p in os.listdir(tmp_path) if TMP_MARK in p]


def test_max_fraction_refuses_big_masks(tmp_path, run_cli):
    rate = make_rate(tmp_path / "f_rate.fits")
    before = digest(rate)
    big = np.zeros(SHAPE, np.uint8)
    big[:40] = 1  # 62.5 %
    mask = write_mask(tmp_path / "big.fits", big, DQMCONV="bad")
    code, _, err = run_cli("apply", rate, "--mask", mask, "--in-place")
    assert code == 1 and "62.5%" in err and "--max-fraction 0.5" in err
    assert digest(rate) == before
    code, out, _ = run_cli("apply", rate, "--mask", mask, "--in-place", "--max-fraction", "0.7")
    assert code == 0 and "3200 of 5120 pixels masked (62.500%)" in out


def test_zero_data_and_grow(tmp_path, run_cli):
    rate = make_rate(tmp_path / "g_rate.fits")
    small = np.zeros(SHAPE, np.uint8)
    small[30, 40] = 1
    mask = write_mask(tmp_path / "m.fits", small, DQMCONV="bad")
    code, out, _ = run_cli("apply", rate, "--mask", mask, "--grow", "2", "--zero-data",
                           "-o", tmp_path / "o.fits")
    grown = grow(small.astype(bool), 2)
    assert code == 0 and f"{int(grown.sum())} of 5120" in out and grown.sum() == 13
    with fits.open(tmp_path / "o.fits") as h:
        assert (h["SCI"].data[grown] == 0).all() and (h["SCI"].data[~grown] != 0).all()
        assert (h["ERR"].data == np.float32(0.1)).all()
        assert ((h["DQ"].data & DNU) != 0).sum() == 13 + 1  # + the pre-flagged pixel


def test_rateints_gets_the_mask_in_every_integration(tmp_path, run_cli):
    rate = make_rate(tmp_path / "h_rateints.fits", nints=3)
    mask = write_mask(tmp_path / "m.fits", claw().astype(np.uint8), DQMCONV="bad")
    code, _, err = run_cli("apply", rate, "--mask", mask, "-o", tmp_path / "o.fits")
    assert code == 0, err
    dq = getdq(tmp_path / "o.fits")
    assert dq.shape == (3, *SHAPE) and dq.dtype == np.uint32
    for plane in dq:
        assert ((plane & OBP) != 0).sum() == claw().sum()


def test_named_saturated_is_allowed(tmp_path):
    rate = make_rate(tmp_path / "i_rate.fits")
    opts = ApplyOptions(flags="SATURATED", mask=None, region_paths=())
    with pytest.raises(InputError, match="needs a mask"):
        apply_to_file(rate, tmp_path / "o.fits", opts)
    reg = tmp_path / "r.reg"
    reg.write_text("image\nbox(20.5,20.5,10,10,0)\n")
    res = apply_to_file(rate, tmp_path / "o.fits", ApplyOptions(flags="SATURATED",
                                                               region_paths=(str(reg),)))
    assert res.flags == SAT and res.masked == 100 and res.flag_names == ["SATURATED"]
    dq = getdq(tmp_path / "o.fits")
    assert ((dq & SAT) != 0).sum() == 101
    with pytest.raises(AlreadyDoneError):
        apply_to_file(tmp_path / "o.fits", tmp_path / "o.fits",
                      ApplyOptions(flags="SATURATED", region_paths=(str(reg),)))


def test_regions_partly_off_image_warn_and_apply(tmp_path, run_cli):
    rate = make_rate(tmp_path / "j_rate.fits")
    reg = tmp_path / "r.reg"
    reg.write_text("image\npolygon(-10,-10,30,-10,30,20,-10,20)\n-circle(10,10,3)\n"
                   "circle(500,500,4)\n")
    with pytest.warns(RegionWarning):
        expected = regions_to_mask(reg, SHAPE)
    code, out, err = run_cli("apply", rate, "--region", reg, "-o", tmp_path / "o.fits")
    assert code == 0, err
    err = " ".join(err.split())  # rich wraps long lines
    assert "region 3 (circle) lies entirely off the 80x64 image" in err
    assert "region 1 (polygon) extends beyond" in err
    dq = getdq(tmp_path / "o.fits")
    np.testing.assert_array_equal((dq & OBP) != 0, expected)
    assert expected.sum() == 19 * 29 - 25  # clipped box minus the exclude circle


def test_sky_region_on_the_far_side_of_the_sky_is_one_clear_line(tmp_path, run_cli):
    """Issue 11 item 4: a fk5 shape ~180 degrees from the pointing (no TAN pixel) gave the
    cryptic 'cannot convert float NaN to integer'; it is a shape off the image."""
    rate = make_rate(tmp_path / "s_rate.fits")
    with fits.open(rate, mode="update") as h:
        h["SCI"].header.update(CTYPE1="RA---TAN", CTYPE2="DEC--TAN", CRVAL1=150.1,
                               CRVAL2=2.3, CRPIX1=40.0, CRPIX2=32.0, CD1_1=-8.6e-6,
                               CD1_2=0.0, CD2_1=0.0, CD2_2=8.6e-6)
    far = tmp_path / "far.reg"
    far.write_text('fk5\ncircle(330.1,-2.3,2")\nimage\ncircle(10,10,2)\n')
    code, out, err = run_cli("apply", rate, "--region", far, "-o", tmp_path / "o.fits")
    assert code == 0, err
    text = " ".join(err.split())  # rich wraps long lines
    assert text.count("WARNING") == 1 and "NaN" not in text
    assert "region 1 (circle) falls outside the 80x64 image" in text
    assert f"{far}:region1" in "".join(err.split())  # names the file (rich may cut the path)
    assert "far side of the sky" in text and "9 of 5120 pixels masked" in out
    half = tmp_path / "half.reg"
    half.write_text("fk5\npolygon(150.1,2.3,150.1001,2.3,330.2,-2.2)\n")
    code, out, err = run_cli("apply", rate, "--region", half, "-o", tmp_path / "o2.fits")
    assert code == 1 and err.startswith(f"dqmask: {half}: region 1 (polygon): 1 of its 3 ")
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o2.fits").exists()


def test_i2d_gets_a_dq_extension(tmp_path, run_cli):
    from stdatamodels.jwst import datamodels

    from dqmask.datasets import make_nircam_i2d

    i2d = make_nircam_i2d(tmp_path / "k_i2d.fits", shape=(64, 80))
    mask = write_mask(tmp_path / "m.fits", claw().astype(np.uint8), DQMCONV="bad")
    code, _, err = run_cli("apply", i2d, "--mask", mask, "-o", tmp_path / "o_i2d.fits")
    assert code == 0, err
    with datamodels.open(tmp_path / "o_i2d.fits") as model:
        assert model.dq.dtype == np.uint32
        np.testing.assert_array_equal(model.dq != 0, claw())
        assert model.meta.instrument.name == "NIRCAM"
    first = digest(tmp_path / "o_i2d.fits")
    code, _, err = run_cli("apply", tmp_path / "o_i2d.fits", "--mask", mask, "--in-place")
    assert code == 0 and "already processed" in err and digest(tmp_path / "o_i2d.fits") == first


def _strip_targets(folder: Path) -> dict[str, Path]:
    from dqmask.datasets import make_nircam_i2d

    return {"rate": make_rate(folder / "s_rate.fits"),
            "rateints": make_rate(folder / "s_rateints.fits", nints=3),
            "i2d": make_nircam_i2d(folder / "s_i2d.fits", shape=SHAPE),
            "flt": make_flt(folder / "s_flt.fits", shape=SHAPE)}


@pytest.mark.parametrize("kind", ["rate", "rateints", "i2d", "flt"])
@pytest.mark.parametrize("zero", [False, True])
def test_strip_writing_gives_the_bytes_of_the_in_memory_path(tmp_path, monkeypatch, kind,
                                                             zero):
    """DQ (and SCI with zero_data) written strip by strip, whatever the strip size, equal
    the whole-array (astropy) encoding of the same result, and report the same counts."""
    import dqmask.apply.files as step
    import dqmask.io.fits as fits_io

    target = _strip_targets(tmp_path)[kind]
    reg = tmp_path / "r.reg"
    reg.write_text("image\npolygon(3,4,70,20,60,60,10,50)\n-circle(30,30,6)\n")
    mask = read_mask(write_mask(tmp_path / "m.fits", claw().astype(np.uint8), DQMCONV="bad"))
    planes = 2 if kind == "flt" else 1
    mask = type(mask)(mask.path, mask.planes * planes, mask.convention, mask.reason)
    opts = ApplyOptions(mask=mask, region_paths=(str(reg),), zero_data=zero, max_fraction=1,
                        chip="all" if kind == "flt" else None)  # image shapes on both chips
    results = {}
    for label, strip_bytes, direct in [("one row", 1, True), ("small", 700, True),
                                       ("whole", 1 << 30, True), ("in memory", 0, False)]:
        monkeypatch.setattr(fits_io, "STRIP_BYTES", strip_bytes or fits_io.STRIP_BYTES)
        if not direct:
            monkeypatch.setattr(step, "row_reader", lambda hdul, key: None)
        out = tmp_path / f"o_{label.replace(' ', '_')}_{kind}.fits"
        res = apply_to_file(target, out, opts)
        results[label] = (digest(out), res.newly_flagged, res.masked)
    assert len(set(results.values())) == 1, results
    assert results["whole"][1] > 0


def test_i2d_dq_written_in_strips_opens_with_stdatamodels(tmp_path, monkeypatch):
    from stdatamodels.jwst import datamodels

    import dqmask.io.fits as fits_io
    from dqmask.datasets import make_nircam_i2d

    monkeypatch.setattr(fits_io, "STRIP_BYTES", 3 * SHAPE[1] * 4)  # 3 rows a strip
    i2d = make_nircam_i2d(tmp_path / "t_i2d.fits", shape=SHAPE)
    reg = tmp_path / "r.reg"
    reg.write_text("image\npolygon(3,4,70,20,60,60,10,50)\n")
    res = apply_to_file(i2d, tmp_path / "o_i2d.fits",
                        ApplyOptions(region_paths=(str(reg),), zero_data=True))
    expected = regions_to_mask([reg], SHAPE)
    assert res.newly_flagged == expected.sum() > 0
    with datamodels.open(tmp_path / "o_i2d.fits") as model:
        assert model.dq.dtype == np.uint32 and model.dq.shape == SHAPE
        np.testing.assert_array_equal(model.dq, np.where(expected, DNU | OBP, 0))
        assert (model.data[expected] == 0).all()
        assert model.meta.instrument.name == "NIRCAM"
    with fits.open(i2d) as before, fits.open(tmp_path / "o_i2d.fits") as after:
        assert [h.name for h in after] == [h.name for h in before] + ["DQ"]
        np.testing.assert_array_equal(after["SCI"].data[~expected],
                                      before["SCI"].data[~expected])


def test_batch_with_jobs_and_output_dir(tmp_path, run_cli):
    rates = [make_rate(tmp_path / f"n{i}_rate.fits", seed=i) for i in range(2)]
    mask = write_mask(tmp_path / "m.fits", claw().astype(np.uint8), DQMCONV="bad")
    code, out, err = run_cli("apply", *rates, "--mask", mask, "--output-dir", tmp_path / "out",
                             "--jobs", "2")
    assert code == 0, err
    for r in rates:
        dq = getdq(tmp_path / "out" / r.name)
        assert ((dq & DNU) != 0)[claw()].all()
    assert out.count("newly flagged") == 2


def test_usage_and_input_errors(tmp_path, run_cli):
    rate = make_rate(tmp_path / "p_rate.fits")
    assert run_cli("apply", rate)[0] == 2  # neither --mask nor --region
    mask = write_mask(tmp_path / "m.fits", claw().astype(np.uint8), DQMCONV="bad")
    assert run_cli("apply", rate, rate, "--mask", mask, "-o", tmp_path / "x.fits")[0] == 2
    code, _, err = run_cli("apply", tmp_path / "missing.fits", "--mask", mask)
    assert code == 1 and "missing.fits: no such file" in err
    notfits = tmp_path / "n.fits"
    notfits.write_text("hello")
    code, _, err = run_cli("apply", rate, "--mask", notfits)
    assert code == 1 and "n.fits" in err and "FITS" in err
    code, _, err = run_cli("apply", rate, "--mask", mask, "--flags", "NOT_A_FLAG", "-o",
                           tmp_path / "o.fits")
    assert code == 1 and "unknown flag name" in err and not (tmp_path / "o.fits").exists()


# ------------------------------------------------------------------------------------- HST


def test_hst_flt_flags_each_chip_in_int16(tmp_path, run_cli):
    flt = make_flt(tmp_path / "x_flt.fits")
    planes = [np.zeros((30, 40), np.uint8), np.zeros((30, 40), np.uint8)]
    planes[0][5:10, 5:10] = 1
    planes[1][20:22, 30:35] = 1
    hdus = [fits.PrimaryHDU()]
    for ver, p in enumerate(planes, start=1):
        h = fits.ImageHDU(p, name="SCI", ver=ver)
        h.header["DQMCONV"] = "bad"
        hdus.append(h)
    fits.HDUList(hdus).writeto(tmp_path / "m2.fits")
    code, out, err = run_cli("apply", flt, "--mask", tmp_path / "m2.fits", "-o",
                             tmp_path / "o_flt.fits")
    assert code == 0, err
    assert "35 of 2400 pixels masked" in out and "DETECTORPROB (4)" in out
    for ver, p in enumerate(planes, start=1):
        dq = getdq(tmp_path / "o_flt.fits", ver)
        assert dq.dtype.kind == "i" and dq.dtype.itemsize == 2
        np.testing.assert_array_equal((dq & 4) != 0, p.astype(bool))
        assert dq[0, 0] & 16
    code, _, err = run_cli("apply", flt, "--mask", tmp_path / "m2.fits", "--flags", "0x8000",
                           "-o", tmp_path / "o2.fits")
    assert code == 0 and getdq(tmp_path / "o2.fits", 1)[5, 5] == np.int16(-32768)
    one = write_mask(tmp_path / "m1.fits", planes[0], DQMCONV="bad")
    code, _, err = run_cli("apply", flt, "--mask", one, "-o", tmp_path / "o3.fits")
    err = " ".join(err.split())
    assert code == 1 and "one mask plane for the 2 chips" in err and "m1.fits[SCI,N]" in err
    three = tmp_path / "m3.fits"
    fits.HDUList([fits.PrimaryHDU(), *[fits.ImageHDU(planes[0], name="SCI", ver=v)
                                       for v in (1, 2, 3)]]).writeto(three)
    code, _, err = run_cli("apply", flt, "--mask", three, "-o", tmp_path / "o4.fits")
    assert code == 1 and "3 plane(s) but" in err and "2 chip(s)" in err


def test_hst_sky_region_lands_on_the_right_chip(tmp_path, run_cli):
    from astropy.wcs import WCS

    flt = make_flt(tmp_path / "y_flt.fits")
    with fits.open(flt) as h:
        c = WCS(h["SCI", 2].header).pixel_to_world(10, 12)
    reg = tmp_path / "sky.reg"
    reg.write_text(f'icrs\ncircle({c.ra.deg:.9f},{c.dec.deg:.9f},0.11")\n')
    code, _, err = run_cli("apply", flt, "--region", reg, "-o", tmp_path / "o.fits")
    assert code == 0 and err == ""  # missing chip 1 is expected: no warning (issue 11 #8)
    assert not (getdq(tmp_path / "o.fits", 1) & 4).any()
    dq2 = getdq(tmp_path / "o.fits", 2)
    assert dq2[12, 10] & 4 and ((dq2 & 4) != 0).sum() == 13  # r = 2.18 px


# ------------------------------------------------------------------------- mask conventions


@pytest.mark.parametrize(("data", "keys", "conv", "bad"), [
    (np.array([[1, 0], [1, 1]], np.uint8), {}, "background", [[0, 1], [0, 0]]),
    (np.array([[1, 0], [1, 1]], np.int16), {}, "good", [[0, 1], [0, 0]]),
    (np.array([[0, 1], [0, 0]], np.int64), {"MPIXAREA": 1, "SMOOTH": 1.0}, "seed",
     [[0, 1], [0, 0]]),
    (np.array([[0, 0.3], [0, 0]], np.float64), {}, "seed", [[0, 1], [0, 0]]),
    (np.array([[1, 0], [np.nan, 1]], np.float32), {"TELESCOP": "JWST"}, "user_mask",
     [[0, 1], [1, 0]]),
    (np.array([[0, 1], [0, 0]], np.int32), {}, "bad", [[0, 1], [0, 0]]),
    (np.array([[0, 513], [0, 0]], np.uint32), {}, "dq", [[0, 1], [0, 0]]),
    (np.array([[0, 1], [0, 2]], np.int32), {}, "dq", [[0, 1], [0, 1]]),
    (np.array([[0, 1], [0, 0]], np.uint8), {"DQMCONV": "bad"}, "bad", [[0, 1], [0, 0]]),
])
@pytest.mark.parametrize("strip_bytes", [1, 1 << 24])  # read row by row, or whole
def test_mask_conventions_are_read_sensibly(tmp_path, monkeypatch, data, keys, conv, bad,
                                            strip_bytes):
    import dqmask.io.fits as fits_io

    monkeypatch.setattr(fits_io, "STRIP_BYTES", strip_bytes)
    m = read_mask(write_mask(tmp_path / "m.fits", data, **keys))
    assert m.convention == conv
    np.testing.assert_array_equal(m.planes[0], np.array(bad, bool))


def test_dq_extension_masks_and_mask_flags(tmp_path):
    dq = np.array([[0, 1], [512, 513]], np.uint32)
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(dq, name="DQ")]).writeto(tmp_path / "d.fits")
    assert read_mask(tmp_path / "d.fits").planes[0].sum() == 3
    only = read_mask(tmp_path / "d.fits", mask_flags="DO_NOT_USE")
    np.testing.assert_array_equal(only.planes[0], [[0, 1], [0, 1]])
    forced = read_mask(write_mask(tmp_path / "b.fits", np.array([[1, 0]], np.uint8)), "bad")
    np.testing.assert_array_equal(forced.planes[0], [[True, False]])


def test_real_nsclean_background_mask_is_read_as_background(tmp_path, run_cli):
    """NSClean masks are 1 = background (~36% for 'thorough'): read as such, the not-background
    pixels are 64% of the detector, so apply refuses them by default."""
    path = shared_file("nsclean_masks/nrs1_ifu_mask_thorough.fits.gz")
    m = read_mask(path)
    assert m.convention == "background" and m.planes[0].shape == (2048, 2048)
    with fits.open(path) as h:
        np.testing.assert_array_equal(m.planes[0], h[0].data == 0)
    assert 0.55 < m.planes[0].mean() < 0.75


def test_real_crab_zeroonemask_is_read_as_seed():
    path = shared_file("crab_claws/jw01727044001_04101_00001_nrcb1_cal_claws_seed_image_"
                       "zeroonemask.fits.gz")
    m = read_mask(path)
    assert m.convention == "seed" and m.planes[0].sum() == 14077


def test_real_mask_reference_dq_planes(tmp_path):
    m = read_mask(shared_file("jwst_nircam_mask_0026_nrca1_MASK_ref.fits"),
                  mask_flags="DO_NOT_USE")
    assert m.convention == "dq" and m.planes[0].sum() == 7401


def test_dry_run_writes_nothing(tmp_path, run_cli):
    rate = make_rate(tmp_path / "r_rate.fits")
    before = digest(rate)
    mask = write_mask(tmp_path / "m.fits", claw().astype(np.uint8), DQMCONV="bad")
    code, out, _ = run_cli("apply", rate, "--mask", mask, "--in-place", "--dry-run", "--backup")
    n = int(claw().sum())
    assert code == 0 and "dry run: nothing written" in out and f"{n} newly flagged" in out
    assert digest(rate) == before and sorted(os.listdir(tmp_path)) == ["m.fits", "r_rate.fits"]


def test_real_hst_flc_sky_region_through_lookup_table_distortion(tmp_path, run_cli):
    """WFC3/UVIS flc with D2IMARR/WCSDVARR: the sky circle lands on the chip it was made on;
    DQ stays int16, all 26 HDUs (headerlets, distortion arrays) are kept."""
    from astropy.wcs import WCS

    flc = shared_file("hst_wfc3_uvis_f555w_ib4606c6q_flc_10x10.fits")
    with fits.open(flc) as h:
        c = WCS(h["SCI", 2].header, h).pixel_to_world(4, 5)
        n_hdus = len(h)
        dq_before = [np.array(h["DQ", v].data) for v in (1, 2)]
    reg = tmp_path / "hst.reg"
    reg.write_text(f'icrs\ncircle({c.ra.deg:.10f},{c.dec.deg:.10f},0.05")\n')
    code, out, err = run_cli("apply", flc, "--region", reg, "-o", tmp_path / "o_flc.fits")
    assert code == 0, err
    assert "5 of 200 pixels masked" in out and "DETECTORPROB (4)" in out
    with fits.open(tmp_path / "o_flc.fits") as h:
        assert len(h) == n_hdus
        np.testing.assert_array_equal(h["DQ", 1].data, dq_before[0])
        dq2 = h["DQ", 2].data
        assert dq2.dtype.kind == "i" and dq2.dtype.itemsize == 2
        new = (dq2 & 4) != 0
        assert new[5, 4] and new.sum() == 5 and not (dq_before[1] & 4).any()


def test_a_crash_while_writing_leaves_the_file_whole(tmp_path, run_cli, monkeypatch):
    rate = make_rate(tmp_path / "s_rate.fits")
    before = digest(rate)
    mask = write_mask(tmp_path / "m.fits", claw().astype(np.uint8), DQMCONV="bad")

    def half_then_crash(self, fileobj, *args, **kwargs):
        fileobj.write(b"SIMPLE  =                    T" + b" " * 2000)
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(fits.HDUList, "writeto", half_then_crash)
    code, _, err = run_cli("apply", rate, "--mask", mask, "--in-place")
    assert code == 1 and "disk full" in err
    assert digest(rate) == before
    assert sorted(os.listdir(tmp_path)) == ["m.fits", "s_rate.fits"]  # no temporary left


def test_full_frame_mask_on_a_subarray_says_where_the_subarray_is(tmp_path, run_cli):
    from dqmask.datasets import make_nircam_rate

    rate = make_nircam_rate(tmp_path / "sub_rate.fits", shape=(64, 64))
    mask = write_mask(tmp_path / "full.fits", np.zeros((2048, 2048), np.uint8), DQMCONV="bad")
    code, _, err = run_cli("apply", rate, "--mask", mask, "--in-place")
    assert code == 1 and "never reshaped" in err and "SUBSTRT" in err
