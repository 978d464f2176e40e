"""Start-up imports only what is used: the import sets, never the time (issue 14 item 1)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import dqmask
from dqmask.cli import COMMAND_FAMILIES, COMMANDS, build_parser

SRC = Path(dqmask.__file__).resolve().parents[1]
HEAVY = ("numpy", "astropy", "scipy", "stdatamodels", "asdf", "regions", "photutils",
         "matplotlib")


def _modules_after(code: str) -> dict[str, list[str]]:
    """Run ``code`` in a fresh interpreter; which heavy and dqmask modules it imported."""
    probe = code + (
        "\nimport json, sys\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "ours = sorted(m for m in sys.modules if m.startswith('dqmask.'))\n"
        "print(json.dumps({'heavy': heavy, 'ours': ours}))\n")
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _cli(*argv: str) -> str:
    return ("import contextlib, io\nfrom dqmask.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n"
            f"        main({list(argv)!r})\n"
            "    except SystemExit:\n"
            "        pass\n")


@pytest.mark.parametrize("argv", [["--version"], ["--help"]])
def test_version_and_help_import_neither_numpy_nor_astropy(argv):
    seen = _modules_after(_cli(*argv))
    assert seen["heavy"] == []
    assert not [m for m in seen["ours"] if m.endswith((".cli", "cli_explain", "cli_preview"))
                and m != "dqmask.cli"]


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
