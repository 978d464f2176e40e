"""DOLPHOT preparation where it meets other tools and habits (issue 11: items 6, 9c, 11, 12).

DQ masks reaching DOLPHOT (``--dq-bad``), DOLPHOT's flags in any case before the first
file, HISTORY with only the options that apply, and one-line explanations for a stale
subarray cut-out and a raw HST exposure.
"""

from __future__ import annotations

import os
import re
import shutil

import numpy as np
import pytest
from astropy.io import fits

from dqmask.conftest import shared_file
from dqmask.dolphot.tests.test_dolphot_builders import hst_flt, jwst_cal
from dqmask.io.fits import step_records

f32 = np.float32
DO_NOT_USE, SATURATED, OTHER_BAD = 1, 2, 1 << 30


def _flat(text: str) -> str:
    """stderr with rich's line wrapping undone."""
    return " ".join(text.split())


def _claw_cal(path, subsize=None):
    """A cal whose DQ carries a claw mask put there by ``dqmask apply`` (DO_NOT_USE on
    finite, non-zero SCI: DOLPHOT's rule sees nothing)."""
    sci = np.arange(1.0, 13.0, dtype=f32).reshape(3, 4)
    dq = np.zeros(sci.shape, np.uint32)
    dq[0, 1] = DO_NOT_USE
    dq[1, 2] = DO_NOT_USE | OTHER_BAD
    dq[2, 3] = DO_NOT_USE | SATURATED  # saturated stays saturated
    primary = {"SUBSIZE1": subsize[0], "SUBSIZE2": subsize[1]} if subsize else None
    return jwst_cal(path, sci, dq, np.ones(sci.shape, f32), primary=primary)


def _step_history(path, step: str) -> str:
    """Every parameter ``add_provenance`` recorded for ``step`` (HISTORY, or DQMPnnnn when long)."""
    header = fits.getheader(path)
    line = next(h for h in header["HISTORY"] if f" {step}:" in h)
    see = re.search(r"\(see (DQMP\d{4})\)", line)
    return header[see.group(1)] if see else line[line.index(f" {step}:"):]


def _classes(path, index=1):
    with fits.open(path) as h:
        head, v = h[index].header, h[index].data
        return v <= head["BADPIX"], v >= head["SATURATE"]


# ------------------------------------------------------------------ item 6: --dq-bad


def test_default_rule_keeps_do_not_use_usable_with_one_note(tmp_path, run_cli):
    a = _claw_cal(tmp_path / "a_nrca1_cal.fits")
    b = _claw_cal(tmp_path / "b_nrca1_cal.fits")
    code, out, err = run_cli("nircammask", a, b)
    assert code == 0, err
    bad, sat = _classes(a)
    assert not bad[0, 1] and not bad[1, 2] and sat[2, 3]  # DOLPHOT's rule, unchanged
    assert out.count("2 DO_NOT_USE pixels left usable") == 2  # one summary per file
    assert _flat(err).count("--dq-bad DO_NOT_USE masks them") == 1  # one note per run
    history = " ".join(fits.getheader(a, 1)["HISTORY"])
    assert "2 DO_NOT_USE pixels left usable by DOLPHOT's rule" in history


def test_dq_bad_makes_dq_flagged_pixels_bad(tmp_path, run_cli):
    a = _claw_cal(tmp_path / "a_nrca1_cal.fits")
    code, out, err = run_cli("nircammask", "--dq-bad", "DO_NOT_USE", a)
    assert code == 0, err
    bad, sat = _classes(a)
    assert bad[0, 1] and bad[1, 2] and not bad[0, 0]
    assert sat[2, 3] and not bad[2, 3]  # saturated wins, as for DOLPHOT's own rules
    assert "DO_NOT_USE pixels left usable" not in out and "dq-bad" not in _flat(err)
    assert "nircammask" in dict(step_records(fits.getheader(a)))
    assert "dq_bad=DO_NOT_USE" in _step_history(a, "nircammask")


