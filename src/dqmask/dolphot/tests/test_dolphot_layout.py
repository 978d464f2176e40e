"""The DOLPHOT job split by domain (issue 13) and its light imports (issue 14 item 2).

What an HST DOLPHOT run imports is asserted as module sets in fresh interpreters, never as
time; the pixel-area arithmetic that replaced ``scipy.signal.convolve2d`` is checked to the
bit against scipy where scipy is installed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from dqmask.conftest import shared_file
from dqmask.dolphot import hst_core, pixel_area
from dqmask.dolphot.tests.test_dolphot_builders import hst_flt, pam_dir
from dqmask.tests.helpers import fresh_interpreter_json

#: Packages an HST DOLPHOT run never needs (rich draws only on a terminal, and a test run
#: has none).
HEAVY = ("stdatamodels", "asdf", "jwst", "scipy", "regions", "photutils", "matplotlib",
         "dask", "stpipe", "rich")
DOLPHOT_PURE = ("core", "jwst_core", "hst_core", "pixel_area")


def _run(code: str, cwd: Path) -> dict:
    """Run ``code`` in a fresh interpreter in ``cwd``; it prints one JSON line last."""
    return fresh_interpreter_json(code, cwd=cwd, timeout=300)


def _after_cli(argv: list[str], cwd: Path) -> dict:
    code = ("import contextlib, io, json, sys\nfrom dqmask.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n"
            f"        rc = main({argv!r})\n"
            "    except SystemExit as exc:\n"
            "        rc = exc.code\n"
            f"print(json.dumps({{'rc': rc, 'modules': sorted(m for m in sys.modules "
            f"if m.split('.')[0] in {HEAVY + ('numpy', 'astropy', 'rich')!r} "
            "or m.startswith('dqmask.'))}))\n")
    return _run(code, cwd)


def _tops(modules: list[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def _small_hst(folder: Path) -> dict[str, Path]:
    """A forced-subarray ACS/WFC chip, a UVIS one and an IR one (SIP area, no PAM files)."""
    rng = np.random.default_rng(5)
    sip = {"A_2_0": 2e-7, "B_0_2": 1e-7}

    def chip(shape):
        sci = rng.normal(100.0, 30.0, shape).astype(np.float32)
        dq = np.zeros(shape, np.int16)
        dq[1, 1], dq[2, 2] = 4, 2048
        return sci, dq

    acs_sci, acs_dq = chip((40, 50))
    uvis_sci, uvis_dq = chip((40, 50))
    ir_sci, ir_dq = chip((30, 30))
    return {
        "acs": hst_flt(folder / "a_flt.fits", "ACS", "WFC", [acs_sci], [acs_dq], ccdchips=[1],
                       sip=sip, goodmax=3000.0),
        "uvis": hst_flt(folder / "u_flt.fits", "WFC3", "UVIS", [uvis_sci], [uvis_dq],
                        ccdchips=[2], sip=sip, goodmax=3000.0, primary={"NCOMBINE": 1}),
        "ir": hst_flt(folder / "i_flt.fits", "WFC3", "IR", [ir_sci], [ir_dq], sip=sip,
                      goodmax=3000.0, primary={"NSAMP": 14, "NCOMBINE": 1}),
    }


@pytest.mark.parametrize(("argv", "sample"), [
    (["acsmask", "-wfc1sub=0,0"], "acs"),
    (["wfc3mask", "-uvis2sub=0,0"], "uvis"),
    (["wfc3mask", "-irsub=0,0"], "ir"),
    (["splitgroups"], "acs"),
])
def test_hst_dolphot_run_imports_no_jwst_scipy_or_plotting_package(tmp_path, argv, sample):
    files = _small_hst(tmp_path)
    seen = _after_cli([*argv, "-q", str(files[sample])], tmp_path)
    assert seen["rc"] == 0
    assert _tops(seen["modules"]) & set(HEAVY) == set()
    ours = set(seen["modules"])
    assert "dqmask.dolphot.jwst" not in ours and "dqmask.dolphot.jwst_core" not in ours
    if argv[0] == "splitgroups":  # a plain file: card images and copied bytes only
        assert _tops(seen["modules"]) & {"numpy", "astropy"} == set()
        assert not {"dqmask.dolphot.files", "dqmask.io.fits", "dqmask.dolphot.hst"} & ours
        assert len(list(tmp_path.glob("a_flt.chip*.fits"))) == 3  # the work did run
    else:
        assert {"numpy", "astropy"} <= _tops(seen["modules"])  # the work did run


def test_splitgroups_of_a_gz_file_goes_through_astropy(tmp_path):
    import gzip

    plain = _small_hst(tmp_path)["acs"]
    packed = tmp_path / "z_flt.fits.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    seen = _after_cli(["splitgroups", "-q", str(packed)], tmp_path)
    assert seen["rc"] == 0
    assert {"numpy", "astropy"} <= _tops(seen["modules"])  # the full FITS check ran
    with fits.open(plain) as hdul:
        for n in (1, 2, 3):
            chip = fits.getdata(tmp_path / f"z_flt.chip{n}.fits")
            assert chip.dtype == hdul[n].data.dtype and np.array_equal(chip, hdul[n].data)


def test_dolphot_modules_import_no_heavy_package_and_no_rich(tmp_path):
    names = [f"dqmask.dolphot.{m}" for m in
             (*DOLPHOT_PURE, "plans", "hst", "splitgroups", "files")]
    code = ("import importlib, json, sys\n"
            f"for name in {names!r}:\n"
            "    importlib.import_module(name)\n"
            f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            f"{HEAVY + ('rich',)!r})))\n")
    assert _run(code, tmp_path) == []


@pytest.mark.parametrize("command", ["nircammask", "nirissmask", "acsmask", "wfc3mask",
                                     "splitgroups", "dolphot"])
def test_dolphot_command_help_imports_neither_numpy_nor_astropy(tmp_path, command):
    seen = _after_cli([command, "--help"], tmp_path)
    assert seen["rc"] == 0
    assert _tops(seen["modules"]) & {"numpy", "astropy", *HEAVY} == set()
    assert not [m for m in seen["modules"] if m.startswith("dqmask.dolphot.")
                and m != "dqmask.dolphot.cli"]


def test_pure_modules_do_not_read_the_jwst_flag_table_at_import(tmp_path):
    code = ("import json, sys\nimport dqmask.flags as flags\n"
            + "".join(f"import dqmask.dolphot.{m}\n" for m in DOLPHOT_PURE)
            + "print(json.dumps([flags.JWST_PIXEL._entries is not None, "
              "'stdatamodels' in sys.modules]))\n")
    assert _run(code, tmp_path) == [False, False]


# --------------------------------------------------------------------------------------------
# pixel area without scipy
# --------------------------------------------------------------------------------------------


def _scipy_convolve2d():
    return pytest.importorskip("scipy.signal", reason="scipy is the reference here").convolve2d


@pytest.mark.parametrize("shapes", [((1, 1), (1, 1)), ((3, 3), (3, 3)), ((5, 5), (5, 5)),
                                    ((2, 4), (4, 2)), ((6, 6), (6, 6)), ((3, 9), (2, 9))])
def test_poly_product_is_scipy_convolve2d_to_the_bit(shapes):
    convolve2d = _scipy_convolve2d()
    rng = np.random.default_rng(len(shapes[0]) * 10 + shapes[1][1])
    for _ in range(50):
        a = rng.normal(size=shapes[0]) * 10.0 ** rng.integers(-12, 3, size=shapes[0])
        b = rng.normal(size=shapes[1]) * 10.0 ** rng.integers(-12, 3, size=shapes[1])
        a[rng.random(shapes[0]) < 0.3] = 0.0
        want, got = convolve2d(a, b), pixel_area.poly_product(a, b)
        assert np.array_equal(want, got)
        assert np.array_equal(np.signbit(want), np.signbit(got))  # even the zeros' signs


def test_sip_pixel_area_of_a_real_acs_header_is_unchanged_without_scipy():
    """The float32 map equals the one computed with scipy's convolve2d, bit for bit."""
    convolve2d = _scipy_convolve2d()
    from dqmask.dolphot.hst import _sip_coeffs

    head = fits.getheader(shared_file("hst_acs_wfc_j94f05bgq_flt_ZEROED_DATA.fits.gz"),
                          ("SCI", 2))
    a, b = _sip_coeffs(head, "A"), _sip_coeffs(head, "B")
    cd = np.array([[head["CD1_1"], head["CD1_2"]], [head["CD2_1"], head["CD2_2"]]])
    crpix = (head["CRPIX1"], head["CRPIX2"])
    real = pixel_area.poly_product
    try:
        pixel_area.poly_product = convolve2d  # the arithmetic as it was
        before = pixel_area.sip_pixel_area((2048, 4096), crpix, cd, a, b, nominal_scale=0.05)
    finally:
        pixel_area.poly_product = real
    after = pixel_area.sip_pixel_area((2048, 4096), crpix, cd, a, b, nominal_scale=0.05)
    assert head["A_ORDER"] == 4 and after.dtype == np.float32
    assert np.array_equal(before.view(np.uint32), after.view(np.uint32))


