"""The one decode path: formats, orientation, bit depth, alpha, and every kind of bad file."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.core.errors import ImageError
from app.core.images.decoding import decode_image, decode_image_bytes


def _png_bytes(arr: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode=mode).save(buf, "PNG") if mode else Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_rgb_png_round_trips_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, size=(17, 23, 3), dtype=np.uint8)
    p = tmp_path / "x.png"
    Image.fromarray(arr).save(p)
    np.testing.assert_array_equal(decode_image(p), arr)


def test_grayscale_is_expanded_to_three_equal_channels() -> None:
    gray = np.arange(0, 200, dtype=np.uint8).reshape(10, 20)
    out = decode_image_bytes(_png_bytes(gray))
    assert out.shape == (10, 20, 3)
    np.testing.assert_array_equal(out[:, :, 0], gray)
    np.testing.assert_array_equal(out[:, :, 2], gray)


def test_sixteen_bit_png_is_reduced_to_eight_bits() -> None:
    arr = np.full((8, 8), 65535, dtype=np.uint16)
    arr[0, 0] = 0
    arr[1, 1] = 257 * 100
    out = decode_image_bytes(_png_bytes(arr))
    assert out.dtype == np.uint8
    assert out[2, 2, 0] == 255 and out[0, 0, 0] == 0 and out[1, 1, 0] == 100


def test_rgba_alpha_is_dropped_like_keras() -> None:
    arr = np.zeros((6, 6, 4), dtype=np.uint8)
    arr[..., 0] = 200
    arr[..., 3] = 0  # fully transparent: Keras' convert("RGB") keeps the stored colour
    out = decode_image_bytes(_png_bytes(arr, "RGBA"))
    assert out.shape == (6, 6, 3)
    assert (out[..., 0] == 200).all()


def test_palette_gif_and_webp_first_frame() -> None:
    rng = np.random.default_rng(1)
    arr = rng.integers(0, 256, size=(12, 9, 3), dtype=np.uint8)
    for fmt in ("GIF", "WEBP"):
        buf = io.BytesIO()
        frames = [Image.fromarray(arr), Image.fromarray(255 - arr)]
        frames[0].save(buf, fmt, save_all=True, append_images=frames[1:])
        out = decode_image_bytes(buf.getvalue(), "anim")
        assert out.shape == (12, 9, 3)


def test_exif_orientation_is_applied() -> None:
    arr = np.zeros((10, 30, 3), dtype=np.uint8)  # wide
    im = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif.tobytes())
    assert decode_image_bytes(buf.getvalue()).shape[:2] == (30, 10)


def test_non_ascii_file_name(tmp_path: Path) -> None:
    p = tmp_path / "ziffer_fünf_数字.png"
    Image.fromarray(np.full((5, 5, 3), 7, dtype=np.uint8)).save(p)
    assert decode_image(p)[0, 0, 0] == 7


BAD_FILES = {
    "empty.png": b"",
    "rand.png": np.random.default_rng(0).bytes(500),
    "notes.png": b"hello, not pixels",
    "bomb.png": _png_header_only(40000, 40000),
}


@pytest.mark.parametrize(
    ("name", "expected"),
    [("missing.png", "no such file"), ("", "is a folder"), ("empty.png", "empty"),
     ("rand.png", "not an image"), ("notes.png", "not an image"), ("bomb.png", "megapixel limit")],
)
def test_bad_files_raise_one_line_image_errors(tmp_path: Path, name: str, expected: str) -> None:
    if name in BAD_FILES:
        (tmp_path / name).write_bytes(BAD_FILES[name])
    with pytest.raises(ImageError) as info:
        decode_image(tmp_path / name if name else tmp_path)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_truncated_jpeg_is_refused() -> None:
    rng = np.random.default_rng(2)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    data = buf.getvalue()
    with pytest.raises(ImageError, match="truncated"):
        decode_image_bytes(data[: len(data) // 2])
    assert decode_image_bytes(data).shape == (64, 64, 3)


def _encoded(arr: np.ndarray, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt, **kw)
    return buf.getvalue()


def test_quick_png_and_jpeg_headers_agree_with_pillow() -> None:
    from app.core.images.decoding import _png_or_jpeg_header, probe_image

    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (31, 45, 3), dtype=np.uint8)
    gray = rgb[..., 0]
    cmyk = Image.fromarray(rgb).convert("CMYK")
    buf = io.BytesIO()
    cmyk.save(buf, "JPEG")
    files = {
        "png rgb": _encoded(rgb, "PNG"),
        "png gray": _encoded(gray, "PNG"),
        "png rgba": _encoded(np.dstack([rgb, gray]), "PNG"),
        "png 16-bit": _png_bytes(gray.astype(np.uint16) * 257),
        "jpeg rgb": _encoded(rgb, "JPEG", quality=90),
        "jpeg gray": _encoded(gray, "JPEG"),
        "jpeg progressive": _encoded(rgb, "JPEG", progressive=True, exif=Image.Exif().tobytes()),
        "jpeg cmyk": buf.getvalue(),
    }
    for label, data in files.items():
        quick = _png_or_jpeg_header(data)
        with Image.open(io.BytesIO(data)) as im:
            expected = (im.width, im.height, im.format)
        assert quick is not None, label
        assert (quick.width, quick.height, quick.format) == expected, label
        assert probe_image(data).width == 45, label
    # Everything else is left to Pillow.
    assert _png_or_jpeg_header(_encoded(rgb, "BMP")) is None
    assert _png_or_jpeg_header(b"\xff\xd8\xff") is None


@pytest.mark.parametrize("backend", ["opencv", "pil", "tf"])
def test_a_truncated_jpeg_reads_the_same_on_every_backend(backend: str) -> None:
    """Pillow said "the image data is corrupt (image file is truncated (58 bytes not
    processed))" where the other backends say the JPEG is truncated."""
    from app.core.preprocessing.pipeline import prepare_input
    from app.core.preprocessing.spec import PreprocessingSpec

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(buf, "JPEG")
    data = buf.getvalue()
    spec = PreprocessingSpec(target_size=(16, 16), resize_backend=backend)
    with pytest.raises(ImageError, match=r"^cut\.jpg: the JPEG file is truncated$"):
        prepare_input(data[: len(data) * 2 // 3], spec, "cut.jpg")
    assert prepare_input(data, spec, "whole.jpg").shape == (16, 16, 3)
