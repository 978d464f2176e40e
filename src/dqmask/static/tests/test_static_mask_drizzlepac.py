"""Equivalence with drizzlepac itself: its staticMask class driven as AstroDrizzle drives it.

drizzlepac builds image objects with ``processInput.createImageObjectList`` and calls
``staticMask.createStaticMask(imageObjectList, configObj)``, which writes
``./<root>_<rows>x<cols>_<chip>_staticMask.fits`` into the working directory. We run exactly
that on copies of the inputs (drizzlepac opens them in update mode) and compare file names,
every mask pixel, and mode/stddev with ``stsci.imagestats.ImageStats`` called as drizzlepac
calls it.
"""

from __future__ import annotations

import contextlib
import gc
import io
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import FITSFixedWarning

from dqmask.conftest import shared_file
from dqmask.static.core import chip_statistics
from dqmask.static.files import make_static_masks
from dqmask.static.tests.test_static_mask_inputs import hst_flt, sky_image

drizzlepac = pytest.importorskip(
    "drizzlepac", reason="drizzlepac is not importable: these tests run it side by side")
imagestats = pytest.importorskip(
    "stsci.imagestats", reason="stsci.imagestats is not importable: these tests compare with it")

# drizzlepac (through stwcs) builds astropy WCS objects of the real files, and astropy says
# what it fixed in their headers: reference-tool noise, not dqmask's
pytestmark = pytest.mark.filterwarnings(
    "ignore:'datfix' made the change:astropy.wcs.wcs.FITSFixedWarning")


def instrument_pars() -> dict:
    """AstroDrizzle's default instrument parameters (blank: read from the headers)."""
    return {"proc_unit": "native", "gain": "", "gnkeyword": "", "rdnoise": "", "rnkeyword": "",
            "exptime": "", "expkeyword": ""}


def run_drizzlepac(files: list[Path], workdir: Path, monkeypatch, output: str | None = None,
                   sig: float = 4.0) -> dict[str, np.ndarray]:
    """drizzlepac's static masks for copies of ``files`` made in ``workdir``: {name: array}."""
    from drizzlepac import processInput, staticMask

    workdir.mkdir()
    names = []
    for f in files:
        shutil.copy(f, workdir / f.name)
        names.append(f.name)
    monkeypatch.chdir(workdir)
    config = {"STEP 1: STATIC MASK": {"static": True, "static_sig": sig}}
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        # drizzlepac's own noise, named: astropy.wcs fixes MJD-OBS of old headers (the real
        # STIS flt), and drizzlepac leaves file handles for the garbage collector
        warnings.filterwarnings("ignore", message="'datfix' made the change",
                                category=FITSFixedWarning)
        warnings.simplefilter("ignore", ResourceWarning)
        images = processInput.createImageObjectList(names, instrpars=instrument_pars(), group=None,
                                                    output=output)
        staticMask.createStaticMask(images, config)
        for image in images:
            image.close()
        del images
        gc.collect()  # the leaked handles are closed here, under the filter above
    monkeypatch.undo()
    return {p.name: fits.getdata(p) for p in sorted(workdir.glob("*_staticMask.fits"))}


def run_ours(files: list[Path], outdir: Path, **kw) -> dict[str, np.ndarray]:
    result = make_static_masks(files, output_dir=outdir, **kw)
    assert sorted(Path(p).name for p in result.outputs) == sorted(
        p.name for p in outdir.glob("*_staticMask.fits"))
    return {p.name: fits.getdata(p) for p in sorted(outdir.glob("*_staticMask.fits"))}


def reference_stats(data: np.ndarray):
    """ImageStats exactly as drizzlepac's staticMask.addMember calls it."""
    with contextlib.redirect_stdout(io.StringIO()):
        return imagestats.ImageStats(data, nclip=3, fields="mode", lower=np.nanmin(data),
                                     upper=np.nanmax(data))


def assert_same_masks(ours: dict, theirs: dict) -> None:
    assert sorted(ours) == sorted(theirs)
    for name, mask in theirs.items():
        assert ours[name].dtype == np.dtype(">i2") == mask.dtype
        np.testing.assert_array_equal(ours[name], mask, err_msg=name)


