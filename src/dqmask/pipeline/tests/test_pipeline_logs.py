"""dqmask's own log messages (``dqmask.*`` loggers, from the file-level code a step runs)
reach the step's log, in stpipe's format, once: under ``Step.call`` and when the step is a
hook of a jwst step, whose logging set-up does not name ``dqmask``."""

from __future__ import annotations

import logging

import numpy as np
import pytest

pytest.importorskip("jwst", reason="jwst is not importable: these tests run its steps")

from dqmask import datasets as sample  # noqa: E402
from dqmask.apply.step import ApplyStep  # noqa: E402
from dqmask.dq_init.mask_ref import write_mask_ref  # noqa: E402

ROOT = "jw01727044001_04101_00001_nrcb1"
#: The off-image warning of dqmask.io.regions, as stpipe formats it ("time - name - ...").
WARNING = ("- dqmask.io.regions - WARNING - off.reg: region 2 (rectangle) lies entirely off "
           "the 64x64 image; ignored")


@pytest.fixture(autouse=True)
def fresh_dqmask_logger():
    """The ``dqmask`` logger as a new process has it: earlier tests that ran the command line
    in this process leave the CLI's console handler on it (a second destination on purpose,
    which would print these lines twice)."""
    ours = logging.getLogger("dqmask")
    saved = (list(ours.handlers), ours.level, ours.propagate)
    for handler in saved[0]:
        ours.removeHandler(handler)
    ours.setLevel(logging.NOTSET)
    ours.propagate = True
    yield
    for handler in list(ours.handlers):
        ours.removeHandler(handler)
    for handler in saved[0]:
        ours.addHandler(handler)
    ours.setLevel(saved[1])
    ours.propagate = saved[2]


@pytest.fixture
def no_crds(monkeypatch, tmp_path):
    import stpipe.crds_client as cc

    def refuse(parameters, reference_file_types, observatory):
        raise AssertionError(f"CRDS reached for {reference_file_types}")

    monkeypatch.setenv("STPIPE_DISABLE_CRDS_STEPPARS", "true")
    monkeypatch.setenv("CRDS_SERVER_URL", "https://crds.invalid")
    monkeypatch.setenv("CRDS_PATH", str(tmp_path / "crds"))
    monkeypatch.setattr(cc, "get_multiple_reference_paths", refuse)
    monkeypatch.setattr(cc, "get_context_used", lambda observatory: "local")
    monkeypatch.chdir(tmp_path)
    # one shape on the 64x64 frame, one off it: dqmask.io.regions warns about the second
    (tmp_path / "off.reg").write_text("image\nbox(20.5,30.5,10,6,0)\nbox(200.5,300.5,10,6,0)\n")
    return tmp_path


def _once(lines: list[str], text: str) -> int:
    return sum(text in line for line in lines)


def _dqmask_logger_untouched() -> None:
    ours = logging.getLogger("dqmask")
    assert ours.handlers == []
    assert ours.level == logging.NOTSET


def test_warning_of_a_hook_reaches_the_step_log_once(no_crds, capsys, caplog):
    """As a post hook of jwst's dq_init the step runs under dq_init's logging set-up.

    Before: the warning was printed bare (no time, logger or level), the INFO line on the
    flagged pixels was lost, and neither was in the step's ``log_records``."""
    from jwst.dq_init import DQInitStep

    uncal = sample.make_nircam_uncal(no_crds / f"{ROOT}_uncal.fits", shape=(64, 64),
                                     ngroups=3, seed=1)
    write_mask_ref(no_crds / "mask_ref.fits", np.zeros((2048, 2048), np.uint32),
                   instrument="NIRCAM", detector="NRCA1")
    hook = ApplyStep(region="off.reg")
    DQInitStep.call(str(uncal), override_mask="mask_ref.fits", post_hooks=[hook])
    assert _once(hook.log_records, WARNING) == 1
    assert _once(hook.log_records, "- dqmask.pipeline._base - INFO - "
                                   f"{ROOT}_uncal.fits: 60 of 4096 pixels masked") == 1
    err = capsys.readouterr().err.splitlines()
    assert _once(err, "off.reg: region 2") == 1  # printed once ...
    assert _once(err, WARNING) == 1  # ... in stpipe's format
    assert [r.getMessage() for r in caplog.records if r.name == "dqmask.io.regions"] == [
        "off.reg: region 2 (rectangle) lies entirely off the 64x64 image; ignored"]
    _dqmask_logger_untouched()


def test_warning_under_step_call_reaches_the_step_log_once(no_crds, capsys):
    """``Step.call`` / ``strun`` name ``dqmask`` among the loggers stpipe configures (as
    before): the routing adds nothing there, so no line comes twice."""
    rate = sample.make_nircam_rate(no_crds / f"{ROOT}_rate.fits", shape=(64, 64), seed=3)
    result = ApplyStep.call(str(rate), region="off.reg")  # the class call configures logs
    assert _once(list(result.cal_logs.dqmask_apply), WARNING) == 1  # the step's log_records
    err = capsys.readouterr().err.splitlines()
    assert _once(err, "off.reg: region 2") == 1
    assert _once(err, WARNING) == 1
    _dqmask_logger_untouched()


def test_routing_adds_nothing_when_dqmask_already_reaches_stpipes_handlers():
    """stpipe's base ``Step`` configures the root logger: ``dqmask`` records reach its
    handlers by propagation, so adding them again would print every line twice."""
    from dqmask.pipeline._base import dqmask_logs_to_stpipe

    root = logging.getLogger()
    handler = logging.NullHandler()
    root.addHandler(handler)
    try:
        with dqmask_logs_to_stpipe():
            assert logging.getLogger("dqmask").handlers == []
    finally:
        root.removeHandler(handler)


def test_routing_is_undone_after_the_block():
    from dqmask.pipeline._base import dqmask_logs_to_stpipe

    stpipe_log = logging.getLogger("stpipe")
    handler = logging.NullHandler()
    stpipe_log.addHandler(handler)
    previous = stpipe_log.level
    stpipe_log.setLevel(logging.INFO)
    try:
        with dqmask_logs_to_stpipe():
            ours = logging.getLogger("dqmask")
            assert ours.handlers == [handler]
            assert ours.level == logging.INFO
        _dqmask_logger_untouched()
    finally:
        stpipe_log.removeHandler(handler)
        stpipe_log.setLevel(previous)
