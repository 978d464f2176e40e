"""Fixtures shared by the editor's tests: a sample cal file and editor servers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dqmask import datasets as sample
from dqmask.editor.server import EditorServer


@pytest.fixture(scope="module")
def cal_master(request, tmp_path_factory) -> Path:
    """A 256 x 256 NIRCam cal made once per module: its ``CAL = (file name, seed)``."""
    name, seed = request.module.CAL
    return sample.make_nircam_cal(tmp_path_factory.mktemp("cal") / name, shape=(256, 256),
                                  seed=seed)


@pytest.fixture
def cal(cal_master, tmp_path) -> Path:
    """A private copy: sessions autosaved beside it stay with this test."""
    folder = tmp_path / "data"
    folder.mkdir()
    return Path(shutil.copy(cal_master, folder / cal_master.name))


@pytest.fixture
def server():
    """Start an editor on given files; stopped (and autosaved) after the test."""
    apps = []

    def start(paths, **kwargs) -> EditorServer:
        app = EditorServer([str(p) for p in paths], **kwargs)
        app.start()
        apps.append(app)
        return app

    yield start
    for app in apps:
        app.shutdown()
