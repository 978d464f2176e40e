"""dqmask steps inside the real jwst pipeline: as hooks of DQInitStep, and through ``strun``.

CRDS is never reached: the MASK reference is written locally and passed as ``override_mask``,
CRDS parameter references are disabled, and the reference look-up functions are replaced by
ones that fail the test if called (in this process by monkeypatch, in ``strun`` subprocesses
by a ``sitecustomize`` on their PYTHONPATH).

``strun`` finds the steps through the ``stpipe.steps`` entry point, which needs package
metadata. When the installed dqmask does not declare it yet (the shared venv points at another
checkout), the subprocesses get a throw-away ``*.dist-info`` with the same entry point on
their PYTHONPATH instead of re-installing the package.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("jwst")

from stdatamodels.jwst import datamodels  # noqa: E402

from dqmask import datasets as sample  # noqa: E402
from dqmask.apply import core as alg
from dqmask.apply.step import ApplyStep  # noqa: E402
from dqmask.dq_init.mask_ref import write_mask_ref  # noqa: E402
from dqmask.flags import JWST_PIXEL  # noqa: E402

SRC = Path(__file__).resolve().parents[4] / "src"
BIN = Path(sys.executable).parent
ROOT = "jw01727044001_04101_00001_nrcb1"
DNU, OBP = JWST_PIXEL["DO_NOT_USE"], JWST_PIXEL["OTHER_BAD_PIXEL"]
ENTRY_POINT = "dqmask.pipeline:get_steps"
DETECTOR1_OTHER_STEPS = (
    "group_scale", "emicorr", "saturation", "ipc", "superbias", "refpix", "rscd", "firstframe",
    "lastframe", "linearity", "dark_current", "reset", "persistence", "charge_migration",
    "jump", "picture_frame", "clean_flicker_noise", "ramp_fit", "gain_scale")

SITECUSTOMIZE = '''"""dqmask test shim: the jwst pipeline must never reach CRDS."""
import stpipe.crds_client as _cc


def _no_crds(parameters, reference_file_types, observatory):
    if reference_file_types:
        raise RuntimeError(f"CRDS reached for {reference_file_types}")
    return {}


_cc.get_context_used = lambda observatory: "local-test-no-crds"
_cc.get_multiple_reference_paths = _no_crds
'''


@pytest.fixture
def exposure(tmp_path):
    """A 64x64 NIRCam uncal, a local MASK reference with one bad pixel, a box region."""
    uncal = sample.make_nircam_uncal(tmp_path / f"{ROOT}_uncal.fits", shape=(64, 64),
                                     ngroups=3, seed=1)
    ref = np.zeros((2048, 2048), np.uint32)
    ref[1000, 1000] = DNU
    write_mask_ref(tmp_path / "mask_ref.fits", ref, instrument="NIRCAM", detector="NRCA1")
    (tmp_path / f"{ROOT}_claws.reg").write_text("image\nbox(20.5,30.5,10,6,0)\n")
    bad = np.zeros((64, 64), bool)
    bad[27:33, 15:25] = True
    return uncal, tmp_path / "mask_ref.fits", bad


def test_apply_as_post_hook_of_dq_init_flags_pixeldq(exposure, monkeypatch, tmp_path):
    import stpipe.crds_client as cc
    from jwst.dq_init import DQInitStep

    uncal, mask_ref, bad = exposure
    monkeypatch.setenv("STPIPE_DISABLE_CRDS_STEPPARS", "true")
    monkeypatch.setenv("CRDS_SERVER_URL", "https://crds.invalid")
    monkeypatch.setenv("CRDS_PATH", str(tmp_path / "crds"))

    def refuse(parameters, reference_file_types, observatory):
        raise AssertionError(f"CRDS reached for {reference_file_types}")

    monkeypatch.setattr(cc, "get_multiple_reference_paths", refuse)
    monkeypatch.setattr(cc, "get_context_used", lambda observatory: "local")
    monkeypatch.chdir(tmp_path)
    plain = DQInitStep.call(str(uncal), override_mask=str(mask_ref))
    hooked = DQInitStep.call(str(uncal), override_mask=str(mask_ref),
                             post_hooks=[ApplyStep(region="{root}_claws.reg")])
    assert hooked.pixeldq.dtype == np.uint32
    np.testing.assert_array_equal(hooked.pixeldq, alg.or_flags(plain.pixeldq, bad, DNU | OBP))
    assert hooked.meta.cal_step.dq_init == "COMPLETE"
    assert hooked.meta.cal_step.dqmask_apply == "COMPLETE"


# ----------------------------------------------------------------------------------- strun


def _needs_shim() -> bool:
    eps = importlib.metadata.entry_points(group="stpipe.steps")
    return not any(ep.value == ENTRY_POINT for ep in eps)


@pytest.fixture
def strun_env(tmp_path) -> dict[str, str]:
    """Environment of a ``strun`` subprocess: our src, the no-CRDS shim, the entry point."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(SITECUSTOMIZE)
    if _needs_shim():
        info = shim / "dqmask_stpipe_test_shim-0.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: dqmask-stpipe-test-shim\nVersion: 0.0\n")
        (info / "entry_points.txt").write_text(f"[stpipe.steps]\ndqmask = {ENTRY_POINT}\n")
    env = dict(os.environ)
    env.update(PYTHONPATH=os.pathsep.join([str(shim), str(SRC)]),
               STPIPE_DISABLE_CRDS_STEPPARS="true", CRDS_SERVER_URL="https://crds.invalid",
               CRDS_PATH=str(tmp_path / "crds"))
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_stpipe_lists_the_dqmask_aliases(strun_env, tmp_path):
    done = _run([str(BIN / "stpipe"), "list"], strun_env, tmp_path)
    for line in ("dqmask.apply.step.ApplyStep (dqmask_apply)",
                 "dqmask.claws.step.ClawsStep (dqmask_claws)",
                 "dqmask.nsclean.step.BackgroundStep (dqmask_background)",
                 "dqmask.dq_init.step.UserDqStep (dqmask_user_dq)"):
        assert line in done.stdout


