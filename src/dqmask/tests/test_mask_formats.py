"""The registry of mask file formats in dqmask.io.mask_file (identify, write)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from dqmask.io import mask_file
from dqmask.io.mask_file import (
    FORMATS,
    READ_CONVENTIONS,
    WRITE_CONVENTIONS,
    MaskFormat,
    guess_convention,
    read_fits_mask,
    register,
    write_mask,
)


def _guess(dtype, header=None, primary=None, values=(0, 1)):
    return guess_convention(np.dtype(dtype), fits.Header(header or {}),
                            fits.Header(primary or {}), lambda: set(values) <= {0, 1})


def test_the_formats_in_identification_order():
    assert [(f.name, f.convention) for f in FORMATS.values()] == [
        ("dqmask", None), ("crab-seed", "seed"), ("nsclean", "background"),
        ("drizzlepac", "good"), ("jwst-user-mask", "user_mask"), ("zero-one", "bad"),
        ("dq", "dq")]
    assert all(isinstance(f, MaskFormat) and f.description for f in FORMATS.values())
    assert WRITE_CONVENTIONS == ("bad", "good", "background", "user_mask", "dq")
    writers = {f.convention: f.name for f in FORMATS.values() if f.write is not None}
    assert writers == {"background": "nsclean", "good": "drizzlepac",
                       "user_mask": "jwst-user-mask", "bad": "zero-one", "dq": "dq"}


@pytest.mark.parametrize(("args", "expected"), [
    (("u1", {"DQMCONV": "bad"}), ("bad", "DQMCONV = 'bad'")),
    (("f4", None, {"DQMCONV": "SEED"}), ("seed", "DQMCONV = 'seed'")),
    (("u1", {"SMOOTH": 2.0}), ("seed", "Crab.Toolkit.JWST seed / zeroonemask keywords "
                                       "(MPIXAREA/SMOOTH)")),
    (("f8",), ("seed", "float image without model keywords (seed: > 0 = bad)")),
    (("u1",), ("background", "uint8 image without keywords (NSClean: 1 = background)")),
    (("?",), ("background", "bool image without keywords (NSClean: 1 = background)")),
    ((">i2",), ("good", "int16 image (drizzlepac static mask: 1 = good)")),
    (("f4", None, {"TELESCOP": "JWST"}),
     ("user_mask", "float image of a JWST model (clean_flicker_noise user_mask)")),
    (("i4",), ("bad", "int32 image of 0/1 (1 = bad)")),
    ((">u4", None, None, (0, 1, 1024)),
     ("dq", "uint32 image with values beyond 0/1 (DQ bitfield)")),
])
def test_each_rule(args, expected):
    assert _guess(*args) == expected


@pytest.mark.parametrize(("args", "match"), [
    (("u1", {"DQMCONV": "bad_pixels"}), "DQMCONV = 'bad_pixels' is not a mask convention"),
    (("u1", None, None, (0, 7)), "not an NSClean background mask"),
    (("i2", None, None, (0, 2)), "not a drizzlepac static mask"),
    (("f4", None, {"DATAMODL": "ImageModel"}, (0, 0.5)), "not a jwst user_mask"),
    (("c8",), "cannot tell the convention of a complex64 image"),
])
def test_refusals(args, match):
    with pytest.raises(ValueError, match=match):
        _guess(*args)


def test_register_refuses_a_taken_name_a_second_writer_and_unknown_conventions():
    with pytest.raises(ValueError, match="already registered"):
        register("nsclean", convention="background", description="x")
    with pytest.raises(ValueError, match="'zero-one' writes it"):
        register("another-bad", convention="bad", description="x", write=lambda r: None)
    with pytest.raises(ValueError, match="unknown convention"):
        register("odd", convention="odd", description="x")
    assert "another-bad" not in FORMATS and "odd" not in FORMATS


def test_a_registered_format_is_identified_in_its_place(monkeypatch, tmp_path):
    """The registry decides: a format put first wins over the built-in rules."""
    monkeypatch.setattr(mask_file, "FORMATS", {})
    register("inverted-u1", convention="good", description="test: uint8, 1 = good",
             identify=lambda im: (("good", "test rule") if im.keyword("INVERTED") else None))
    for fmt in FORMATS.values():
        mask_file.FORMATS[fmt.name] = fmt
    path = tmp_path / "m.fits"
    hdu = fits.PrimaryHDU(np.array([[1, 0]], np.uint8))
    hdu.header["INVERTED"] = True
    hdu.writeto(path)
    data = read_fits_mask(path)
    assert (data.convention, data.reason) == ("good", "test rule")
    assert data.planes[0].tolist() == [[False, True]]


@pytest.mark.parametrize("convention", WRITE_CONVENTIONS)
def test_every_written_format_is_read_back_as_written(convention, tmp_path):
    bad = np.array([[True, False, False], [False, True, True]])
    path = tmp_path / f"m_{convention}.fits"
    write_mask(path, [bad], convention, step="test", params={})
    back = read_fits_mask(path)
    assert back.convention == convention and back.convention in READ_CONVENTIONS
    assert np.array_equal(back.planes[0], bad)


def test_one_plane_formats_refuse_several_chips(tmp_path):
    bad = np.zeros((2, 2), bool)
    for convention in ("background", "user_mask"):
        with pytest.raises(ValueError, match=f"the {convention} format holds one 2-D mask"):
            write_mask(tmp_path / "x.fits", [bad, bad], convention, step="t", params={})
    with pytest.raises(ValueError, match="unknown output convention 'seed'"):
        write_mask(tmp_path / "x.fits", [bad], "seed", step="t", params={})
