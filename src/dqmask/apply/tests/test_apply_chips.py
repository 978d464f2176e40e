"""``dqmask apply`` on HST files of several chips (issue 11 item 8): a mask or region for one
chip (``PATH[SCI,N]``, ``--chip N``), drizzlepac static masks (one file per chip) for all
chips in one call, sky regions landing on the chip whose WCS holds them, image regions
refused on chips of different detectors unless a chip is named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from dqmask.apply.files import (
    ApplyOptions,
    TargetedMask,
    apply_to_file,
    read_mask,
    split_chip,
    static_mask_chip,
)
from dqmask.errors import InputError
from dqmask.io.fits import step_records
from dqmask.tests.helpers import bad_mask_file, digest

SHAPE = (30, 40)
DETECTORPROB = 4


def make_flt(path: Path, *, instrument: str = "ACS", nchips: int = 2) -> Path:
    """An HST flt of ``nchips`` imsets (SCI/ERR/DQ), DQ int16, a TAN WCS per chip.

    ACS: SCI,1 is CCDCHIP 2 and SCI,2 CCDCHIP 1 (two detectors); STIS: every imset is
    CCDCHIP 1 (repeated readouts of one detector).
    """
    prim = fits.PrimaryHDU()
    prim.header.update(TELESCOP="HST", INSTRUME=instrument,
                       DETECTOR="WFC" if instrument == "ACS" else "CCD", FLATCORR="COMPLETE")
    hdus = [prim]
    for ver in range(1, nchips + 1):
        sci = fits.ImageHDU(np.full(SHAPE, float(ver), np.float32), name="SCI", ver=ver)
        sci.header.update(CCDCHIP=3 - ver if instrument == "ACS" else 1, CTYPE1="RA---TAN",
                          CTYPE2="DEC--TAN", CRVAL1=10.0, CRVAL2=20.0 + 0.01 * ver,
                          CRPIX1=20.0, CRPIX2=15.0, CD1_1=-1.4e-5, CD1_2=0.0, CD2_1=0.0,
                          CD2_2=1.4e-5)
        hdus += [sci, fits.ImageHDU(np.ones(SHAPE, np.float32), name="ERR", ver=ver),
                 fits.ImageHDU(np.zeros(SHAPE, np.int16), name="DQ", ver=ver)]
    fits.HDUList(hdus).writeto(path)
    return path


def flagged(path: Path, ver: int) -> np.ndarray:
    with fits.open(path) as h:
        dq = h["DQ", ver].data
        assert dq.dtype.kind == "i" and dq.dtype.itemsize == 2
        return (dq & DETECTORPROB) != 0


def box(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    out = np.zeros(SHAPE, bool)
    out[y0:y1, x0:x1] = True
    return out


@pytest.fixture
def circle(tmp_path) -> tuple[Path, np.ndarray]:
    """An image-frame DS9 circle and its pixels (centre mode)."""
    reg = tmp_path / "circle.reg"
    reg.write_text("# Region file format: DS9 version 4.1\nimage\ncircle(11,9,3)\n")
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    return reg, (xx - 10) ** 2 + (yy - 8) ** 2 < 9


# ------------------------------------------------------------------------- image regions


def test_image_region_on_two_detectors_needs_a_chip(tmp_path, run_cli, circle):
    """It used to flag both ACS chips with the same pixels, silently."""
    flt = make_flt(tmp_path / "a_flt.fits")
    reg, pixels = circle
    before = digest(flt)
    out = tmp_path / "o.fits"
    code, stdout, err = run_cli("apply", flt, "--region", reg, "-o", out)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and lines[0].startswith(f"dqmask: {reg}: "), err
    assert "image-coordinate shapes are ambiguous on the 2 chips" in err
    assert "circle.reg[SCI,N] or --chip N" in err and "--chip all" in err
    assert not out.exists() and digest(flt) == before


@pytest.mark.parametrize("how", [["--region", "{reg}[SCI,2]"], ["--region", "{reg}[2]"],
                                 ["--region", "{reg}", "--chip", "2"]])
def test_image_region_for_one_chip(tmp_path, run_cli, circle, how):
    flt = make_flt(tmp_path / "a_flt.fits")
    reg, pixels = circle
    out = tmp_path / "o.fits"
    code, stdout, err = run_cli("apply", flt, *[a.format(reg=reg) for a in how], "-o", out)
    assert code == 0 and err == "", err
    assert f"{pixels.sum()} of 2400 pixels masked" in stdout
    assert not flagged(out, 1).any() and np.array_equal(flagged(out, 2), pixels)
    with fits.open(out) as h:
        history = " ".join(str(c) for c in h[0].header["HISTORY"])
    assert "regions=circle.reg[SCI,2]" in "".join(history.split())


def test_image_region_on_every_chip_when_asked(tmp_path, run_cli, circle):
    flt = make_flt(tmp_path / "a_flt.fits")
    reg, pixels = circle
    out = tmp_path / "o.fits"
    code, stdout, err = run_cli("apply", flt, "--region", reg, "--chip", "all", "-o", out)
    assert code == 0 and err == "", err
    assert np.array_equal(flagged(out, 1), pixels) and np.array_equal(flagged(out, 2), pixels)


def test_image_region_on_imsets_of_one_detector_needs_no_chip(tmp_path, run_cli, circle):
    """STIS imsets (CR-split readouts, all CCDCHIP 1) are the same detector pixels."""
    flt = make_flt(tmp_path / "o_flt.fits", instrument="STIS")
    reg, pixels = circle
    out = tmp_path / "o.fits"
    code, _, err = run_cli("apply", flt, "--region", reg, "-o", out)
    assert code == 0 and err == "", err
    assert np.array_equal(flagged(out, 1), pixels) and np.array_equal(flagged(out, 2), pixels)
    one = bad_mask_file(tmp_path / "m.fits", box(2, 5, 3, 9))
    code, _, err = run_cli("apply", flt, "--mask", one, "-o", tmp_path / "o2.fits")
    assert code == 0, err
    assert flagged(tmp_path / "o2.fits", 1).sum() == flagged(tmp_path / "o2.fits", 2).sum() == 18


# ----------------------------------------------------------------------------- sky regions


def test_sky_region_missing_every_chip_is_reported_once(tmp_path, run_cli):
    flt = make_flt(tmp_path / "a_flt.fits")
    with fits.open(flt) as h:
        c = WCS(h["SCI", 2].header).pixel_to_world(10, 12)
        far = WCS(h["SCI", 1].header).pixel_to_world(400, 300)
    reg = tmp_path / "sky.reg"
    reg.write_text(f'icrs\ncircle({c.ra.deg:.9f},{c.dec.deg:.9f},0.11")\n'
                   f'circle({far.ra.deg:.9f},{far.dec.deg:.9f},0.11")\n')
    out = tmp_path / "o.fits"
    code, stdout, err = run_cli("apply", flt, "--region", reg, "-o", out)
    assert code == 0, err
    text = " ".join(err.split())
    assert text.count("WARNING") == 1 and "region 2 (circle) lies entirely off every chip" in text
    assert "(SCI,1, SCI,2)" in text and "region 1" not in text
    assert not flagged(out, 1).any() and flagged(out, 2).sum() == 13
    # a sky region for one chip only: painted there alone
    code, _, err = run_cli("apply", flt, "--region", f"{reg}[SCI,1]", "-o", tmp_path / "o1.fits")
    text = " ".join(err.split())
    assert code == 0 and "region 1 (circle) lies entirely off SCI,1" in text
    assert not flagged(tmp_path / "o1.fits", 1).any() and not flagged(tmp_path / "o1.fits", 2).any()


# ----------------------------------------------------------------------------- mask files


def test_one_plane_mask_for_one_chip(tmp_path, run_cli):
    flt = make_flt(tmp_path / "a_flt.fits")
    m1 = bad_mask_file(tmp_path / "m1.fits", box(2, 5, 3, 9))
    m2 = bad_mask_file(tmp_path / "m2.fits", box(20, 22, 30, 35))
    out = tmp_path / "o.fits"
    code, stdout, err = run_cli("apply", flt, "--mask", f"{m1}[SCI,1]", "--mask",
                                f"{m2}[SCI,2]", "-o", out)
    assert code == 0, err
    assert f"{m1}: read as 'bad'" in stdout and "for SCI,1" in stdout
    assert np.array_equal(flagged(out, 1), box(2, 5, 3, 9))
    assert np.array_equal(flagged(out, 2), box(20, 22, 30, 35))
    code, _, err = run_cli("apply", flt, "--mask", m2, "--chip", "2", "-o", tmp_path / "p.fits")
    assert code == 0 and not flagged(tmp_path / "p.fits", 1).any()
    assert np.array_equal(flagged(tmp_path / "p.fits", 2), box(20, 22, 30, 35))


def test_plane_n_of_a_two_plane_mask_for_chip_n(tmp_path):
    flt = make_flt(tmp_path / "a_flt.fits")
    planes = [box(2, 5, 3, 9), box(20, 22, 30, 35)]
    hdus = [fits.PrimaryHDU()] + [fits.ImageHDU(p.astype(np.uint8), name="SCI", ver=v)
                                  for v, p in enumerate(planes, start=1)]
    for h in hdus[1:]:
        h.header["DQMCONV"] = "bad"
    fits.HDUList(hdus).writeto(tmp_path / "m2.fits")
    mask = read_mask(tmp_path / "m2.fits")
    out = tmp_path / "o.fits"
    res = apply_to_file(flt, out, ApplyOptions(masks=(TargetedMask(mask, 2),)))
    assert res.masked == 10 and not flagged(out, 1).any()
    assert np.array_equal(flagged(out, 2), planes[1])


def test_static_masks_of_dqmask_static_go_to_their_chips_in_one_call(tmp_path, run_cli):
    """``dqmask static`` writes one drizzlepac mask per chip; ``apply`` takes both at once
    (names ``<root>_<NY>x<NX>_<chip>_staticMask.fits``: chip = EXTVER for ACS)."""
    from dqmask.datasets import make_acs_wfc_flt

    flt = make_acs_wfc_flt(tmp_path / "j1_flt.fits", shape=(64, 96), seed=3)
    with fits.open(flt, mode="update") as h:  # over-subtracted pixels, different per chip
        h["SCI", 1].data[5:7, 10:12] = -1000.0
        h["SCI", 2].data[40, 50:53] = -1000.0
    masks = tmp_path / "masks"
    code, _, err = run_cli("static", flt, "--output-dir", masks, "--jobs", "1")
    assert code == 0, err
    m1, m2 = (masks / f"j1_64x96_{c}_staticMask.fits" for c in (1, 2))
    good = [fits.getdata(m) for m in (m1, m2)]
    assert all(g.dtype.kind == "i" and g.dtype.itemsize == 2 for g in good)
    assert (good[0] == 0).any() and not np.array_equal(good[0], good[1])
    with fits.open(flt) as h:
        dq_before = [np.array(h["DQ", v].data) for v in (1, 2)]
    out = tmp_path / "o_flt.fits"
    code, stdout, err = run_cli("apply", flt, "--mask", m2, "--mask", m1, "-o", out)  # any order
    assert code == 0, err
    for ver, g in ((1, good[0]), (2, good[1])):
        with fits.open(out) as h:
            dq = h["DQ", ver].data
        np.testing.assert_array_equal(dq, np.where(g == 0, dq_before[ver - 1] | 4,
                                                   dq_before[ver - 1]).astype(np.int16))
    assert int((good[0] == 0).sum() + (good[1] == 0).sum()) == int(
        stdout.split(" of 12288 pixels masked")[0].split()[-1])


def test_static_mask_of_a_chip_the_file_lacks_is_refused(tmp_path, run_cli):
    flt = make_flt(tmp_path / "a_flt.fits")
    m3 = tmp_path / "a_30x40_3_staticMask.fits"
    fits.PrimaryHDU(np.ones(SHAPE, np.int16)).writeto(m3)
    code, _, err = run_cli("apply", flt, "--mask", m3, "-o", tmp_path / "o.fits")
    assert code == 1 and f"dqmask: {m3}: a drizzlepac static mask of chip 3" in err
    assert "chip number(s) 1, 2" in err


def test_stis_static_mask_of_chip_1_covers_every_imset(tmp_path):
    """STIS imsets all have CCDCHIP 1: drizzlepac makes one mask for them, it goes to all."""
    flt = make_flt(tmp_path / "o_flt.fits", instrument="STIS")
    good = np.ones(SHAPE, np.int16)
    good[4:6, 7:9] = 0
    m = tmp_path / "o_30x40_1_staticMask.fits"
    fits.PrimaryHDU(good).writeto(m)
    res = apply_to_file(flt, tmp_path / "x.fits", ApplyOptions(mask=str(m)))
    assert res.masked == 8 and flagged(tmp_path / "x.fits", 2)[4:6, 7:9].all()


# ---------------------------------------------------------------------------------- errors


def test_selectors_parse_and_bad_chips_are_one_line(tmp_path, run_cli, circle):
    assert split_chip("m.fits[SCI,2]") == ("m.fits", 2)
    assert split_chip("m.fits[sci,2]@bad") == ("m.fits@bad", 2)
    assert split_chip("m.fits[3]") == ("m.fits", 3) and split_chip("m.fits") == ("m.fits", None)
    odd = tmp_path / "odd[1].fits"
    odd.write_bytes(b"")
    assert split_chip(str(odd)) == (str(odd), None)  # a real file name wins
    with pytest.raises(InputError, match="chip numbers start at 1"):
        split_chip("m.fits[SCI,0]")
    assert static_mask_chip("x/j94f05bgq_2048x4096_2_staticMask.fits") == 2
    assert static_mask_chip("_2048x4096_1_staticMask.fits") == 1
    assert static_mask_chip("m_1_mask.fits") is None

    flt = make_flt(tmp_path / "a_flt.fits")
    reg, _ = circle
    code, _, err = run_cli("apply", flt, "--region", reg, "--chip", "3", "-o", tmp_path / "o.fits")
    assert code == 1 and err.startswith(f"dqmask: {flt}: no SCI,3 for {reg}[SCI,3]")
    assert "SCI,1, SCI,2" in err and not (tmp_path / "o.fits").exists()
    code, _, err = run_cli("apply", flt, "--region", f"{reg}[SCI,0]", "-o", tmp_path / "o.fits")
    assert code == 1 and "chip numbers start at 1" in err
    code, _, err = run_cli("apply", flt, "--region", reg, "--chip", "two")
    assert code == 2 and "chip number" in err


def test_chip_on_a_jwst_file(tmp_path, run_cli, circle):
    from dqmask.apply.tests.test_apply import make_rate

    rate = make_rate(tmp_path / "r_rate.fits", shape=SHAPE)
    reg, pixels = circle
    code, _, err = run_cli("apply", rate, "--region", reg, "--chip", "1", "-o", tmp_path / "o.fits")
    assert code == 0, err
    code, _, err = run_cli("apply", rate, "--region", f"{reg}[SCI,2]", "-o", tmp_path / "p.fits")
    assert code == 1 and "no SCI,2" in err
    assert step_records(fits.getheader(tmp_path / "o.fits"))