def test_strun_dqmask_apply_on_a_rate_file(strun_env, tmp_path):
    rate = sample.make_nircam_rate(tmp_path / f"{ROOT}_rate.fits", shape=(64, 64), seed=3)
    (tmp_path / f"{ROOT}_claws.reg").write_text("image\nbox(20.5,30.5,10,6,0)\n")
    _run([str(BIN / "strun"), "dqmask_apply", rate.name, "--region={root}_claws.reg",
          "--save_results=true"], strun_env, tmp_path)
    out = tmp_path / f"{ROOT}_masked.fits"
    bad = np.zeros((64, 64), bool)
    bad[27:33, 15:25] = True
    with datamodels.open(rate) as before, datamodels.open(out) as after:
        np.testing.assert_array_equal(after.dq, alg.or_flags(before.dq, bad, DNU | OBP))
        assert after.meta.cal_step.dqmask_apply == "COMPLETE"


def test_strun_post_hook_inside_calwebb_detector1(exposure, strun_env, tmp_path):
    uncal, mask_ref, bad = exposure
    # stpipe splits a hook string at its last '.', so a '.' inside the arguments must be
    # written as the Python escape \x2e (see docs/pipeline.md).
    hook = r"dqmask.apply.step.ApplyStep(region='{root}_claws\x2ereg'),"
    skips = [f"--steps.{s}.skip=true" for s in DETECTOR1_OTHER_STEPS]
    _run([str(BIN / "strun"), "calwebb_detector1", uncal.name,
          f"--steps.dq_init.override_mask={mask_ref.name}",
          f"--steps.dq_init.post_hooks={hook}", *skips, "--output_dir=out"],
         strun_env, tmp_path)
    with datamodels.open(tmp_path / "out" / f"{ROOT}_ramp.fits") as ramp:
        expected = np.zeros((64, 64), np.uint32)  # the MASK reference flags nothing here
        expected[bad] = DNU | OBP
        np.testing.assert_array_equal(ramp.pixeldq, expected)
        assert ramp.meta.cal_step.dq_init == "COMPLETE"
        assert ramp.meta.cal_step.dqmask_apply == "COMPLETE"


def test_strun_save_parameters_with_a_region_list_and_run_from_the_file(strun_env, tmp_path):
    rate = sample.make_nircam_rate(tmp_path / f"{ROOT}_rate.fits", shape=(64, 64), seed=3)
    (tmp_path / f"{ROOT}_claws.reg").write_text("image\nbox(20.5,30.5,10,6,0)\n")
    _run([str(BIN / "strun"), "dqmask_apply", rate.name, "--region={root}_claws.reg",
          "--save-parameters", "dqmask_apply.asdf"], strun_env, tmp_path)
    import asdf

    with asdf.open(tmp_path / "dqmask_apply.asdf") as af:
        assert af["class"] == "dqmask.apply.step.ApplyStep"
        assert af["parameters"]["region"] == ["{root}_claws.reg"]
        assert af["parameters"]["max_fraction"] == 0.5
    with datamodels.open(tmp_path / f"{ROOT}_masked.fits") as first:
        expected = first.dq.copy()
    (tmp_path / f"{ROOT}_masked.fits").unlink()
    _run([str(BIN / "strun"), "dqmask_apply.asdf", rate.name], strun_env, tmp_path)
    with datamodels.open(rate) as before, datamodels.open(tmp_path / f"{ROOT}_masked.fits") as out:
        assert out.meta.cal_step.dqmask_apply == "COMPLETE"
        assert np.count_nonzero(out.dq != before.dq) == 60  # the 10 x 6 box
        np.testing.assert_array_equal(out.dq, expected)
