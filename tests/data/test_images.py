import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from cnnsvm.data.images import is_image_filename, read_image_bytes, read_image_file
from cnnsvm.exceptions import DataError


def _png_bytes(image):
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def _raw_png(width, height, payload=b"\x00" * 8):
    """A PNG whose header claims width x height, with a tiny (wrong) payload."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(payload)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("fmt,ext", [("PNG", "png"), ("BMP", "bmp"), ("GIF", "gif"), ("JPEG", "jpg")])
def test_reads_grayscale_of_each_format(tmp_path, fmt, ext):
    pixels = np.zeros((6, 9), np.uint8)
    pixels[2:4, 3:6] = 200
    path = tmp_path / f"img.{ext}"
    Image.fromarray(pixels).save(path, fmt)
    out = read_image_file(path)
    assert out.dtype == np.uint8 and out.shape == (6, 9)
    if fmt != "JPEG":  # lossless formats round-trip exactly
        np.testing.assert_array_equal(out, pixels)
    else:
        assert out[3, 4] > 150 and out[0, 0] < 50


def test_rgb_is_converted_to_luminance(tmp_path):
    path = tmp_path / "rgb.png"
    Image.new("RGB", (3, 2), (255, 0, 0)).save(path)
    out = read_image_file(path)
    assert out.shape == (2, 3)
    assert np.all(out == 76)  # ITU-R 601 luma of pure red


def test_transparent_pixels_become_white(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)  # fully transparent black ...
    rgba[1, 1] = (0, 0, 0, 255)  # ... except one opaque black pixel
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(path)
    out = read_image_file(path)
    assert out[0, 0] == 255 and out[1, 1] == 0

    la = Image.new("LA", (2, 2), (0, 0))
    la_out = read_image_bytes(_png_bytes(la), name="la.png")
    assert np.all(la_out == 255)


def test_palette_with_transparency_is_composited_on_white(tmp_path):
    img = Image.new("P", (3, 3), 0)
    img.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    img.info["transparency"] = 0
    path = tmp_path / "pal.gif"
    img.save(path, transparency=0)
    assert np.all(read_image_file(path) == 255)


def test_sixteen_bit_png_is_scaled(tmp_path):
    pixels = np.array([[0, 65535], [257 * 100, 257 * 200]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(pixels).save(path)
    np.testing.assert_array_equal(read_image_file(path), [[0, 255], [100, 200]])


def test_read_image_bytes_matches_file(tmp_path):
    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    data = _png_bytes(Image.fromarray(pixels))
    np.testing.assert_array_equal(read_image_bytes(data), pixels)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"nope\.png does not exist"):
        read_image_file(tmp_path / "nope.png")


def test_directory_is_not_an_image(tmp_path):
    with pytest.raises(DataError, match="is not a file"):
        read_image_file(tmp_path)


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is text, not a picture")
    with pytest.raises(DataError, match=r"notes\.png is not a readable image"):
        read_image_file(path)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file(tmp_path, fmt):
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8)).save(buf, fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(DataError, match=rf"cut\.{fmt.lower()} is corrupt or truncated"):
        read_image_file(path)


def test_corrupt_pixel_data(tmp_path):
    path = tmp_path / "bad.png"
    path.write_bytes(_raw_png(4, 4, payload=b"\x00"))  # too little pixel data
    with pytest.raises(DataError, match=r"bad\.png is corrupt or truncated"):
        read_image_file(path)


def test_empty_bytes():
    with pytest.raises(DataError, match=r"upload\.png is empty"):
        read_image_bytes(b"", name="upload.png")


def test_bytes_type_is_checked():
    with pytest.raises(DataError, match="expected the image's bytes"):
        read_image_bytes("not bytes")


def test_decompression_bomb_header_is_refused(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_raw_png(100_000, 100_000))
    with pytest.raises(DataError, match=r"bomb\.png is too large"):
        read_image_file(path)
    with pytest.raises(DataError, match=r"bomb\.png is too large"):
        read_image_bytes(path.read_bytes(), name="bomb.png")


def test_max_pixels_limit(tmp_path):
    path = tmp_path / "big.png"
    Image.new("L", (20, 10)).save(path)
    with pytest.raises(DataError, match=r"big\.png is 20x10 = 200 pixels, more than the limit of 199"):
        read_image_file(path, max_pixels=199)
    assert read_image_file(path, max_pixels=200).shape == (10, 20)
    with pytest.raises(DataError, match="decompression bomb"):
        read_image_bytes(path.read_bytes(), max_pixels=100, name="big.png")


def test_zero_size_image_is_refused(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(_raw_png(0, 5))
    with pytest.raises(DataError, match=r"empty\.png"):
        read_image_file(path)


@pytest.mark.parametrize(
    "name,expected",
    [
        ("a.PNG", True),
        ("b.JpEg", True),
        ("c.gif", True),
        ("d.bmp", True),
        (".DS_Store", False),
        ("Thumbs.db", False),
        ("._a.png", False),
        ("labels.csv", False),
    ],
)
def test_is_image_filename(name, expected):
    assert is_image_filename(name) is expected
