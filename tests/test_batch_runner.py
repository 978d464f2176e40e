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


def test_scheduler_option_reaches_run_batch_calls_that_omit_it(monkeypatch):
    import argparse

    monkeypatch.delenv(_common.SCHEDULER_ENV, raising=False)
    parser = argparse.ArgumentParser()
    add_batch_options(parser)
    args = parser.parse_args(["--jobs", "3", "--scheduler", "tcp://x:1"])
    assert batch_options(args) == {"jobs": 3, "scheduler": "tcp://x:1"}
    assert _common._state["scheduler"] == "tcp://x:1"
    add_batch_options(argparse.ArgumentParser())  # a new parser forgets it
    assert _common._state["scheduler"] is None
