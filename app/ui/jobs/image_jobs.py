"""Image jobs: classify one image and render it, re-render a history row, decode a thumbnail."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtGui import QImage

from app.core import ProbscopeError
from app.core.session import Classification
from app.ui.jobs.model_jobs import SessionHandle
from app.ui.jobs.runner import ProgressFn, one_line


@dataclass
class ImageSource:
    """One image to classify: a file path, or encoded bytes from a paste or drag."""

    name: str
    path: str | None = None
    data: bytes | None = None

    @property
    def source(self) -> str | bytes:
        return self.path if self.path is not None else (self.data or b"")


@dataclass
class Shown:
    """A result with the pictures the window needs to show it."""

    result: Classification
    original: QImage | None = None  # downscaled to DISPLAY_MAX_SIDE
    seen: QImage | None = None  # at model resolution, as the model sees it
    thumb: QImage | None = None
    generation: int = 0
    item: ImageSource | None = None  # what was asked for (to classify again with a newer model)


def _render(
    handle: SessionHandle, source: str | bytes | None, model_input: Any
) -> tuple[QImage | None, QImage | None, QImage | None]:
    """(original downscaled, what the model sees, thumbnail); None where unavailable."""
    from app.core.images import decode_image
    from app.core.preprocessing import input_to_display
    from app.ui.widgets.qt_images import DISPLAY_MAX_SIDE, rgb_to_qimage, shrink, thumbnail

    original = seen = thumb = None
    if source is not None:
        try:
            rgb = decode_image(source)
            original = shrink(rgb_to_qimage(rgb), DISPLAY_MAX_SIDE)
            thumb = thumbnail(rgb)
        except ProbscopeError:
            pass  # the result row already carries the decode error
    if model_input is not None:
        seen = rgb_to_qimage(input_to_display(model_input, handle.session.spec))
    return original, seen, thumb


def classify_one_job(
    handle: SessionHandle, item: ImageSource, progress: ProgressFn, cancel: threading.Event
) -> Shown:
    """Classify one image and render what was given and what the model saw."""
    try:
        with handle.lock:
            result = handle.session.classify([item.source], names=[item.name], keep_inputs=True)[0]
        original, seen, thumb = _render(handle, item.source, result.model_input)
        if item.path is not None:
            result.model_input = None  # re-derivable from the file; keep history small
        return Shown(result, original, seen, thumb, handle.generation, item)
    except Exception as exc:
        return Shown(Classification(path=item.name, error=one_line(exc)),
                     generation=handle.generation, item=item)


def view_job(
    handle: SessionHandle, result: Classification, progress: ProgressFn, cancel: threading.Event
) -> Shown:
    """Re-render a history row's pictures from its file (only the thumbnail is kept per row)."""
    try:
        model_input = result.model_input
        path = Path(result.path)
        on_disk = path.is_file()
        if model_input is None and on_disk and result.ok:
            batch = handle.session.prepare([str(path)])
            model_input = batch.inputs[0] if batch.ok_indices else None
        original, seen, _ = _render(handle, str(path) if on_disk else None, model_input)
        return Shown(result, original, seen, None, handle.generation)
    except Exception:
        return Shown(result, generation=handle.generation)


def thumbnail_job(
    key: int, path: str, progress: ProgressFn, cancel: threading.Event
) -> tuple[int, QImage | None]:
    """Decode one file into a history thumbnail (rows ask for these only when visible)."""
    try:
        from app.core.images import decode_image
        from app.ui.widgets.qt_images import thumbnail

        return key, thumbnail(decode_image(path))
    except Exception:
        return key, None
