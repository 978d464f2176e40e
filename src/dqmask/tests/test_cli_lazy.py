"""Start-up imports only what is used: the import sets, never the time (issue 14 item 1)."""

from __future__ import annotations

import argparse
import sys

import pytest

import dqmask
from dqmask.cli import COMMAND_FAMILIES, COMMANDS, build_parser
from dqmask.tests.helpers import fresh_interpreter_json

HEAVY = ("numpy", "astropy", "scipy", "stdatamodels", "asdf", "regions", "photutils",
         "matplotlib")
#: What ``dqmask CMD --help`` must not import (issue 14 item 1): rich draws only on a terminal.
NOT_FOR_HELP = ("numpy", "astropy", "rich", "stdatamodels", "asdf", "scipy", "regions",
                "photutils")


def _modules_after(code: str, heavy: tuple[str, ...] = HEAVY) -> dict[str, list[str]]:
    """Run ``code`` in a fresh interpreter; which heavy and dqmask modules it imported."""
    probe = code + (
        "\nimport json, sys\n"
        f"heavy = [m for m in {heavy!r} if m in sys.modules]\n"
        "ours = sorted(m for m in sys.modules if m.startswith('dqmask.'))\n"
        "print(json.dumps({'heavy': heavy, 'ours': ours}))\n")
    return fresh_interpreter_json(probe)


def _cli(*argv: str) -> str:
    return ("import contextlib, io\nfrom dqmask.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n"
            f"        main({list(argv)!r})\n"
            "    except SystemExit:\n"
            "        pass\n")


@pytest.mark.parametrize("argv", [["--version"], ["--help"]])
def test_version_and_help_import_neither_numpy_nor_astropy(argv):
    seen = _modules_after(_cli(*argv), NOT_FOR_HELP)
    assert seen["heavy"] == []
    assert not [m for m in seen["ours"] if m.endswith((".cli", "cli_explain", "cli_preview"))
                and m != "dqmask.cli"]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_help_is_light(command):
    """``dqmask CMD --help`` is built from light Option lists: no numpy, astropy, rich..."""
    seen = _modules_after(_cli(command, "--help"), NOT_FOR_HELP)
    assert seen["heavy"] == []
    assert not [m for m in seen["ours"] if m.endswith((".files", ".core", ".step"))]


def test_a_run_off_a_terminal_draws_nothing_so_imports_no_rich(tmp_path):
    """Warnings, results and per-file errors of a batch are plain lines when stderr is not a
    tty: rich (progress bar, log handler) is not imported."""
    argv = ["apply", str(tmp_path / "a_rate.fits"), str(tmp_path / "b_rate.fits"),
            "--region", str(tmp_path / "r.reg")]
    seen = _modules_after("from dqmask.cli import main\n"
                          f"assert main({argv!r}) == 1  # both inputs missing: reported\n",
                          ("rich",))
    assert seen["heavy"] == []


def test_on_a_terminal_the_log_and_the_progress_bar_are_rich(monkeypatch):
    import io
    import logging

    from dqmask.cli import _common

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stderr", Tty())
    _common.configure_logging()
    try:
        holding = logging.getLogger("dqmask").handlers[0]
        assert isinstance(holding, _common._HoldingHandler)
        handler = holding.target
        assert isinstance(handler, _common._TerminalHandler)  # stderr is a terminal
        assert handler.rich is None  # nothing logged yet: rich not needed
        logging.getLogger("dqmask.test").warning("drawn by rich")
        assert type(handler.rich).__name__ == "RichHandler"
        with _common._progress("x", 2, show=True) as advance:
            advance()
        assert "rich.progress" in sys.modules
    finally:
        monkeypatch.undo()
        _common.configure_logging()


def test_off_a_terminal_log_records_are_one_plain_line(capsys):
    import logging

    from dqmask.cli import _common

    _common.configure_logging()
    logging.getLogger("dqmask.test").warning("a long warning " * 12)
    err = capsys.readouterr().err
    assert err == "WARNING  " + "a long warning " * 12 + "\n"


