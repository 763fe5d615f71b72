"""Reading and decoding image files and buffers: the one decode path used everywhere.

Decoded images are RGB ``uint8`` arrays of shape (height, width, 3):

* EXIF orientation is applied, so photos appear the way people took them;
* grayscale and palette images are expanded to three channels;
* 16-bit images are reduced to 8 bits;
* an alpha channel is **dropped**, not composited, exactly as Keras' ``load_img``
  (``convert("RGB")``) and ``tf.io.decode_image(channels=3)`` do, so the model sees what
  training saw;
* animated GIF and WebP files give their first frame.

Everything a user can get wrong (missing path, folder, empty or truncated file, not an
image, a decompression bomb) raises :class:`~app.core.errors.ImageError` with one line.
"""

from __future__ import annotations

import errno
import io
import os
import re
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from app.core.errors import ImageError
from app.core.images.files import IMAGE_EXTENSIONS, is_image_path
from app.core.images.formats import PILLOW_FORMATS, jpeg_has_end, png_problem, sniff_format
from app.core.images.opencv import MAX_IMAGE_PIXELS, cv2
from app.core.tf_runtime import quiet_native_stderr

MAX_FILE_BYTES = 512 * 1024 * 1024
# Pillow only reads headers here; the pixel limit is enforced by probscope itself.
Image.MAX_IMAGE_PIXELS = None


@dataclass(frozen=True)
class ImageHeader:
    """What an image claims to be before any pixel is decoded."""

    width: int
    height: int
    format: str
    mode: str


