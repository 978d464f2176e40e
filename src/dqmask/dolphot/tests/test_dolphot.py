"""DOLPHOT preparation on files: layout, cards, flags in order, guards, splitgroups, real data."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest
from astropy.io import fits

from dqmask.conftest import shared_file
from dqmask.dolphot import core, hst_core, pixel_area
from dqmask.dolphot.tests.test_dolphot_builders import hst_drz, hst_flt, jwst_cal, jwst_i2d, pam_dir
from dqmask.io.fits import step_records

f32 = np.float32


def _cards(header: fits.Header) -> dict[str, str]:
    return {c.keyword: c.image for c in header.cards}


def _usable_equals_masks(values, header, bad, sat):
    usable = core.dolphot_usable(values, header["BADPIX"], header["SATURATE"])
    return np.array_equal(usable, ~(bad | sat))


# ------------------------------------------------------------------ JWST


@pytest.fixture
def cal(tmp_path):
    sci = np.array([[1.0, 2.0, 0.0, 4.0], [np.nan, 6.0, 7.0, 8.0],
                    [9.0, 10.0, 11.0, 12.0]], dtype=f32)
    dq = np.zeros(sci.shape, np.uint32)
    dq[1, 1] = 2 | (1 << 30)  # saturated with a high bit: float32 would lose bit 2
    dq[1, 2] = 1 << 30  # OTHER_BAD_PIXEL alone: not a DOLPHOT rule
    dq[2, 0] = (1 << 25) | 2
    area = np.full(sci.shape, 1.0, f32)
    area[2, 3] = 1.25
    return jwst_cal(tmp_path / "jw_nrca1_cal.fits", sci, dq, area), sci, dq, area


def test_nircammask_cal_in_place(cal, run_cli):
    path, sci, dq, area = cal
    code, out, err = run_cli("nircammask", path)
    assert code == 0, err
    assert "nircammask prepared NRCA1 cal in place" in out
    with fits.open(path) as h:
        assert [x.name for x in h] == ["PRIMARY", "SCI"]
        head = h[1].header
        assert head["PCOUNT"] == 0 and head["GCOUNT"] == 1 and head["BITPIX"] == -32
        values = h[1].data.astype(f32)
        exp = 268.4  # TMEASURE: the ETC time is the 3.x default
        dn = (sci.astype(np.float64) / 0.5 * exp * area).astype(f32)
        good = np.isfinite(sci) & (sci != 0) & ((dq & 2) == 0)
        assert np.array_equal(values[good], dn[good])
        assert values[2, 3] == f32(12.0 / 0.5 * exp * 1.25)
        badpix = core.card_number(core.safedown(float(dn[good].min())))
        saturate = core.card_number(core.safeup(float(dn[good].max())))
        assert head["BADPIX"] == badpix and head["SATURATE"] == saturate
        cards = _cards(head)
        assert cards["GAIN"] == "GAIN    =             2.080000 / Gain (electrons/ADU)".ljust(80)
        assert cards["RDNOISE"] == (
            "RDNOISE =            11.430000 / Read noise (electrons)".ljust(80))
        assert cards["EXPTIME"] == "EXPTIME =           268.400000 / Exposure time (s)".ljust(80)
        assert cards["MJD-OBS"] == "MJD-OBS =         59800.250000 / Epoch (MJD)".ljust(80)
        assert cards["AIRMASS"] == "AIRMASS =             0.000000 / Air mass".ljust(80)
        assert cards["EXPTIME0"].startswith("EXPTIME0=           268.400000 / Single image")
        assert cards["DOL_NIRC"] == "DOL_NIRC=                    1 / DOLPHOT NIRCam tag".ljust(80)
        keys = [c.keyword for c in head.cards]
        order = ["GAIN", "EXPTIME", "RDNOISE", "BADPIX", "SATURATE", "MJD-OBS", "AIRMASS",
                 "EXPTIME0", "DOL_NIRC"]
        assert [k for k in keys if k in order] == order
        # saturated (incl. 2**25|2 and 2**30|2), bad (0, NaN), OTHER_BAD_PIXEL alone good
        sat = (dq & 2) != 0
        bad = ~good & ~sat
        assert sat.sum() == 2 and bad.sum() == 2 and good[1, 2]
        assert _usable_equals_masks(values, head, bad, sat)
        # HISTORY, long strings kept; provenance recorded
        prim = h[0].header
        assert list(prim["HISTORY"])[:2] == ["first history line",
                                             "first history line again, same first letter"]
        assert prim["S_REGION"].startswith("POLYGON ICRS 10.000000000 10.001000000")
        assert len(prim["S_REGION"]) > 68
        assert [s for s, _ in step_records(prim)] == ["nircammask"]
        assert {"sci history A", "sci history B"} <= set(head["HISTORY"])


def test_rerun_refused_file_unchanged(cal, run_cli):
    path = cal[0]
    assert run_cli("nircammask", path)[0] == 0
    before = path.read_bytes()
    code, out, err = run_cli("nircammask", path)
    assert code == 0
    assert "already run through nircammask (DOL_NIRC in extension 1); left unchanged" in err
    assert path.read_bytes() == before
    code, _, err = run_cli("dolphot", path)
    assert code == 0 and "already run through nircammask" in err
    assert path.read_bytes() == before


def test_output_dir_copy_leaves_input(cal, run_cli, tmp_path):
    path = cal[0]
    before = path.read_bytes()
    code, out, err = run_cli("nircammask", "--output-dir", tmp_path / "out", path)
    assert code == 0, err
    assert path.read_bytes() == before
    with fits.open(tmp_path / "out" / path.name) as h:
        assert h[1].header["DOL_NIRC"] == 1


def test_flags_apply_left_to_right(tmp_path, run_cli):
    sci = np.ones((2, 2), f32)
    dq = np.zeros((2, 2), np.uint32)
    a = jwst_cal(tmp_path / "a_cal.fits", sci, dq)
    b = jwst_cal(tmp_path / "b_cal.fits", sci, dq)
    c = jwst_cal(tmp_path / "c_cal.fits", sci, dq, primary={"DETECTOR": "NRCB4"})
    code, out, err = run_cli("nircammask", a, "-noetctime", b, "--gain", "3.5", "-etctime", c)
    assert code == 0, err
    heads = [fits.getheader(p, 1) for p in (a, b, c)]
    assert [h["EXPTIME"] for h in heads] == [268.4, 311.4, 268.4]
    assert [h["GAIN"] for h in heads] == [2.08, 2.08, 3.5]
    assert heads[2]["RDNOISE"] == round(14.23 / np.sqrt(2), 6)
    assert any("PROVISIONAL RDNOISE" in line for line in heads[2]["HISTORY"])
    assert fits.getdata(b, 1)[0, 0] == f32(1.0 / 0.5 * 311.4)


def test_flag_after_last_file_is_usage_error(cal, run_cli):
    path = cal[0]
    before = path.read_bytes()
    code, _, err = run_cli("nircammask", path, "-noetctime")
    assert code == 2 and "applies to no file" in err
    code, _, err = run_cli("nircammask", "-keepcr", path)
    assert code == 2
    assert path.read_bytes() == before


def test_estnoise_and_rdnoise_override(tmp_path, run_cli):
    sci = np.full((2, 2), 2.0, f32)
    var = np.full((2, 2), 0.0004, f32)
    a = jwst_cal(tmp_path / "a_cal.fits", sci, np.zeros((2, 2), np.uint32), var_rnoise=var)
    b = jwst_cal(tmp_path / "b_cal.fits", sci, np.zeros((2, 2), np.uint32))
    code, _, err = run_cli("nircammask", "-estnoise", a, "--rdnoise=7.25", b)
    assert code == 0, err
    expect = 0.02 / 0.5 * 268.4 * 2.08
    assert fits.getheader(a, 1)["RDNOISE"] == round(expect, 6)
    assert fits.getheader(b, 1)["RDNOISE"] == 7.25


def test_crf_and_i2d(tmp_path, run_cli):
    sci = np.array([[1.0, 2.0], [0.0, 4.0]], f32)
    area = np.full((2, 2), 2.0, f32)
    crf = jwst_cal(tmp_path / "x_crf.fits", sci, np.zeros((2, 2), np.uint32), area,
                   product="crf")
    wht = np.array([[1.0, 0.0], [1.0, 1.0]], f32)
    i2d = jwst_i2d(tmp_path / "x_i2d.fits", sci, wht, primary={"CHANNEL": "SHORT"})
    nis = jwst_i2d(tmp_path / "n_i2d.fits", sci, wht, instrument="NIRISS")
    code, out, err = run_cli("dolphot", "-etctime", crf, i2d, nis)
    assert code == 0, err
    assert fits.getdata(crf, 1)[0, 1] == f32(2.0 / 0.5 * 268.4 * 2.0)
    d = fits.getdata(i2d, 1)
    h = fits.getheader(i2d, 1)
    assert d[0, 0] == f32(1.0 / 0.5 * 311.4)  # i2d: EFFEXPTM always, no AREA
    assert d[1, 0] == f32(0.0)  # SCI == 0 is not bad in an i2d (WHT rule)
    assert d[0, 1] <= h["BADPIX"]  # WHT == 0
    assert h["DOL_NIRC"] == -1 and h["EXPTIME"] == 311.4
    hn = fits.getheader(nis, 1)
    assert hn["DOL_NIRI"] == -1 and hn["GAIN"] == 1.61 and hn["RDNOISE"] == 11.879394


def test_jwst_errors_leave_file_unchanged(tmp_path, run_cli):
    sci = np.ones((2, 2), f32)
    bad = jwst_cal(tmp_path / "p_cal.fits", sci, np.zeros((2, 2), np.uint32), photmjsr=0.0)
    before = bad.read_bytes()
    code, _, err = run_cli("nircammask", bad)
    assert code == 1 and "PHOTMJSR" in err and bad.read_bytes() == before
    nis = jwst_cal(tmp_path / "q_cal.fits", sci, np.zeros((2, 2), np.uint32),
                   primary={"INSTRUME": "NIRISS", "DETECTOR": "NIS"})
    code, _, err = run_cli("nircammask", nis)
    assert code == 1 and "needs a JWST NIRCAM image" in err
    code, _, err = run_cli("nirissmask", nis)
    assert code == 0 and fits.getheader(nis, 1)["DOL_NIRI"] == 0


# ------------------------------------------------------------------ HST


def _flt_chip(shape, value=10.0):
    return np.full(shape, value, f32)


def test_acsmask_subarray_by_aperture_with_pam_dir(tmp_path, run_cli):
    sci = _flt_chip((512, 512))
    sci[0, 0] = 2000.0  # above GOODMAX -> saturated
    sci[0, 1] = -50.0  # below GOODMIN -> bad
    dq = np.zeros((512, 512), np.int16)
    dq[0, 2] = 4096  # cosmic ray
    dq[0, 3] = 64  # warm: ignored
    path = hst_flt(tmp_path / "j_flt.fits", "ACS", "WFC", [sci], [dq], aperture="WFC1-512",
                   ccdchips=[1])
    pam = np.fromfunction(lambda y, x: 0.9 + x * 1e-5 + y * 1e-6, (2048, 4096), dtype=f32)
    root = pam_dir(tmp_path / "dolphot", {"acs/data/wfc1_pam.fits": pam})
    code, out, err = run_cli("acsmask", "--pam-dir", root, path)
    assert code == 0, err
    with fits.open(path) as h:
        assert len(h) == 2
        head, values = h[1].header, h[1].data
        assert head["DOL_ACS"] == 1 and head["DOL_OFFX"] == 3584 and head["DOL_OFFY"] == 1536
        assert _cards(head)["DOL_OFFX"] == ("DOL_OFFX=                 3584 / Origin of "
                                            "subarray relative to full chip").ljust(80)
        ratio = np.float64(pam[1536 + 5, 3584 + 7]) / 0.951763
        assert values[5, 7] == f32(10.0 * ratio)
        assert values[0, 0] >= head["SATURATE"] and values[0, 1] <= head["BADPIX"]
        assert values[0, 2] <= head["BADPIX"] and core.dolphot_usable(values[0, 3:4],
                                                                    head["BADPIX"],
                                                                    head["SATURATE"])[0]
        assert head["RDNOISE"] == round(4.5 * np.sqrt(2), 6)  # WFC1 = amps A, B; CRSPLIT 2
        assert head["EXPTIME0"] == 250.0 and head["GAIN"] == 1.0
        assert head["BADPIX"] == -63.000603 and head["SATURATE"] == 3003.030029
    code, _, err = run_cli("acsmask", path)
    assert "already run through acsmask" in err


def test_acsmask_full_frame_chip_order_tags(tmp_path, run_cli):
    shape = (2048, 4096)
    s1, s2 = _flt_chip(shape, 10.0), _flt_chip(shape, 20.0)
    d1, d2 = np.zeros(shape, np.int16), np.zeros(shape, np.int16)
    d1[0, 0] = 2048
    d2[1, 1] = 16
    path = hst_flt(tmp_path / "full_flt.fits", "ACS", "WFC", [s1, s2], [d1, d2],
                   ccdchips=[2, 1], primary={"NEXTEND": 6})
    code, out, err = run_cli("acsmask", "-keepcr", path)
    assert code == 0, err
    with fits.open(path) as h:
        assert [x.name for x in h] == ["PRIMARY", "SCI", "SCI"]
        assert h[0].header["NEXTEND"] == 2
        assert h[1].header["DOL_ACS"] == 2 and h[2].header["DOL_ACS"] == 1
        assert h[1].header["RDNOISE"] == round(7.0 * np.sqrt(2), 6)  # WFC2: C, D
        assert h[2].header["RDNOISE"] == round(4.5 * np.sqrt(2), 6)  # WFC1: A, B
        assert h[1].data[0, 0] >= h[1].header["SATURATE"]
        assert h[2].data[1, 1] <= h[2].header["BADPIX"]
        assert "DOL_OFFX" not in h[1].header
        assert any("SIP" in x or "WCS" in x for x in h[1].header["HISTORY"])


def test_wfc3_ir_full_and_uvis_subarray(tmp_path, run_cli):
    ir = _flt_chip((1014, 1014), 2.0)
    dq = np.zeros((1014, 1014), np.int16)
    dq[0, 0], dq[0, 1], dq[0, 2] = 512, 256, 2048
    irp = hst_flt(tmp_path / "i_flt.fits", "WFC3", "IR", [ir], [dq],
                  primary={"NSAMP": 14, "EXPTIME": 100.0}, goodmin=-1.0, goodmax=500.0)
    uv = _flt_chip((512, 513), 5.0)
    uvp = hst_flt(tmp_path / "u_flt.fits", "WFC3", "UVIS", [uv], [np.zeros((512, 513))],
                  aperture="UVIS2-C512C-SUB", ccdchips=[2])
    code, out, err = run_cli("wfc3mask", irp, "-maskflat", uvp)
    assert code == 0, err
    with fits.open(irp) as h:
        assert [x.name for x in h] == ["PRIMARY", "SCI"]  # ERR, DQ, SAMP, TIME dropped
        head, v = h[1].header, h[1].data
        assert head["DOL_WFC3"] == 0 and "DOL_OFFX" not in head
        assert v[5, 5] == f32(200.0)  # e-/s x EXPTIME, PAM from CD only = 1
        assert core.dolphot_usable(v[0, 0:1], head["BADPIX"], head["SATURATE"])[0]  # 512 kept
        assert v[0, 1] >= head["SATURATE"] and v[0, 2] >= head["SATURATE"]
        dmax = float(f32(core.safeup(500.0)))
        assert head["SATURATE"] == core.card_number(f32(f32(1.5 * f32(2 * dmax)) * 100.0))
        assert head["RDNOISE"] == round(hst_core.wfc3_ir_read_noise(14), 6)
    with fits.open(uvp) as h:
        head = h[1].header
        assert head["DOL_WFC3"] == 2 and head["DOL_OFFY"] == 1 and "DOL_OFFX" not in head
        assert head["RDNOISE"] == 7.0  # UVIS2 = amps C, D; NCOMBINE absent -> 1


def test_forced_subarrays_and_errors(tmp_path, run_cli):
    sci = _flt_chip((20, 30))
    hrc = hst_flt(tmp_path / "h_flt.fits", "ACS", "HRC", [sci], [np.zeros((20, 30))])
    odd = hst_flt(tmp_path / "o_flt.fits", "ACS", "WFC", [sci], [np.zeros((20, 30))])
    before = odd.read_bytes()
    code, _, err = run_cli("acsmask", odd)
    assert code == 1 and "force a subarray with -wfc1sub=X,Y" in err
    code, _, err = run_cli("acsmask", "-wfc2sub=4090,0", odd)
    assert code == 1 and "would fall outside 4096x2048 image" in err
    assert odd.read_bytes() == before
    code, _, err = run_cli("acsmask", "-wfc2sub=bad", odd)
    assert code == 2 and 'Cannot parse subarray definition "bad"' in err
    code, _, err = run_cli("acsmask", "-hrcsub=5,6", hrc, "--wfc2-sub", "100,7", odd)
    assert code == 0, err
    hh = fits.getheader(hrc, 1)
    assert hh["DOL_ACS"] == 0 and "DOL_OFFX" not in hh  # forced HRC: no offset cards
    ho = fits.getheader(odd, 1)
    assert ho["DOL_ACS"] == 2 and ho["DOL_OFFX"] == 100 and ho["DOL_OFFY"] == 7


def test_drizzled_branch(tmp_path, run_cli):
    sci = np.array([[np.nan, 1.0, 2.0], [3.0, 4.0, 10.0]], f32)
    ctx = np.ones((2, 3), np.int32)
    ctx[1, 0] = 0
    wht = np.ones((2, 3), f32)
    wht[0, 1] = 0.0
    a = hst_drz(tmp_path / "a_drz.fits", "ACS", "WFC", sci, wht, ctx)
    b = hst_drz(tmp_path / "b_drz.fits", "WFC3", "IR", sci, wht, ctx)
    code, _, err = run_cli("dolphot", a, "-usewht", "-exptime=50", b)
    assert code == 0, err
    ha, va = fits.getheader(a, 1), fits.getdata(a, 1)
    assert ha["DOL_ACS"] == -2
    f = 500.0 / 0.951763
    assert va[0, 1] == f32(1.0 * f) and va[1, 2] == f32(10.0 * f)
    assert va[0, 0] <= ha["BADPIX"] and va[1, 0] <= ha["BADPIX"]
    assert va[1, 2] < ha["SATURATE"]
    hb, vb = fits.getheader(b, 1), fits.getdata(b, 1)
    assert hb["DOL_WFC3"] == -1 and hb["EXPTIME"] == 50.0
    assert vb[0, 1] <= hb["BADPIX"] and vb[1, 0] == f32(150.0)  # WHT rule, not CTX


# ------------------------------------------------------------------ splitgroups


def test_splitgroups_names_headers_bytes(tmp_path, run_cli):
    shape = (4, 5)
    s1, s2 = _flt_chip(shape, 1.5), _flt_chip(shape, 2.5)
    path = hst_flt(tmp_path / "m_flt.fits", "ACS", "WFC", [s1, s2],
                   [np.zeros(shape), np.full(shape, 3)], ccdchips=[2, 1])
    with fits.open(path, mode="update") as h:
        h[0].header["EXPTIME"] = 500.0
        h[1].header["EXPTIME"] = 123.0  # extension value replaces the primary's
        h[0].header.add_history("primary history")
    before = path.read_bytes()
    code, out, err = run_cli("splitgroups", path)
    assert code == 0, err
    assert path.read_bytes() == before
    names = sorted(p.name for p in tmp_path.glob("m_flt.chip*.fits"))
    assert names == [f"m_flt.chip{i}.fits" for i in range(1, 7)]  # WCSCORR table not split
    with fits.open(tmp_path / "m_flt.chip1.fits") as c:
        assert len(c) == 1 and c[0].header["EXTEND"] is False
        head = c[0].header
        keys = list(head.keys())
        assert keys.index("EXPTIME") < keys.index("EXTNAME")  # primary order kept
        assert head["EXPTIME"] == 123.0 and head["CCDCHIP"] == 2 and head["EXTNAME"] == "SCI"
        assert head["INSTRUME"] == "ACS" and "primary history" in head["HISTORY"]
        assert np.array_equal(c[0].data, s1)
    with fits.open(tmp_path / "m_flt.chip6.fits") as c:
        assert c[0].data.dtype.kind == "i" and (c[0].data == 3).all()


def test_splitgroups_after_mask_and_gz(tmp_path, run_cli):
    shape = (2048, 4096)
    path = hst_flt(tmp_path / "w_flt.fits", "ACS", "WFC", [_flt_chip(shape), _flt_chip(shape)],
                   [np.zeros(shape, np.int16)] * 2, ccdchips=[2, 1], extra_tables=False)
    assert run_cli("acsmask", path)[0] == 0
    gz = tmp_path / "w_flt.fits.gz"
    gz.write_bytes(gzip.compress(path.read_bytes(), compresslevel=1))
    code, out, err = run_cli("splitgroups", "--output-dir", tmp_path / "s", gz)
    assert code == 0, err
    c1 = fits.getheader(tmp_path / "s" / "w_flt.chip1.fits")
    c2 = fits.getheader(tmp_path / "s" / "w_flt.chip2.fits")
    assert c1["DOL_ACS"] == 2 and c2["DOL_ACS"] == 1  # chip1 = WFC2, chip2 = WFC1
    assert c1["BADPIX"] == fits.getheader(path, 1)["BADPIX"]
    bad = tmp_path / "w_flt.fit"
    shutil.copyfile(path, bad)
    code, _, err = run_cli("splitgroups", bad)
    assert code == 1 and "does not have a .fits extension" in err


def test_splitgroups_jwst_uint32_dq_kept(tmp_path, run_cli):
    dq = np.array([[0, (1 << 31) | 2]], np.uint32)
    path = jwst_cal(tmp_path / "s_cal.fits", np.ones((1, 2), f32), dq)
    assert run_cli("splitgroups", path)[0] == 0
    out = fits.getdata(tmp_path / "s_cal.chip3.fits")
    assert out.dtype == np.uint32 and out[0, 1] == (1 << 31) | 2


# ------------------------------------------------------------------ real files


def test_real_nircam_cal_cutout(tmp_path, run_cli):
    src = shared_file("jwst_nircam_nrcalong_f444w_cal_cutout_starbug2.fits")
    path = tmp_path / src.name
    shutil.copyfile(src, path)
    with fits.open(src) as h:
        sci = h["SCI"].data.astype(f32)
        dq = h["DQ"].data.astype(np.uint32)
        area = h["AREA"].data.astype(f32)
        phot = h["SCI"].header["PHOTMJSR"]
        exp = h[0].header["EFFEXPTM"]
    code, out, err = run_cli("nircammask", "-noetctime", path)
    assert code == 0, err
    with fits.open(path) as h:
        v, head = h[1].data, h[1].header
    sat = (dq & 2) != 0
    bad = ~sat & ((sci == 0) | ~np.isfinite(sci))
    good = ~(bad | sat)
    assert bad.sum() == 18  # the cutout's NaN pixels
    expect = (sci.astype(np.float64) / phot * exp * area).astype(f32)
    np.testing.assert_array_equal(v[good], expect[good])
    # a chain of float32 operations agrees to a few float32 ulps
    np.testing.assert_allclose(v[good], sci[good] / phot * exp * area[good], rtol=4e-7)
    assert (v[bad] <= head["BADPIX"]).all() and (v[sat] >= head["SATURATE"]).all()
    assert _usable_equals_masks(v, head, bad, sat)
    assert head["EXPTIME"] == 42.947 and head["GAIN"] == 1.84 and head["DOL_NIRC"] == 5


@pytest.mark.parametrize("name,flag,ir", [
    ("hst_wfc3_uvis_f555w_ib4606c6q_flc_10x10.fits", "-uvis2sub=0,0", False),
    ("hst_wfc3_ir_f110w_ib4606cpq_flt_10x10.fits", "-irsub=0,0", True),
])
def test_real_wfc3_cutouts(tmp_path, run_cli, name, flag, ir):
    src = shared_file(name)
    path = tmp_path / src.name
    shutil.copyfile(src, path)
    with fits.open(src) as h:
        sci = h["SCI", 1].data.astype(f32)
        dq = h["DQ", 1].data
        head0 = h["SCI", 1].header
        exp = h[0].header["EXPTIME"]
        # WFC3 maps are unity at UVIS2 (2072, 2046) / IR (557, 557); offset 0 here
        ref = (2072.0, 2046.0) if not ir else (557.0, 557.0)
        pam = _astropy_sip_area(head0, sci.shape, h, ref)
    code, out, err = run_cli("wfc3mask", flag, path)
    assert code == 0, err
    assert code == 0
    with fits.open(path) as h:
        v, head = h[1].data, h[1].header
        assert any("SIP" in line for line in head["HISTORY"])
    dq_bad, dq_sat = hst_core.wfc3_dq_masks(dq, ir=ir)
    gmin = float(f32(core.safedown(head0["GOODMIN"])))
    gmax = float(f32(core.safeup(head0["GOODMAX"])))
    sat = dq_sat | (~dq_bad & (sci >= gmax))
    bad = ~sat & (dq_bad | ~(sci > gmin))
    good = ~(bad | sat)
    assert good.sum() > 50
    assert (v[bad] <= head["BADPIX"]).all() and (v[sat] >= head["SATURATE"]).all()
    assert _usable_equals_masks(v, head, bad, sat)
    # PAM from the header's SIP, checked against astropy's own SIP evaluation
    expect = sci.astype(np.float64) * pam * (exp if ir else 1.0)
    np.testing.assert_allclose(v[good], expect[good], rtol=1e-5)
    assert 0.9 < pam.min() and pam.max() < 1.1


def _astropy_sip_area(header, shape, hdul, ref):
    """det of the SIP Jacobian from astropy, relative to its value at 1-based pixel ``ref``."""
    from astropy.wcs import WCS

    w = WCS(header, hdul, relax=True)

    def det(x, y):  # 0-based pixel arrays
        e = 1e-3

        def foc(dx, dy):
            pts = np.column_stack([(x + dx).ravel(), (y + dy).ravel()]) + 1.0
            return w.sip_pix2foc(pts, 1).reshape(*x.shape, 2)

        fx = (foc(e, 0) - foc(-e, 0)) / (2 * e)
        fy = (foc(0, e) - foc(0, -e)) / (2 * e)
        return fx[..., 0] * fy[..., 1] - fx[..., 1] * fy[..., 0]

    y, x = np.mgrid[0:shape[0], 0:shape[1]].astype(float)
    at_ref = det(np.array([[ref[0] - 1.0]]), np.array([[ref[1] - 1.0]]))[0, 0]
    return det(x, y) / at_ref


def test_demo_hook(tmp_path):
    from dqmask.dolphot import cli as cmd_dolphot

    sci = np.ones((2, 2), f32)
    sample = jwst_cal(tmp_path / "nrc_cal.fits", sci, np.zeros((2, 2), np.uint32))
    lines: list[str] = []
    cmd_dolphot.demo(tmp_path / "work", {"nircam_cal": sample}, lines.append)
    assert sample.read_bytes() == sample.read_bytes()
    assert fits.getheader(tmp_path / "work" / "dolphot" / "nrc_cal.fits", 1)["DOL_NIRC"] == 1
    assert "DOL_NIRC" not in fits.getheader(sample, 1)
    assert any("dqmask dolphot" in line for line in lines)


def test_cli_forms_dry_run_gz_and_jobs(tmp_path, run_cli):
    sci = np.full((2, 2), 1.0, f32)
    dq = np.zeros((2, 2), np.uint32)
    a = jwst_cal(tmp_path / "a_cal.fits", sci, dq)
    before = a.read_bytes()
    code, out, err = run_cli("nircammask", "--dry-run", "-exptime", "100", a)
    assert code == 0, err
    assert "would prepare" in out and "EXPTIME=100" in out and a.read_bytes() == before
    b = jwst_cal(tmp_path / "b_cal.fits", sci, dq)
    code, out, err = run_cli("nircammask", a, "-NOETCTIME", b, "--exptime", "50")
    assert code == 2 and "applies to no file" in err  # checked before anything is written
    assert a.read_bytes() == before
    gz = tmp_path / "g_cal.fits.gz"
    gz.write_bytes(gzip.compress(b.read_bytes()))
    code, out, err = run_cli("nircammask", "-j", "2", a, "-NOETCTIME", b, gz)
    assert code == 0, err
    assert fits.getheader(a, 1)["EXPTIME"] == 268.4
    assert fits.getheader(b, 1)["EXPTIME"] == 311.4
    assert gz.read_bytes()[:2] == b"\x1f\x8b"  # still gzip
    with fits.open(gz) as h:
        assert h[1].header["DOL_NIRC"] == 1 and h[1].data[0, 0] == f32(1.0 / 0.5 * 311.4)


def test_drizzled_keywords_from_hdrtab_and_3d_context(tmp_path, run_cli):
    sci = np.array([[1.0, 2.0], [3.0, 4.0]], f32)
    ctx = np.zeros((2, 2, 2), np.int32)
    ctx[1, 0, 0] = 1  # context only in the second plane: good
    ctx[0, 1, 1] = 1
    ctx[1, 0, 1] = 1
    path = hst_drz(tmp_path / "h_drz.fits", "ACS", "WFC", sci, np.ones((2, 2), f32), ctx,
                   hdrtab={"CCDAMP": "ABCD", "READNSEA": 4.0, "READNSEB": 5.0,
                           "READNSEC": 6.0, "READNSED": 8.0})
    assert "CCDAMP" not in fits.getheader(path)
    code, _, err = run_cli("acsmask", path)
    assert code == 0, err
    h, v = fits.getheader(path, 1), fits.getdata(path, 1)
    assert h["RDNOISE"] == round(5.75 * np.sqrt(2), 6)  # 4-amp mean from HDRTAB; CRSPLIT 2
    assert v[1, 0] <= h["BADPIX"]  # no context in any plane
    assert v[0, 0] == f32(1.0 * 500.0 / 0.951763)


def test_drizzled_hdrtab_row0_comes_before_the_primary_as_in_the_c(tmp_path, run_cli):
    # DOLPHOT's C acsmask (eitherstring / eitherdouble) reads CCDAMP and READNSEA-D from row
    # 0 of the table in extension 4 of a SCI, WHT, CTX, HDRTAB file before the primary
    # header. On this file (HDRTAB 4, 5, 6, 8; primary 3.97, 4.25, 4.3, 4.25) the C wrote
    # RDNOISE = 8.131728 = 5.75 * sqrt(CRSPLIT 2), not 4.1925 * sqrt(2) = 5.929090.
    sci = np.full((20, 30), 0.5, f32)
    ctx = np.ones((20, 30), np.int32)
    path = hst_drz(tmp_path / "p_drz.fits", "ACS", "WFC", sci, np.ones((20, 30), f32), ctx,
                   hdrtab={"CCDAMP": "ABCD", "READNSEA": 4.0, "READNSEB": 5.0,
                           "READNSEC": 6.0, "READNSED": 8.0})
    with fits.open(path, mode="update") as h:
        h[0].header.update({"CCDAMP": "ABCD", "READNSEA": 3.97, "READNSEB": 4.25,
                            "READNSEC": 4.3, "READNSED": 4.25})
    code, _, err = run_cli("acsmask", path)
    assert code == 0, err
    assert _cards(fits.getheader(path, 1))["RDNOISE"] == (
        "RDNOISE =             8.131728 / Read noise (electrons)".ljust(80))


def test_wfc3_irsub_offsets(tmp_path, run_cli):
    path = hst_flt(tmp_path / "s_flt.fits", "WFC3", "IR", [_flt_chip((64, 64), 1.0)],
                   [np.zeros((64, 64))], aperture="IRSUB64-FIX", primary={"NSAMP": 5})
    code, _, err = run_cli("wfc3mask", path)
    assert code == 0, err
    h = fits.getheader(path, 1)
    assert h["DOL_WFC3"] == 0 and h["DOL_OFFX"] == 480 and h["DOL_OFFY"] == 480


def test_read_only_input_is_not_replaced(cal, run_cli, tmp_path):
    import os

    path = cal[0]
    os.chmod(path, 0o444)
    before = path.read_bytes()
    code, _, err = run_cli("nircammask", path)
    assert code == 1 and "read-only" in err and path.read_bytes() == before
    code, _, err = run_cli("nircammask", "--output-dir", tmp_path / "o", path)
    assert code == 0 and fits.getheader(tmp_path / "o" / path.name, 1)["BUNIT"] == "DN"


def test_split_chip_of_prepared_file_is_refused(tmp_path, run_cli):
    path = hst_flt(tmp_path / "c_flt.fits", "ACS", "WFC", [_flt_chip((20, 30))],
                   [np.zeros((20, 30))])
    assert run_cli("acsmask", "-wfc1sub=0,0", path)[0] == 0
    assert run_cli("splitgroups", path)[0] == 0
    chip = tmp_path / "c_flt.chip1.fits"
    before = chip.read_bytes()
    code, _, err = run_cli("acsmask", "-wfc1sub=0,0", chip)
    assert code == 0 and "DOL_ACS in the primary header" in err
    assert chip.read_bytes() == before


def test_sip_area_on_real_acs_header():
    from astropy.wcs import WCS

    from dqmask.dolphot.hst import _sip_coeffs

    src = shared_file("hst_acs_wfc_j94f05bgq_flt_ZEROED_DATA.fits.gz")
    with fits.open(src) as h:
        head = h["SCI", 2].header
        w = WCS(head, h, relax=True)
    a, b = _sip_coeffs(head, "A"), _sip_coeffs(head, "B")
    assert len(a) >= 5 and head["A_ORDER"] == 4
    cd = np.array([[head["CD1_1"], head["CD1_2"]], [head["CD2_1"], head["CD2_2"]]])
    pam = pixel_area.sip_pixel_area((2048, 4096), (head["CRPIX1"], head["CRPIX2"]), cd, a, b)
    for x, y in [(0, 0), (4095, 2047), (2000, 100), (300, 1900)]:
        e = 1e-2
        pts = np.array([[x - e, y], [x + e, y], [x, y - e], [x, y + e]], float) + 1.0
        foc = w.sip_pix2foc(pts, 1)
        jac = np.array([(foc[1] - foc[0]) / (2 * e), (foc[3] - foc[2]) / (2 * e)]).T
        assert pam[y, x] == pytest.approx(np.linalg.det(jac), rel=1e-6)
    assert 0.9 < pam.min() < pam.max() < 1.1


def test_acs_sip_area_normalisation_matches_dolphot_ctmult():
    """(0.05")^2 normalisation: the WFC1 mean area equals DOLPHOT's acs_ctmult 0.951763."""
    from dqmask.dolphot.hst import _sip_coeffs

    src = shared_file("hst_acs_wfc_j94f05bgq_flt_ZEROED_DATA.fits.gz")
    head = fits.getheader(src, ("SCI", 2))
    cd = np.array([[head["CD1_1"], head["CD1_2"]], [head["CD2_1"], head["CD2_2"]]])
    pam = pixel_area.sip_pixel_area((2048, 4096), (head["CRPIX1"], head["CRPIX2"]), cd,
                             _sip_coeffs(head, "A"), _sip_coeffs(head, "B"), nominal_scale=0.05)
    assert float(pam.mean()) == pytest.approx(hst_core.ACS_CTMULT["WFC1"], abs=2e-4)


def test_wfc3_uvis_full_frame_two_chips_sip_norm(tmp_path, run_cli):
    shape = (2051, 4096)
    sip = {"A_2_0": 2e-7, "A_0_2": -1e-7, "B_1_1": 3e-7, "B_0_2": 1e-7}
    d2 = np.zeros(shape, np.int16)
    d2[5, 5] = 1024  # UVIS charge trap: bad
    path = hst_flt(tmp_path / "uv_flc.fits", "WFC3", "UVIS",
                   [_flt_chip(shape, 100.0), _flt_chip(shape, 200.0)], [d2, np.zeros(shape)],
                   ccdchips=[2, 1], sip=sip, crpix=(2048.0, 1026.0), goodmax=5000.0,
                   primary={"NCOMBINE": 1})
    code, _, err = run_cli("wfc3mask", path)
    assert code == 0, err
    with fits.open(path) as h:
        h2, v2 = h[1].header, h[1].data
        h1, v1 = h[2].header, h[2].data
    assert (h2["DOL_WFC3"], h1["DOL_WFC3"]) == (2, 1)
    assert (h2["RDNOISE"], h1["RDNOISE"]) == (7.0, 4.5)  # UVIS2 = C, D; UVIS1 = A, B
    assert v2[5, 5] <= h2["BADPIX"]
    a = {(2, 0): 2e-7, (0, 2): -1e-7}
    b = {(1, 1): 3e-7, (0, 2): 1e-7}
    cd = np.array([[-1e-5, 0.0], [0.0, 1e-5]])
    ref = pixel_area.sip_area_at(2072.0, 2046.0, (2048.0, 1026.0), cd, a, b)
    assert v2[2045, 2071] == pytest.approx(100.0, rel=1e-6)  # unity at the UVIS2 reference
    expect = 200.0 * pixel_area.sip_area_at(11.0, 21.0, (2048.0, 1026.0), cd, a, b) / ref
    assert v1[20, 10] == pytest.approx(expect, rel=1e-6)  # UVIS1 relative to UVIS2's reference


@pytest.mark.parametrize("command", ["nircammask", "acsmask", "wfc3mask", "dolphot",
                                     "splitgroups"])
def test_malformed_inputs_one_line_error_unchanged(tmp_path, run_cli, command):
    from dqmask.tests.malformed import build_corpus

    folder = tmp_path / command
    folder.mkdir()
    for case in build_corpus(folder).values():
        before = case.path.read_bytes() if case.path.is_file() else None
        code, out, err = run_cli(command, case.path)
        lines = [line for line in err.splitlines() if line.strip()]
        if command == "splitgroups" and code == 0:  # a valid FITS without SCI still splits
            assert case.path.read_bytes() == before
            continue
        assert code == 1, (case.name, code, err)
        assert len(lines) == 1 and lines[0].startswith(f"dqmask: {case.path}"), (case.name, err)
        if before is not None:
            assert case.path.read_bytes() == before, case.name
