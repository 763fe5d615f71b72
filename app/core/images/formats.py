"""Which image formats probscope reads, told by a file's bytes, and structure checks for two.

A file's extension says nothing: a PostScript file named ``.png`` must not reach Pillow's
EPS plugin, which starts Ghostscript (with no timeout) to render it. So every decode path
first names the format from the file's magic bytes, refuses anything else, and opens Pillow
with ``formats=PILLOW_FORMATS`` only: no plugin that runs an external program is ever used.

The PNG and JPEG checks find damage the native decoders would only *print* about
(libpng writes "libpng error: …" to the process's stderr before OpenCV gives up, and
libjpeg pads a truncated JPEG with grey), so that probscope can report it in one line.
"""

from __future__ import annotations

import re
import struct
import zlib

# Pillow's format ids for the formats probscope decodes; "PPM" is Pillow's PNM plugin
# (PBM, PGM, PPM, PNM). MPO files are JPEGs: Pillow's JPEG plugin opens them.
PILLOW_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF", "PPM")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNM_MAGIC = re.compile(rb"P[1-6][\s#]")


def sniff_format(data: bytes) -> str | None:
    """Name an image format from its first bytes, or None when it is none probscope reads.

    Parameters
    ----------
    data : bytes
        The start of the file (16 bytes are enough).

    Returns
    -------
    str or None
        One of :data:`PILLOW_FORMATS`.
    """
    if data[:8] == _PNG_SIGNATURE:
        return "PNG"
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:2] == b"BM":
        return "BMP"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if _PNM_MAGIC.match(data[:3]):
        return "PPM"
    return None


def png_problem(data: bytes) -> str | None:
    """What is structurally wrong with a PNG file, or None when every chunk is intact.

    Walks the chunks to ``IEND`` checking lengths and CRCs, which is what libpng checks
    (and prints about) while decoding. Bytes after ``IEND`` are allowed, as libpng allows
    them.

    Parameters
    ----------
    data : bytes
        The whole file, starting with the PNG signature.

    Returns
    -------
    str or None
        A short reason ("chunk IDAT has a bad checksum", "truncated: no IEND chunk").
    """
    i, n = 8, len(data)
    while i + 12 <= n:
        length = struct.unpack(">I", data[i : i + 4])[0]
        kind = data[i + 4 : i + 8]
        end = i + 12 + length
        if length > 0x7FFFFFFF or end > n:
            return "truncated: a chunk runs past the end of the file"
        if not kind.isalpha():
            return "damaged: a chunk has no valid name"
        crc = struct.unpack(">I", data[end - 4 : end])[0]
        if zlib.crc32(data[i + 4 : end - 4]) != crc:
            return f"chunk {kind.decode('ascii')} has a bad checksum"
        if kind == b"IEND":
            return None
        i = end
    return "truncated: no IEND chunk"


# Markers without a length field: SOI, EOI, TEM and the restart markers RST0-7.
_JPEG_STANDALONE = frozenset({0x01, 0xD8, 0xD9, *range(0xD0, 0xD8)})


def jpeg_has_end(data: bytes) -> bool:
    """Whether a JPEG's data reach their end-of-image marker (EOI), wherever it is.

    Marker segments are skipped by their lengths and entropy-coded data scanned for the
    next marker (0xFF is stuffed as FF 00 there), so an EOI followed by trailing bytes
    (camera maker notes, an appended file) counts, and FF D9 bytes inside a thumbnail or
    a table do not.
    """
    i, n = 2, len(data)
    while i + 1 < n:
        if data[i] != 0xFF:
            return False  # not at a marker where one must be: damaged, let the decoder judge
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xD9:
            return True
        if marker in _JPEG_STANDALONE:
            i += 2
            continue
        if i + 4 > n:
            return False
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
        if marker == 0xDA:  # start of scan: entropy-coded data up to the next real marker
            i = _next_marker(data, i)
            if i < 0:
                return False
    return False


def _next_marker(data: bytes, i: int) -> int:
    while True:
        i = data.find(b"\xff", i)
        if i < 0 or i + 1 >= len(data):
            return -1
        following = data[i + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            i += 1  # stuffed byte, restart marker or fill: still inside the scan
            continue
        return i
