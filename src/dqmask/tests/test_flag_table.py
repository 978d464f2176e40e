"""The FlagTable type and how the JWST tables are read from stdatamodels' source."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from dqmask import flags
from dqmask.flags import (
    ACS,
    JWST_GROUP,
    JWST_PIXEL,
    STIS,
    TABLES,
    WFC3_IR,
    WFC3_UVIS,
    FlagTable,
    parse_flags,
    table_width,
)
from dqmask.tests.helpers import fresh_interpreter_json

HST = (ACS, WFC3_UVIS, WFC3_IR, STIS)


def _run(code: str) -> dict:
    return fresh_interpreter_json(code)


def test_reading_a_jwst_flag_imports_neither_stdatamodels_nor_asdf():
    seen = _run("import json, sys\n"
                "from dqmask import flags\n"
                "value = flags.JWST_PIXEL['SATURATED']\n"
                "text = flags.JWST_GROUP.description('JUMP_DET')\n"
                "print(json.dumps({'value': value, 'text': text, 'mods': [m for m in "
                "('stdatamodels', 'asdf', 'numpy', 'astropy') if m in sys.modules]}))\n")
    assert seen == {"value": 2, "text": "Jump detected during exposure", "mods": []}


def test_parse_flags_loads_no_astropy():
    seen = _run("import json, sys\n"
                "from dqmask.flags import ACS, parse_flags\n"
                "value = parse_flags('SATPIXEL,HOTPIX', ACS)\n"
                "print(json.dumps({'value': value, 'mods': [m for m in "
                "('stdatamodels', 'asdf', 'numpy', 'astropy') if m in sys.modules]}))\n")
    assert seen == {"value": 272, "mods": []}


# --------------------------------------------------------------------------------------------
# The type
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("table", "width"), [
    (JWST_PIXEL, 32), (JWST_GROUP, 8), (ACS, 16), (WFC3_UVIS, 16), (WFC3_IR, 16), (STIS, 16)])
def test_every_table_is_a_flag_table_with_its_width(table, width):
    assert isinstance(table, FlagTable)
    assert table.width == width == table_width(table)
    assert table.full == 2**width - 1
    assert TABLES[table.key] is table
    assert dict(table.names) == dict(table)


def test_flag_table_is_read_only():
    with pytest.raises(AttributeError, match="read-only"):
        ACS.width = 8  # type: ignore[misc]
    with pytest.raises(AttributeError, match="read-only"):
        ACS._entries = None
    with pytest.raises(TypeError):
        ACS.names["HOTPIX"] = 1  # type: ignore[index]
    with pytest.raises(TypeError):
        JWST_PIXEL.aliases["X"] = "DEAD"  # type: ignore[index]


def test_flag_table_refuses_a_value_that_is_not_one_bit_of_its_width():
    with pytest.raises(ValueError, match="not one bit of 16"):
        FlagTable("x", "X", 16, {"A": (3, "two bits")})
    with pytest.raises(ValueError, match="not one bit of 8"):
        FlagTable("x", "X", 8, {"A": (256, "too wide")})
    with pytest.raises(TypeError, match="exactly one"):
        FlagTable("x", "X", 8)


def test_every_flag_has_a_description():
    for table in TABLES.values():
        for name in table:
            assert table.description(name).strip(), (table.key, name)


@pytest.mark.parametrize(("table", "name", "text"), [
    (JWST_PIXEL, "DO_NOT_USE", "Bad pixel. Do not use."),
    (JWST_PIXEL, "reference_pixel", "Pixel is a reference pixel"),
    (JWST_PIXEL, "UNDERSAMP", "former name of CHARGELOSS: Charge migration (was RESERVED_4)"),
    (JWST_GROUP, "SATURATED", "Pixel saturated during exposure"),  # the pixel flag's text
    (ACS, "WARMPIX", "Warm pixel"),
    (WFC3_IR, "SPIKE", "Cosmic-ray spike detected during up-the-ramp fitting"),
    (ACS, "BIT15", "bit 15: no ACS flag"),
    (JWST_GROUP, "BIT4", "bit 4: no JWST group flag"),
])
def test_descriptions(table, name, text):
    assert table.description(name) == text


@pytest.mark.parametrize(("table", "name"), [(ACS, "NOPE"), (ACS, "BIT16"), (JWST_GROUP, "OUTLIER"),
                                             (JWST_GROUP, "RESERVED_1")])
def test_description_of_an_unknown_name_is_a_key_error(table, name):
    with pytest.raises(KeyError):
        table.description(name)


def test_aliases_resolve_but_never_in_the_faithful_mapping():
    assert JWST_PIXEL.aliases["UNDERSAMP"] == "CHARGELOSS"
    assert JWST_PIXEL.resolve("undersamp") == 128 == parse_flags("UNDERSAMP")
    assert "UNDERSAMP" not in JWST_PIXEL
    with pytest.raises(KeyError):
        JWST_PIXEL["UNDERSAMP"]  # noqa: B018
    # group aliases are those whose flag is a group flag
    assert set(JWST_GROUP.aliases) == {"RESERVED_2", "RESERVED_3", "RESERVED_4", "UNDERSAMP"}
    assert ACS.aliases == {}


def test_a_flag_table_equals_the_plain_mapping_it_holds():
    assert ACS == dict(ACS)
    assert JWST_PIXEL != ACS
    assert "FlagTable 'acs'" in repr(ACS)


# --------------------------------------------------------------------------------------------
# Reading stdatamodels' source
# --------------------------------------------------------------------------------------------

GOOD_SOURCE = '''
from x import y  # comment on an import line
pixel = {
    "GOOD": 0,  # all is good
    "A": 2**0,  # first
    "B": 1 << 1,
    "C": (2**2
          | 0),  # spans lines
}
group = {"GOOD": pixel["GOOD"], "A": pixel["A"]}
__all__ = ["pixel", "group"]
'''


def test_parse_dqflags_reads_values_and_comments():
    tables = flags._parse_dqflags(GOOD_SOURCE)
    assert tables["pixel"] == ({"GOOD": 0, "A": 1, "B": 2, "C": 4},
                               {"GOOD": "all is good", "A": "first", "B": "",
                                "C": "spans lines"})
    assert tables["group"] == ({"GOOD": 0, "A": 1}, {"GOOD": "all is good", "A": "first"})


@pytest.mark.parametrize("source", [
    'pixel = {"A": f()}\ngroup = {}',  # a call: never evaluated
    'pixel = {"A": __import__("os").getpid()}\ngroup = {}',
    'pixel = {"A": X}\ngroup = {}',  # a name
    'pixel = {"A": 1}\ngroup = {"A": pixel["B"]}',  # a missing reference
    'pixel = {"A": 1}\ngroup = {}\npixel.update(B=2)',  # changed after the literal
    'pixel = {"A": 1}\ngroup = {}\npixel["B"] = 2',
    'pixel = {"A": 1}\ngroup = dict(pixel)',  # not a literal
    'pixel = {"A": 1}',  # no group table
    'pixel = {"A": 2**99999999}\ngroup = {}',  # no huge power is computed
    'pixel = {"A": ((2**63)**63)**63}\ngroup = {}',
    'pixel = {1: 1}\ngroup = {}',
    'pixel = {**other}\ngroup = {}',
])
def test_parse_dqflags_refuses_what_it_does_not_understand(source):
    with pytest.raises(flags._NotUnderstood):
        flags._parse_dqflags(source)


def test_falls_back_to_importing_stdatamodels_with_a_debug_line(monkeypatch, tmp_path, caplog):
    from stdatamodels.jwst.datamodels import dqflags

    odd = tmp_path / "dqflags.py"
    odd.write_text("pixel = make_table()\ngroup = {}\n")
    monkeypatch.setattr(flags, "_dqflags_path", lambda: odd)
    monkeypatch.setattr(flags, "_jwst_cache", {})
    with caplog.at_level(logging.DEBUG, logger="dqmask.flags"):
        tables = flags._jwst_tables()
    assert tables["pixel"][0] == dqflags.pixel and tables["group"][0] == dqflags.group
    assert "importing stdatamodels.jwst.datamodels.dqflags instead" in caplog.text
    assert "pixel is not one dict literal" in caplog.text


def test_falls_back_when_the_file_is_missing(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(flags, "_dqflags_path", lambda: tmp_path / "absent.py")
    monkeypatch.setattr(flags, "_jwst_cache", {})
    with caplog.at_level(logging.DEBUG, logger="dqmask.flags"):
        tables = flags._jwst_tables()
    assert tables["pixel"][0]["DO_NOT_USE"] == 1
    assert "absent.py" in caplog.text


def test_the_source_read_is_stdatamodels_own_file():
    import stdatamodels.jwst.datamodels.dqflags as module

    assert flags._dqflags_path() == Path(module.__file__)