# --------------------------------------------------------------------------------------------
# the FLT fast path
# --------------------------------------------------------------------------------------------


def test_keepsat_flt_prepare_leaves_the_callers_dq_masks_alone():
    """A -keepsat pixel pushed above SATURATE by the PAM is saturated in the result, and
    the caller's DQ mask is not modified (it used to be OR-ed into ``dq_sat`` in place)."""
    sci = np.array([[10.0, 2900.0, 50.0]], np.float32)
    dq_bad = np.zeros(sci.shape, bool)
    dq_sat = np.array([[False, False, True]])
    pam = np.array([[1.0, 1.2, 1.0]], np.float32)
    before = dq_sat.copy()
    p = hst_core.hst_flt_prepare(sci, dq_bad, dq_sat, pam, goodmin=0.0, goodmax=1000.0,
                                 mult=0.5, masksat=False)
    assert p.sat.tolist() == [[False, True, True]]  # 2900 * 1.2 / 0.5 > SATURATE
    assert p.notes == ["1 good pixels outside the thresholds after PAM scaling masked"]
    assert np.array_equal(dq_sat, before)


@pytest.mark.parametrize("dtype", [">i2", "<i2", ">u2", "<u2", ">i4", "<u4"])
def test_dq_rules_are_the_same_in_every_byte_order_and_width(dtype):
    rng = np.random.default_rng(7)
    dq = rng.integers(0, 65536, size=(37, 41)).astype(np.uint16)
    dq[rng.random(dq.shape) < 0.5] = 0
    native = dq.view(np.int16)  # int16 as HST writes it, bit 15 set on some pixels
    want = hst_core.wfc3_dq_masks(native, ir=False, extra_bad=64)
    got = hst_core.wfc3_dq_masks(dq.astype(dtype) if dtype[1] == "u" else
                                 native.astype(dtype), ir=False, extra_bad=64)
    assert np.array_equal(want[0], got[0]) and np.array_equal(want[1], got[1])
    assert want[1].any() and want[0].any()


