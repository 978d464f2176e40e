"""run_batch: process pool, dask scheduler, per-file errors at the end, skipped files."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from dqmask.cli import _common
from dqmask.cli._common import add_batch_options, batch_options, run_batch
from dqmask.errors import AlreadyDoneError, InputError


def _touch_worker(path: str, out_dir: str) -> str:
    """Write OUT_DIR/<name>.done; fail on names with 'bad', skip names with 'done'."""
    name = Path(path).name
    if "bad" in name:
        raise InputError(path, "corrupt on purpose")
    if "done" in name:
        raise AlreadyDoneError(path, "test")
    Path(out_dir, name + ".done").write_text(name)
    return f"{path}: ok"


def _inputs(n: int) -> list[str]:
    names = [f"f{i:02d}.fits" for i in range(n)]
    names[3] = "f03_bad.fits"
    names[5] = "f05_done.fits"
    return names


@pytest.mark.parametrize("jobs", [1, 2])
def test_errors_reported_at_end_others_done(tmp_path, capsys, jobs):
    paths = _inputs(8)
    code = run_batch(paths, functools.partial(_touch_worker, out_dir=str(tmp_path)), jobs=jobs)
    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{p}.done" for p in paths if "bad" not in p and "done" not in p)
    assert err[-2:] == ["dqmask: f03_bad.fits: corrupt on purpose",
                        "dqmask: 1 of 8 inputs failed: f03_bad.fits"]
    assert any("already processed by dqmask test; skipped" in line for line in err)


def test_all_good_exit_zero(tmp_path, capsys):
    paths = ["a.fits", "b.fits"]
    assert run_batch(paths, functools.partial(_touch_worker, out_dir=str(tmp_path)), jobs=2) == 0
    assert sorted(capsys.readouterr().out.split()) == ["a.fits:", "b.fits:", "ok", "ok"]


def test_dask_local_cluster(tmp_path, capsys):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        paths = _inputs(6)
        code = run_batch(paths, functools.partial(_touch_worker, out_dir=str(tmp_path)),
                         scheduler=cluster.scheduler_address)
    assert code == 1
    assert len(list(tmp_path.iterdir())) == 4
    assert capsys.readouterr().err.splitlines()[-1] == (
        "dqmask: 1 of 6 inputs failed: f03_bad.fits")


def test_unreachable_scheduler_is_a_usage_error(tmp_path):
    dask = pytest.importorskip("dask")
    from dqmask.errors import UsageError

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), \
            pytest.raises(UsageError, match="cannot reach the dask scheduler"):
        run_batch(["a.fits", "b.fits"], functools.partial(_touch_worker, out_dir=str(tmp_path)),
                  scheduler="tcp://127.0.0.1:9")


def test_batch_options_carry_jobs_and_scheduler(monkeypatch):
    import argparse

    monkeypatch.delenv(_common.SCHEDULER_ENV, raising=False)
    parser = argparse.ArgumentParser()
    add_batch_options(parser)
    args = parser.parse_args(["--jobs", "3", "--scheduler", "tcp://x:1"])
    assert batch_options(args) == {"jobs": 3, "scheduler": "tcp://x:1"}
    assert batch_options(parser.parse_args([])) == {"jobs": 1, "scheduler": None}


def test_scheduler_default_comes_from_the_environment(monkeypatch):
    import argparse

    monkeypatch.setenv(_common.SCHEDULER_ENV, "tcp://cluster:8786")
    parser = argparse.ArgumentParser()
    add_batch_options(parser)
    assert batch_options(parser.parse_args([]))["scheduler"] == "tcp://cluster:8786"


@pytest.fixture(scope="module")
def batch_inputs(tmp_path_factory) -> dict[str, str]:
    """A small rate, a small uncal and its MASK reference (real files: commands check
    their inputs before the batch starts)."""
    import numpy as np

    from dqmask.datasets import make_nircam_rate, make_nircam_uncal
    from dqmask.dq_init.mask_ref import write_mask_ref

    d = tmp_path_factory.mktemp("batch_inputs")
    rate = make_nircam_rate(d / "r_rate.fits", shape=(64, 64))
    uncal = make_nircam_uncal(d / "u_uncal.fits", shape=(64, 64), ngroups=2)
    mask = d / "mask.fits"
    write_mask_ref(mask, np.zeros((2048, 2048), np.uint32), instrument="NIRCAM",
                   detector="NRCA1")
    return {"rate": str(rate), "uncal": str(uncal), "mask": str(mask), "dir": str(d)}


@pytest.mark.parametrize("argv", [
    ["apply", "{rate}", "--region", "r.reg", "--scheduler", "tcp://x:1"],
    ["dqinit", "{uncal}", "--mask", "{mask}", "--scheduler", "tcp://x:1"],
    ["preview", "{rate}", "{uncal}", "--output-dir", "{dir}/png", "--scheduler", "tcp://x:1"],
    ["acsmask", "--scheduler", "tcp://x:1", "{rate}"],
])
def test_every_batch_command_hands_its_scheduler_to_run_batch(monkeypatch, argv,
                                                               batch_inputs):
    from dqmask import cli

    seen: dict[str, object] = {}

    def fake_run_batch(paths, worker, *, jobs=1, label="", scheduler=None):
        seen.update(paths=list(paths), scheduler=scheduler)
        return 0

    for mod in cli.command_modules():
        if hasattr(mod, "run_batch"):
            monkeypatch.setattr(mod, "run_batch", fake_run_batch)
    assert cli.main([a.format(**batch_inputs) for a in argv]) == 0
    assert seen["scheduler"] == "tcp://x:1"
    assert seen["paths"]


def test_preview_creates_a_missing_output_dir_for_one_file(batch_inputs, run_cli, tmp_path):
    out = tmp_path / "new" / "dir"
    code, _, err = run_cli("preview", batch_inputs["rate"], "--output-dir", out)
    assert code == 0, err
    assert (out / "r_rate_preview.png").is_file()
