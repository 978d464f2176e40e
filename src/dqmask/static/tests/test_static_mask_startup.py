"""What ``dqmask static`` pays besides its computation: the modules it imports and the work
of checking its inputs; counted, never timed (issue 14)."""

from __future__ import annotations

import numpy as np

from dqmask.static.tests.test_static_mask_inputs import hst_flt, sky_image
from dqmask.tests.helpers import fresh_interpreter_json

#: Never needed by a static mask (numpy and astropy.io.fits are).
NOT_NEEDED = ("scipy", "stdatamodels", "asdf", "regions", "photutils", "matplotlib", "jwst",
              "drizzlepac", "stsci", "astropy.nddata", "astropy.wcs", "astropy.table")


def _run_main(argv: list[str]) -> dict:
    """``dqmask ARGV`` in a fresh interpreter: its exit code and the modules it imported."""
    probe = ("import contextlib, io, json, sys\nfrom dqmask.cli import main\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n"
             "    try:\n"
             f"        code = main({argv!r})\n"
             "    except SystemExit as exc:\n"
             "        code = exc.code\n"
             "print(json.dumps({'code': code, 'modules': sorted(sys.modules)}))\n")
    return fresh_interpreter_json(probe)


def _loaded(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return [n for n in names if any(m == n or m.startswith(n + ".") for m in modules)]


def test_static_help_imports_neither_numpy_nor_astropy():
    seen = _run_main(["static", "--help"])
    assert seen["code"] == 0
    assert _loaded(seen["modules"], ("numpy", "astropy")) == []
    assert "dqmask.static.files" not in seen["modules"]


def test_a_static_run_imports_numpy_and_astropy_fits_only(tmp_path):
    rng = np.random.default_rng(4)
    dq = np.zeros((40, 60), np.int16)
    dq[3, 4] = 4
    paths = [hst_flt(tmp_path / f"jimp0{i}abq_flt.fits", "acs_wfc",
                     [sky_image(rng, (40, 60)), sky_image(rng, (40, 60))], dq=[dq, dq])
             for i in range(2)]
    out = tmp_path / "out"
    for extra in (["-j", "1"], ["-j", "2", "--good-flags", "~4"]):
        seen = _run_main(["static", *map(str, paths), "--output-name", "jimp_drz",
                          "--output-dir", str(out), "-q", *extra])
        assert seen["code"] == 0
        assert _loaded(seen["modules"], ("numpy", "astropy.io.fits")) == ["numpy",
                                                                          "astropy.io.fits"]
        assert _loaded(seen["modules"], NOT_NEEDED) == []
        assert sorted(p.name for p in out.iterdir()) == ["jimp_40x60_1_staticMask.fits",
                                                         "jimp_40x60_2_staticMask.fits"]


def test_options_module_holds_the_parameters_files_uses():
    from dqmask.static import core, files, options

    assert files.PARAMETERS is options.PARAMETERS
    assert options.DEFAULT_SIG == core.DEFAULT_SIG
    assert {o.name: o.default for o in options.PARAMETERS}["sig"] == core.DEFAULT_SIG


def test_checking_an_input_does_not_reserialise_its_headers(tmp_path, monkeypatch):
    """astropy's HDUList.fileinfo(i) writes every header out again to see whether one was
    resized; the check of each input asked it twice per HDU (about half its cost)."""
    from astropy.io import fits

    from dqmask.static.files import make_static_masks

    rng = np.random.default_rng(2)
    path = hst_flt(tmp_path / "jchk01abq_flt.fits", "acs_wfc",
                   [sky_image(rng, (40, 60)), sky_image(rng, (40, 60))])

    def refuse(self):
        raise AssertionError("headers re-serialised")

    monkeypatch.setattr(fits.HDUList, "_wasresized", refuse)
    result = make_static_masks([path], output_dir=tmp_path / "out", jobs=1)
    assert len(result.outputs) == 2
