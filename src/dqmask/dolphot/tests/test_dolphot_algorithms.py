"""Pure DOLPHOT rules: numbers, cards, JWST/HST pixel rules, thresholds, SIP pixel area."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dqmask.dolphot import core, hst_core, jwst_core, pixel_area

f32 = np.float32


# ------------------------------------------------------------------ numbers and cards


def test_safedown_safeup_values():
    # DOLPHOT's C: float safedown(float x) / float safeup(float x), evaluated in double
    assert core.safedown(100.0) == float(f32(98.999))
    assert core.safeup(100.0) == float(f32(101.001))
    assert core.safedown(-100.0) == float(f32(-101.001))
    assert core.safeup(-100.0) == float(f32(-98.999))
    assert core.safedown(0.0) == -1.0 and core.safeup(0.0) == 1.0


def test_safeup_rounds_its_argument_to_float32_first():
    # The C passes GOODMAX (a double from the card) to float safeup(float): rounded to
    # float32 *before* x + 1e-5|x| + 1. For 32458.411 that gives 32459.734 (float32), where
    # rounding only the result of the double expression gives 32459.736.
    assert core.safeup(32458.411) == float(f32(32459.734375))
    assert core.safeup(32458.411) != float(f32(32458.411 + 1e-5 * 32458.411 + 1.0))
    assert core.safedown(-4.1234567) == float(f32(-5.1234975))


def test_hst_flt_thresholds_and_marks_as_the_c_acsmask():
    # Numbers written by DOLPHOT 2.0's C acsmask (later revision with safeup/safedown) on
    # an HRC flt with GOODMIN = -4.1234567, GOODMAX = 32458.411 (not float32 numbers, as
    # calacs writes 8 digits): BADPIX -15.370493, SATURATE 97379.203125, saturated pixels
    # at 97381.1796875, bad ones at -16.370647430419922.
    sci = np.array([10.0, 40000.0, -10.0, np.nan], dtype=f32)
    none = np.zeros(sci.shape, bool)
    p = hst_core.hst_flt_prepare(sci, none, none.copy(), np.ones(sci.shape, f32),
                            goodmin=-4.1234567, goodmax=32458.411, mult=1.124583)
    cards = dict(core.insertcards(core.CardValues(1, 1, 1, p.badpix, p.saturate, 1, 0, 1)))
    assert cards["BADPIX"][10:30] == "          -15.370493"
    assert cards["SATURATE"][10:30] == "        97379.203125"
    assert _classes(p.bad, p.sat) == ["good", "sat", "bad", "bad"]
    assert p.values[1] == f32(97381.1796875)
    assert p.values[2] == p.values[3] == f32(-16.370647430419922)


@pytest.mark.parametrize("value,text", [
    (1.0, "            1.000000"),
    (400.0, "          400.000000"),
    (53436.123456, "        53436.123456"),
    (-12.5, "          -12.500000"),
    (1e15, "  1.0000000000000E+15"[1:]),
])
def test_fitsnum(value, text):
    assert core.fitsnum(value) == text
    assert len(core.fitsnum(value)) == 20


def test_card_images_exact():
    assert core.card_image("GAIN", 2.08, "Gain (electrons/ADU)") == (
        "GAIN    =             2.080000 / Gain (electrons/ADU)".ljust(80))
    assert core.tag_image("DOL_ACS", 2, "DOLPHOT ACS tag") == (
        "DOL_ACS =                    2 / DOLPHOT ACS tag".ljust(80))
    assert core.tag_image("DOL_OFFX", 3584, "Origin of subarray relative to full chip") == (
        "DOL_OFFX=                 3584 / Origin of subarray relative to full chip".ljust(80))


def test_insertcards_order_comments_and_skip():
    values = core.CardValues(gain=1.0, rdnoise=5.5, exptime=400.0, badpix=-63.000603,
                            saturate=3003.03, epoch=53436.123456, airmass=-1e31, exptime0=200.0)
    cards = core.insertcards(values)
    assert [k for k, _ in cards] == ["GAIN", "EXPTIME", "RDNOISE", "BADPIX", "SATURATE",
                                     "MJD-OBS", "EXPTIME0"]  # AIRMASS <= -0.9e30 skipped
    images = dict(cards)
    assert images["EXPTIME"] == "EXPTIME =           400.000000 / Exposure time (s)".ljust(80)
    assert images["RDNOISE"].endswith("/ Read noise (electrons)".ljust(80 - 31))
    assert images["BADPIX"] == "BADPIX  =           -63.000603 / Low bad data value (DN)".ljust(80)
    assert images["SATURATE"] == ("SATURATE=          3003.030029 / High bad data value (DN)"
                                  .ljust(80))  # printed from the float32 value
    assert images["MJD-OBS"] == "MJD-OBS =         53436.123456 / Epoch (MJD)".ljust(80)
    assert "Single image exposure time (s)" in images["EXPTIME0"]


def test_card_number_is_what_the_card_says():
    assert core.card_number(3003.03) == 3003.030029
    assert core.card_number(1.2345678) == 1.234568


# ------------------------------------------------------------------ DOLPHOT's rule and settle


def test_dolphot_usable_edges():
    v = np.array([-10.0, -9.999999, 0.0, 99.99999, 100.0, np.nan], dtype=f32)
    assert core.dolphot_usable(v, -10.0, 100.0).tolist() == [False, True, True, True, False,
                                                            False]


def test_settle_moves_masked_and_out_of_range_pixels():
    values = np.array([5.0, 1.0, 20.0, np.nan, 7.0, 8.0], dtype=f32)
    bad = np.array([False, False, False, False, True, False])
    sat = np.array([False, False, False, False, False, True])
    out, bad, sat, moved = core.settle(values, bad, sat, 1.0, 20.0)
    assert moved == 3  # 1.0 == BADPIX, 20.0 == SATURATE, NaN
    assert bad.tolist() == [False, True, False, True, True, False]
    assert sat.tolist() == [False, False, True, False, False, True]
    assert out[0] == f32(5.0)
    assert out[1] == out[3] == out[4] == f32(core.safedown(1.0))
    assert out[2] == out[5] == f32(core.safeup(20.0))


# ------------------------------------------------------------------ JWST


def _jwst_dq(values):
    return np.array(values, dtype=np.uint32)


def test_jwst_masks_cal_each_rule():
    sci = np.array([1.0, 0.0, np.nan, 2.0, 3.0, 4.0, 5.0, np.nan, 0.0], dtype=f32)
    dq = _jwst_dq([0, 0, 0, 2, 2 | (1 << 30), 1 << 30, (1 << 25) | 2, 2, 1])
    bad, sat = jwst_core.jwst_masks(sci, dq, product="cal")
    assert sat.tolist() == [False, False, False, True, True, False, True, True, False]
    assert bad.tolist() == [False, True, True, False, False, False, False, False, True]
    # DO_NOT_USE (1) alone does not make a pixel bad: the rule is SCI == 0 / NaN
    assert not bad[5] and not sat[5]  # OTHER_BAD_PIXEL 2**30 alone: neither


def test_jwst_masks_float32_dq_would_lose_saturated():
    dq = _jwst_dq([(1 << 25) | 2, (1 << 30) | 2, (1 << 31) | 2])
    as_float = dq.astype(f32)  # what DOLPHOT holds
    assert [int(v) & 2 for v in as_float] == [0, 0, 0]
    _, sat = jwst_core.jwst_masks(np.ones(3, f32), dq, product="cal")
    assert sat.tolist() == [True, True, True]


def test_jwst_masks_options():
    sci = np.array([np.nan, 1.0, 1.0], dtype=f32)
    dq = _jwst_dq([2, 2 | 4, 2])
    bad, sat = jwst_core.jwst_masks(sci, dq, product="cal", precedence="bad")
    assert bad.tolist() == [True, False, False] and sat.tolist() == [False, True, True]
    bad, sat = jwst_core.jwst_masks(sci, dq, product="cal", saturated_rule="equals")
    assert sat.tolist() == [True, False, True] and bad.tolist() == [False, False, False]


def test_jwst_masks_i2d_uses_wht():
    sci = np.array([0.0, 1.0, np.nan, 2.0], dtype=f32)
    wht = np.array([1.0, 0.0, 1.0, 1.0], dtype=f32)
    bad, sat = jwst_core.jwst_masks(sci, None, product="i2d", wht=wht)
    assert bad.tolist() == [False, True, True, False]
    assert not sat.any()


HEAD = {"EFFEXPTM": 311.4, "TMEASURE": 268.4, "TGROUP": 10.737, "NGROUPS": 26, "NINTS": 1}


def test_jwst_exposure_time_choices():
    assert jwst_core.jwst_exposure_time(HEAD, "cal", True) == (268.4, "TMEASURE")
    assert jwst_core.jwst_exposure_time(HEAD, "crf", False) == (311.4, "EFFEXPTM")
    assert jwst_core.jwst_exposure_time(HEAD, "i2d", True) == (311.4, "EFFEXPTM")
    no_tm = {k: v for k, v in HEAD.items() if k != "TMEASURE"}
    exp, src = jwst_core.jwst_exposure_time(no_tm, "cal", True)
    assert exp == pytest.approx(10.737 * 25) and src == "TGROUP*(NGROUPS-1)*NINTS"
    with pytest.raises(KeyError, match="EFFEXPTM"):
        jwst_core.jwst_exposure_time({}, "i2d", True)
    with pytest.raises(ValueError, match="not positive"):
        jwst_core.jwst_exposure_time({"EFFEXPTM": 0.0}, "cal", False)


def test_jwst_prepare_exact_values_and_thresholds():
    sci = np.array([[1.0, 2.0, 0.0], [np.nan, 4.0, 3.0]], dtype=f32)
    dq = _jwst_dq([[0, 0, 0], [0, (1 << 30) | 2, 0]])
    area = np.array([[1.0, 1.1, 1.0], [1.0, 1.0, 0.9]], dtype=f32)
    p = jwst_core.jwst_prepare(sci, dq, product="cal", photmjsr=0.5, exptime=100.0, area=area)
    dn = (sci.astype(np.float64) / 0.5 * 100.0 * area).astype(f32)
    good = np.array([[True, True, False], [False, False, True]])
    assert np.array_equal(p.values[good], dn[good])
    assert p.values[0, 0] == f32(200.0) and p.values[0, 1] == f32(440.0)
    assert p.badpix == core.card_number(core.safedown(200.0)) == 198.998001  # float32 print
    assert p.saturate == core.card_number(core.safeup(float(dn[1, 2])))
    assert p.bad.tolist() == [[False, False, True], [True, False, False]]
    assert p.sat.tolist() == [[False, False, False], [False, True, False]]
    assert p.values[0, 2] == p.values[1, 0] == f32(core.safedown(p.badpix))
    assert p.values[1, 1] == f32(core.safeup(p.saturate))
    usable = core.dolphot_usable(p.values, p.badpix, p.saturate)
    assert np.array_equal(usable, good)


def test_jwst_prepare_i2d_ignores_area():
    sci = np.array([[1.0, 2.0]], dtype=f32)
    p = jwst_core.jwst_prepare(sci, None, product="i2d", photmjsr=2.0, exptime=10.0,
                         area=np.full((1, 2), 3.0, f32), wht=np.ones((1, 2), f32))
    assert p.values.tolist() == [[5.0, 10.0]]


def test_jwst_detector_table():
    a1 = jwst_core.jwst_detector_noise("NRCA1")
    assert (a1.gain, a1.rdnoise, a1.provisional) == (2.08, 11.43, False)
    nis = jwst_core.jwst_detector_noise("NIS")
    assert nis.gain == 1.61 and round(nis.rdnoise, 2) == 11.88
    lw = jwst_core.jwst_detector_noise("NRCA5")
    assert lw.detector == "NRCALONG" and lw.provisional and lw.rdnoise == 13.17 / math.sqrt(2)
    sw = jwst_core.jwst_detector_noise("MULTIPLE", "SHORT")
    rows = [jwst_core.JWST_DETECTORS[d] for d in ("NRCA1", "NRCA2", "NRCA3", "NRCA4", "NRCB1",
                                            "NRCB2", "NRCB3", "NRCB4")]
    assert sw.gain == pytest.approx(sum(r.gain for r in rows) / 8)
    with pytest.raises(KeyError):
        jwst_core.jwst_detector_noise("MULTIPLE")
    assert jwst_core.jwst_tag("NIRCAM", "NRCB1", "cal") == ("DOL_NIRC", 6, "DOLPHOT NIRCam tag")
    assert jwst_core.jwst_tag("NIRCAM", "MULTIPLE", "i2d")[1] == -1
    assert jwst_core.jwst_tag("NIRISS", "NIS", "crf") == ("DOL_NIRI", 0, "DOLPHOT NIRISS tag")


def test_jwst_estnoise():
    var = np.full((2, 2), 0.0004, f32)  # sigma 0.02 MJy/sr
    usable = np.array([[True, True], [True, False]])
    rn = jwst_core.jwst_estnoise(var, usable, photmjsr=0.5, exptime=100.0, gain=2.0)
    assert rn == pytest.approx(0.02 / 0.5 * 100.0 * 2.0, rel=1e-6)


# ------------------------------------------------------------------ HST DQ rules

ACS_EXPECT = {  # bit -> class with default flags
    1: "bad", 2: "bad", 4: "bad", 8: "bad", 16: "bad", 32: "bad", 64: "good", 128: "bad",
    256: "sat", 512: "bad", 1024: "bad", 2048: "sat", 4096: "bad", 8192: "bad",
    16384: "good", 32768: "good",
}


def _classes(bad, sat):
    return ["sat" if s else "bad" if b else "good" for b, s in zip(bad, sat, strict=True)]


def _bits_int16():
    return np.array([np.int16(np.uint16(b).view(np.int16)) for b in ACS_EXPECT], dtype=np.int16)


def test_acs_dq_each_bit_and_toggles():
    dq = _bits_int16()
    assert _classes(*hst_core.acs_dq_masks(dq)) == list(ACS_EXPECT.values())
    keep = _classes(*hst_core.acs_dq_masks(dq, masksat=False, maskcr=False))
    expect = {**ACS_EXPECT, 256: "good", 4096: "good", 8192: "good"}
    assert keep == list(expect.values())  # 2048 (A/D) stays saturated with -keepsat
    both = np.array([2048 | 1, 256 | 4], dtype=np.int16)
    assert _classes(*hst_core.acs_dq_masks(both)) == ["sat", "sat"]


def test_wfc3_dq_each_bit_uvis_and_ir():
    dq = _bits_int16()
    uvis = dict(ACS_EXPECT)
    assert _classes(*hst_core.wfc3_dq_masks(dq, ir=False)) == list(uvis.values())
    ir = {**ACS_EXPECT, 512: "good", 1024: "good"}
    assert _classes(*hst_core.wfc3_dq_masks(dq, ir=True)) == list(ir.values())
    ir_flat = {**ir, 512: "bad"}
    assert _classes(*hst_core.wfc3_dq_masks(dq, ir=True, maskflat=True)) == list(ir_flat.values())
    keep = {**uvis, 256: "good", 4096: "good", 8192: "good"}
    assert _classes(*hst_core.wfc3_dq_masks(dq, ir=False, masksat=False, maskcr=False)) == \
        list(keep.values())


def test_hst_read_noise_amplifiers():
    rn = {"READNSEA": 4.0, "READNSEB": 5.0, "READNSEC": 6.0, "READNSED": 8.0}
    assert hst_core.hst_read_noise("ABCD", rn, "WFC1") == 4.5
    assert hst_core.hst_read_noise("ABCD", rn, "UVIS2") == 7.0
    assert hst_core.hst_read_noise("ABCD", rn, None) == 5.75
    assert hst_core.hst_read_noise("C", rn, "WFC1") == 6.0
    assert hst_core.hst_read_noise("AD", rn, None) == 6.0
    with pytest.raises(ValueError, match="CCDAMP"):
        hst_core.hst_read_noise("XY", rn)
    with pytest.raises(ValueError, match="READNSEB"):
        hst_core.hst_read_noise("B", {})
    assert hst_core.wfc3_ir_read_noise(14) == pytest.approx(14.6 * math.sqrt(12 * 13 / (14 * 15)))


# ------------------------------------------------------------------ HST FLT thresholds


def test_hst_flt_threshold_edges_and_pam():
    goodmin, goodmax = -20.0, 1000.0
    dmin = float(f32(core.safedown(goodmin)))  # -21.0002
    dmax = float(f32(core.safeup(goodmax)))  # 1001.01
    sci = np.array([goodmin, goodmax, dmin, dmax, np.nan, 10.0, 500.0], dtype=f32)
    none = np.zeros(sci.shape, bool)
    pam = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.951763, 1.1], dtype=f32)
    p = hst_core.hst_flt_prepare(sci, none, none.copy(), pam, goodmin=goodmin, goodmax=goodmax,
                            mult=0.951763)
    assert _classes(p.bad, p.sat) == ["good", "good", "bad", "sat", "bad", "good", "good"]
    assert p.badpix == core.card_number(f32(1.5 * f32(2 * dmin)))  # -63.000603
    assert p.saturate == core.card_number(f32(1.5 * f32(2 * dmax)))  # 3003.030029
    assert core.fitsnum(p.badpix).strip() == "-63.000603"
    assert p.values[5] == f32(10.0 * (np.float64(f32(0.951763)) / 0.951763))
    assert p.values[6] == f32(500.0 * (np.float64(f32(1.1)) / 0.951763))
    assert p.values[2] == p.values[4] == f32(core.safedown(p.badpix))
    assert p.values[3] == f32(core.safeup(p.saturate))
    assert np.array_equal(core.dolphot_usable(p.values, p.badpix, p.saturate), ~(p.bad | p.sat))


def test_hst_flt_keepsat_and_ir_exptime():
    sci = np.array([5000.0, 1.0], dtype=f32)
    none = np.zeros(2, bool)
    p = hst_core.hst_flt_prepare(sci, none, none.copy(), np.ones(2, f32), goodmin=0.0,
                            goodmax=1000.0, mult=1.0, masksat=False)
    assert _classes(p.bad, p.sat) == ["sat", "good"]  # 5000 > 1.5*2*DMAX: past SATURATE
    p = hst_core.hst_flt_prepare(np.array([2000.0, 1.0], f32), none, none.copy(), np.ones(2, f32),
                            goodmin=0.0, goodmax=1000.0, mult=1.0, masksat=False)
    assert _classes(p.bad, p.sat) == ["good", "good"] and p.values[0] == f32(2000.0)
    p = hst_core.hst_flt_prepare(np.array([2.5, 0.5], f32), none, none.copy(), np.ones(2, f32),
                            goodmin=0.0, goodmax=100.0, mult=1.0, exptime_mult=10.0)
    assert p.values.tolist() == [25.0, 5.0]
    assert p.saturate == core.card_number(f32(f32(1.5 * f32(2 * f32(core.safeup(100.0)))) * 10))
    assert p.badpix == -30.0  # safedown(0) = -1, x2, x1.5, x EXPTIME


# ------------------------------------------------------------------ drizzled


def test_hst_drz_context_wht_nan_and_extremes():
    sci = np.array([[np.nan, 1.0, 2.0], [3.0, 4.0, 10.0]], dtype=f32)
    ctx = np.zeros((2, 2, 3), np.int32)
    ctx[0] = [[1, 0, 1], [1, 1, 1]]
    ctx[1] = [[0, 1, 1], [1, 1, 1]]  # [0,1] has context only in plane 1 -> good
    ctx[:, 1, 0] = 0  # [1,0] no context in any plane -> bad
    p = hst_core.hst_drz_prepare(sci, factor=100.0, ctx=ctx)
    assert p.bad.tolist() == [[True, False, False], [True, False, False]]
    assert p.values[0, 1] == f32(100.0) and p.values[1, 2] == f32(1000.0)
    lo, hi = core.safedown(1.0), core.safeup(10.0)
    assert p.badpix == core.card_number(f32(f32(lo) * 100.0))
    assert p.saturate == core.card_number(f32(f32(hi) * 100.0))
    assert p.values[1, 2] < p.saturate  # the brightest pixel stays usable
    wht = np.array([[1.0, 0.0, np.nan], [1.0, 1.0, 1.0]], dtype=f32)
    p = hst_core.hst_drz_prepare(sci, factor=1.0, wht=wht, usewht=True)
    assert p.bad.tolist() == [[True, True, True], [False, False, False]]


# ------------------------------------------------------------------ SIP pixel area


def test_sip_pixel_area_matches_astropy_wcs():
    from astropy.wcs import WCS

    h = {"CTYPE1": "RA---TAN-SIP", "CTYPE2": "DEC--TAN-SIP", "CRPIX1": 50.0, "CRPIX2": 40.0,
         "CRVAL1": 10.0, "CRVAL2": 0.0, "CD1_1": -1.4e-5, "CD1_2": 2e-7, "CD2_1": 1e-7,
         "CD2_2": 1.4e-5, "A_ORDER": 3, "B_ORDER": 3, "A_2_0": 3e-6, "A_1_1": -2e-6,
         "A_0_2": 1e-6, "B_2_0": -1e-6, "B_1_1": 4e-6, "B_0_2": 2e-6, "A_3_0": 1e-9,
         "B_0_3": -2e-9, "NAXIS": 2, "NAXIS1": 120, "NAXIS2": 90}
    w = WCS(h)
    a = {(2, 0): 3e-6, (1, 1): -2e-6, (0, 2): 1e-6, (3, 0): 1e-9}
    b = {(2, 0): -1e-6, (1, 1): 4e-6, (0, 2): 2e-6, (0, 3): -2e-9}
    cd = np.array([[-1.4e-5, 2e-7], [1e-7, 1.4e-5]])
    pam = pixel_area.sip_pixel_area((90, 120), (50.0, 40.0), cd, a, b, rows_per_chunk=32)
    assert pam.dtype == np.float32 and pam.shape == (90, 120)
    assert pam[39, 49] == pytest.approx(1.0, abs=1e-7)  # CRPIX (1-based 50, 40)
    # numeric Jacobian of the focal-plane coordinates from astropy (sip_pix2foc)
    for x, y in [(0, 0), (119, 89), (60, 10), (5, 80)]:
        e = 1e-3
        pts = np.array([[x - e, y], [x + e, y], [x, y - e], [x, y + e]], float) + 1.0
        foc = w.sip_pix2foc(pts, 1)
        j = np.array([(foc[1] - foc[0]) / (2 * e), (foc[3] - foc[2]) / (2 * e)]).T
        assert pam[y, x] == pytest.approx(np.linalg.det(j), rel=2e-6)
    nominal = pixel_area.sip_pixel_area((2, 2), (1.0, 1.0), cd, {}, {}, nominal_scale=0.05)
    expect = abs(np.linalg.det(cd)) * 3600**2 / 0.05**2
    assert nominal[0, 0] == pytest.approx(expect, rel=1e-6)


def test_hst_dq_big_endian_int16_read_by_value():
    dq = np.array([2048, 8, -32768], dtype=">i2")  # as astropy gives a FITS DQ
    bad, sat = hst_core.acs_dq_masks(dq)
    assert sat.tolist() == [True, False, False] and bad.tolist() == [False, True, False]


def test_sip_reference_area_normalisation():
    cd = np.array([[-1.1e-5, 1e-7], [2e-7, 1.1e-5]])
    a = {(2, 0): 2e-6, (0, 2): -1e-6, (1, 1): 3e-6}
    b = {(2, 0): 1e-6, (1, 1): -2e-6, (0, 3): 1e-9}
    ref = pixel_area.sip_area_at(31.0, 21.0, (5.0, 7.0), cd, a, b)  # 1-based (31, 21)
    pam = pixel_area.sip_pixel_area((40, 50), (5.0, 7.0), cd, a, b, reference_area=ref)
    assert pam[20, 30] == pytest.approx(1.0, abs=1e-7)
    at_crpix = pixel_area.sip_area_at(5.0, 7.0, (5.0, 7.0), cd, a, b)
    assert at_crpix == pytest.approx(abs(np.linalg.det(cd)) * 3600**2, rel=1e-12)
    off = pixel_area.sip_area_at(-40.0, 2000.0, (5.0, 7.0), cd, a, b)  # off the image is fine
    assert np.isfinite(off) and off != at_crpix


def test_threshold_card_says_exactly_the_number_used():
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.uniform(-10, 10, 300), rng.uniform(-1e6, 1e6, 300),
                             [0.0, 1e-7, -3.3e-6, 1e15, -2.5e12]])
    for x in values:
        thr = core.card_number(x)
        cards = dict(core.insertcards(core.CardValues(1, 1, 1, thr, thr, 1, 1, 1)))
        assert float(cards["BADPIX"][10:30]) == thr
        assert float(cards["SATURATE"][10:30]) == thr