def test_dq_bad_after_a_file_and_in_any_spelling(tmp_path, run_cli):
    a = _claw_cal(tmp_path / "a_nrca1_cal.fits")
    b = _claw_cal(tmp_path / "b_nrca1_cal.fits")
    code, _, err = run_cli("dolphot", a, "--DQ-BAD=other_bad_pixel", b)
    assert code == 0, err
    assert not _classes(a)[0][1, 2]  # the flag applies to the files after it
    bad, _ = _classes(b)
    assert bad[1, 2] and not bad[0, 1]  # OTHER_BAD_PIXEL only


def test_dq_bad_uses_the_hst_tables(tmp_path, run_cli):
    shape = (512, 512)
    dq = np.zeros(shape, np.int16)
    dq[0, 0] = 64  # WARMPIX: DOLPHOT ignores it
    dq[0, 1] = 16384  # CROSSTALK: ignored too
    acs = hst_flt(tmp_path / "a_flt.fits", "ACS", "WFC", [np.full(shape, 10.0, f32)], [dq],
                  aperture="WFC1-512", ccdchips=[1])
    ir_dq = np.zeros((64, 64), np.int16)
    ir_dq[0, 0] = 1024  # SPIKE on IR: ignored by DOLPHOT 3.1's IR rule
    ir = hst_flt(tmp_path / "i_flt.fits", "WFC3", "IR", [np.full((64, 64), 1.0, f32)], [ir_dq],
                 aperture="IRSUB64", primary={"NSAMP": 5})
    code, _, err = run_cli("dolphot", "--dq-bad", "WARMPIX", acs, "--dq-bad=SPIKE", ir)
    assert code == 0, err
    bad, _ = _classes(acs)
    assert bad[0, 0] and not bad[0, 1] and not bad[5, 5]
    bad, _ = _classes(ir)
    assert bad[0, 0] and not bad[1, 1]


def test_dq_bad_names_checked_against_the_files_table(tmp_path, run_cli):
    a = _claw_cal(tmp_path / "a_nrca1_cal.fits")
    code, _, err = run_cli("nircammask", "--dq-bad", "WARMPIX", a)
    assert code == 2 and "unknown flag name 'WARMPIX'" in err  # no JWST flag of that name
    acs = hst_flt(tmp_path / "h_flt.fits", "ACS", "HRC", [np.ones((1024, 1024), f32)],
                  [np.zeros((1024, 1024))], extra_tables=False)
    before = acs.read_bytes()
    code, _, err = run_cli("dolphot", "--dq-bad", "DO_NOT_USE", acs)  # a JWST name: HST file
    assert code == 1
    assert f"dqmask: {acs}: --dq-bad DO_NOT_USE: unknown flag name" in _flat(err)
    assert "in the ACS DQ flags" in _flat(err)
    assert acs.read_bytes() == before


def test_splitgroups_has_no_dq_bad(tmp_path, run_cli):
    a = _claw_cal(tmp_path / "a_nrca1_cal.fits")
    code, _, err = run_cli("splitgroups", "--dq-bad", "DO_NOT_USE", a)
    assert code == 2  # splitgroups copies pixels, it never masks


# ------------------------------------------------------------------ item 9c: flags in any case


@pytest.mark.parametrize("flags", [["-KEEPCR"], ["-KeepCR"], ["-keepcr"], ["--Keep-CR"]])
def test_dolphot_flags_any_case_before_the_first_file(tmp_path, run_cli, flags):
    # DOLPHOT's C matches flags with strcasecmp wherever they stand (acsmask -KEEPCR f.fits)
    dq = np.zeros((512, 512), np.int16)
    dq[0, 0] = 4096  # cosmic ray: usable with -keepcr
    path = hst_flt(tmp_path / "c_flt.fits", "ACS", "WFC", [np.full((512, 512), 10.0, f32)],
                   [dq], aperture="WFC1-512", ccdchips=[1])
    code, _, err = run_cli("acsmask", *flags, path)
    assert code == 0, err
    bad, sat = _classes(path)
    assert not bad[0, 0] and not sat[0, 0]