def assert_same_stats(files: list[Path]) -> None:
    for f in files:
        with fits.open(f) as hdul:
            for hdu in hdul:
                if hdu.name != "SCI":
                    continue
                ref = reference_stats(hdu.data)
                ours = chip_statistics(hdu.data)
                assert np.float32(ours.mode) == np.float32(ref.mode)
                assert ours.mode == ref.mode and type(ours.mode) is type(ref.mode)
                assert ours.stddev == ref.stddev
                assert ours.nbins == len(ref.histogram)
                np.testing.assert_array_equal(ours.histogram, ref.histogram)


@pytest.fixture
def rng():
    return np.random.default_rng(20261121)


def test_acs_wfc_two_chips_two_images_combined(tmp_path, monkeypatch, rng):
    shape = (120, 160)
    files = [hst_flt(tmp_path / f"j8ab0{i}xyq_flt.fits", "acs_wfc",
                     [sky_image(rng, shape, sky=80 + 10 * i), sky_image(rng, shape, sky=95)])
             for i in range(2)]
    theirs = run_drizzlepac(files, tmp_path / "dp", monkeypatch, output="j8ab01010_drz.fits")
    ours = run_ours(files, tmp_path / "ours", output_name="j8ab01010_drz.fits")
    assert sorted(theirs) == ["j8ab01010_120x160_1_staticMask.fits",
                              "j8ab01010_120x160_2_staticMask.fits"]
    assert_same_masks(ours, theirs)
    assert all((m == 0).sum() >= 60 for m in theirs.values())  # both images' low pixels
    assert_same_stats(files)


def test_acs_wfc_per_image_names_without_output(tmp_path, monkeypatch, rng):
    files = [hst_flt(tmp_path / f"J8AB0{i}XYQ_flt.fits", "acs_wfc",
                     [sky_image(rng, (60, 90)), sky_image(rng, (60, 90))]) for i in range(2)]
    theirs = run_drizzlepac(files, tmp_path / "dp", monkeypatch)
    ours = run_ours(files, tmp_path / "ours")
    assert len(theirs) == 4 and "j8ab00xyq_60x90_1_staticMask.fits" in theirs
    assert_same_masks(ours, theirs)


def test_wfc3_uvis_with_nans_away_from_pixel_0(tmp_path, monkeypatch, rng):
    shape = (100, 140)
    chips = [sky_image(rng, shape, sky=30, noise=4), sky_image(rng, shape, sky=31, noise=4)]
    for chip in chips:
        chip.reshape(-1)[rng.choice(np.arange(1, chip.size), 300, replace=False)] = np.nan
    files = [hst_flt(tmp_path / "ibxx01abq_flt.fits", "wfc3_uvis", chips),
             hst_flt(tmp_path / "ibxx01acq_flt.fits", "wfc3_uvis",
                     [sky_image(rng, shape, sky=29), sky_image(rng, shape, sky=33)])]
    theirs = run_drizzlepac(files, tmp_path / "dp", monkeypatch, output="final_drz")
    ours = run_ours(files, tmp_path / "ours", output_name="final_drz")
    assert sorted(theirs) == ["final_100x140_1_staticMask.fits",
                              "final_100x140_2_staticMask.fits"]
    assert_same_masks(ours, theirs)
    assert_same_stats(files)


def test_wfc3_ir_single_chip(tmp_path, monkeypatch, rng):
    data = sky_image(rng, (128, 128), sky=1.7, noise=0.08, n_low=25)
    files = [hst_flt(tmp_path / "ibyy02a1q_flt.fits", "wfc3_ir", [data])]
    theirs = run_drizzlepac(files, tmp_path / "dp", monkeypatch)
    ours = run_ours(files, tmp_path / "ours")
    assert list(theirs) == ["ibyy02a1q_128x128_1_staticMask.fits"]
    assert (theirs["ibyy02a1q_128x128_1_staticMask.fits"] == 0).sum() >= 25
    assert_same_masks(ours, theirs)
    assert_same_stats(files)


def test_constant_image_is_skipped_as_in_drizzlepac(tmp_path, monkeypatch, rng):
    shape = (64, 80)
    const = np.full(shape, 7.25, np.float32)
    files = [hst_flt(tmp_path / "jcon01aaq_flt.fits", "acs_wfc", [const, const.copy()]),
             hst_flt(tmp_path / "jcon01abq_flt.fits", "acs_wfc",
                     [sky_image(rng, shape), sky_image(rng, shape)])]
    theirs = run_drizzlepac(files, tmp_path / "dp", monkeypatch, output="jcon01010_drz")
    result = make_static_masks(files, output_dir=tmp_path / "ours", output_name="jcon01010_drz")
    ours = {Path(p).name: fits.getdata(p) for p in result.outputs}
    assert_same_masks(ours, theirs)
    skipped = [c for c in result.chips if c.stats is None]
    assert [(Path(c.path).name, c.extver) for c in skipped] == [
        ("jcon01aaq_flt.fits", 1), ("jcon01aaq_flt.fits", 2)]
    assert "one histogram bin" in skipped[0].line()


