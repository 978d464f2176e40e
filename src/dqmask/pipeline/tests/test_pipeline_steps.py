"""dqmask's stpipe steps on datamodels, in memory (no CRDS, no files unless asked)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

pytest.importorskip("jwst")

from stdatamodels.jwst import datamodels  # noqa: E402

from dqmask import datasets as sample  # noqa: E402
from dqmask.apply import core as alg
from dqmask.apply import step as apply_mod
from dqmask.apply.step import ApplyStep  # noqa: E402
from dqmask.claws.step import ClawsStep  # noqa: E402
from dqmask.cli import build_parser  # noqa: E402
from dqmask.dq_init.step import UserDqStep  # noqa: E402
from dqmask.errors import InputError  # noqa: E402
from dqmask.flags import JWST_PIXEL  # noqa: E402
from dqmask.io.regions import regions_to_mask  # noqa: E402
from dqmask.nsclean.step import BackgroundStep  # noqa: E402
from dqmask.pipeline import get_steps  # noqa: E402
from dqmask.pipeline._base import model_wcs  # noqa: E402

DNU, OBP = JWST_PIXEL["DO_NOT_USE"], JWST_PIXEL["OTHER_BAD_PIXEL"]
ROOT = "jw01727044001_04101_00001_nrcb1"


@pytest.fixture(autouse=True)
def no_crds(monkeypatch, tmp_path):
    """CRDS is never reached: parameter references disabled, any reference lookup fails."""
    import stpipe.crds_client as cc

    monkeypatch.setenv("STPIPE_DISABLE_CRDS_STEPPARS", "true")
    monkeypatch.setenv("CRDS_SERVER_URL", "https://crds.invalid")
    monkeypatch.setenv("CRDS_PATH", str(tmp_path / "crds"))

    def refuse(*args, **kwargs):
        raise AssertionError("CRDS reached")

    monkeypatch.setattr(cc, "get_multiple_reference_paths", refuse)
    monkeypatch.setattr(cc, "get_context_used", refuse)
    monkeypatch.chdir(tmp_path)


def write_region(path: Path, text: str) -> str:
    path.write_text("# Region file format: DS9 version 4.1\n" + text)
    return str(path)


def box_bad(shape, x0, x1, y0, y1) -> np.ndarray:
    bad = np.zeros(shape, bool)
    bad[y0:y1, x0:x1] = True
    return bad


# ------------------------------------------------------------------------------ registration


def test_entry_point_names_four_steps_that_import_with_their_alias():
    from jwst.stpipe import Step

    found = {alias: name for name, alias, is_pipeline in get_steps() if not is_pipeline}
    assert set(found) == {"dqmask_apply", "dqmask_claws", "dqmask_background", "dqmask_user_dq"}
    for alias, name in found.items():
        module, _, cls = name.rpartition(".")
        step = getattr(importlib.import_module(module), cls)
        assert issubclass(step, Step) and step.class_alias == alias


def test_pyproject_registers_get_steps_under_stpipe_steps():
    import tomllib

    pyproject = Path(__file__).resolve().parents[4] / "pyproject.toml"
    table = tomllib.loads(pyproject.read_text())["project"]["entry-points"]["stpipe.steps"]
    assert table == {"dqmask": "dqmask.pipeline:get_steps"}


def test_apply_spec_is_generated_from_the_options_named_as_the_cli():
    lines = [ln.strip() for ln in ApplyStep.spec.strip().splitlines()]
    assert lines == [o.spec_line() for o in apply_mod.OPTIONS]
    assert "max_fraction = float(min=0.0, max=1.0, default=0.5)" in lines[7]
    parser = build_parser()
    choices = next(a for a in parser._actions if a.dest == "command").choices
    assert isinstance(choices, dict)  # subparsers: name -> ArgumentParser
    sub = choices["apply"]
    cli_flags = {s for a in sub._actions for s in a.option_strings}
    assert {o.cli_flag for o in apply_mod.OPTIONS} <= cli_flags
    defaults = {s: a.default for a in sub._actions for s in a.option_strings}
    for o in apply_mod.OPTIONS:  # by flag: the step's mask_flags is the CLI's old spelling
        if o.name not in ("region", "mask"):  # lists: None here, [] on the CLI
            assert defaults[o.cli_flag] == o.default, o.name


# ------------------------------------------------------------------------------ dqmask_apply


@pytest.fixture
def rate(tmp_path) -> Path:
    return sample.make_nircam_rate(tmp_path / f"{ROOT}_rate.fits", shape=(64, 64), seed=1)


def test_apply_flags_dq_in_memory_and_writes_nothing(rate, tmp_path):
    reg = write_region(tmp_path / "box.reg", "image\nbox(20.5,30.5,10,6,0)\n")
    before = sorted(os.listdir(tmp_path))
    with datamodels.open(rate) as model:
        dq0 = model.dq.copy()
        out = ApplyStep.call(model, region=reg)
        assert (model.dq == dq0).all()  # the caller's model is not modified
    bad = box_bad(dq0.shape, 15, 25, 27, 33)
    np.testing.assert_array_equal(out.dq, alg.or_flags(dq0, bad, DNU | OBP))
    assert out.dq.dtype == np.uint32
    assert out.meta.cal_step.dqmask_apply == "COMPLETE"
    record = alg.mask_record([bad], DNU | OBP)
    assert any(e["description"].startswith(f"dqmask dqmask_apply record={record} ")
               for e in out._asdf.get_history_entries())
    assert sorted(os.listdir(tmp_path)) == before


def test_apply_skips_a_model_that_carries_its_record(rate, tmp_path):
    reg = write_region(tmp_path / "box.reg", "image\nbox(20,30,10,6,0)\n")
    once = ApplyStep.call(str(rate), region=reg, zero_data=True)
    entries = len(once._asdf.get_history_entries())
    data = once.data.copy()
    twice = ApplyStep.call(once, region=reg, zero_data=True)
    assert len(twice._asdf.get_history_entries()) == entries
    np.testing.assert_array_equal(twice.data, data)
    other = write_region(tmp_path / "other.reg", "image\nbox(40,40,4,4,0)\n")
    third = ApplyStep.call(once, region=other)
    assert len(third._asdf.get_history_entries()) == entries + 1


def test_apply_flags_pixeldq_of_a_ramp_model(tmp_path):
    ramp = datamodels.RampModel((1, 3, 32, 40))
    ramp.meta.filename = f"{ROOT}_ramp.fits"
    ramp.groupdq[0, 1, 5, 5] = 4
    mask = np.zeros((32, 40), np.uint8)
    mask[10:12, 3:9] = 1
    fits.PrimaryHDU(mask).writeto(tmp_path / f"{ROOT}_bad.fits")
    out = ApplyStep.call(ramp, mask="{root}_bad.fits", mask_convention="bad", flags="DO_NOT_USE")
    np.testing.assert_array_equal(out.pixeldq, np.where(mask == 1, DNU, 0).astype(np.uint32))
    assert out.groupdq.sum() == 4  # GROUPDQ untouched


def test_apply_refuses_an_uncal_model_before_dq_init(tmp_path):
    uncal = sample.make_nircam_uncal(tmp_path / f"{ROOT}_uncal.fits", shape=(32, 32), ngroups=2)
    reg = write_region(tmp_path / "box.reg", "image\nbox(5,5,2,2,0)\n")
    with pytest.raises(InputError, match="no PIXELDQ or DQ; run dq_init first"):
        ApplyStep.call(str(uncal), region=reg)


def test_apply_pattern_without_a_file_names_the_expected_file(rate):
    with pytest.raises(InputError) as info:
        ApplyStep.call(str(rate), region="{root}_cal_claws.pix.reg")
    assert info.value.path == f"{ROOT}_cal_claws.pix.reg"
    assert "no such file" in info.value.problem


def _gwcs_like(fits_wcs):
    """A gwcs with the same TAN projection as a 2-D FITS WCS (CDELT + PC)."""
    from astropy import coordinates as coord
    from astropy import units as u
    from astropy.modeling import models
    from gwcs import coordinate_frames as cf
    from gwcs import wcs as gw

    w = fits_wcs.wcs
    matrix = np.diag(w.cdelt) @ w.get_pc()
    transform = ((models.Shift(-(w.crpix[0] - 1)) & models.Shift(-(w.crpix[1] - 1)))
                 | models.AffineTransformation2D(matrix=matrix)
                 | models.Pix2Sky_TAN()
                 | models.RotateNative2Celestial(w.crval[0], w.crval[1], 180))
    detector = cf.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix))
    sky = cf.CelestialFrame(reference_frame=coord.ICRS(), name="world")
    return gw.WCS([(detector, transform), (sky, None)])


def test_apply_sky_regions_use_the_fits_wcs_or_the_gwcs_alike(rate, tmp_path):
    with datamodels.open(rate) as model:
        fits_wcs = model_wcs(model)
        centre = fits_wcs.pixel_to_world(30, 40)
        reg = write_region(tmp_path / "sky.reg", f"fk5\ncircle({centre.ra.deg:.8f},"
                                                  f"{centre.dec.deg:.8f},0.2\")\n")
        dq0 = model.dq.copy()
        by_fits = ApplyStep.call(model, region=reg)
        expected = regions_to_mask([reg], dq0.shape, wcs=fits_wcs)
        assert 30 < expected.sum() < 200 and expected[40, 30]
        np.testing.assert_array_equal(by_fits.dq, alg.or_flags(dq0, expected, DNU | OBP))
        model.meta.wcs = _gwcs_like(fits_wcs)
        by_gwcs = ApplyStep.call(model, region=reg)
    np.testing.assert_array_equal(by_gwcs.dq, by_fits.dq)


def test_apply_refuses_a_mask_above_max_fraction(rate, tmp_path):
    reg = write_region(tmp_path / "big.reg", "image\nbox(32.5,32.5,64,40,0)\n")
    with pytest.raises(InputError, match="above max_fraction 0.5; refused"):
        ApplyStep.call(str(rate), region=reg)


# ------------------------------------------------------------------ claws, background, user_dq


def test_claws_step_flags_what_detect_then_apply_flag(tmp_path, run_cli):
    from dqmask.claws.files import arc_polygon

    cal = sample.make_nircam_cal(tmp_path / f"{ROOT}_cal.fits", shape=(128, 128), seed=2)
    reg = tmp_path / f"{ROOT}_cal_claws.pix.reg"
    reg.write_text(arc_polygon((128, 128), half_width=20))
    opts = ["--sigma", "1.5", "--minpixarea", "10", "--smooth", "1", "--ignore-background"]
    code, _, err = run_cli("detect", cal, "--include-region", reg, *opts)
    assert code == 0, err
    mask = tmp_path / f"{ROOT}_cal_seed_image_zeroonemask.fits"
    code, _, err = run_cli("apply", cal, "--mask", mask, "-o", tmp_path / "by_cli.fits")
    assert code == 0, err
    out = ClawsStep.call(str(cal), region="{root}_cal_claws.pix.reg", sigma=1.5,
                         minpixarea=10, smooth=1.0, ignore_background=True)
    expected = fits.getdata(tmp_path / "by_cli.fits", "DQ")
    assert np.count_nonzero(expected != fits.getdata(cal, "DQ")) > 20
    np.testing.assert_array_equal(out.dq, expected)
    assert out.meta.cal_step.dqmask_claws == "COMPLETE"


def test_background_step_equals_dqmask_background_jwst_format(tmp_path, run_cli):
    rate = sample.make_nircam_rate(tmp_path / f"{ROOT}_rate.fits", shape=(64, 64), seed=4)
    code, _, err = run_cli("background", rate, "-o", tmp_path / "cli_mask.fits",
                           "--format", "jwst", "--grow", "2")
    assert code == 0, err
    mask = BackgroundStep.call(str(rate), grow=2)
    assert isinstance(mask, datamodels.ImageModel) and mask.data.dtype == np.float32
    np.testing.assert_array_equal(mask.data, fits.getdata(tmp_path / "cli_mask.fits", "SCI"))
    assert set(np.unique(mask.data)) == {0.0, 1.0}
    assert mask.meta.instrument.detector == "NRCA1"


def test_background_step_as_hook_returns_its_input_and_saves_the_mask(tmp_path):
    rate = sample.make_nircam_rate(tmp_path / f"{ROOT}_rate.fits", shape=(64, 64), seed=4)
    with datamodels.open(rate) as model:
        out = BackgroundStep.call(model, pass_through=True)
        np.testing.assert_array_equal(out.data, model.data)
    saved = tmp_path / f"{ROOT}_user_mask.fits"
    with datamodels.open(saved) as mask:  # what clean_flicker_noise --user_mask opens
        assert mask.data.shape == (64, 64) and mask.data.astype(bool).any()


def test_user_dq_step_makes_the_file_dq_init_reads(tmp_path):
    uncal = sample.make_nircam_uncal(tmp_path / f"{ROOT}_uncal.fits", shape=(64, 64), ngroups=2)
    reg = write_region(tmp_path / "box.reg", "image\nbox(10.5,20.5,4,2,0)\n")
    out = UserDqStep.call(str(uncal), region=reg, flags="DO_NOT_USE")
    bad = box_bad((64, 64), 8, 12, 19, 21)
    np.testing.assert_array_equal(out.dq, np.where(bad, DNU, 0).astype(np.uint32))
    out.save(tmp_path / "user_dq.fits")
    got = fits.getdata(tmp_path / "user_dq.fits")  # exactly how dq_init reads it
    assert got.dtype.kind == "u" and got.dtype.itemsize == 4
    np.testing.assert_array_equal(got, out.dq)