def read_image_bytes(path: str | os.PathLike[str]) -> bytes:
    """Read a file's bytes after checking that it can be an image at all.

    Raises
    ------
    ImageError
        The path is missing, a folder, empty or larger than :data:`MAX_FILE_BYTES`.
    """
    p = os.fspath(path)
    name = os.path.basename(p) or p
    try:
        info = os.stat(p)
    except FileNotFoundError:
        if os.path.islink(p):
            raise ImageError(f"{name}: broken symbolic link (its target does not exist)") from None
        raise ImageError(f"{name}: no such file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ImageError(f"{name}: symbolic link loop (the link points back to itself)") from None
        raise ImageError(f"{name}: cannot be read ({exc.strerror or exc})") from exc
    if stat.S_ISDIR(info.st_mode):
        raise ImageError(f"{name}: is a folder, not an image")
    if info.st_size == 0:
        raise ImageError(f"{name}: the file is empty (0 bytes)")
    if info.st_size > MAX_FILE_BYTES:
        raise ImageError(f"{name}: {info.st_size / 2**20:.0f} MB is too large for an image")
    try:
        # Python's own open, unlike cv2.imread, handles non-ASCII paths on every platform.
        with open(p, "rb") as f:
            return f.read()
    except OSError as exc:
        raise ImageError(f"{name}: cannot be read ({exc.strerror or exc})") from exc


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_MODES = {0: "L", 2: "RGB", 3: "P", 4: "LA", 6: "RGBA"}
_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_JPEG_MODES = {1: "L", 3: "RGB", 4: "CMYK"}


def _png_or_jpeg_header(data: bytes) -> ImageHeader | None:
    """The header of a plain PNG or JPEG, read without Pillow; None for anything else.

    Pillow's ``Image.open`` costs about 0.1 ms per file, a quarter of a folder run's decode
    time; these two formats are most files. Anything unusual is left to Pillow.
    """
    if data[:8] == _PNG_SIGNATURE and data[12:16] == b"IHDR" and len(data) >= 26:
        width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
        mode = "I;16" if depth == 16 and colour == 0 else _PNG_MODES.get(colour)
        return ImageHeader(width, height, "PNG", mode) if mode else None
    if data[:2] != b"\xff\xd8":
        return None
    i, n = 2, len(data)
    while i + 4 <= n and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if marker == 0xE2 and data[i + 4 : i + 8] == b"MPF\x00":
            return None  # a multi-picture (MPO) file: Pillow decides
        if marker in _JPEG_SOF and i + 10 <= n:
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            mode = _JPEG_MODES.get(data[i + 9])
            return ImageHeader(width, height, "JPEG", mode) if mode and height else None
        i += 2 + length
    return None


def probe_image(data: bytes, name: str = "image") -> ImageHeader:
    """Read an image's header and refuse non-images and images above the pixel limit.

    Raises
    ------
    ImageError
        Empty data, data that is no image, or more than :data:`MAX_IMAGE_PIXELS` pixels.
    """
    if not data:
        raise ImageError(f"{name}: the file is empty (0 bytes)")
    fmt = sniff_format(data)
    if fmt is None:
        # Told by the bytes, never the extension: nothing else reaches a decoder.
        what = "a PostScript/PDF document" if data[:4] in (b"%!PS", b"%PDF") else "unrecognised format"
        raise ImageError(f"{name}: not an image file ({what})")
    header = _png_or_jpeg_header(data) or _pillow_header(data, name, fmt)
    if header.width <= 0 or header.height <= 0:
        raise ImageError(f"{name}: the image has no pixels ({header.width}x{header.height})")
    if header.width * header.height > MAX_IMAGE_PIXELS:
        raise ImageError(
            f"{name}: {header.width}x{header.height} pixels is above the "
            f"{MAX_IMAGE_PIXELS // 1_000_000} megapixel limit"
        )
    return header


_BUFFER_REPR = re.compile(r"\s*<_io\.BytesIO object at 0x[0-9a-fA-F]+>")


def pillow_reason(exc: BaseException) -> str:
    """Pillow's message without the ``<_io.BytesIO object at 0x…>`` it names buffers by."""
    text = _BUFFER_REPR.sub("", str(exc)).strip()
    return text or type(exc).__name__


def open_with_pillow(data: bytes) -> Image.Image:
    """``Image.open`` on encoded bytes, restricted to the formats probscope reads.

    No other plugin is ever asked, so none that starts an external program (EPS runs
    Ghostscript) can be reached, whatever the bytes claim.
    """
    return Image.open(io.BytesIO(data), formats=PILLOW_FORMATS)


def _pillow_header(data: bytes, name: str, fmt: str) -> ImageHeader:
    try:
        with open_with_pillow(data) as im:
            return ImageHeader(im.width, im.height, im.format or "?", im.mode)
    except UnidentifiedImageError:
        # A valid file of a variant no decoder here reads (a TIFF of 64-bit floats) lands here
        # too: "damaged" alone would blame a good file.
        raise ImageError(f"{name}: not a readable {fmt} image (a damaged header, or a kind of "
                         f"{fmt} probscope cannot decode)") from None
    except (OSError, ValueError, SyntaxError, struct.error) as exc:
        raise ImageError(f"{name}: not a readable image ({pillow_reason(exc)})") from None


def _looks_truncated(data: bytes, header: ImageHeader) -> bool:
    # libjpeg pads a truncated JPEG with grey and only warns; the EOI marker tells. It may be
    # followed by more bytes (maker notes, an appended file): the file is still whole.
    return header.format == "JPEG" and not jpeg_has_end(data)


def _decode_with_pillow(data: bytes, name: str, problem: str | None = None) -> np.ndarray:
    # Pillow's libjpeg prints "Bogus Huffman table definition" and the like to fd 2.
    try:
        with quiet_native_stderr(), open_with_pillow(data) as im:
            im.seek(0)
            frame = ImageOps.exif_transpose(im) or im
            if frame.mode in ("I;16", "I;16B", "I;16L", "I"):
                # Pillow's RGB conversion clips 16-bit values; scale to 8 bits first.
                arr = np.asarray(frame, dtype=np.float64)
                frame = Image.fromarray(np.clip(arr / 257.0, 0, 255).astype(np.uint8))
            return np.asarray(frame.convert("RGB"), dtype=np.uint8).copy()
    except (OSError, ValueError, SyntaxError, struct.error, EOFError) as exc:
        reason = problem or pillow_reason(exc)
        raise ImageError(f"{name}: the image data is corrupt ({reason})") from None


def decode_image_bytes(data: bytes, name: str = "image") -> np.ndarray:
    """Decode an in-memory image (file bytes, a paste, a drag from a browser) to RGB uint8.

    Parameters
    ----------
    data : bytes
        The encoded image: PNG, JPEG, BMP, GIF, WebP, TIFF or PNM.
    name : str
        How to name the image in error messages.

    Returns
    -------
    ndarray of shape (height, width, 3), uint8
        RGB pixels; see the module docstring for orientation, alpha and bit depth.
    """
    header = probe_image(data, name)
    if _looks_truncated(data, header):
        raise ImageError(f"{name}: the JPEG file is truncated")
    if header.format in ("GIF", "MPO") or (header.format == "WEBP" and header.mode == "RGBA"):
        return _decode_with_pillow(data, name)
    problem = png_problem(data) if header.format == "PNG" else None
    if problem:
        # libpng would print "libpng error: …" to the terminal; Pillow reads damaged files
        # quietly, and decodes the ones that are only missing their end.
        return _decode_with_pillow(data, name, f"the PNG file is damaged: {problem}")
    buf = np.frombuffer(data, dtype=np.uint8)
    # IMREAD_COLOR applies EXIF orientation, expands gray/palette and drops alpha.
    # libjpeg and libtiff inside OpenCV print warnings ("Corrupt JPEG data: …") to fd 2.
    with quiet_native_stderr():
        bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if bgr is None:
        return _decode_with_pillow(data, name)
    if bgr.dtype != np.uint8:
        bgr = _to_8_bits(bgr)
    # In place: a 100-megapixel image would otherwise hold two 300 MB copies at once.
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB, dst=bgr)


