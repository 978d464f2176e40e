"""One public API: Python callers get ValueError / InputError naming the *parameter*;
only the command line spells parameters as flags (issue 13 items 3 and 5)."""

from __future__ import annotations

import ast
import builtins
import inspect
import re
from pathlib import Path

import numpy as np
import pytest

import dqmask
from dqmask import errors
from dqmask.errors import InputError, ParameterError

PACKAGE = Path(dqmask.__file__).parent
#: modules that are the command line (they may raise UsageError and write flag names)
_CLI = re.compile(r"(^cli/|/cli(_[a-z]+)?\.py$|^demo\.py$)")
_FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]+")


def _library_modules() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py"))
            if "tests" not in p.parts and not _CLI.search(p.relative_to(PACKAGE).as_posix())]


def _raised_texts(tree: ast.AST):
    """(line, exception name, string constants) of each ``raise X(...)``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            func = node.exc.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            texts = [c.value for c in ast.walk(node.exc)
                     if isinstance(c, ast.Constant) and isinstance(c.value, str)]
            yield node.lineno, name, texts


def test_no_library_function_raises_usage_error_or_names_a_flag():
    problems = []
    for path in _library_modules():
        for line, name, texts in _raised_texts(ast.parse(path.read_text())):
            where = f"{path.relative_to(PACKAGE)}:{line}"
            if name == "UsageError":
                problems.append(f"{where}: raises UsageError")
            problems += [f"{where}: {name} names {flag}" for text in texts
                         for flag in _FLAG.findall(text)]
    assert problems == []


def test_every_exception_is_in_errors_and_also_a_builtin():
    defined_elsewhere = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "tests" in path.parts or path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                    getattr(b, "id", getattr(b, "attr", "")).endswith(("Error", "Exception"))
                    for b in node.bases) and not node.name.startswith("_"):
                defined_elsewhere.append(f"{path.relative_to(PACKAGE)}: {node.name}")
    # subclasses that only specialise an errors.py class for one job are allowed
    allowed = {"dq_init/files.py: DqInitDone", "dolphot/files.py: AlreadyPrepared"}
    assert sorted(set(defined_elsewhere) - allowed) == []
    builtin = tuple(v for v in vars(builtins).values()
                    if isinstance(v, type) and issubclass(v, BaseException))
    for name in errors.__all__:
        cls = getattr(errors, name)
        if inspect.isclass(cls):
            assert issubclass(cls, errors.DqmaskError), name
            assert any(b in builtin and b is not Exception for b in cls.__mro__[1:]), name


def test_every_module_logs_under_its_own_name():
    fixed = [f"{p.relative_to(PACKAGE)}: {m}" for p in _library_modules()
             for m in re.findall(r"getLogger\(([^)]*)\)", p.read_text())
             if m not in ("__name__", "")]
    # the stpipe bridge (dqmask_logs_to_stpipe) names both loggers to join them; it logs nothing
    bridge = {'pipeline/_base.py: "dqmask"', 'pipeline/_base.py: "stpipe"'}
    assert sorted(set(fixed) - bridge) == []


def test_png2fits_border_error_names_the_parameter_for_python(tmp_path):
    from dqmask.nsclean.files import png2fits

    with pytest.raises(ValueError, match=r"^border must be >= 0, got -1$") as err:
        png2fits(tmp_path / "x.png", tmp_path / "x.fits", border=-1)
    assert isinstance(err.value, ParameterError) and err.value.parameter == "border"


def test_make_background_error_names_parameters_not_flags(tmp_path):
    from dqmask.nsclean.files import make_background

    with pytest.raises(ValueError) as err:
        make_background([tmp_path / "a_rate.fits"], tmp_path / "m.fits", n_sigma=-1)
    assert str(err.value) == "n_sigma must be >= 0, got -1"
    with pytest.raises(ValueError) as err:
        make_background([tmp_path / "a_rate.fits"], tmp_path / "m.fits",
                        per_integration=True)
    assert str(err.value) == "per_integration writes one mask per integration: use fmt jwst"


def test_grow_file_pixels_error_is_a_value_error_naming_pixels(tmp_path):
    from dqmask.toolbox.files import grow_file

    with pytest.raises(ParameterError, match=r"^pixels must be >= 0, got -2$"):
        grow_file(str(tmp_path / "m.fits"), str(tmp_path / "o.fits"), pixels=-2)


def test_the_cli_spells_the_same_errors_as_flags(tmp_path, run_cli):
    png = tmp_path / "x.png"
    png.write_bytes(b"")
    code, _, err = run_cli("png2fits", png, tmp_path / "x.fits", "--border", "-1")
    assert code == 2  # the range of the one description, checked while parsing
    assert err.strip().splitlines()[-1] == "dqmask: error: argument --border: must be >= 0"
    code, _, err = run_cli("background", tmp_path / "a_rate.fits", "-o", tmp_path / "m.fits",
                           "--per-integration")
    assert code == 2
    assert err.strip() == ("dqmask: error: --per-integration writes one mask per "
                           "integration: use --format jwst")


def test_input_error_parameter_and_mentions_are_spelled_by_the_caller():
    exc = InputError("a.fits", "is for NRCB1; use {ignore_detector} to apply it anyway",
                     mentions=("ignore_detector",))
    assert str(exc) == "a.fits: is for NRCB1; use ignore_detector to apply it anyway"
    assert exc.oneline(lambda n: "--" + n.replace("_", "-")) == (
        "a.fits: is for NRCB1; use --ignore-detector to apply it anyway")
    exc = InputError("f.fits", ": unknown flag name 'X'", parameter="dq_bits")
    assert str(exc) == "f.fits: dq_bits: unknown flag name 'X'"
    assert exc.oneline(lambda n: "--dq-bits") == "f.fits: --dq-bits: unknown flag name 'X'"
    # text that merely looks like a mention is left alone
    assert str(InputError("l.txt", "{root} of {x}")) == "l.txt: {root} of {x}"


def test_static_dq_bits_error_names_the_parameter(tmp_path):
    from dqmask.datasets.hst import make_acs_wfc_flt
    from dqmask.static.files import make_static_masks

    flt = tmp_path / "j_flt.fits"
    make_acs_wfc_flt(flt, shape=(64, 64))
    with pytest.raises(InputError) as err:
        make_static_masks([flt], good_flags="NOT_A_FLAG", output_dir=tmp_path)
    assert err.value.parameter == "good_flags"
    assert str(err.value).startswith(f"{flt}: good_flags: ") and "--" not in str(err.value)
    assert not list(tmp_path.glob("*staticMask*"))


def test_every_job_in_api_has_one_shape_and_a_frozen_result():
    import dataclasses
    import typing

    from dqmask import api

    assert set(api.JOBS) >= {"dqinit", "static", "dolphot", "background", "detect", "apply",
                             "combine", "grow", "convert", "regions", "preview"}
    for command, job in api.JOBS.items():
        assert callable(job), command
        params = list(inspect.signature(job).parameters.values())
        assert [p.name for p in params[:2]] == ["input", "output"], command
        assert params[1].default is None, command
        assert all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for p in params[2:]), command
        result = typing.get_type_hints(job)["return"]
        # __dataclass_params__ and the result's own summary() are not in typeshed's
        # DataclassInstance protocol, which is_dataclass narrows result to
        assert (dataclasses.is_dataclass(result)
                and result.__dataclass_params__.frozen), command  # type: ignore[union-attr]
        assert callable(result.summary), command  # type: ignore[union-attr]


def test_api_grow_writes_beside_the_input_and_returns_a_result(tmp_path):
    from astropy.io import fits

    from dqmask import api
    from dqmask.io.mask_file import write_mask

    mask = tmp_path / "m.fits"
    bad = np.zeros((8, 8), bool)
    bad[4, 4] = True
    write_mask(str(mask), [bad], "bad", step="test", params={})
    result = api.grow(mask, pixels=1, footprint="plus")
    assert result.output == str(tmp_path / "m_grown.fits")
    assert (result.masked, result.total) == (5, 64)
    assert result.summary() == (f"grow 1 px plus {mask} -> {result.output} (bad): "
                                "5 of 64 pixels bad (7.812%)")
    with pytest.raises(dataclasses_FrozenInstanceError()):
        result.masked = 0  # type: ignore[misc]
    assert fits.getdata(result.output).sum() == 5


def dataclasses_FrozenInstanceError():  # noqa: N802 - the exception class
    import dataclasses

    return dataclasses.FrozenInstanceError


def test_api_apply_reads_a_dq_mask_with_bad_flags_and_writes_beside(tmp_path):
    from astropy.io import fits

    from dqmask import api
    from dqmask.datasets.jwst import make_nircam_rate
    from dqmask.flags import JWST_PIXEL

    rate = tmp_path / "a_rate.fits"
    make_nircam_rate(rate, shape=(32, 32))
    dq_mask = tmp_path / "m.fits"
    dq = np.zeros((32, 32), np.uint32)
    dq[1, 1] = JWST_PIXEL["SATURATED"]
    dq[2, 2] = JWST_PIXEL["JUMP_DET"]
    fits.PrimaryHDU(dq).writeto(dq_mask)
    before = fits.getdata(rate, "DQ")
    result = api.apply(rate, mask=f"{dq_mask}@dq", bad_flags="SATURATED", flags="OTHER_BAD_PIXEL")
    assert result.output == str(tmp_path / "a_rate_masked.fits")
    changed = np.argwhere(fits.getdata(result.output, "DQ") != before).tolist()
    assert changed == [[1, 1]]


@pytest.mark.parametrize(("argv", "old", "new", "dest"), [
    (["apply", "t.fits", "--mask", "m.fits"], "--mask-flags", "--bad-flags", "bad_flags"),
    (["combine", "a.fits", "b.fits", "-o", "o.fits"], "--dq", "--bad-flags", "bad_flags"),
    (["grow", "a.fits", "--pixels", "1", "-o", "o.fits"], "--dq", "--bad-flags", "bad_flags"),
    (["regions", "a.fits", "-o", "o.reg"], "--dq", "--bad-flags", "bad_flags"),
    (["preview", "a.fits", "--mask", "m.fits"], "--mask-dq", "--bad-flags", "bad_flags"),
    (["static", "a_flt.fits"], "--dq-bits", "--good-flags", "good_flags"),
])
def test_one_name_per_idea_and_the_old_spelling_still_parses(argv, old, new, dest):
    from dqmask.cli import build_parser

    parser = build_parser(argv[0], lazy=True)
    by_old = parser.parse_args([*argv, old, "DO_NOT_USE"])
    by_new = parser.parse_args([*argv, new, "DO_NOT_USE"])
    assert getattr(by_old, dest) == getattr(by_new, dest) == "DO_NOT_USE"
    choices = next(a for a in parser._actions if a.dest == "command").choices
    assert isinstance(choices, dict)  # subparsers: name -> ArgumentParser
    sub = choices[argv[0]]
    (action,) = [a for a in sub._actions if new in a.option_strings]
    assert action.option_strings == [new, old]
    assert f"{old}: old name, deprecated" in action.help


def test_defaults_written_once_come_from_the_descriptions():
    from dqmask.claws.core import DetectParams
    from dqmask.cli import build_parser
    from dqmask.nsclean.files import PARAMETERS as NSCLEAN
    from dqmask.pipeline.options import MAX_FRACTION
    from dqmask.static.core import DEFAULT_SIG

    def defaults(command):
        parser = build_parser(command, lazy=True)
        choices = next(a for a in parser._actions if a.dest == "command").choices
        assert isinstance(choices, dict)  # subparsers: name -> ArgumentParser
        sub = choices[command]
        return {a.dest: a.default for a in sub._actions}

    ns = {o.name: o.default for o in NSCLEAN}
    assert defaults("static")["sig"] == DEFAULT_SIG
    assert defaults("background")["n_sigma"] == ns["n_sigma"]
    assert defaults("png2fits")["border"] == ns["border"]
    assert defaults("apply")["max_fraction"] == defaults("dqinit")["max_fraction"] == (
        MAX_FRACTION.default)
    assert defaults("detect")["sigma"] == DetectParams().sigma
    assert inspect.signature(
        __import__("dqmask.nsclean.files", fromlist=["x"]).make_background
    ).parameters["n_sigma"].default == ns["n_sigma"]


def test_python_callers_get_the_range_of_the_same_description(tmp_path):
    from dqmask.claws.core import DetectParams
    from dqmask.claws.files import detect_file

    with pytest.raises(ParameterError, match=r"^sigma must be > 0, got 0$"):
        detect_file(tmp_path / "x.fits", ["r.reg"], params=DetectParams(sigma=0))
