"""DQ flag tables, parsing and decoding (dqmask.flags)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from stdatamodels.jwst.datamodels import dqflags

from dqmask import flags
from dqmask.flags import (
    ACS,
    JWST_GROUP,
    JWST_PIXEL,
    STIS,
    TABLES,
    WFC3_IR,
    WFC3_UVIS,
    FlagSpecError,
    decode,
    flag_counts,
    parse_flags,
    require_dq_dtype,
    table_for,
    table_width,
)

HST_TABLES = {"acs": ACS, "wfc3-uvis": WFC3_UVIS, "wfc3-ir": WFC3_IR, "stis": STIS}
PROPS = settings(max_examples=200, deadline=None)

# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def test_jwst_tables_are_stdatamodels_tables():
    """The tables parsed from stdatamodels' source equal its module's, imported normally."""
    assert dict(JWST_PIXEL) == dqflags.pixel
    assert dict(JWST_GROUP) == dqflags.group
    # not retyped: stdatamodels' names and values, in its order, plain ints
    assert list(JWST_PIXEL) == list(dqflags.pixel)
    assert list(JWST_GROUP) == list(dqflags.group)
    assert all(type(v) is int for v in [*JWST_PIXEL.values(), *JWST_GROUP.values()])


@pytest.mark.parametrize(("name", "value"), [
    ("GOOD", 0), ("DO_NOT_USE", 1), ("SATURATED", 2), ("JUMP_DET", 4), ("OUTLIER", 16),
    ("CHARGELOSS", 128), ("RESERVED", 256), ("NON_SCIENCE", 512), ("DEAD", 1024),
    ("TELEGRAPH", 32768), ("NO_FLAT_FIELD", 262144), ("UNRELIABLE_FLAT", 33554432),
    ("FLUX_ESTIMATED", 268435456), ("OTHER_BAD_PIXEL", 1073741824),
    ("REFERENCE_PIXEL", 2147483648),
])
def test_jwst_pixel_spec_values(name, value):
    assert JWST_PIXEL[name] == value


def test_jwst_pixel_table_names_all_32_bits():
    values = sorted(v for v in JWST_PIXEL.values() if v)
    assert values == [1 << b for b in range(32)]


def test_jwst_group_table_spec():
    assert dict(JWST_GROUP) == {"GOOD": 0, "DO_NOT_USE": 1, "SATURATED": 2, "JUMP_DET": 4,
                                "DROPOUT": 8, "PERSISTENCE": 32, "AD_FLOOR": 64,
                                "CHARGELOSS": 128}
    assert "OUTLIER" not in JWST_GROUP


def test_tables_are_read_only():
    with pytest.raises(TypeError):
        JWST_PIXEL["NEW"] = 1  # type: ignore[index]
    with pytest.raises(TypeError):
        ACS["HOTPIX"] = 1  # type: ignore[index]


@pytest.mark.parametrize("table", list(HST_TABLES.values()), ids=list(HST_TABLES))
def test_hst_tables_single_bits_below_16(table):
    for name, value in table.items():
        assert value == 0 or (value & (value - 1) == 0 and value < 1 << 15), name
    assert len(set(table.values())) == len(table)


def test_hst_spot_values():
    assert ACS["SATPIXEL"] == 256 and ACS["DRIZ_CR"] == 4096 and ACS["WARMPIX"] == 64
    assert WFC3_IR["SPIKE"] == 1024 and WFC3_IR["BADZERO"] == 8
    assert WFC3_UVIS["TRAP"] == 1024
    assert STIS["OVERSCAN"] == 128 and "WARMPIX" not in STIS


def test_table_widths():
    assert table_width(JWST_PIXEL) == 32
    assert table_width(JWST_GROUP) == 8
    for table in HST_TABLES.values():
        assert table_width(table) == 16
    assert set(TABLES) == {"jwst", "jwst-group", "acs", "wfc3-uvis", "wfc3-ir", "stis"}
    assert TABLES["jwst"] is JWST_PIXEL


@pytest.mark.parametrize(("tel", "inst", "det", "expected"), [
    ("JWST", "NIRCAM", "NRCA1", JWST_PIXEL),
    ("JWST", "MIRI", "MIRIMAGE", JWST_PIXEL),
    ("HST", "ACS", "WFC", ACS),
    ("HST", "ACS", "HRC", ACS),
    ("HST", "WFC3", "UVIS", WFC3_UVIS),
    ("HST", "WFC3", "IR", WFC3_IR),
    ("HST", "STIS", "CCD", STIS),
    (None, "WFC3", "IR", WFC3_IR),
    ("", "", "", JWST_PIXEL),
])
def test_table_for(tel, inst, det, expected):
    assert table_for(tel, inst, det) is expected


# --------------------------------------------------------------------------------------------
# parse_flags
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "expected"), [
    ("DO_NOT_USE+OTHER_BAD_PIXEL", 1073741825),
    ("DO_NOT_USE,SATURATED", 3),
    ("DO_NOT_USE | SATURATED", 3),
    ("1073741825", 1073741825),
    (1073741825, 1073741825),
    (np.uint32(1073741825), 1073741825),
    ("0x40000001", 1073741825),
    ("0X40000001", 1073741825),
    ("0b101", 5),
    ("4,8", 12),
    ("~4", 0xFFFFFFFB),
    ("~DO_NOT_USE+NON_SCIENCE", 0xFFFFFFFF & ~(1 | 512)),
    ("~(4)", 0xFFFFFFFB),
    ("do_not_use+Other_Bad_Pixel", 1073741825),
    ("  saturated  ", 2),
    ("UNRELIABLE_ERROR", 256),  # alias of RESERVED
    ("UNDERSAMP", 128),  # alias of CHARGELOSS
    ("RESERVED_1", 16),  # alias of OUTLIER
    ("UNRELIABLE_RESET", 268435456),  # alias of FLUX_ESTIMATED
    ("GOOD", 0),
    ("", 0),
    (None, 0),
    ("REFERENCE_PIXEL", 1 << 31),
    ("4294967295", 0xFFFFFFFF),
    ("DO_NOT_USE+DO_NOT_USE", 1),
    ("GOOD+DO_NOT_USE", 1),
    ("BIT31", 1 << 31),
])
def test_parse_jwst(spec, expected):
    assert parse_flags(spec) == expected


@pytest.mark.parametrize("table", list(HST_TABLES.values()), ids=list(HST_TABLES))
def test_parse_hst_complement_is_16_bit(table):
    assert parse_flags("~4", table) == 0xFFFB
    assert parse_flags("~0", table) == 0xFFFF
    assert parse_flags("BIT15", table) == 32768


def test_parse_hst_names():
    assert parse_flags("HOTPIX+SATPIXEL", ACS) == 16 + 256
    assert parse_flags("spike,badzero", WFC3_IR) == 1024 + 8
    assert parse_flags("JUMP_DET+CHARGELOSS", JWST_GROUP) == 4 + 128
    assert parse_flags("~JUMP_DET", JWST_GROUP) == 0xFB


@pytest.mark.parametrize(("spec", "table"), [
    ("NOT_A_FLAG", JWST_PIXEL),
    ("DO_NOT_USE+BOGUS", JWST_PIXEL),
    ("HOTPIX", JWST_PIXEL),  # an HST name is not a JWST flag
    ("DO_NOT_USE", ACS),  # and the other way round
    ("OUTLIER", JWST_GROUP),  # not a group flag
    ("3,4", JWST_PIXEL),  # non-power-of-two in a list
    ("DO_NOT_USE+3", JWST_PIXEL),
    ("0x100000000", JWST_PIXEL),  # 33 bits
    (1 << 32, JWST_PIXEL),
    (-1, JWST_PIXEL),
    ("-4", JWST_PIXEL),
    ("65536", ACS),  # 17 bits in a 16-bit table
    ("256", JWST_GROUP),  # 9 bits in the 8-bit group table
    ("BIT16", ACS),
    ("BIT32", JWST_PIXEL),
    ("DO_NOT_USE++SATURATED", JWST_PIXEL),  # empty term
    ("~", JWST_PIXEL),
])
def test_parse_errors(spec, table):
    with pytest.raises(FlagSpecError):
        parse_flags(spec, table)


def test_flagspecerror_is_value_error():
    assert issubclass(FlagSpecError, ValueError)


def test_parse_duplicate_names_print_no_warning(recwarn):
    assert parse_flags("SATURATED,saturated") == 2
    assert len(recwarn) == 0


# --------------------------------------------------------------------------------------------
# decode
# --------------------------------------------------------------------------------------------


def test_decode_examples():
    assert decode(1073741825) == ["DO_NOT_USE", "OTHER_BAD_PIXEL"]
    assert decode(0) == []
    assert decode(3) == ["DO_NOT_USE", "SATURATED"]
    assert decode(1 << 31) == ["REFERENCE_PIXEL"]
    assert decode(16, JWST_GROUP) == ["BIT4"]  # OUTLIER is not a group flag
    assert decode(32768, ACS) == ["BIT15"]
    assert decode(-32768, ACS) == ["BIT15"]  # int16 with bit 15 set
    assert decode(-1, STIS)[-1] == "BIT15" and len(decode(-1, STIS)) == 16
    assert decode(64, STIS) == ["BIT6"]


def _bits(v: int) -> list[int]:
    return [b for b in range(64) if v >> b & 1]


@PROPS
@given(st.integers(0, 2**32 - 1))
def test_jwst_roundtrip_every_uint32(value):
    names = decode(value)
    assert all(not n.startswith("BIT") for n in names)  # all 32 JWST bits are named
    assert len(names) == bin(value).count("1")
    assert [JWST_PIXEL[n] for n in names] == [1 << b for b in _bits(value)]  # sorted by bit
    assert parse_flags(" + ".join(names)) == value
    assert parse_flags(",".join(n.lower() for n in names)) == value


@PROPS
@given(st.sampled_from(sorted(HST_TABLES)), st.integers(-(2**15), 2**16 - 1))
def test_hst_roundtrip_16_bit(table_name, value):
    table = HST_TABLES[table_name]
    names = decode(value, table)
    pattern = value & 0xFFFF  # int16 negatives are their unsigned 16-bit pattern
    assert len(names) == bin(pattern).count("1")  # no bit lost
    by_name = {n: (table[n] if n in table else 1 << int(n[3:])) for n in names}
    assert list(by_name.values()) == [1 << b for b in _bits(pattern)]
    assert parse_flags(" + ".join(names), table) == pattern


@PROPS
@given(st.integers(0, 255))
def test_group_roundtrip(value):
    names = decode(value, JWST_GROUP)
    assert parse_flags("+".join(names), JWST_GROUP) == value
    assert ("BIT4" in names) == bool(value & 16)


@PROPS
@given(st.integers(0, 2**32 - 1))
def test_complement_of_complement(value):
    assert parse_flags(f"~{value}") == 0xFFFFFFFF ^ value
    assert parse_flags(f"~{parse_flags(f'~{value}')}") == value


# --------------------------------------------------------------------------------------------
# flag_counts and dtypes
# --------------------------------------------------------------------------------------------


def _direct_counts(dq: np.ndarray, table) -> dict[str, int]:
    bits = dq.dtype.itemsize * 8
    pattern = dq.astype(np.int64) & ((1 << bits) - 1) if dq.dtype.kind == "i" else dq
    out = {}
    for b in range(bits):
        n = int(np.sum((pattern.astype(np.uint64) >> np.uint64(b)) & np.uint64(1)))
        if n:
            out[decode(1 << b, table)[0]] = n
    return out


@PROPS
@given(hnp.arrays(np.uint32, hnp.array_shapes(max_dims=3, max_side=8)))
def test_flag_counts_uint32(dq):
    before = dq.copy()
    counts = flag_counts(dq)
    assert counts == _direct_counts(dq, JWST_PIXEL)
    assert list(counts) == [decode(v)[0] for v in sorted(JWST_PIXEL[n] for n in counts)]
    assert dq.dtype == np.uint32 and np.array_equal(dq, before)


@PROPS
@given(st.sampled_from(sorted(HST_TABLES)),
       hnp.arrays(st.sampled_from([np.dtype("<i2"), np.dtype(">i2")]),
                  hnp.array_shapes(max_dims=2, max_side=8)))
def test_flag_counts_int16(table_name, dq):
    """Native and big-endian (as read from FITS) int16 DQ give the same, right counts."""
    table = HST_TABLES[table_name]
    dtype = dq.dtype
    counts = flag_counts(dq, table)
    assert counts == _direct_counts(dq, table)
    assert dq.dtype == dtype
    assert counts.get("BIT15", 0) == int(np.sum(dq < 0))


def test_flag_counts_big_endian_int16_from_fits():
    dq = np.array([16, 4096, -32768, 16], dtype=">i2")
    assert flag_counts(dq, ACS) == {"HOTPIX": 2, "DRIZ_CR": 1, "BIT15": 1}


@PROPS
@given(hnp.arrays(np.uint8, hnp.array_shapes(max_dims=4, max_side=5)))
def test_flag_counts_groupdq(gdq):
    assert flag_counts(gdq, JWST_GROUP) == _direct_counts(gdq, JWST_GROUP)
    assert gdq.dtype == np.uint8


def test_flag_counts_big_endian_and_wide():
    dq = np.array([[1, 3], [1 << 31, 0]], dtype=">u4")
    assert flag_counts(dq) == {"DO_NOT_USE": 2, "SATURATED": 1, "REFERENCE_PIXEL": 1}
    assert dq.dtype == np.dtype(">u4")
    wide = np.array([1 << 40, 1], dtype=np.int64)
    assert flag_counts(wide) == {"DO_NOT_USE": 1, "BIT40": 1}  # no bit silently dropped


def test_flag_counts_refuses_float():
    with pytest.raises(TypeError):
        flag_counts(np.zeros(3, np.float32))
    with pytest.raises(TypeError):
        require_dq_dtype(np.zeros(3, np.float64))
    with pytest.raises(TypeError):
        require_dq_dtype(np.zeros(3, bool))
    require_dq_dtype(np.zeros(3, np.uint32))
    require_dq_dtype(np.zeros(3, np.int16))


def test_module_exports():
    for name in flags.__all__:
        assert hasattr(flags, name), name


def test_width_of_copied_and_dq_def_tables():
    assert table_width(dict(JWST_PIXEL)) == 32
    assert parse_flags("~4", dict(JWST_PIXEL)) == 0xFFFFFFFB
    dq_def = {"DO_NOT_USE": 1, "REFERENCE_PIXEL": 2**31}  # as read from a MASK's DQ_DEF
    assert parse_flags("REFERENCE_PIXEL+DO_NOT_USE", dq_def) == 2**31 + 1
    assert table_width(dict(ACS)) == 16
    assert parse_flags("~4", dict(ACS)) == 0xFFFB
