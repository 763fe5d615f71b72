"""Numpy RGB arrays to Qt images and pixmaps (safe in worker threads: QImage only)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
from PySide6.QtGui import QImage

THUMBNAIL_SIZE = 48
DISPLAY_MAX_SIDE = 640


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """Copy an (H, W, 3) uint8 RGB array into a QImage that owns its pixels."""
    arr = np.ascontiguousarray(rgb, dtype=np.uint8)
    if arr.ndim == 2:
        arr = np.ascontiguousarray(np.repeat(arr[..., None], 3, axis=-1))
    h, w = arr.shape[:2]
    # .copy() detaches the QImage from the numpy buffer, which may be freed any time.
    return QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def shrink(image: QImage, max_side: int) -> QImage:
    """Scale down (never up) so the longer side is at most ``max_side``, smoothly."""
    if image.isNull() or max(image.width(), image.height()) <= max_side:
        return image
    return image.scaled(
        max_side, max_side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
    )


def thumbnail(rgb: np.ndarray) -> QImage:
    """A small history thumbnail; only this, never the full image, is kept per row."""
    return shrink(rgb_to_qimage(rgb), THUMBNAIL_SIZE)


def qimage_to_png(image: QImage) -> bytes:
    """Encode a QImage (a pasted or dragged bitmap) as PNG so core decodes it like a file."""
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    buf.close()
    return bytes(data.data())


def qimage_to_rgb(image: QImage) -> np.ndarray:
    """An (H, W, 3) uint8 RGB copy of a QImage's pixels (for blending in NumPy)."""
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    h, w, stride = rgb.height(), rgb.width(), rgb.bytesPerLine()
    if h == 0 or w == 0:
        return np.zeros((h, w, 3), np.uint8)
    # Rows are padded to 4 bytes: read whole rows, then cut the padding off.
    buf = np.frombuffer(rgb.constBits(), dtype=np.uint8, count=h * stride).reshape(h, stride)
    return np.ascontiguousarray(buf[:, : 3 * w].reshape(h, w, 3))
