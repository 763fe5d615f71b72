"""The drop target: turns drags, drops and pastes into paths and image bytes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QMimeData, Signal
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDragMoveEvent, QDropEvent, QImage
from PySide6.QtWidgets import QFrame, QVBoxLayout, QWidget

from app.ui.widgets.qt_images import qimage_to_png

# Encoded formats that browsers and image editors put on a drag or the clipboard.
_ENCODED_IMAGE_FORMATS = ("image/png", "image/jpeg", "image/bmp", "image/gif", "image/webp", "image/tiff")


@dataclass
class DropPayload:
    """What a drop or paste carried: local paths, encoded images, and what we cannot use."""

    paths: list[str] = field(default_factory=list)
    images: list[bytes] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.paths or self.images or self.unsupported)


def _text_paths(mime: QMimeData) -> list[str]:
    # A copied path ("/data/x.png") pasted as text is a reasonable thing to expect to work.
    if not mime.hasText():
        return []
    lines = [ln.strip() for ln in mime.text().splitlines() if ln.strip()]
    paths = []
    for ln in lines[:10000]:
        if ln.startswith("file://"):
            from PySide6.QtCore import QUrl

            ln = QUrl(ln).toLocalFile()
        if len(ln) < 4096 and Path(ln).exists():
            paths.append(ln)
    return paths if len(paths) == len(lines) else []


def payload_from_mime(mime: QMimeData | None) -> DropPayload:
    """Read file URLs (preferred), encoded image bytes, a bitmap, or path text from mime data."""
    payload = DropPayload()
    if mime is None:
        return payload
    if mime.hasUrls():
        for url in mime.urls():
            if url.isLocalFile():
                payload.paths.append(url.toLocalFile())
            else:
                payload.unsupported.append(url.toString())
    if payload.paths:
        return payload
    for fmt in _ENCODED_IMAGE_FORMATS:
        if mime.hasFormat(fmt):
            data = bytes(mime.data(fmt).data())
            if data:
                payload.images.append(data)
                return payload
    if mime.hasImage():
        image = mime.imageData()
        if isinstance(image, QImage) and not image.isNull():
            payload.images.append(qimage_to_png(image))
            return payload
    payload.paths.extend(_text_paths(mime))
    return payload


def can_accept(mime: QMimeData | None) -> bool:
    """Cheap check for drag-enter: anything that may hold files or an image."""
    if mime is None:
        return False
    return bool(
        mime.hasUrls()
        or mime.hasImage()
        or any(mime.hasFormat(f) for f in _ENCODED_IMAGE_FORMATS)
        or _text_paths(mime)
    )


class DropArea(QFrame):
    """A frame that accepts drops anywhere inside it and highlights while dragged over.

    Child widgets leave drops to it, so the whole window body is one big target.
    """

    dropped = Signal(object)  # DropPayload

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dropArea")
        self.setAcceptDrops(True)
        self.setProperty("dragging", False)
        self.setAccessibleName("Drop area")
        self.setToolTip("Drop image files, folders, image data or a model (.keras, .h5, .tflite, SavedModel)")
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(6, 6, 6, 6)

    @property
    def body(self) -> QVBoxLayout:
        return self._layout

    def _set_dragging(self, on: bool) -> None:
        self.setProperty("dragging", on)
        # Re-polish so the stylesheet's [dragging="true"] rule takes effect.
        self.style().unpolish(self)
        self.style().polish(self)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if can_accept(event.mimeData()):
            event.acceptProposedAction()
            self._set_dragging(True)
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        event.acceptProposedAction()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:  # noqa: N802
        self._set_dragging(False)
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        self._set_dragging(False)
        # The mime data only lives during the event: read it now, handle it later.
        payload = payload_from_mime(event.mimeData())
        if not payload:
            event.ignore()
            return
        event.acceptProposedAction()
        self.dropped.emit(payload)
