"""``python -m dqmask.demo``: samples, explain, every command's demo hook, exit code."""

from __future__ import annotations

import io
import subprocess
import sys
import types
from pathlib import Path

import pytest
from rich.console import Console

from dqmask import datasets as sample
from dqmask import demo


def _console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=200, highlight=False, color_system=None), buf


def _module(name: str, hook) -> types.ModuleType:
    mod = types.ModuleType(f"dqmask.cli.cmd_{name}")
    if hook is not None:
        vars(mod)["demo"] = hook  # a command module's optional hook (ModuleType declares none)
    return mod


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> dict[str, Path]:
    return sample.make_all(tmp_path_factory.mktemp("demo-samples"), small=True)


def test_small_demo_runs_every_hook_and_exits_0(tmp_path, samples):
    # in-process (the samples fixture saves writing them again); every real hook must pass
    console, buf = _console()
    code = demo.run_demo(tmp_path / "out", small=True, verbose=True, console=console,
                         samples=samples)
    text = buf.getvalue()
    assert code == 0, text[-6000:]
    assert "dqmask explain" in text and "all " in text
    for name, _ in demo.hooks():
        assert f"dqmask {name}" in text
        assert (tmp_path / "out" / name).is_dir()


def test_module_entry_point(tmp_path, monkeypatch, samples):
    # python -m dqmask.demo OUTDIR --small: samples go to OUTDIR/samples, small=True
    seen: dict[str, object] = {}

    def fake_make_all(outdir, *, small=False):
        seen.update(outdir=Path(outdir), small=small)
        return samples

    monkeypatch.setattr(demo.sample, "make_all", fake_make_all)
    monkeypatch.setattr(demo, "hooks", lambda modules=None: [])
    assert demo.main([str(tmp_path / "d"), "--small"]) == 0
    assert seen == {"outdir": tmp_path / "d" / "samples", "small": True}


def test_python_dash_m_help():
    proc = subprocess.run([sys.executable, "-m", "dqmask.demo", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "--small" in proc.stdout


def test_failing_hook_is_reported_and_demo_goes_on(tmp_path, samples):
    calls: list[str] = []

    def good(workdir: Path, samples: dict[str, Path], say) -> None:
        assert workdir.is_dir() and workdir.name == "good"
        assert set(samples) == set(sample.SAMPLE_KEYS)
        say("good hook ran on " + samples["nircam_cal"].name)
        calls.append("good")

    def bad(workdir: Path, samples: dict[str, Path], say) -> None:
        calls.append("bad")
        raise ValueError("deliberate failure")

    mods = [_module("bad", bad), _module("nohook", None), _module("good", good)]
    console, buf = _console()
    code = demo.run_demo(tmp_path, small=True, modules=mods, console=console, samples=samples)
    text = buf.getvalue()
    assert code == 1
    assert calls == ["bad", "good"]  # the failure did not stop the next hook
    assert "FAILED bad: ValueError: deliberate failure" in text
    assert "good hook ran on jw09999001001_02101_00001_nrca1_cal.fits" in text
    assert "1 of 3 demo steps failed: bad" in text
    assert "nohook" not in text


def test_all_hooks_ok_exit_0(tmp_path, samples):
    console, buf = _console()
    mods = [_module("fine", lambda workdir, samples, say: say("fine"))]
    assert demo.run_demo(tmp_path, small=True, modules=mods, console=console,
                         samples=samples) == 0
    assert "all 2 demo steps ran" in buf.getvalue()
