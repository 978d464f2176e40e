"""``dqmask dqinit`` imports only what its job needs (issue 14 items 1 and 3): the import
sets of whole processes, never their time.

A plain ``dqmask dqinit UNCAL --mask MASK`` needs numpy and astropy.io.fits, nothing of the
region, morphology or jwst machinery; ``dqmask dqinit --help`` needs neither numpy nor astropy.
Each process runs with a ``sys.meta_path`` watcher recording, for every heavy package, the
modules that were executing when it was first imported (its import chain), so that a failure
says who brought it in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dqmask.datasets import make_nircam_uncal
from dqmask.dq_init.mask_ref import write_mask_ref, write_user_dq
from dqmask.tests.helpers import fresh_interpreter_json

#: Not needed by dq_init's own modules, whatever the JWST flag table is loaded from.
NOT_OURS = ("scipy", "regions", "photutils", "astropy.nddata", "jwst", "matplotlib")
#: Brought in today by ``dqmask.flags`` (JWST tables from stdatamodels, hence asdf) and by
#: ``dqmask.cli._common`` (rich); absent once those shared modules load them lazily.
SHARED_CHAINS = ("stdatamodels", "asdf", "rich")
#: Other jobs' file-level modules (regions, scipy.ndimage, astropy.nddata behind them).
OTHER_JOBS = ("dqmask.apply.files", "dqmask.io.regions", "dqmask.toolbox.morphology",
              "dqmask.static.files")

_PROBE = """
import json, sys
WATCH = {watch!r}
chains = {{}}

class Watcher:
    def find_spec(self, name, path=None, target=None):
        if name in WATCH and name not in chains:
            chain, frame = [], sys._getframe(1)
            while frame is not None:
                mod = frame.f_globals.get("__name__", "")
                if mod and not mod.startswith(("importlib", "_frozen_importlib")) \\
                        and (not chain or chain[-1] != mod):
                    chain.append(mod)
                frame = frame.f_back
            chains[name] = chain
        return None

sys.meta_path.insert(0, Watcher())
import contextlib, io
from dqmask.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        code = main({argv!r})
    except SystemExit as exc:
        code = exc.code
print(json.dumps({{"code": code,
                  "loaded": {{m: chains.get(m, []) for m in WATCH if m in sys.modules}},
                  "ours": sorted(m for m in sys.modules if m.startswith("dqmask."))}}))
"""


def _run(argv: list[str]) -> dict:
    """Run ``dqmask ARGV`` in a fresh interpreter; its exit code and import sets."""
    watch = (*NOT_OURS, *SHARED_CHAINS, "numpy", "astropy")
    return fresh_interpreter_json(_PROBE.format(watch=watch, argv=argv), timeout=300)


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> dict[str, Path]:
    """A generated NIRCam subarray uncal, a full-frame MASK for it and a user DQ."""
    folder = tmp_path_factory.mktemp("dqinit_imports")
    uncal = make_nircam_uncal(folder / "jw_x_uncal.fits", ngroups=2, shape=(64, 64))
    std = np.zeros((2048, 2048), np.uint32)
    std[:4, :] = 2**31  # REFERENCE_PIXEL
    std[10, 10] = 1 | 2048  # DO_NOT_USE + HOT
    mask = folder / "mask.fits"
    write_mask_ref(mask, std, instrument="NIRCAM", detector="NRCA1")
    user = folder / "user_dq.fits"
    udq = np.zeros((64, 64), np.uint32)
    udq[20, 20] = 1
    write_user_dq(user, udq)
    return {"uncal": uncal, "mask": mask, "user_dq": user, "folder": folder}


@pytest.fixture(scope="module", params=["plain", "user_dq"])
def dqinit_run(request, sample) -> dict:
    """``dqmask dqinit UNCAL --mask MASK -o OUT`` (and with ``--user-dq``), run once each."""
    out = sample["folder"] / f"out_{request.param}.fits"
    argv = ["dqinit", str(sample["uncal"]), "--mask", str(sample["mask"]), "-o", str(out),
            "-q"]
    if request.param == "user_dq":
        argv += ["--user-dq", str(sample["user_dq"])]
    seen = _run(argv)
    assert seen["code"] == 0
    assert out.is_file()
    return seen


@pytest.mark.parametrize("name", NOT_OURS)
def test_dqinit_imports_nothing_heavy_of_its_own(dqinit_run, name):
    chain = dqinit_run["loaded"].get(name)
    assert chain is None, f"{name} imported through {chain}"


def test_dqinit_imports_no_other_jobs_file_code(dqinit_run):
    assert [m for m in OTHER_JOBS if m in dqinit_run["ours"]] == []
    families = [m for m in dqinit_run["ours"] if m.endswith(".cli") and m != "dqmask.cli"]
    assert families == ["dqmask.dq_init.cli"]


@pytest.mark.parametrize("name", SHARED_CHAINS)
def test_dqinit_imports_neither_jwst_datamodels_nor_rich(dqinit_run, name):
    assert name not in dqinit_run["loaded"], dqinit_run["loaded"][name]


def test_dqinit_help_imports_neither_numpy_nor_astropy():
    seen = _run(["dqinit", "--help"])
    assert seen["code"] == 0
    assert [m for m in ("numpy", "astropy") if m in seen["loaded"]] == []
    assert [m for m in seen["ours"] if m.startswith("dqmask.dq_init.")] == [
        "dqmask.dq_init.cli", "dqmask.dq_init.options"]
