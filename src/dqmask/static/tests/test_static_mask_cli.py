"""``dqmask static`` from the command line: names, options, summaries, safety of outputs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from dqmask.io.atomic import TMP_MARK
from dqmask.io.fits import has_record, step_records
from dqmask.static.cli import demo
from dqmask.static.core import chip_statistics, threshold
from dqmask.static.tests.test_static_mask_inputs import acs_flts, hst_flt, sky_image

SHAPE = (50, 70)


@pytest.fixture
def acs(tmp_path) -> list[Path]:
    return acs_flts(tmp_path, "jcli0", SHAPE, seed=11, n_low=12)


def expected_good(paths: list[Path], ext: int, sig: float = 4.0) -> np.ndarray:
    good = np.ones(SHAPE, np.int16)
    for p in paths:
        data = fits.getdata(p, ("SCI", ext))
        good[np.less(data, threshold(chip_statistics(data), sig))] = 0
    return good


def test_summary_line_per_chip_and_per_image_masks(run_cli, acs, tmp_path):
    out = tmp_path / "out"
    code, stdout, stderr = run_cli("static", *acs, "--output-dir", out)
    assert code == 0, stderr
    lines = [ln for ln in stdout.splitlines() if "[SCI," in ln]
    assert len(lines) == 4
    data = fits.getdata(acs[0], ("SCI", 1))
    stats = chip_statistics(data)
    n = int(np.count_nonzero(np.less(data, threshold(stats))))
    assert lines[0] == (f"{acs[0]}[SCI,1] -> jcli00abq_50x70_1_staticMask.fits: "
                        f"mode={float(stats.mode):.6g} rms={stats.stddev:.6g} "
                        f"threshold={float(threshold(stats)):.6g} flagged={n}")
    assert n >= 12
    assert sorted(p.name for p in out.iterdir()) == [
        f"jcli0{i}abq_50x70_{c}_staticMask.fits" for i in (0, 1) for c in (1, 2)]
    with fits.open(out / "jcli00abq_50x70_2_staticMask.fits") as hdul:
        assert len(hdul) == 1 and hdul[0].header["BITPIX"] == 16
        np.testing.assert_array_equal(hdul[0].data, expected_good(acs[:1], 2))
        assert step_records(hdul[0].header, "static")


def test_output_name_combines_images_by_and(run_cli, acs, tmp_path):
    code, _, _ = run_cli("static", *acs, "--output-name", "jcli01010_drz.fits",
                         "--output-dir", tmp_path / "o")
    assert code == 0
    mask = fits.getdata(tmp_path / "o" / "jcli01010_50x70_1_staticMask.fits")
    np.testing.assert_array_equal(mask, expected_good(acs, 1))
    assert (mask == 0).sum() > (expected_good(acs[:1], 1) == 0).sum()


def test_legacy_names_and_sig(run_cli, acs, tmp_path):
    code, _, _ = run_cli("static", *acs, "--legacy-names", "--sig", "2.5",
                         "--output-dir", tmp_path / "o")
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "ACSWFC_50x70_1_staticMask.fits", "ACSWFC_50x70_2_staticMask.fits"]
    mask = fits.getdata(tmp_path / "o" / "ACSWFC_50x70_2_staticMask.fits")
    np.testing.assert_array_equal(mask, expected_good(acs, 2, sig=2.5))


def test_default_output_dir_is_the_working_directory(run_cli, acs, tmp_path, monkeypatch):
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    code, _, _ = run_cli("static", acs[0], "--chips", "2")
    assert code == 0
    assert [p.name for p in work.iterdir()] == ["jcli00abq_50x70_2_staticMask.fits"]


def test_dq_bits_fold_rejected_dq_pixels(run_cli, tmp_path):
    rng = np.random.default_rng(12)
    dq = np.zeros(SHAPE, np.int16)
    dq[1, 1], dq[2, 2], dq[3, 3] = 4, 16, 4 + 16
    path = hst_flt(tmp_path / "jdqb01abq_flt.fits", "wfc3_uvis",
                   [sky_image(rng, SHAPE, n_low=0)], dq=[dq])
    static = expected_good([path], 1)
    for bits, bad in (("16", [(1, 1), (3, 3)]), ("0", [(1, 1), (2, 2), (3, 3)]),
                      ("~DETECTORPROB", [(1, 1), (3, 3)]), ("HOTPIX,DETECTORPROB", [])):
        out = tmp_path / f"o{bits}"
        code, stdout, stderr = run_cli("static", path, "--dq-bits", bits, "--output-dir", out)
        assert code == 0, stderr
        mask = fits.getdata(out / "jdqb01abq_50x70_1_staticMask.fits")
        expected = static.copy()
        for yx in bad:
            expected[yx] = 0
        np.testing.assert_array_equal(mask, expected, err_msg=bits)
        assert (f"dq_flagged={len(bad)}" in stdout) == bool(bad)


def test_nan_first_pixel_works_where_drizzlepac_fails(run_cli, tmp_path):
    rng = np.random.default_rng(13)
    data = sky_image(rng, SHAPE, n_low=8)
    data[0, 0] = np.nan
    data[10, 10:20] = np.nan
    path = hst_flt(tmp_path / "jnan01abq_flt.fits", "wfc3_ir", [data])
    code, stdout, _ = run_cli("static", path, "--output-dir", tmp_path / "o")
    assert code == 0 and "flagged=8" in stdout
    mask = fits.getdata(tmp_path / "o" / "jnan01abq_50x70_1_staticMask.fits")
    assert mask[0, 0] == 1 and (mask[10, 10:20] == 1).all()  # NaN pixels are good


def test_existing_output_replaced_atomically(run_cli, acs, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    target = out / "jcli00abq_50x70_1_staticMask.fits"
    fits.PrimaryHDU(np.zeros((2, 2), np.int16)).writeto(target)
    os.chmod(target, 0o640)
    code, _, _ = run_cli("static", acs[0], "--output-dir", out)
    assert code == 0
    np.testing.assert_array_equal(fits.getdata(target), expected_good(acs[:1], 1))
    assert oct(os.stat(target).st_mode & 0o777) == oct(0o640)
    assert not [p for p in out.iterdir() if TMP_MARK in p.name]


def test_bad_input_writes_nothing(run_cli, acs, tmp_path):
    notfits = tmp_path / "junk_flt.fits"
    notfits.write_text("not a fits file")
    out = tmp_path / "o"
    code, stdout, stderr = run_cli("static", acs[0], notfits, "--output-dir", out)
    assert code == 1
    assert stderr.strip().startswith(f"dqmask: {notfits}: not a readable FITS file")
    assert not out.exists() and stdout == ""


def test_missing_chip_and_non_hst_are_one_line_errors(run_cli, acs, tmp_path):
    code, _, stderr = run_cli("static", acs[0], "--chips", "3", "--output-dir", tmp_path / "o")
    assert code == 1
    assert stderr.strip() == f"dqmask: {acs[0]}: no SCI extension with EXTVER 3 (has 1,2)"
    jwst = tmp_path / "jw_cal.fits"
    hdr = fits.Header({"TELESCOP": "JWST", "INSTRUME": "NIRCAM", "DETECTOR": "NRCA1"})
    fits.HDUList([fits.PrimaryHDU(header=hdr),
                  fits.ImageHDU(np.zeros((4, 4), np.float32), name="SCI")]).writeto(jwst)
    code, _, stderr = run_cli("static", jwst, "--output-dir", tmp_path / "o")
    assert code == 1 and "static masks are for HST data" in stderr
    assert not (tmp_path / "o").exists()


def test_dq_bits_without_dq_extension_is_an_input_error(run_cli, tmp_path):
    path = tmp_path / "jnodq1abq_flt.fits"
    hst_flt(path, "acs_wfc", [sky_image(np.random.default_rng(1), SHAPE)])
    with fits.open(path) as hdul:
        del hdul["DQ"]
        hdul.writeto(tmp_path / "jnodq2abq_flt.fits")
    code, _, stderr = run_cli("static", tmp_path / "jnodq2abq_flt.fits", "--dq-bits", "0",
                              "--output-dir", tmp_path / "o")
    assert code == 1 and "has no DQ extension" in stderr


@pytest.mark.parametrize("args", [["--sig", "-1"], ["--chips", "a"], ["--chips", "0"],
                                  ["--output-name", "x_drz", "--legacy-names"]])
def test_usage_errors_exit_2(run_cli, acs, args):
    code, _, stderr = run_cli("static", acs[0], *args)
    assert code == 2 and "dqmask: error:" in stderr


def test_provenance_record_and_history(acs, tmp_path, run_cli):
    run_cli("static", *acs, "--output-name", "p_drz", "--output-dir", tmp_path / "o")
    header = fits.getheader(tmp_path / "o" / "p_50x70_1_staticMask.fits")
    (step, record), = step_records(header, "static")
    assert has_record(header, "static", record)
    history = "\n".join(str(h) for h in header["HISTORY"])
    assert "jcli00abq_flt.fits" in history and "jcli01abq_flt.fits" in history


def test_demo_hook(acs, tmp_path):
    lines: list[str] = []
    demo(tmp_path / "demo", {"acs_wfc_flt": acs[0]}, lines.append)
    assert lines[0].startswith("$ dqmask static")
    assert sum("[SCI," in ln for ln in lines) == 2
    assert len(list((tmp_path / "demo" / "static").glob("*_staticMask.fits"))) == 2


def test_jobs_give_identical_masks_and_summaries(run_cli, acs, tmp_path):
    code1, out1, _ = run_cli("static", *acs, "--output-name", "j_drz", "--output-dir",
                             tmp_path / "a")
    code2, out2, _ = run_cli("static", *acs, "--output-name", "j_drz", "--output-dir",
                             tmp_path / "b", "-j", "3")
    assert code1 == code2 == 0
    assert out1.replace(str(tmp_path / "a"), "") == out2.replace(str(tmp_path / "b"), "")
    for c in (1, 2):
        name = f"j_50x70_{c}_staticMask.fits"
        np.testing.assert_array_equal(fits.getdata(tmp_path / "a" / name),
                                      fits.getdata(tmp_path / "b" / name))


def test_output_name_without_underscore_gives_drizzlepacs_empty_root(run_cli, acs, tmp_path):
    code, _, stderr = run_cli("static", acs[0], "--output-name", "final", "--output-dir",
                              tmp_path / "o")
    assert code == 0 and "has no '_'" in stderr
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "_50x70_1_staticMask.fits", "_50x70_2_staticMask.fits"]


def test_jobs_default_and_one_give_identical_output(run_cli, tmp_path):
    """Worker threads (the default), -j 1 and -j 3: same masks, summaries and warnings,
    with --dq-bits, a constant chip (warning) and a low --sig (many flagged pixels)."""
    rng = np.random.default_rng(21)
    dq = np.zeros(SHAPE, np.int16)
    dq[4, 5] = 16
    paths = [hst_flt(tmp_path / f"jjob0{i}abq_flt.fits", "acs_wfc",
                     [sky_image(rng, SHAPE, n_low=9), sky_image(rng, SHAPE, n_low=3)],
                     dq=[dq, dq])
             for i in range(2)]
    with fits.open(paths[1], mode="update") as hdul:
        hdul["SCI", 2].data[:] = 5.0  # constant chip: skipped with a warning
    runs = {}
    for jobs in (None, "1", "3"):
        for sig in ("4", "0.2"):
            out = tmp_path / f"o{jobs}_{sig}"
            extra = [] if jobs is None else ["-j", jobs]
            code, stdout, stderr = run_cli("static", *paths, "--output-name", "j_drz",
                                           "--dq-bits", "~16", "--sig", sig,
                                           "--output-dir", out, *extra)
            assert code == 0, stderr
            masks = [fits.getdata(out / f"j_50x70_{c}_staticMask.fits") for c in (1, 2)]
            runs[jobs, sig] = (stdout.replace(str(out), ""), stderr, masks)
    for sig in ("4", "0.2"):
        ref = runs["1", sig]
        assert "one histogram bin" in ref[1] and "dq_flagged=1" in ref[0]
        for jobs in (None, "3"):
            other = runs[jobs, sig]
            assert other[0] == ref[0] and other[1] == ref[1]
            for a, b in zip(ref[2], other[2], strict=True):
                np.testing.assert_array_equal(a, b)
    flagged = (runs["1", "0.2"][2][0] == 0).sum()
    assert flagged > SHAPE[0] * SHAPE[1] // 8


def test_input_error_in_a_worker_is_a_one_line_error(acs, tmp_path, monkeypatch):
    """A file unreadable when a worker re-opens it: InputError in the caller, nothing
    written."""
    from dqmask.errors import InputError
    from dqmask.static import files as st

    def gone(path, checked=None):
        raise InputError(path, "cannot be read again (gone)")

    monkeypatch.setattr(st, "_reopen", gone)  # what the worker threads call
    with pytest.raises(InputError) as info:
        st.make_static_masks(acs, output_dir=tmp_path / "o", jobs=2)
    assert info.value.oneline() == f"{acs[0]}: cannot be read again (gone)"
    assert not (tmp_path / "o").exists()


def test_worker_threads_leave_the_warning_filters_alone(tmp_path, monkeypatch):
    """warnings.catch_warnings swaps process-wide filters: two workers inside it at once
    can restore each other's filters (a RuntimeWarning of a constant chip then escaped as
    an error, or an 'ignore' filter leaked). Workers must not touch them."""
    import threading
    import warnings

    from dqmask.static.files import make_static_masks

    real = warnings.catch_warnings

    def main_thread_only(*args, **kwargs):
        assert threading.current_thread() is threading.main_thread(), \
            "warning filters changed in a worker thread"
        return real(*args, **kwargs)

    monkeypatch.setattr(warnings, "catch_warnings", main_thread_only)
    rng = np.random.default_rng(5)
    paths = [hst_flt(tmp_path / f"jthr0{i}abq_flt.fits", "acs_wfc",
                     [sky_image(rng, SHAPE), np.full(SHAPE, 3.0, np.float32)])
             for i in range(2)]
    result = make_static_masks(paths, output_name="jthr_drz", output_dir=tmp_path / "o", jobs=2)
    assert [c.note for c in result.chips].count("clipped data in one histogram bin") == 2