def test_a_pam_file_changed_between_files_of_one_run_is_read_again(tmp_path):
    """PAM files are opened once per process, but a rewritten one is not served stale."""
    from dqmask.dolphot.files import prepare_file

    sci = np.full((512, 512), 100.0, np.float32)
    dq = np.zeros(sci.shape, np.int16)
    a = hst_flt(tmp_path / "a_flt.fits", "ACS", "WFC", [sci], [dq], aperture="WFC1-512",
                ccdchips=[1], goodmax=3000.0)
    b = hst_flt(tmp_path / "b_flt.fits", "ACS", "WFC", [sci], [dq], aperture="WFC1-512",
                ccdchips=[1], goodmax=3000.0)
    root = pam_dir(tmp_path / "pam", {"acs/data/wfc1_pam.fits": np.ones((2048, 4096))})
    prepare_file(a, "acsmask", pam_dir=root)
    pam_dir(root, {"acs/data/wfc1_pam.fits": np.full((2048, 4096), 0.5)})
    os.utime(root / "acs" / "data" / "wfc1_pam.fits", ns=(1, 1))  # a different mtime
    prepare_file(b, "acsmask", pam_dir=root)
    with fits.open(a) as ha, fits.open(b) as hb:
        assert ha[1].data[5, 5] == np.float32(100.0 / 0.951763)
        assert hb[1].data[5, 5] == np.float32(100.0 * 0.5 / 0.951763)


def test_run_wide_options_are_built_from_their_declarations():
    """--output-dir, --pam-dir, --dry-run, --jobs, --scheduler: parsed and documented from
    their Option declarations; DOLPHOT's own flags keep DOLPHOT's spelling."""
    from dqmask.dolphot import cli
    from dqmask.errors import UsageError
    from dqmask.pipeline import options as shared_options

    plan = cli.parse_tokens(["-keepcr", "a.fits", "--jobs=3", "--pam-dir", "P", "--dry-run"],
                            "acsmask")
    assert (plan.jobs, plan.pam_dir, plan.dry_run) == (3, "P", True)
    assert plan.files[0][1].keepcr is True
    with pytest.raises(UsageError, match="not a number"):
        cli.parse_tokens(["a.fits", "-j", "two"], "acsmask")
    assert {o.cli_flag for o in cli.RUN_OPTIONS} == {
        "--output-dir", "--pam-dir", "--dry-run", "--jobs", "--scheduler"}
    assert cli.JOBS.cli_help_text() == "process files in N worker processes (default 1)"
    assert cli.JOBS is shared_options.JOBS  # one declaration, shared with every batch command


