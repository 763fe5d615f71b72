"""Hostile and damaged image files (issue 16): told by their bytes, refused in one line, quietly."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.core.errors import ImageError
from app.core.images import find_image_files
from app.core.images.decoding import decode_image_bytes
from app.core.images.files import PathProblem
from app.core.images.formats import jpeg_has_end, png_problem, sniff_format
from app.core.preprocessing.backends import BACKENDS, tf_error_reason
from app.core.preprocessing.spec import PreprocessingSpec

REPO = Path(__file__).resolve().parents[3]
# A real (tiny) Encapsulated PostScript file: Pillow's EPS plugin would start Ghostscript on it.
POSTSCRIPT = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\n%%EndComments\n"
              b"newpath 0 0 moveto 64 64 lineto stroke\nshowpage\n%%EOF\n")


def encoded(fmt: str, size: tuple[int, int] = (40, 52), seed: int = 0, **kw: object) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, size + (3,), dtype=np.uint8)).save(buf, fmt, **kw)
    return buf.getvalue()


def spec_for(backend: str) -> PreprocessingSpec:
    return PreprocessingSpec(target_size=(8, 8), resize_backend=backend)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_postscript_named_png_is_refused_without_starting_a_program(backend, monkeypatch):
    import subprocess as sp

    def no_programs(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"an external program was started: {args[:1]}")

    monkeypatch.setattr(sp, "Popen", no_programs)
    start = time.perf_counter()
    with pytest.raises(ImageError, match=r"evil\.png: not an image file \(a PostScript"):
        BACKENDS[backend](POSTSCRIPT, spec_for(backend), "evil.png")
    assert time.perf_counter() - start < 2.0


def test_formats_are_told_by_their_bytes_not_their_names():
    assert sniff_format(encoded("PNG")) == "PNG"
    assert sniff_format(encoded("JPEG")) == "JPEG"
    assert sniff_format(encoded("BMP")) == "BMP"
    assert sniff_format(encoded("GIF")) == "GIF"
    assert sniff_format(encoded("TIFF")) == "TIFF"
    assert sniff_format(encoded("WEBP")) == "WEBP"
    assert sniff_format(encoded("PPM")) == "PPM"
    assert sniff_format(POSTSCRIPT) is None
    assert sniff_format(b"%PDF-1.4\n") is None


def test_a_jpeg_with_bytes_after_its_end_marker_is_whole():
    jpeg = encoded("JPEG")
    trailing = jpeg + b"maker notes \xff\x00 and more" * 20
    assert jpeg_has_end(trailing)
    np.testing.assert_array_equal(decode_image_bytes(trailing), decode_image_bytes(jpeg))
    for backend in BACKENDS:
        np.testing.assert_array_equal(BACKENDS[backend](trailing, spec_for(backend)),
                                      BACKENDS[backend](jpeg, spec_for(backend)))


def test_a_truncated_jpeg_is_refused_even_when_its_thumbnail_ends_properly():
    jpeg = encoded("JPEG", (200, 300))
    # An APP1 segment holding a whole small JPEG, as EXIF thumbnails are: FF D9 inside it.
    thumb = encoded("JPEG", (8, 8))
    app1 = b"\xff\xe1" + (len(thumb) + 2).to_bytes(2, "big") + thumb
    with_thumb = jpeg[:2] + app1 + jpeg[2:]
    assert jpeg_has_end(with_thumb)
    cut = with_thumb[: len(with_thumb) * 2 // 3]
    assert not jpeg_has_end(cut)
    with pytest.raises(ImageError, match="truncated"):
        decode_image_bytes(cut, "cut.jpg")


def test_png_damage_is_found_chunk_by_chunk():
    png = encoded("PNG")
    assert png_problem(png) is None
    bad = bytearray(png)
    bad[-20] ^= 0xFF
    assert "bad checksum" in png_problem(bytes(bad))
    assert "no IEND" in png_problem(png[:-12])
    assert "past the end" in png_problem(png[: len(png) // 2])
    # A PNG that only lost its end decodes (via Pillow), identical to the whole file.
    np.testing.assert_array_equal(decode_image_bytes(png[:-12]), decode_image_bytes(png))


def test_messages_name_the_file_and_reason_not_a_buffer_or_graph():
    tiff = b"II*\x00" + b"\x00" * 60
    with pytest.raises(ImageError) as info:
        decode_image_bytes(tiff, "scan.tif")
    assert "BytesIO" not in str(info.value) and str(info.value).startswith("scan.tif: ")
    with pytest.raises(ImageError) as info:
        BACKENDS["pil"](tiff, spec_for("pil"), "scan.tif")
    assert "BytesIO" not in str(info.value)
    with pytest.raises(ImageError) as info:  # TensorFlow reads no TIFF: a graph error inside
        BACKENDS["tf"](encoded("TIFF"), spec_for("tf"), "scan.tif")
    text = str(info.value)
    assert text.startswith("scan.tif: TensorFlow cannot decode it (Unknown image file format")
    assert "Graph execution error" not in text


def test_tf_error_reason_is_the_line_before_the_node():
    message = ("Graph execution error:\n\nDetected at node DecodeImage defined at (most recent call "
               "last):\n  File \"x.py\", line 1, in <module>\n\njpeg::Uncompress failed. Invalid JPEG "
               "data or crop window.\n\t [[{{node DecodeImage}}]] [Op:__inference_load_7]")
    assert tf_error_reason(message) == "jpeg::Uncompress failed. Invalid JPEG data or crop window"
    assert tf_error_reason("Unknown image file format. [Op:DecodeImage]") == "Unknown image file format."


def test_damaged_pngs_and_jpegs_print_nothing_on_stderr(tmp_path):
    """libpng prints "libpng error" lines from inside OpenCV and TensorFlow: none may appear."""
    png = encoded("PNG", (64, 64))
    bad_crc = bytearray(png)
    bad_crc[-20] ^= 0xFF
    files = {"crc.png": bytes(bad_crc), "noend.png": png[:-12], "half.png": png[: len(png) // 2],
             "half.jpg": encoded("JPEG", (64, 64))[:300], "tail.jpg": encoded("JPEG") + b"x" * 99,
             "gap.jpg": encoded("JPEG", (120, 90))[:-400] + b"\xff\xd9"}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    code = (
        "import sys\n"
        "from app.core.preprocessing.backends import BACKENDS\n"
        "from app.core.preprocessing.pipeline import prepare_input\n"
        "from app.core.preprocessing.spec import PreprocessingSpec\n"
        "from app.core.errors import ImageError\n"
        "for backend in sorted(BACKENDS):\n"
        "    spec = PreprocessingSpec(target_size=(8, 8), resize_backend=backend)\n"
        "    for path in sorted(sys.argv[1:]):\n"
        "        try:\n"
        "            prepare_input(path, spec)\n"
        "            print(backend, path, 'ok')\n"
        "        except ImageError as exc:\n"
        "            print(backend, path, exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, *map(str, tmp_path.iterdir())], cwd=REPO,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 3 * len(files)
    assert proc.stderr == ""


def test_missing_paths_broken_links_and_loops_are_reported_not_dropped(tmp_path, monkeypatch):
    good = tmp_path / "good.png"
    good.write_bytes(encoded("PNG"))
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.png").write_bytes(encoded("PNG"))
    (folder / "dangling.png").symlink_to(tmp_path / "gone.png")
    (folder / "loop.png").symlink_to(folder / "loop.png")
    (folder / "back").symlink_to(folder)  # a folder link back to itself
    empty = tmp_path / "empty"
    empty.mkdir()
    entries = find_image_files([good, tmp_path / "missing.png", folder, empty])
    paths = [e for e in entries if isinstance(e, Path)]
    problems = [e.message for e in entries if isinstance(e, PathProblem)]
    assert [p.name for p in paths] == ["good.png", "missing.png", "a.png", "dangling.png", "loop.png"]
    assert any("symbolic link loop" in m and "back" in m for m in problems)
    assert any(m.endswith("the folder contains no images") for m in problems)
    from app.core.images.decoding import read_image_bytes

    with pytest.raises(ImageError, match="dangling.png: broken symbolic link"):
        read_image_bytes(folder / "dangling.png")
    with pytest.raises(ImageError, match="loop.png: symbolic link loop"):
        read_image_bytes(folder / "loop.png")
    with pytest.raises(ImageError, match="missing.png: no such file"):
        read_image_bytes(tmp_path / "missing.png")


def test_an_unreadable_folder_is_not_called_empty(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    real_scandir = os.scandir

    def scandir(path):  # tests may run as root, where chmod 000 does not lock anything
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    (problem,) = find_image_files([locked])
    assert problem.message == f"{locked}: the folder cannot be read (Permission denied)"


def _float64_tiff(width: int = 2, height: int = 2) -> bytes:
    """A well-formed one-strip TIFF of 64-bit float grey samples: valid, but no decoder here
    reads that kind."""
    import struct

    data = np.arange(width * height, dtype="<f8").tobytes()
    tags = [(256, width), (257, height), (258, 64), (259, 1), (262, 1), (273, None),
            (277, 1), (278, height), (279, len(data)), (339, 3)]  # 339: IEEE floating point
    start = 8 + 2 + 12 * len(tags) + 4
    ifd = b"".join(struct.pack("<HHII", tag, 4, 1, start if value is None else value)
                   for tag, value in tags)
    return b"II*\x00" + struct.pack("<IH", 8, len(tags)) + ifd + struct.pack("<I", 0) + data


def test_a_valid_tiff_of_a_kind_no_decoder_reads_is_not_called_damaged():
    with pytest.raises(ImageError) as info:
        decode_image_bytes(_float64_tiff(), "floats.tif")
    assert str(info.value) == ("floats.tif: not a readable TIFF image (a damaged header, or a "
                               "kind of TIFF probscope cannot decode)")