def test_all_constant_gives_all_good_masks(tmp_path, monkeypatch):
    const = np.full((40, 50), -3.0, np.float32)
    files = [hst_flt(tmp_path / "jcon02aaq_flt.fits", "wfc3_ir", [const])]
    theirs = run_drizzlepac(files, tmp_path / "dp", monkeypatch)
    ours = run_ours(files, tmp_path / "ours")
    assert_same_masks(ours, theirs)
    assert (ours["jcon02aaq_40x50_1_staticMask.fits"] == 1).all()


def test_real_stis_ccd_flt(tmp_path, monkeypatch):
    src = shared_file("hst_stis_ccd_o4k19a010_flt.fits")
    local = tmp_path / "o4k19a010_flt.fits"
    shutil.copy(src, local)
    local.chmod(0o644)
    theirs = run_drizzlepac([local], tmp_path / "dp", monkeypatch)
    result = make_static_masks([local], output_dir=tmp_path / "ours")
    ours = {Path(p).name: fits.getdata(p) for p in result.outputs}
    # both imsets have detector number 1 and the same shape: drizzlepac ANDs them together
    assert list(theirs) == ["o4k19a010_1024x1024_1_staticMask.fits"]
    assert_same_masks(ours, theirs)
    assert [c.flagged > 0 for c in result.chips] == [True, True]
    assert_same_stats([local])


@pytest.mark.parametrize("kind, shape", [("acs_wfc", (256, 512)), ("wfc3_uvis", (256, 512)),
                                         ("wfc3_ir", (256, 256))])
def test_realistic_sample_scenes_with_nans(tmp_path, monkeypatch, kind, shape):
    """dqmask.datasets scenes (sky, stars, cosmic rays, bad pixels, NaNs) of two exposures."""
    sample = pytest.importorskip("dqmask.datasets")
    make = getattr(sample, f"make_{kind}_flt")
    files = []
    for i in range(2):
        path = make(tmp_path / f"sample{i}_flt.fits", shape=shape, seed=30 + i,
                    nan_pixels=25 * i)
        with fits.open(path, mode="update") as hdul:
            for hdu in hdul:
                if hdu.name != "SCI":
                    continue
                # drizzlepac's image objects need EXPNAME and MEANDARK (the WFC3/IR sample
                # has neither; real IR flt files have both)
                hdu.header.setdefault("EXPNAME", hdul[0].header.get("ROOTNAME", "sample"))
                hdu.header.setdefault("MEANDARK", 0.05)
                if not np.isfinite(hdu.data[0, 0]):  # drizzlepac fails on a NaN at pixel 0
                    hdu.data[0, 0] = np.float32(np.nanmedian(hdu.data))
        files.append(Path(path))
    theirs = run_drizzlepac(files, tmp_path / "dp", monkeypatch, output="sample_drz.fits")
    ours = run_ours(files, tmp_path / "ours", output_name="sample_drz.fits")
    assert len(theirs) == (1 if kind == "wfc3_ir" else 2)
    assert_same_masks(ours, theirs)
    assert any((m == 0).any() for m in theirs.values())
    assert_same_stats(files)


@pytest.mark.parametrize("name, local", [
    ("hst_wfc3_uvis_f555w_ib4606c6q_flc_10x10.fits", "ib4606c6q_flc.fits"),
    ("hst_wfc3_ir_f110w_ib4606cpq_flt_10x10.fits", "ib4606cpq_flt.fits")])
def test_real_wfc3_headers_low_sig(tmp_path, monkeypatch, name, local):
    """Real WFC3 files (10x10 cut-outs with full real headers) at static_sig 1.0."""
    path = tmp_path / local
    shutil.copy(shared_file(name), path)
    path.chmod(0o644)
    theirs = run_drizzlepac([path], tmp_path / "dp", monkeypatch, sig=1.0)
    ours = run_ours([path], tmp_path / "ours", sig=1.0)
    assert_same_masks(ours, theirs)
    assert sum(int((m == 0).sum()) for m in theirs.values()) > 0
    assert_same_stats([path])