def test_splitgroups_kernel_copy_and_plain_reads_write_the_same_bytes(tmp_path, monkeypatch):
    from dqmask.dolphot import splitgroups as sg

    rng = np.random.default_rng(9)
    sci = [rng.normal(0, 1, (300, 257)).astype(np.float32) for _ in range(2)]
    src = hst_flt(tmp_path / "s_flt.fits", "ACS", "WFC", sci, [np.zeros((300, 257))] * 2,
                  ccdchips=[2, 1])
    kernel = sg.splitgroups(src, tmp_path / "kernel")
    monkeypatch.setattr(sg, "_KERNEL_COPY", [False])
    plain = sg.splitgroups(src, tmp_path / "plain")
    assert len(kernel) == len(plain) == 6  # SCI, ERR, DQ of two chips
    for a, b in zip(kernel, plain, strict=True):
        assert Path(a).read_bytes() == Path(b).read_bytes()
    with fits.open(kernel.outputs[0]) as h:
        assert np.array_equal(h[0].data, sci[0])


def test_chips_prepared_in_threads_write_the_same_file_as_one_after_the_other(
        tmp_path, monkeypatch):
    from dqmask.dolphot import hst
    from dqmask.dolphot.files import prepare_file

    rng = np.random.default_rng(11)
    shape = (2048, 4096)
    scis = [rng.normal(100.0, 400.0, shape).astype(np.float32) for _ in range(2)]
    dqs = [rng.choice(np.array([0] * 30 + [4, 256, 2048, 4096], np.int16), size=shape)
           for _ in range(2)]
    src = hst_flt(tmp_path / "w_flt.fits", "ACS", "WFC", scis, dqs, ccdchips=[2, 1],
                  goodmax=3000.0, sip={"A_2_0": 2e-7, "B_0_2": 1e-7})
    threads = prepare_file(src, "acsmask", output=tmp_path / "threads.fits")
    monkeypatch.setattr(hst.os, "cpu_count", lambda: 1)  # one chip after the other
    serial = prepare_file(src, "acsmask", output=tmp_path / "serial.fits")
    assert (tmp_path / "threads.fits").read_bytes() == (tmp_path / "serial.fits").read_bytes()
    assert threads.images == 2 and threads.bad == serial.bad > 0 and threads.saturated > 0


@pytest.mark.parametrize("sample, routine, sub", [("acs", "acsmask", "wfc1"),
                                                  ("uvis", "wfc3mask", "uvis2"),
                                                  ("ir", "wfc3mask", "ir")])
def test_prepared_file_is_the_same_whether_every_copied_card_is_verified_or_not(
        tmp_path, monkeypatch, sample, routine, sub):
    """A plain input the FITS scan vouches for is written without astropy's whole-file
    verify (only the cards dqmask adds are verified): the output bytes must be those of the
    full verify, and astropy must find nothing to fix in them."""
    from astropy.io import fits

    from dqmask.dolphot import files as dolfiles
    from dqmask.dolphot.plans import MaskOptions

    src = _small_hst(tmp_path)[sample]
    options = MaskOptions(subarray=(sub, 0, 0))  # as -wfc1sub=0,0 ...
    seen: list[bool] = []
    real = dolfiles.standard_as_read

    def spy(hdul):
        seen.append(real(hdul))
        return seen[-1]

    monkeypatch.setattr(dolfiles, "standard_as_read", spy)
    fast = dolfiles.prepare_file(src, routine, options, output=tmp_path / "fast.fits")
    monkeypatch.setattr(dolfiles, "standard_as_read", lambda hdul: False)
    full = dolfiles.prepare_file(src, routine, options, output=tmp_path / "full.fits")
    assert seen == [True]  # the fast route was taken
    assert Path(fast.output).read_bytes() == Path(full.output).read_bytes()
    with fits.open(fast.output) as hdul:
        hdul.verify("exception")
