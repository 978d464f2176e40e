"""Multistripe / superstripe extraction vs jwst's ``generate_stripe_reference``, property-based.

Random stripe geometries (reads/skips, repeat, interleave, superstripe count and step, all
eight FASTAXIS/SLOWAXIS orientations, any slow start): dqmask must give the same array or
raise the same error.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dqmask.dq_init import core as alg

pytest.importorskip("jwst")

AXES = [(1, 2), (-1, 2), (1, -2), (-1, -2), (2, 1), (-2, 1), (2, -1), (-2, -1)]


@st.composite
def geometries(draw):
    fast, slow = draw(st.sampled_from(AXES))
    nst = draw(st.integers(0, 4))
    reads1 = draw(st.integers(0, 6))
    reads2 = draw(st.integers(0 if nst else 1, 12))
    step = draw(st.integers(1, 16))
    per = reads1 + (reads2 if reads2 > 0 else step)
    slow_size = per * draw(st.integers(1, 4)) + draw(st.sampled_from([0, 0, 0, 1]))
    fast_size = draw(st.integers(1, 6))
    return dict(
        fast=fast, slow=slow, nst=nst, reads1=reads1, reads2=reads2, step=step,
        skips1=draw(st.integers(0, 40)), skips2=draw(st.integers(0, 40)),
        repeat=draw(st.integers(0, 1)), interleave=draw(st.integers(0, 1)),
        slow_size=slow_size, fast_size=fast_size,
        slow_start=draw(st.integers(1, 1200)),
        name=draw(st.sampled_from(["SUB164STRIPE4_DHS", "SUB17STRIPE_SOSS", None])),
    )


def _science(g):
    if abs(g["fast"]) == 1:
        xsize, ysize, xstart, ystart = g["fast_size"], g["slow_size"], 1, g["slow_start"]
    else:
        xsize, ysize, xstart, ystart = g["slow_size"], g["fast_size"], g["slow_start"], 1
    return xstart, ystart, xsize, ysize


def _jwst(ref, g):
    from jwst.lib.stripe_utils import generate_stripe_reference
    from stdatamodels.jwst import datamodels

    model = datamodels.RampModel()
    s = model.meta.subarray
    s.xstart, s.ystart, s.xsize, s.ysize = _science(g)
    s.fastaxis, s.slowaxis, s.name = g["fast"], g["slow"], g["name"]
    s.multistripe_reads1, s.multistripe_skips1 = g["reads1"], g["skips1"]
    s.multistripe_reads2, s.multistripe_skips2 = g["reads2"], g["skips2"]
    s.repeat_stripe, s.interleave_reads1 = g["repeat"], g["interleave"]
    s.superstripe_step, s.num_superstripe = g["step"], g["nst"]
    return generate_stripe_reference(ref, model)


def _ours(ref, g):
    xstart, ystart, xsize, ysize = _science(g)
    sci = alg.Subarray(xstart, ystart, xsize, ysize, g["fast"], g["slow"], g["name"])
    stripes = alg.Stripes(reads1=g["reads1"], skips1=g["skips1"], reads2=g["reads2"],
                          skips2=g["skips2"], repeat_stripe=g["repeat"],
                          interleave_reads1=g["interleave"], superstripe_step=g["step"],
                          num_superstripe=g["nst"])
    return alg.extract_stripes(ref, sci, alg.Subarray(), stripes)


def _outcome(fn, ref, g):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return "ok", fn(ref, g)
    except ValueError as exc:
        return "ValueError", str(exc)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(geometries(), st.integers(0, 2**31))
def test_stripe_extraction_matches_jwst(g, seed):
    rng = np.random.default_rng(seed)
    # science-frame reference, full detector length along the slow axis
    shape = (2048, g["fast_size"]) if abs(g["fast"]) == 1 else (g["fast_size"], 2048)
    ref = rng.integers(0, 2**32, size=shape, dtype=np.uint64).astype(np.uint32)
    want = _outcome(_jwst, ref, g)
    got = _outcome(_ours, ref, g)
    assert got[0] == want[0], (got, want)
    if want[0] == "ok":
        assert got[1].dtype == want[1].dtype
        np.testing.assert_array_equal(got[1], want[1])
    elif want[1] in ("Stripe readout does not match science array shape.",
                     "Invalid value for multistripe_reads2 - stripe ranges could not be "
                     "generated."):
        assert got[1] == want[1]


@st.composite
def rectangles(draw):
    """Mostly valid geometries (match, cut inside), some out of bounds / bad / missing."""
    ry, rx = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    x0r, y0r = draw(st.integers(0, 30)), draw(st.integers(0, 30))
    odd = st.integers(1, 48)
    ref = (x0r, y0r, draw(st.sampled_from([rx, rx, rx, draw(odd)])),
           draw(st.sampled_from([ry, ry, ry, draw(odd)])))
    if draw(st.integers(0, 3)) == 0:  # same subarray as the reference
        return (ry, rx), ref, (ry, rx), (x0r, y0r, rx, ry)
    sy, sx = draw(st.integers(1, ry)), draw(st.integers(1, rx))
    sci = [x0r + draw(st.integers(0, rx - sx + 1)), y0r + draw(st.integers(0, ry - sy + 1)),
           draw(st.sampled_from([sx, sx, sx, draw(odd)])),
           draw(st.sampled_from([sy, sy, sy, draw(odd)]))]
    if draw(st.integers(0, 9)) == 0:
        sci[draw(st.integers(0, 3))] = None
    return (ry, rx), ref, (sy, sx), tuple(sci)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rectangles(), st.integers(0, 2**31))
def test_subarray_match_and_cut_matches_jwst(case, seed):
    from jwst.lib import reffile_utils as ru
    from stdatamodels.jwst import datamodels

    ref_shape, ref_kw, sci_shape, sci_kw = case
    raw = np.random.default_rng(seed).integers(0, 2**32, ref_shape, dtype=np.uint64)
    raw = raw.astype(np.uint32)
    mask = datamodels.MaskModel(dq=raw.copy())
    mask.meta.instrument.name = "NIRCAM"
    ms = mask.meta.subarray
    ms.xstart, ms.ystart, ms.xsize, ms.ysize = ref_kw
    sci = datamodels.RampModel(data=np.zeros((1, 1, *sci_shape), np.float32))
    ss = sci.meta.subarray
    ss.xstart, ss.ystart, ss.xsize, ss.ysize = sci_kw

    def upstream():
        if ru.ref_matches_sci(sci, mask):
            return np.array(mask.dq)
        return np.array(ru.get_subarray_model(sci, mask).dq)

    def ours():
        return alg.mask_for_science(raw, alg.Subarray(*ref_kw), "NIRCAM", alg.Subarray(*sci_kw),
                                    (1, 1, *sci_shape), strict=False)

    want = _outcome(lambda *_: upstream(), None, None)
    got = _outcome(lambda *_: ours(), None, None)
    assert got[0] == want[0], (got, want)
    if want[0] == "ok":
        np.testing.assert_array_equal(got[1], want[1])
    else:
        assert got[1] == want[1]


NAMES = ["DO_NOT_USE", "HOT", "WARM", "DEAD", "REFERENCE_PIXEL", "OTHER_BAD_PIXEL", "RC",
         "NOISY", "hot", "RESERVED_1", "UNRELIABLE_ERROR", "FGS_WARM", "LOW_QE"]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 31), st.sampled_from(NAMES)), max_size=12),
       st.booleans(), st.integers(0, 2**31))
def test_dq_def_mapping_matches_stdatamodels(rows, compress, seed):
    from types import SimpleNamespace

    from astropy.io import fits
    from stdatamodels.dynamicdq import dynamic_mask
    from stdatamodels.jwst.datamodels.dqflags import pixel

    # VALUE: int32 ('J', as in the real fixture) to decompress; uint32 (the schema's type)
    # to compress, since stdatamodels itself cannot compress with an int32 VALUE column
    # (uint32 |= int32 is a numpy casting error there)
    values = ([(1 << b) - (1 << 32 if b == 31 else 0) for b, _ in rows] if not compress
              else np.array([1 << b for b, _ in rows], np.uint32))
    table = fits.BinTableHDU.from_columns([
        fits.Column("BIT", "J", array=[b for b, _ in rows]),
        fits.Column("VALUE", "J", array=values, bzero=2**31 if compress else None),
        fits.Column("NAME", "40A", array=[n for _, n in rows]),
        fits.Column("DESCRIPTION", "80A", array=["" for _ in rows])]).data
    rng = np.random.default_rng(seed)
    dq = rng.integers(0, 2**32, (16, 16), dtype=np.uint64).astype(np.uint32)
    dq[rng.random((16, 16)) < 0.5] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = dynamic_mask(SimpleNamespace(dq=dq, dq_def=table if rows else None), pixel,
                            inv=compress)
    fn = alg.compress_dq if compress else alg.decompress_dq
    got = fn(dq, table if rows else None, warn=False)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
