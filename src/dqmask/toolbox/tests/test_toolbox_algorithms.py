"""Properties of the pure toolbox algorithms: combine, outlines, grow(0), convention round trips."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from matplotlib.path import Path as MplPath

from dqmask.conventions import Convention, convert, from_bad, to_bad
from dqmask.toolbox.combine import combine, outlines, region_outlines
from dqmask.toolbox.morphology import FOOTPRINTS, grow

SHAPE = (9, 11)
masks = arrays(bool, SHAPE)
FAST = settings(max_examples=60, deadline=None)


@FAST
@given(masks, masks, masks)
def test_or_and_commutative_and_associative(a, b, c):
    for op in ("or", "and"):
        assert np.array_equal(combine([a, b], op), combine([b, a], op))
        left = combine([combine([a, b], op), c], op)
        right = combine([a, combine([b, c], op)], op)
        assert np.array_equal(left, right)
        assert np.array_equal(left, combine([a, b, c], op))


@FAST
@given(masks, masks, masks)
def test_not_is_first_minus_the_rest(a, b, c):
    result = combine([a, b, c], "not")
    assert np.array_equal(result, a & ~b & ~c)
    # left-to-right chaining, and the same as removing the union of the others
    assert np.array_equal(result, combine([combine([a, b], "not"), c], "not"))
    assert np.array_equal(result, combine([a, combine([b, c], "or")], "not"))


def test_not_is_not_commutative():
    a = np.array([[True, False]])
    b = np.array([[False, False]])
    assert combine([a, b], "not").tolist() == [[True, False]]
    assert combine([b, a], "not").tolist() == [[False, False]]


def test_combine_refuses_bad_input():
    with pytest.raises(ValueError, match="shape"):
        combine([np.zeros((2, 2), bool), np.zeros((2, 3), bool)])
    with pytest.raises(ValueError, match="unknown operator"):
        combine([np.zeros((2, 2), bool)], "xor")
    with pytest.raises(ValueError, match="at least one"):
        combine([], "or")


@FAST
@given(masks, st.sampled_from(FOOTPRINTS))
def test_grow_zero_is_identity(m, shape):
    out = grow(m, 0, shape)
    assert out is not m
    assert np.array_equal(out, m)


BOOLEAN = [Convention.BAD, Convention.GOOD, Convention.BACKGROUND, Convention.USER_MASK]


@FAST
@given(masks, st.sampled_from(BOOLEAN + [Convention.DQ]), st.sampled_from(BOOLEAN))
def test_boolean_round_trips_are_lossless(m, via, back):
    there = from_bad(m, via)
    assert np.array_equal(to_bad(there, via), m)
    assert np.array_equal(to_bad(convert(there, via, back), back), m)


@FAST
@given(arrays(np.uint32, SHAPE, elements=st.integers(0, 2**32 - 1)))
def test_dq_to_dq_keeps_every_bit(dq):
    out = convert(dq, "dq", "dq")
    assert out.dtype == np.uint32
    assert np.array_equal(out, dq)


def _rasterise(found) -> np.ndarray:
    """Paint outlines by pixel centre: outer polygons True, then holes False."""
    out = np.zeros(SHAPE_R, bool)
    yy, xx = np.mgrid[: SHAPE_R[0], : SHAPE_R[1]]
    centres = np.column_stack([xx.ravel() + 0.5, yy.ravel() + 0.5])
    for o in sorted(found, key=lambda o: o.hole):
        inside = MplPath(o.vertices.astype(float)).contains_points(centres).reshape(SHAPE_R)
        out[inside] = not o.hole
    return out


SHAPE_R = (12, 12)


@settings(max_examples=150, deadline=None)
@given(arrays(bool, SHAPE_R))
def test_region_outlines_union_is_the_mask(m):
    found = region_outlines(m)
    assert not any(o.hole for o in found)
    assert np.array_equal(_rasterise(found), m)


@settings(max_examples=100, deadline=None)
@given(arrays(bool, SHAPE_R))
def test_outlines_with_holes_rasterise_back(m):
    # holes may hold islands: those are their own outer polygons, painted after the holes
    found = outlines(m)
    out = np.zeros(SHAPE_R, bool)
    yy, xx = np.mgrid[: SHAPE_R[0], : SHAPE_R[1]]
    centres = np.column_stack([xx.ravel() + 0.5, yy.ravel() + 0.5])
    for o in found:
        inside = MplPath(o.vertices.astype(float)).contains_points(centres).reshape(SHAPE_R)
        out ^= inside  # even-odd over all loops
    assert np.array_equal(out, m)


def test_square_with_a_hole_and_an_island():
    m = np.zeros(SHAPE_R, bool)
    m[1:8, 1:8] = True
    m[2:7, 2:7] = False
    m[4, 4] = True  # island in the hole
    found = outlines(m)
    assert sorted((o.hole, o.vertices.tolist()) for o in found) == [
        (False, [[1, 1], [8, 1], [8, 8], [1, 8]]),
        (False, [[4, 4], [5, 4], [5, 5], [4, 5]]),
        (True, [[2, 7], [7, 7], [7, 2], [2, 2]]),
    ]
    bands = region_outlines(m)
    # the ring is cut at the hole's rows 2 and 7: bottom bar, two side bars, top bar, island
    assert len(bands) == 5
    assert bands[0].ds9()[:2] == (1.5, 1.5)
    assert np.array_equal(_rasterise(bands), m)


def test_diagonal_pixels_are_separate_polygons():
    m = np.array([[True, False], [False, True]])
    found = outlines(m)
    assert len(found) == 2 and not any(o.hole for o in found)
    assert sorted(len(o.vertices) for o in found) == [4, 4]


@settings(max_examples=15, deadline=None)
@given(arrays(bool, (7, 5)), st.sampled_from(["bad", "good", "background", "user_mask", "dq"]))
def test_file_round_trip_through_every_output_convention(tmp_path_factory, m, to):
    from dqmask.io.mask_file import read_mask_file, write_mask

    path = tmp_path_factory.mktemp("rt") / f"m_{to}.fits"
    write_mask(path, [m], to, step="convert", params={"to": to})
    (back,) = read_mask_file(str(path)).planes
    assert np.array_equal(back, m)