def _to_8_bits(image: np.ndarray) -> np.ndarray:
    # Row blocks keep the float64 intermediate small (a whole 16-bit 100-megapixel image
    # would need 2.4 GB); the arithmetic is the same per pixel.
    out = np.empty(image.shape, dtype=np.uint8)
    for top in range(0, image.shape[0], 512):
        block = image[top : top + 512]
        out[top : top + 512] = (block.astype(np.float64) / 257.0).round()
    return out


def decode_image(source: str | os.PathLike[str] | bytes, name: str | None = None) -> np.ndarray:
    """Decode an image file path or encoded bytes to an RGB uint8 array.

    Parameters
    ----------
    source : path-like or bytes
        A file path (non-ASCII names are fine) or the encoded image itself.
    name : str, optional
        How to name the image in error messages; defaults to the file name.

    Returns
    -------
    ndarray of shape (height, width, 3), uint8
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return decode_image_bytes(bytes(source), name or "image")
    data = read_image_bytes(source)
    return decode_image_bytes(data, name or Path(source).name)


# Pillow modes that carry transparency; decoding drops it (as Keras' load_img does).
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_HEADER_BYTES = 1 << 16  # enough for every format's header, never the whole file


def has_alpha(source: str | bytes | None) -> bool:
    """True if the image file or bytes has an alpha channel (read from the header only).

    Decoding drops transparency, as in training, so the model sees the colours under it: a
    logo with a transparent background may look nothing like what a viewer shows.
    """
    try:
        if isinstance(source, str):
            with open(source, "rb") as f:
                head = f.read(_HEADER_BYTES)
        else:
            head = (source or b"")[:_HEADER_BYTES]
        return probe_image(head).mode in _ALPHA_MODES
    except (OSError, ImageError, ValueError):
        return False  # unreadable: the result carries its own error


__all__ = ["IMAGE_EXTENSIONS", "is_image_path"]
