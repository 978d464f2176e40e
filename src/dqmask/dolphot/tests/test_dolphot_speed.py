"""The DOLPHOT fast path (issue 14): block reads, any byte order, big-endian output buffer.

The numbers must stay those of the plain in-memory computation; speed itself is measured
in benchmarks/bench_dolphot.py, never here.
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits

from dqmask.dolphot import hst_core
from dqmask.dolphot.tests.test_dolphot_builders import hst_flt, pam_dir

f32 = np.float32


def _chip(shape: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sci = rng.normal(100.0, 400.0, shape).astype(f32)
    sci.flat[::97] = np.nan
    sci.flat[::89] = 5000.0  # above GOODMAX
    dq = rng.choice(np.array([0] * 20 + [4, 256, 2048, 4096, 64], np.int16), size=shape)
    pam = (0.9 + 0.2 * rng.random(shape)).astype(f32)
    return sci, dq, pam


def test_hst_flt_prepare_big_endian_inputs_and_out_buffer_give_the_same_numbers():
    sci, dq, pam = _chip((300, 257), 1)  # rows span several blocks of _row_blocks
    bad, sat = hst_core.acs_dq_masks(dq)
    goodmin, goodmax, mult = -23.456789, 3000.0, 0.951763
    native = hst_core.hst_flt_prepare(sci, bad, sat, pam, goodmin=goodmin, goodmax=goodmax,
                                      mult=mult)
    out = np.empty(sci.shape, dtype=">f4")
    swapped = hst_core.hst_flt_prepare(sci.astype(">f4"), bad, sat, pam.astype(">f4"), out=out,
                                       goodmin=goodmin, goodmax=goodmax, mult=mult)
    assert swapped.values is out and out.dtype == np.dtype(">f4")
    assert np.array_equal(swapped.values, native.values)
    assert np.array_equal(swapped.bad, native.bad) and np.array_equal(swapped.sat, native.sat)
    assert (swapped.badpix, swapped.saturate) == (native.badpix, native.saturate)
    assert np.count_nonzero(native.bad) > 0 and np.count_nonzero(native.sat) > 0


def test_hst_flt_prepare_leaves_a_float64_pam_untouched():
    sci, dq, pam = _chip((70, 64), 2)
    pam64 = pam.astype(np.float64)
    before = pam64.copy()
    bad, sat = hst_core.acs_dq_masks(dq)
    hst_core.hst_flt_prepare(sci, bad, sat, pam64, goodmin=-20.0, goodmax=3000.0, mult=0.9)
    assert np.array_equal(pam64, before)  # the block is divided in a copy, never in place


def test_acsmask_reads_a_float64_pam_file_as_float32_like_dolphot(tmp_path, run_cli):
    sci, dq, _ = _chip((512, 512), 3)
    rng = np.random.default_rng(4)
    pam = 0.9 + 0.2 * rng.random((2048, 4096))  # float64, not float32 numbers
    a = hst_flt(tmp_path / "a_flt.fits", "ACS", "WFC", [sci], [dq], aperture="WFC1-512",
                ccdchips=[1], goodmax=3000.0)
    b = hst_flt(tmp_path / "b_flt.fits", "ACS", "WFC", [sci], [dq], aperture="WFC1-512",
                ccdchips=[1], goodmax=3000.0)
    root64 = tmp_path / "pam64"
    (root64 / "acs" / "data").mkdir(parents=True)
    fits.PrimaryHDU(pam).writeto(root64 / "acs" / "data" / "wfc1_pam.fits")  # BITPIX -64
    root32 = pam_dir(tmp_path / "pam32", {"acs/data/wfc1_pam.fits": pam.astype(f32)})
    assert run_cli("acsmask", "--pam-dir", root64, a)[0] == 0
    assert run_cli("acsmask", "--pam-dir", root32, b)[0] == 0
    with fits.open(a) as ha, fits.open(b) as hb:
        assert np.array_equal(ha[1].data, hb[1].data)
        assert ha[1].header["BADPIX"] == hb[1].header["BADPIX"]
        assert ha[1].header["SATURATE"] == hb[1].header["SATURATE"]
        # by hand: a pixel of the cut at offset (3584, 1536), usable and not masked
        y, x = np.argwhere(~np.isnan(sci) & (dq == 0) & (sci > 0) & (sci < 2000))[0]
        factor = np.float64(f32(pam[1536 + y, 3584 + x])) / 0.951763
        assert ha[1].data[y, x] == f32(np.float64(sci[y, x]) * factor)


def test_dolphot_command_module_imports_neither_numpy_nor_astropy():
    """Registering the DOLPHOT commands (all ``--help`` needs) loads no numeric stack: the
    step module is imported when a file is processed."""
    from dqmask.tests.helpers import fresh_interpreter_json

    code = ("import json, sys, dqmask.dolphot.cli\n"
            "print(json.dumps([m for m in ('numpy', 'astropy', 'stdatamodels') "
            "if m in sys.modules]))")
    assert fresh_interpreter_json(code) == []
