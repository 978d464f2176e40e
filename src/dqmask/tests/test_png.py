"""dqmask.io.png: exact RGB values from every PNG flavour a painter may save."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from dqmask.errors import InputError
from dqmask.io.png import png_size, read_png_rgb, write_png_rgb


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png16(path: Path, pixels: np.ndarray, filter_type: int = 1) -> Path:
    """A 16-bit-per-channel PNG (RGB or RGBA), written by hand (Pillow cannot).

    ``filter_type`` 1 (Sub) makes the decoder's per-pixel byte distance matter: a decoder
    that used 8-bit pixel strides would garble the values.
    """
    h, w, c = pixels.shape
    colour_type = {3: 2, 4: 6}[c]
    bpp = 2 * c
    rows = []
    for y in range(h):
        raw = np.frombuffer(pixels[y].astype(">u2").tobytes(), dtype=np.uint8).astype(int)
        if filter_type == 1:
            prev = np.concatenate([np.zeros(bpp, int), raw[:-bpp]])
            raw = (raw - prev) % 256
        rows.append(bytes([filter_type]) + raw.astype(np.uint8).tobytes())
    ihdr = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
                     + _chunk(b"IDAT", zlib.compress(b"".join(rows))) + _chunk(b"IEND", b""))
    return path


def test_rgb_values_exact(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    Image.fromarray(rgb, "RGB").save(tmp_path / "a.png")
    got, full = read_png_rgb(tmp_path / "a.png")
    assert full == 255 and got.dtype == np.uint8
    np.testing.assert_array_equal(got, rgb)


def test_rgba_alpha_is_dropped_not_composited(tmp_path):
    rgba = np.zeros((4, 5, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = np.arange(5, dtype=np.uint8)  # transparent or not: colour is what counts
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    got, _ = read_png_rgb(tmp_path / "a.png")
    assert got.shape == (4, 5, 3)
    assert (got == [255, 0, 0]).all()


def test_palette_png_gives_palette_colours(tmp_path):
    index = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)
    im = Image.fromarray(index, "P")
    im.putpalette([255, 0, 0, 254, 0, 0, 10, 20, 30] + [0] * (3 * 253))
    im.save(tmp_path / "p.png")
    got, _ = read_png_rgb(tmp_path / "p.png")
    np.testing.assert_array_equal(got[0], [[255, 0, 0], [254, 0, 0], [10, 20, 30]])
    np.testing.assert_array_equal(got[1], [[10, 20, 30], [254, 0, 0], [255, 0, 0]])


@pytest.mark.parametrize("channels", [3, 4])
def test_16bit_channels_exact(tmp_path, channels):
    # Pillow alone keeps only the high byte: all five of these would read (255, 0, 0).
    px = np.zeros((3, 5, channels), dtype=np.uint16)
    px[1] = [(65535, 0, 0, 7)[:channels], (65280, 0, 0, 7)[:channels],
             (65535, 1, 0, 7)[:channels], (65535, 0, 255, 7)[:channels],
             (65535, 256, 0, 7)[:channels]]
    write_png16(tmp_path / "x.png", px)
    got, full = read_png_rgb(tmp_path / "x.png")
    assert full == 65535 and got.dtype == np.uint16
    np.testing.assert_array_equal(got, px[..., :3])


@pytest.mark.parametrize("mode", ["L", "I;16", "1", "LA"])
def test_grayscale_png_is_one_line_error(tmp_path, mode):
    im = Image.new(mode, (6, 4))
    im.save(tmp_path / "g.png")
    with pytest.raises(InputError, match="grayscale PNG") as err:
        read_png_rgb(tmp_path / "g.png")
    assert "\n" not in str(err.value)


def test_wrong_size_refused_before_decoding(tmp_path):
    Image.new("RGB", (30, 20)).save(tmp_path / "s.png")
    assert png_size(tmp_path / "s.png") == (20, 30)
    with pytest.raises(InputError, match=r"PNG is 30x20 pixels, expected 2048x2048"):
        read_png_rgb(tmp_path / "s.png", (2048, 2048))


def test_non_png_pictures_refused(tmp_path):
    Image.new("RGB", (8, 8), (255, 0, 0)).save(tmp_path / "m.jpg", format="JPEG")
    with pytest.raises(InputError, match="JPEG picture, not PNG"):
        read_png_rgb(tmp_path / "m.jpg")
    (tmp_path / "t.png").write_text("not a picture")
    with pytest.raises(InputError, match="not a PNG"):
        read_png_rgb(tmp_path / "t.png")
    with pytest.raises(InputError, match="no such file"):
        read_png_rgb(tmp_path / "missing.png")


def test_write_then_read_round_trip(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, (11, 13, 3), dtype=np.uint8)
    write_png_rgb(tmp_path / "w.png", rgb, {"Software": "dqmask test"})
    with Image.open(tmp_path / "w.png") as im:
        assert isinstance(im, PngImagePlugin.PngImageFile)  # a PNG's text chunks: im.text
        assert im.mode == "RGB" and im.text["Software"] == "dqmask test"
    np.testing.assert_array_equal(read_png_rgb(tmp_path / "w.png")[0], rgb)
    with pytest.raises(ValueError):
        write_png_rgb(tmp_path / "bad.png", rgb.astype(np.uint16))