def test_light_option_lists_equal_the_heavy_modules_they_mirror():
    """Choices and defaults written as literals in the light option modules (so ``--help``
    imports no array module) are the ones the array and io modules use."""
    from dqmask.claws import core as claws_core
    from dqmask.claws import options as claws_options
    from dqmask.io import background_mask, mask_file, png
    from dqmask.nsclean import core as nsclean_core
    from dqmask.nsclean import options as nsclean_options
    from dqmask.pipeline import options
    from dqmask.toolbox import combine, morphology, preview, preview_core
    from dqmask.toolbox import options as toolbox_options

    assert options.READ_CONVENTIONS == mask_file.READ_CONVENTIONS
    assert options.MASK_CONVENTION.choices == mask_file.MASK_CONVENTIONS
    assert options.LIMITS.choices == png.LIMITS and options.STRETCH.choices == png.STRETCHES
    assert nsclean_options.FORMATS == background_mask.FORMATS
    assert nsclean_options.REFERENCE_BORDER == nsclean_core.REFERENCE_BORDER
    assert claws_options.COMPAT_MODES == claws_core.COMPAT_MODES
    defaults = claws_core.DetectParams()
    assert {o.name: o.default for o in claws_options.PARAMETERS} == {
        o.name: getattr(defaults, o.name) for o in claws_options.PARAMETERS}
    assert toolbox_options.OPERATIONS == combine.OPERATIONS
    assert toolbox_options.FOOTPRINTS == morphology.FOOTPRINTS
    assert toolbox_options.WRITE_CONVENTIONS == mask_file.WRITE_CONVENTIONS
    assert toolbox_options.MIN_SIZE == preview.MIN_SIZE
    assert toolbox_options.DEFAULT_COLOR == preview_core.DEFAULT_COLOR


def test_command_help_imports_its_family_only_and_no_jwst_tables_for_hst():
    seen = _modules_after(_cli("static", "--help"))
    families = {m for m in COMMAND_FAMILIES.values() if m in seen["ours"]}
    assert families == {"dqmask.static.cli"}
    assert "stdatamodels" not in seen["heavy"]


def test_import_dqmask_is_cheap_and_the_array_api_loads_on_use():
    seen = _modules_after("import dqmask")
    assert seen["heavy"] == [] and seen["ours"] == []
    from dqmask.conventions import from_bad, to_bad
    from dqmask.flags import decode, parse_flags
    from dqmask.toolbox.combine import combine
    from dqmask.toolbox.morphology import grow

    assert (dqmask.to_bad, dqmask.from_bad, dqmask.parse_flags, dqmask.decode, dqmask.grow,
            dqmask.combine) == (to_bad, from_bad, parse_flags, decode, grow, combine)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        dqmask.nope  # noqa: B018


def test_flags_load_the_jwst_tables_on_first_use_only():
    seen = _modules_after("from dqmask.flags import ACS, parse_flags\n"
                          "assert parse_flags('SATPIXEL', ACS) == ACS['SATPIXEL']\n")
    # (asdf itself may still come in: astropy.nddata, which parse_flags uses, loads asdf_astropy)
    assert "stdatamodels" not in seen["heavy"]
    seen = _modules_after("from dqmask.flags import JWST_PIXEL\n"
                          "assert JWST_PIXEL['DO_NOT_USE'] == 1\n")
    assert "stdatamodels" not in seen["heavy"]  # read from its source, not imported


def test_default_dq_flags_are_do_not_use_and_other_bad_pixel():
    from dqmask.conventions import DEFAULT_DQ_FLAGS
    from dqmask.flags import JWST_PIXEL

    assert DEFAULT_DQ_FLAGS == JWST_PIXEL["DO_NOT_USE"] | JWST_PIXEL["OTHER_BAD_PIXEL"]


def test_the_command_table_matches_what_each_family_registers():
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    registered = {a.dest: a.help for a in action._choices_actions}
    assert registered == {name: text for name, (_, text) in COMMANDS.items()}
    assert list(registered) == list(COMMANDS)  # same order in `dqmask --help`
    lazy = build_parser("acsmask", lazy=True)
    (action,) = [a for a in lazy._actions if isinstance(a, argparse._SubParsersAction)]
    assert {a.dest: a.help for a in action._choices_actions} == registered
