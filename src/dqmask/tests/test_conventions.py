"""The mask model (dqmask.conventions) and morphology.grow."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dqmask.conventions import (
    DEFAULT_DQ_FLAGS,
    Convention,
    convert,
    dq_to_bad,
    dtype_of,
    from_bad,
    to_bad,
)
from dqmask.flags import JWST_PIXEL, FlagSpecError
from dqmask.toolbox.morphology import FOOTPRINTS, footprint, grow

PROPS = settings(max_examples=200, deadline=None)
SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, max_side=8)
BOOLEAN = ["bad", "good", "background", "user_mask"]
bad_arrays = hnp.arrays(bool, SHAPES)
uint32_dq = hnp.arrays(np.uint32, SHAPES)
jwst_flag_values = st.integers(1, 2**32 - 1)


def test_dtypes():
    assert dtype_of("bad") == np.dtype(bool)
    assert dtype_of("good") == np.dtype(np.int16)
    assert dtype_of("background") == np.dtype(np.uint8)
    assert dtype_of(Convention.USER_MASK) == np.dtype(np.float32)
    assert dtype_of("dq") == np.dtype(np.uint32)
    assert dtype_of("seed") == np.dtype(np.float32)
    assert DEFAULT_DQ_FLAGS == 1073741825
    with pytest.raises(ValueError):
        dtype_of("nonsense")


def test_meaning_of_each_convention():
    bad = np.array([True, False])
    assert from_bad(bad, "good").tolist() == [0, 1]
    assert from_bad(bad, "background").tolist() == [0, 1]
    assert from_bad(bad, "user_mask").tolist() == [0.0, 1.0]
    assert from_bad(bad, "dq").tolist() == [1073741825, 0]
    for conv in ["good", "background", "user_mask", "dq", "bad"]:
        assert from_bad(bad, conv).dtype == dtype_of(conv), conv


@PROPS
@given(bad_arrays, st.sampled_from(BOOLEAN), st.sampled_from(BOOLEAN))
def test_boolean_conventions_round_trip(bad, a, b):
    in_a = from_bad(bad, a)
    assert in_a.dtype == dtype_of(a)
    in_b = convert(in_a, a, b)
    assert in_b.dtype == dtype_of(b)
    back = to_bad(convert(in_b, b, a), a)
    assert back.dtype == bool and np.array_equal(back, bad)


@PROPS
@given(bad_arrays, jwst_flag_values)
def test_bad_dq_bad_with_flags(bad, value):
    dq = from_bad(bad, "dq", flags=value)
    assert dq.dtype == np.uint32
    assert np.array_equal(dq[bad], np.full(int(bad.sum()), value, np.uint32))
    assert not dq[~bad].any()
    assert np.array_equal(to_bad(dq, "dq", flags=value), bad)
    assert np.array_equal(to_bad(dq, "dq"), bad)


@PROPS
@given(uint32_dq, jwst_flag_values)
def test_dq_to_bad_selects_exactly_those_bits(dq, value):
    before = dq.copy()
    bad = to_bad(dq, "dq", flags=value)
    expected = (dq.astype(np.uint64) & np.uint64(value)) != 0
    assert np.array_equal(bad, expected)
    assert dq.dtype == np.uint32 and np.array_equal(dq, before)  # input untouched


@PROPS
@given(uint32_dq)
def test_dq_to_bad_by_name(dq):
    bad = to_bad(dq, "dq", flags="DO_NOT_USE+REFERENCE_PIXEL")
    assert np.array_equal(bad, (dq & np.uint32(0x80000001)) != 0)


@PROPS
@given(uint32_dq)
def test_dq_dq_identity_keeps_all_32_bits(dq):
    out = convert(dq, "dq", "dq")
    assert out.dtype == np.uint32
    assert np.array_equal(out, dq)
    assert out is not dq


def test_dq_dq_identity_keeps_bit_31_and_int16():
    dq = np.array([1 << 31, (1 << 31) | 1, 0xFFFFFFFF], np.uint32)
    assert convert(dq, "dq", "dq").tolist() == dq.tolist()
    hst = np.array([-32768, -1, 4], np.int16)
    out = convert(hst, "dq", "dq")
    assert out.dtype == np.int16 and out.tolist() == [-32768, -1, 4]


def test_dq_dq_with_flags_keeps_only_selected_bits():
    dq = np.array([1, 2, 4, 6], np.uint32)
    out = convert(dq, "dq", "dq", src_flags="SATURATED", dst_flags="DO_NOT_USE")
    assert out.dtype == np.uint32 and out.tolist() == [0, 1, 0, 1]


def test_from_bad_refuses_float_dq():
    with pytest.raises(TypeError):
        from_bad(np.ones(3, bool), "dq", dtype=float)
    with pytest.raises(TypeError):
        from_bad(np.ones(3, bool), "dq", dtype=np.float32)
    with pytest.raises(TypeError):
        to_bad(np.zeros(3, np.float32), "dq")


def test_int16_hst_bit_15():
    bad = np.array([True, False, True])
    dq = from_bad(bad, "dq", flags=1 << 15, dtype=np.int16)
    assert dq.dtype == np.int16
    assert dq.view(np.uint16).tolist() == [0x8000, 0, 0x8000]
    assert np.array_equal(to_bad(dq, "dq", flags=1 << 15), bad)
    assert np.array_equal(to_bad(dq, "dq", flags=4), [False, False, False])
    both = from_bad(bad, "dq", flags=(1 << 15) | 4, dtype=np.int16)
    assert both.view(np.uint16).tolist() == [0x8004, 0, 0x8004]


def test_from_bad_refuses_flags_wider_than_dtype():
    with pytest.raises(FlagSpecError):
        from_bad(np.ones(2, bool), "dq", dtype=np.int16)  # default flags need 31 bits
    with pytest.raises(FlagSpecError):
        from_bad(np.ones(2, bool), "dq", flags=256, dtype=np.uint8)
    assert from_bad(np.ones(1, bool), "dq", flags=128, dtype=np.uint8).tolist() == [128]


def test_user_mask_nan_reads_as_bad():
    user = np.array([1.0, 0.0, np.nan, 2.5, -1.0], np.float32)
    assert to_bad(user, "user_mask").tolist() == [False, True, True, False, False]


def test_nonzero_reads_as_good():
    assert to_bad(np.array([0, 1, 2, -1], np.int16), "good").tolist() == [True, False, False,
                                                                          False]
    assert to_bad(np.array([0, 1, 255], np.uint8), "background").tolist() == [True, False,
                                                                              False]


def test_to_bad_returns_a_copy():
    bad = np.array([True, False])
    out = to_bad(bad, "bad")
    out[0] = False
    assert bad[0]


def test_dq_flags_by_name_through_convert():
    bad = np.array([True, False])
    dq = convert(bad, "bad", "dq", dst_flags="DO_NOT_USE+NON_SCIENCE")
    assert dq.tolist() == [JWST_PIXEL["DO_NOT_USE"] | JWST_PIXEL["NON_SCIENCE"], 0]


# --------------------------------------------------------------------------------------------
# morphology.grow
# --------------------------------------------------------------------------------------------


@PROPS
@given(hnp.arrays(bool, hnp.array_shapes(min_dims=2, max_dims=3, max_side=9)),
       st.sampled_from(FOOTPRINTS))
def test_grow_zero_is_identity_copy(mask, shape):
    out = grow(mask, 0, shape)
    assert out.dtype == bool and np.array_equal(out, mask) and out is not mask


@pytest.mark.parametrize(("n", "shape", "size"), [
    (0, "circle", 1), (1, "circle", 5), (2, "circle", 13), (3, "circle", 29),
    (1, "square", 9), (2, "square", 25), (1, "plus", 5), (2, "plus", 13), (3, "plus", 25),
])
def test_footprint_sizes(n, shape, size):
    fp = footprint(n, shape)
    assert fp.shape == (2 * n + 1, 2 * n + 1)
    assert int(fp.sum()) == size
    assert fp[n, n]


@pytest.mark.parametrize("shape", FOOTPRINTS)
@pytest.mark.parametrize("n", [1, 2, 3])
def test_grow_single_pixel_gives_footprint(shape, n):
    mask = np.zeros((15, 15), bool)
    mask[7, 7] = True
    out = grow(mask, n, shape)
    assert np.array_equal(out[7 - n: 8 + n, 7 - n: 8 + n], footprint(n, shape))
    assert int(out.sum()) == int(footprint(n, shape).sum())


def test_grow_is_plane_by_plane():
    cube = np.zeros((3, 9, 9), bool)
    cube[1, 4, 4] = True
    out = grow(cube, 2, "square")
    assert not out[0].any() and not out[2].any()
    assert int(out[1].sum()) == 25


@PROPS
@given(hnp.arrays(bool, hnp.array_shapes(min_dims=2, max_dims=2, max_side=10)),
       st.integers(1, 3), st.sampled_from(FOOTPRINTS))
def test_grow_only_adds(mask, n, shape):
    out = grow(mask, n, shape)
    assert out.shape == mask.shape
    assert not (mask & ~out).any()
    assert np.array_equal(grow(out, 0, shape), out)


def test_grow_errors():
    with pytest.raises(ValueError):
        grow(np.zeros((3, 3), bool), -1)
    with pytest.raises(ValueError):
        grow(np.zeros((3, 3), bool), 1, "hexagon")
    with pytest.raises(ValueError):
        grow(np.zeros((3, 3), bool), 0, "hexagon")


@PROPS
@given(hnp.arrays(st.sampled_from([np.dtype(">u4"), np.dtype("<u4")]), SHAPES),
       jwst_flag_values)
def test_big_endian_dq_as_read_from_fits(dq, value):
    expected = (dq.astype(np.uint64) & np.uint64(value)) != 0
    assert np.array_equal(to_bad(dq, "dq", flags=value), expected)
    out = convert(dq, "dq", "dq")
    assert out.dtype == dq.dtype and np.array_equal(out, dq)


@PROPS
@given(hnp.arrays(st.sampled_from([np.dtype(">i2"), np.dtype("<i2")]), SHAPES),
       st.integers(0, 15))
def test_int16_dq_bit_selection_any_byte_order(dq, bit):
    expected = ((dq.astype(np.int64) & 0xFFFF) >> bit) & 1 == 1
    assert np.array_equal(to_bad(dq, "dq", flags=1 << bit), expected)


def test_hst_flag_names_resolve_in_the_hst_table():
    import numpy as np
    import pytest

    from dqmask.conventions import convert, from_bad, to_bad
    from dqmask.flags import ACS, WFC3_UVIS, FlagSpecError

    dq = np.array([0, 16, 256, 272, -32768], dtype=np.int16)  # HOTPIX, SATPIXEL, both, bit 15
    assert to_bad(dq, "dq", flags="HOTPIX", table=ACS).tolist() == [False, True, False, True,
                                                                    False]
    with pytest.raises(FlagSpecError):
        to_bad(dq, "dq", flags="HOTPIX")  # not a JWST name
    out = from_bad(np.array([True, False]), "dq", flags="SATPIXEL+ATODSAT", dtype=np.int16,
                   table=WFC3_UVIS)
    assert out.dtype == np.int16 and out.tolist() == [256 + 2048, 0]
    assert convert(dq, "dq", "dq", src_flags="SATPIXEL", dst_flags="DATAREJECT",
                   dtype=np.int16, table=ACS).tolist() == [0, 0, 8192, 8192, 0]


# --------------------------------------------------------------------------------------------
# dq_to_bad: the one DQ -> bad function
# --------------------------------------------------------------------------------------------

DQ_DTYPES = [np.dtype(t) for t in ("<u4", ">u4", "<i2", ">i2", "u1", "<i4", ">u2", "<i8")]


def _bit_by_bit(dq: np.ndarray, flags: int | None) -> np.ndarray:
    """bad = some bit of ``flags`` (within the dtype's width) is set, bit by bit, by value."""
    bits = dq.dtype.itemsize * 8
    pattern = [int(v) & ((1 << bits) - 1) for v in dq.ravel().tolist()]
    mask = (1 << bits) - 1 if flags is None else int(flags) & ((1 << bits) - 1)
    return np.array([p & mask != 0 for p in pattern], dtype=bool).reshape(dq.shape)


@PROPS
@given(st.sampled_from(DQ_DTYPES).flatmap(lambda dt: hnp.arrays(dt, SHAPES)),
       st.one_of(st.none(), st.integers(-(2**40), 2**40)))
def test_dq_to_bad_is_bit_selection_within_the_dtype(dq, flags):
    before = dq.copy()
    bad = dq_to_bad(dq, flags)
    assert bad.dtype == bool and bad.shape == dq.shape
    assert np.array_equal(bad, _bit_by_bit(dq, flags))
    assert np.array_equal(dq, before) and dq.dtype == before.dtype  # never changed or cast


def test_dq_to_bad_complement_and_hst_bit_15():
    hst = np.array([0, -32768, 256, 4, 260], dtype=">i2")
    assert dq_to_bad(hst, 32768).tolist() == [False, True, False, False, False]
    assert dq_to_bad(hst, ~256).tolist() == [False, True, False, True, True]  # every bit but 256
    assert dq_to_bad(np.array([255], np.uint8), 256).tolist() == [False]  # not a uint8 bit
    with pytest.raises(TypeError):
        dq_to_bad(np.zeros(2, np.float32), 1)
    with pytest.raises(TypeError):
        dq_to_bad(np.zeros(2, bool), 1)


def test_every_job_uses_the_one_dq_to_bad():
    """The modules that turn DQ bits into bad pixels call conventions.dq_to_bad."""
    import importlib

    import dqmask

    assert dqmask.dq_to_bad is dq_to_bad  # in the array API

    for name in ("dqmask.claws.core", "dqmask.nsclean.core", "dqmask.dolphot.jwst_core",
                 "dqmask.dolphot.hst_core", "dqmask.dolphot.jwst", "dqmask.static.core",
                 "dqmask.toolbox.preview"):
        assert importlib.import_module(name).dq_to_bad is dq_to_bad, name


def test_static_dq_bad_is_astropy_bitfield_to_boolean_mask():
    """static.core.dq_bad (drizzlepac's 'bits to ignore') through dq_to_bad, same answer."""
    from astropy.nddata import bitmask

    from dqmask.static.core import dq_bad

    rng = np.random.default_rng(5)
    dq = rng.integers(-(2**15), 2**15, size=(20, 30)).astype(">i2")
    cases: list[tuple[int | str, bool]] = [(0, False), (4, False), ("4,8", False), ("~4", False),
                                           (4, True), (64 | 4096, False), (32768, False)]
    for bits, flip in cases:
        expected = bitmask.bitfield_to_boolean_mask(dq, ignore_flags=bits, flip_bits=flip or None,
                                                    good_mask_value=False, dtype=bool)
        assert np.array_equal(dq_bad(dq, bits, flip=flip), expected), (bits, flip)
    assert not dq_bad(dq, None).any()


# --------------------------------------------------------------------------------------------
# seed: claws' seed images
# --------------------------------------------------------------------------------------------


def test_seed_convention_reads_bad_where_positive():
    seed = np.array([0.0, 1e-3, 0.5, 1.0, np.nan, -0.0], dtype=np.float32)
    assert Convention("seed") is Convention.SEED
    assert to_bad(seed, "seed").tolist() == [False, True, True, True, False, False]
    assert from_bad(np.array([True, False]), "seed").tolist() == [1.0, 0.0]
    assert from_bad(np.array([True, False]), "seed").dtype == np.float32


@PROPS
@given(bad_arrays, st.sampled_from(BOOLEAN + ["seed"]))
def test_seed_round_trips_with_every_boolean_convention(bad, other):
    seed = from_bad(bad, "seed")
    assert np.array_equal(to_bad(seed, "seed"), bad)
    assert np.array_equal(convert(convert(seed, "seed", other), other, "seed"), seed)


def test_mask_files_read_the_seed_convention(tmp_path):
    """DQMCONV = 'seed' (what ``dqmask detect`` writes) and ``@seed`` are read as seed."""
    from astropy.io import fits

    from dqmask.io.mask_file import READ_CONVENTIONS, read_mask_file

    assert READ_CONVENTIONS == tuple(c.value for c in Convention)
    seed = np.array([[0.0, 0.25], [1.0, 0.0]], dtype=np.float32)
    hdu = fits.PrimaryHDU(seed)
    hdu.header["DQMCONV"] = "seed"
    hdu.header["TELESCOP"] = "JWST"  # a float JWST image would otherwise be a user_mask
    path = tmp_path / "x_seed_image.fits"
    hdu.writeto(path)
    data = read_mask_file(str(path))
    assert (data.convention, data.reason) == ("seed", "DQMCONV = 'seed'")
    assert data.planes[0].tolist() == [[False, True], [True, False]]
    forced = read_mask_file(f"{path}@seed")
    assert forced.convention == "seed" and np.array_equal(forced.planes[0], data.planes[0])
