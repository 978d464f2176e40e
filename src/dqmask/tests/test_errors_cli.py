"""Error policy and CLI basics: one-line errors on a malformed corpus, exit codes, --help.

Every malformed input must give exit code 1, exactly one line ``dqmask: FILE: problem`` on
stderr (a traceback only with -v), and must be byte-identical afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import re
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from astropy.io import fits
from hypothesis import given, settings
from hypothesis import strategies as st

import dqmask.toolbox.cli_explain as cmd_explain
from dqmask import __version__
from dqmask.cli import build_parser, command_modules, main
from dqmask.errors import AlreadyDoneError, DqmaskError, InputError, UsageError
from dqmask.io.fits import classify
from dqmask.tests.malformed import Case, build_corpus, fits_bytes, valid_hst_hdul, valid_jwst_hdul

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
CASE_NAMES = [
    "text_file", "empty_file", "truncated_header", "truncated_data", "missing_end", "garbage",
    "garbage_extension", "jwst_primary_only", "jwst_missing_sci", "hst_missing_sci",
    "jwst_float_dq", "hst_float_dq", "table_no_telescop", "directory", "nonexistent",
    "gzip_corrupt", "gzip_truncated", "unsupported_telescope", "unsupported_instrument",
    "jwst_missing_instrume", "jwst_empty_sci", "jwst_dq_wrong_shape",
    "bad_extver", "dq_def_without_value", "nul_in_comment", "nan_naxis", "trailing_garbage", "bad_bitpix",
    "fifo", "naxis_999", "zero_pixels", "blank_end", "telescope_instrument_contradict",
    "gz_claims_4gib", "permission_denied",
]
#: Cases that are valid FITS a program can classify; only a DQ consumer rejects them.
CLASSIFIABLE = {"dq_def_without_value"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Iterator[dict[str, Case]]:
    cases = build_corpus(tmp_path_factory.mktemp("malformed"))
    yield cases
    cases["permission_denied"].path.chmod(0o600)  # let pytest clean up


def _state(path: Path) -> str:
    """Content digest of a file, or what the path is when it is not a readable file."""
    if path.is_dir():
        return "dir:" + ",".join(sorted(os.listdir(path)))
    if not path.exists():
        return "absent"
    st = path.stat()
    if not stat.S_ISREG(st.st_mode):  # a FIFO: reading it would wait for a writer
        return f"special:{st.st_mode:o}"
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() + f":{st.st_mode:o}"
    except PermissionError:
        return f"unreadable:{st.st_size}:{st.st_mtime_ns}:{st.st_mode:o}"


def _skip_if_root_reads(case: Case) -> None:
    if case.name == "permission_denied" and IS_ROOT:
        pytest.skip("running as root: a mode-000 file is still readable "
                    "(covered by test_permission_denied_simulated)")


def test_corpus_is_big_enough(corpus):
    assert len(corpus) >= 15
    assert sorted(corpus) == sorted(CASE_NAMES)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_explain_malformed_one_line_exit_1_untouched(corpus, run_cli, name):
    case = corpus[name]
    _skip_if_root_reads(case)
    before = _state(case.path)
    code, out, err = run_cli("explain", case.path)
    assert code == 1, (out, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"dqmask: {case.path}: "), lines[0]
    problem = lines[0][len(f"dqmask: {case.path}: "):]
    assert problem.strip() and case.problem in problem.lower(), problem
    assert "Traceback" not in err
    assert out == ""
    assert _state(case.path) == before


@pytest.mark.parametrize("name", sorted(set(CASE_NAMES) - CLASSIFIABLE))
def test_classify_raises_input_error(corpus, name):
    case = corpus[name]
    _skip_if_root_reads(case)
    with pytest.raises(InputError) as err:
        classify(case.path)
    assert err.value.path == os.fspath(case.path)
    assert "\n" not in err.value.oneline()


def test_verbose_shows_traceback_and_still_one_error_line(corpus, run_cli):
    case = corpus["truncated_data"]
    before = _state(case.path)
    for argv in (("explain", "-v", case.path), ("-v", "explain", case.path)):
        code, _, err = run_cli(*argv)
        assert code == 1
        assert "Traceback" in err
        assert err.rstrip().splitlines()[-1].startswith(f"dqmask: {case.path}: truncated")
    assert _state(case.path) == before


def test_all_bad_inputs_reported_and_good_ones_still_processed(corpus, run_cli):
    items = [c.path for n, c in corpus.items()
             if not (n == "permission_denied" and IS_ROOT)]
    code, out, err = run_cli("explain", "1073741825", *items, "3")
    assert code == 1
    lines = err.splitlines()
    assert len(lines) == len(items)
    assert [ln.split(": ")[1] for ln in lines] == [str(p) for p in items]
    assert "1073741825 = 1073741825 = DO_NOT_USE + OTHER_BAD_PIXEL" in out
    assert "3 = 3 = DO_NOT_USE + SATURATED" in out


def test_permission_denied_simulated(tmp_path, monkeypatch, run_cli):
    """The open failing with EACCES (what a non-root user meets)."""
    import dqmask.io.files

    path = tmp_path / "locked.fits"
    fits.PrimaryHDU().writeto(path)
    before = _state(path)

    def refuse(name, *args, **kwargs):
        raise PermissionError(13, "Permission denied", getattr(name, "name", name))

    monkeypatch.setattr(dqmask.io.files, "_opener", refuse)
    code, out, err = run_cli("explain", path)
    assert code == 1 and out == ""
    assert err.splitlines() == [f"dqmask: {path}: permission denied"]
    assert _state(path) == before


def test_bad_flag_value_is_one_line(run_cli):
    code, out, err = run_cli("explain", "NOT_A_FLAG")
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith("dqmask: NOT_A_FLAG: unknown flag name 'NOT_A_FLAG'")


# --------------------------------------------------------------------------------------------
# Exit codes from main()
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    (),
    ("no-such-command",),
    ("explain",),
    ("explain", "--table", "nope", "4"),
    ("explain", "--bogus-option", "4"),
    ("--bogus-option",),
])
def test_usage_errors_exit_2(run_cli, argv):
    code, out, err = run_cli(*argv)
    assert code == 2
    assert "dqmask: error:" in err or "usage:" in err
    assert "Traceback" not in err


def test_usage_error_raised_by_a_command_exits_2(run_cli, monkeypatch):
    def bad_usage(args):
        raise UsageError("-o/--output needs exactly one input")

    monkeypatch.setattr(cmd_explain, "run", bad_usage)
    code, _, err = run_cli("explain", "4")
    assert code == 2
    assert err.splitlines() == ["dqmask: error: -o/--output needs exactly one input"]


def test_oserror_from_a_command_is_one_line(run_cli, monkeypatch):
    def cannot_write(args):
        raise PermissionError(13, "Permission denied", "/nowhere/out.fits")

    monkeypatch.setattr(cmd_explain, "run", cannot_write)
    code, _, err = run_cli("explain", "4")
    assert code == 1
    assert err.splitlines() == ["dqmask: /nowhere/out.fits: Permission denied"]


def test_already_done_from_a_command_exits_0(run_cli, monkeypatch):
    def done(args):
        raise AlreadyDoneError("x_rate.fits", "apply")

    monkeypatch.setattr(cmd_explain, "run", done)
    code, out, err = run_cli("explain", "4")
    assert code == 0 and out == ""
    assert err.splitlines() == [
        "dqmask: x_rate.fits: already processed by dqmask apply; skipped (use --force)"]
    assert run_cli("explain", "-q", "4") == (0, "", "")


def test_version(run_cli):
    code, out, err = run_cli("--version")
    assert code == 0
    assert out.strip() == f"dqmask {__version__}"


def test_quiet_silences_results(run_cli):
    assert run_cli("explain", "-q", "3")[:2] == (0, "")
    assert run_cli("-q", "explain", "3")[:2] == (0, "")


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_every_command_module_registers_a_command():
    modules = command_modules()
    assert modules and all(m.__name__.rsplit(".", 1)[1].startswith("cli") for m in modules)
    assert "explain" in _subcommands()
    assert len(_subcommands()) >= len(modules)
    for mod in modules:
        assert callable(mod.register) and callable(mod.run), mod.__name__


def _subcommand_names() -> list[str]:
    # At collection time: a command module that fails to import must not hide every other
    # test of this file; test_every_command_module_registers_a_command reports it instead.
    try:
        return sorted(_subcommands())
    except Exception:
        return ["explain"]


@pytest.mark.parametrize("name", _subcommand_names())
def test_every_command_help_exits_0(run_cli, name):
    code, out, err = run_cli(name, "--help")
    assert code == 0, err
    assert re.search(rf"usage: dqmask {re.escape(name)}\b", out), out[:200]
    assert "-v, --verbose" in out and "-q, --quiet" in out  # built with parents=[common]


def test_main_help_lists_every_command(run_cli):
    code, out, _ = run_cli("--help")
    assert code == 0
    for name in _subcommands():
        assert name in out


# --------------------------------------------------------------------------------------------
# Exceptions
# --------------------------------------------------------------------------------------------


def test_input_error_is_always_one_line():
    exc = InputError("a/b.fits", "line one\n  line two\ttabbed ")
    assert exc.oneline() == "a/b.fits: line one line two tabbed"
    assert str(exc) == exc.oneline()
    assert InputError(None, "no file").oneline() == "no file"
    assert InputError(Path("x.fits"), "p").path == "x.fits"


def test_input_error_is_a_value_error_as_in_jwst():
    # jwst's own steps raise ValueError for a bad input (e.g. a user DQ of the wrong shape);
    # code written against them catches dqmask's errors the same way
    with pytest.raises(ValueError, match="^u.fits: wrong shape$"):
        raise InputError("u.fits", "wrong shape")
    assert issubclass(InputError, DqmaskError)


def test_already_done_error_message():
    exc = AlreadyDoneError(Path("f.fits"), "apply")
    assert str(exc) == "f.fits: already processed by dqmask apply; skipped (use --force)"
    assert exc.step == "apply"


# --------------------------------------------------------------------------------------------
# run_batch: per-file errors, the others still processed
# --------------------------------------------------------------------------------------------


def _batch_worker(path: str) -> str:
    if path == "bad-input":
        raise InputError(path, "truncated FITS file")
    if path == "bug":
        raise RuntimeError("unexpected\nstate")
    if path == "done":
        raise AlreadyDoneError(path, "apply")
    return f"{path}: ok"


def test_run_batch_reports_each_failure_and_goes_on(capsys):
    from dqmask.cli._common import configure_logging, run_batch

    configure_logging(0, False)
    code = run_batch(["a", "bad-input", "bug", "done", "b"], _batch_worker)
    out, err = capsys.readouterr()
    assert code == 1
    assert out.splitlines() == ["a: ok", "b: ok"]
    lines = err.splitlines()
    assert "dqmask: bad-input: truncated FITS file" in lines
    assert ("dqmask: bug: internal error (RuntimeError: unexpected state); "
            "-v shows the traceback") in lines
    assert "dqmask: done: already processed by dqmask apply; skipped (use --force)" in lines
    assert "Traceback" not in err


def test_run_batch_all_ok_exit_0(capsys):
    from dqmask.cli._common import configure_logging, run_batch

    configure_logging(0, False)
    assert run_batch(["a", "done"], _batch_worker) == 0
    out, _ = capsys.readouterr()
    assert out.splitlines() == ["a: ok"]


# --------------------------------------------------------------------------------------------
# Fuzz: damaged copies of valid files never give a traceback
# --------------------------------------------------------------------------------------------

_VALID = [fits_bytes(valid_jwst_hdul()), fits_bytes(valid_hst_hdul())]
_NOISE = b"0123456789 =-'ABCDEFTXZ.\x00\xff"


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("byte", [b"0", b"A", b" "])
def test_damaged_xtension_card_is_one_line_input_error(tmp_path, which, byte):
    # found by hypothesis: 'XTENSION0 'IMAGE '' (the value indicator damaged) made astropy
    # warn while parsing the header, which surfaced as an "internal error"
    raw = bytearray(_VALID[which])
    raw[2880 + 8] = byte[0]
    path = tmp_path / "damaged.fits"
    path.write_bytes(bytes(raw))
    err = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", ResourceWarning)
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["explain", str(path)])
    lines = err.getvalue().splitlines()
    assert code == 1 and len(lines) == 1, lines
    assert lines[0].startswith(f"dqmask: {path}: ") and "corrupt" in lines[0]
    assert "internal error" not in lines[0]
    assert path.read_bytes() == bytes(raw)


def test_negative_axis_length_is_refused_quickly(tmp_path, run_cli):
    # 'NAXIS2 = - 32' made astropy read the same HDUs again and again (minutes, gigabytes)
    raw = bytearray(_VALID[0])
    card = raw.index(b"NAXIS2  =", 2880)
    raw[card + 26] = ord("-")
    assert raw[card:card + 30].endswith(b"- 32")
    path = tmp_path / "negative.fits"
    path.write_bytes(bytes(raw))
    code, _, err = run_cli("explain", path)
    assert code == 1 and len(err.splitlines()) == 1
    assert err.startswith(f"dqmask: {path}: ") and "internal error" not in err


@settings(max_examples=100, deadline=None)
@given(which=st.sampled_from([0, 1]), cut=st.none() | st.floats(0.0, 1.0),
       hits=st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(list(_NOISE))),
                     max_size=5))
def test_damaged_files_give_one_line_or_succeed(fuzz_dir, which, cut, hits):
    raw = bytearray(_VALID[which])
    starts = [i for i in range(0, len(raw), 2880) if raw[i:i + 8] in (b"SIMPLE  ", b"XTENSION")]
    for pos, byte in hits:  # damage header cards (the first 10 cards of some header)
        raw[starts[pos % len(starts)] + (pos // 7) % 800] = byte
    if cut is not None:
        raw = raw[: int(cut * len(raw))]
    path = fuzz_dir / "damaged.fits"
    path.write_bytes(bytes(raw))
    err, out = io.StringIO(), io.StringIO()
    with warnings.catch_warnings():
        # a warning would be extra stderr lines in a real run: make it fail here
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", ResourceWarning)
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = main(["explain", str(path)])
    lines = err.getvalue().splitlines()
    if code == 0:
        assert lines == [] and out.getvalue().startswith(f"{path}: ")
    else:
        assert code == 1
        assert len(lines) == 1 and lines[0].startswith(f"dqmask: {path}: "), lines
        assert "internal error" not in lines[0]
    assert path.read_bytes() == bytes(raw)