def test_valued_flags_any_case_before_the_first_file(tmp_path, run_cli):
    path = hst_flt(tmp_path / "e_flt.fits", "ACS", "WFC", [np.full((512, 512), 10.0, f32)],
                   [np.zeros((512, 512))], aperture="WFC1-512", ccdchips=[1])
    code, _, err = run_cli("acsmask", "-EXPTIME=5", "-NCombine=1", path)
    assert code == 0, err
    head = fits.getheader(path, 1)
    assert head["EXPTIME"] == 5.0 and head["EXPTIME0"] == 5.0


def test_unknown_flag_in_any_case_is_still_a_usage_error(tmp_path, run_cli):
    path = hst_flt(tmp_path / "u_flt.fits", "ACS", "WFC", [np.full((512, 512), 10.0, f32)],
                   [np.zeros((512, 512))], aperture="WFC1-512", ccdchips=[1])
    code, _, _ = run_cli("acsmask", "-MASKFLAT", path)  # a wfc3mask flag
    assert code == 2


# ------------------------------------------------------------------ item 11: HISTORY


def test_history_records_only_the_options_that_apply(tmp_path, run_cli):
    acs = hst_flt(tmp_path / "a_flt.fits", "ACS", "WFC", [np.full((512, 512), 10.0, f32)],
                  [np.zeros((512, 512))], aperture="WFC1-512", ccdchips=[1])
    cal = _claw_cal(tmp_path / "c_nrca1_cal.fits")
    code, _, err = run_cli("dolphot", "-keepcr", acs, cal)
    assert code == 0, err
    hst = _step_history(acs, "acsmask")
    for jwst_only in ("etctime", "saturated_rule", "precedence", "estnoise"):
        assert jwst_only not in hst
    assert hst.rstrip().endswith("acsmask: keepcr=True")
    jwst = _step_history(cal, "nircammask")
    assert "etctime=True" in jwst and "saturated_rule=bit" in jwst
    assert "keepcr" not in jwst  # HST-only, even though it was set before this file


# ------------------------------------------------------------------ item 12: smaller ones


def test_nircammask_warns_once_on_a_cutout_with_stale_subsize(tmp_path, run_cli):
    path = tmp_path / "cut_cal.fits"
    shutil.copyfile(shared_file("jwst_nircam_nrcalong_f444w_cal_cutout_starbug2.fits"), path)
    os.chmod(path, 0o644)
    code, _, err = run_cli("nircammask", path)
    assert code == 0, err
    flat = _flat(err)
    assert flat.count("SUBSIZE1/2") == 1
    assert "SUBSIZE1/2 = 2048x2048 but SCI is 100x100: a cut-out with stale" in flat


def test_nircammask_quiet_when_subsize_matches(tmp_path, run_cli):
    path = _claw_cal(tmp_path / "m_nrca1_cal.fits", subsize=(4, 3))
    code, _, err = run_cli("nircammask", "--dq-bad", "DO_NOT_USE", path)
    assert code == 0 and "SUBSIZE" not in err


def test_acsmask_on_a_raw_file_says_it_is_raw(tmp_path, run_cli):
    path = tmp_path / "j8bt09jcq_raw.fits"
    shutil.copyfile(shared_file("hst_acs_hrc_j8bt09jcq_raw.fits"), path)
    os.chmod(path, 0o644)
    before = path.read_bytes()
    code, _, err = run_cli("acsmask", path)
    assert code == 1
    flat = _flat(err)
    assert "a raw (uncalibrated) exposure: acsmask needs the calibrated flt/flc" in flat
    assert "force a subarray" not in flat
    assert path.read_bytes() == before
