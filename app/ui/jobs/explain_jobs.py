"""The heat-map job: where the model looks in the current image (Grad-CAM or occlusion).

One request is one image, one method and one class; the window's runner makes the newest
request win. The job returns the maps already brought to display size (the original at most
``DISPLAY_MAX_SIDE`` pixels, what the model sees at model resolution) so that moving the
opacity slider only re-blends on the GUI thread (:func:`blend_pictures`), with no new request.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from app.ui.jobs.model_jobs import SessionHandle
from app.ui.jobs.runner import Cancelled, ProgressFn

if TYPE_CHECKING:
    from app.core import Classification, ModelSession

METHOD_TITLES = {"gradcam": "Grad-CAM", "occlusion": "Occlusion"}


@dataclass(frozen=True)
class ExplainRequest:
    """What to explain: which result (by path and history row), how, for which class."""

    path: str
    key: int | None
    method: str
    class_index: int | None  # None: the predicted class
    generation: int


@dataclass
class HeatMap:
    """A computed heat map for one request, ready to blend at display size."""

    request: ExplainRequest
    class_index: int = -1
    class_name: str = ""
    image: np.ndarray | None = None  # the original, RGB uint8, display size
    image_map: np.ndarray | None = None  # 0–1, same size as ``image``
    peak: tuple[int, int] | None = None  # (row, col) in ``image``
    seen: np.ndarray | None = None  # what the model sees, RGB uint8, model resolution
    input_map: np.ndarray | None = None  # 0–1, same size as ``seen``
    unavailable: str | None = None  # the method cannot run on this model (Grad-CAM, no conv)

    @property
    def predicted(self) -> bool:
        return self.request.class_index is None

    @property
    def nothing_speaks(self) -> bool:
        """The map is 0 everywhere: no pixel is evidence for the class."""
        return self.input_map is not None and not bool((self.input_map > 0).any())


class ExplainerCache:
    """One :class:`~app.core.explain.Explainer` per session, made on a worker on first use.

    Grad-CAM traces its function once per model, so the explainer must outlive requests.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._session: ModelSession | None = None
        self._explainer: Any = None

    def get(self, session: ModelSession) -> Any:
        from app.core.explain import Explainer

        with self._lock:
            if self._session is not session:
                self._session, self._explainer = session, Explainer(session)
            return self._explainer


def resize_map(heat: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a 0–1 map (separable ``np.interp``: no OpenCV in the window)."""
    heat = np.asarray(heat, dtype=np.float32)
    if heat.shape == (height, width):
        return heat
    xs = np.linspace(0, heat.shape[1] - 1, width)
    ys = np.linspace(0, heat.shape[0] - 1, height)
    cols = np.arange(heat.shape[1])
    rows = np.arange(heat.shape[0])
    tmp = np.stack([np.interp(xs, cols, r) for r in heat])  # (H, width)
    return np.stack([np.interp(ys, rows, c) for c in tmp.T], axis=1).astype(np.float32)


def _to_display(image: np.ndarray, heat: np.ndarray, peak: tuple[int, int] | None,
                ) -> tuple[np.ndarray, np.ndarray, tuple[int, int] | None]:
    """The original, its map and the peak at display size (the overlay is drawn there)."""
    from app.ui.widgets.qt_images import DISPLAY_MAX_SIDE, qimage_to_rgb, rgb_to_qimage, shrink

    h, w = image.shape[:2]
    if max(h, w) <= DISPLAY_MAX_SIDE:
        return image, heat, peak
    small = qimage_to_rgb(shrink(rgb_to_qimage(image), DISPLAY_MAX_SIDE))
    sh, sw = small.shape[:2]
    scaled_peak = None if peak is None else (min(sh - 1, peak[0] * sh // h),
                                             min(sw - 1, peak[1] * sw // w))
    return small, resize_map(heat, sh, sw), scaled_peak


def _from_file(explainer: Any, request: ExplainRequest, out: HeatMap) -> None:
    (e,) = explainer.explain([request.path], request.method, request.class_index,
                             names=[request.path])
    if not e.ok:
        from app.core import ProbscopeError

        raise ProbscopeError(e.error or "no heat map")
    out.class_index, out.class_name = e.class_index, e.class_name
    out.image, out.image_map, out.peak = _to_display(e.image, e.image_map, e.peak)
    out.seen, out.input_map = explainer.display_input(e), e.input_map


def _from_input(explainer: Any, session: ModelSession, request: ExplainRequest,
                model_input: np.ndarray, original: np.ndarray | None, out: HeatMap) -> None:
    """A pasted image has no file: explain the kept model input, map onto the shown picture."""
    from app.core.explain import PREDICTED, input_geometry, normalize_map
    from app.core.preprocessing import input_to_display

    wanted = PREDICTED if request.class_index is None else request.class_index
    maps = explainer.maps(np.asarray(model_input, np.float32)[None], request.method, [wanted])
    raw = maps.maps[0]
    out.class_index = int(maps.classes[0])
    out.class_name = session.classes[out.class_index]
    out.seen, out.input_map = input_to_display(model_input, session.spec), normalize_map(raw)
    if original is not None:
        geometry = input_geometry(original.shape[:2], session.spec)
        out.image, out.image_map = original, normalize_map(geometry.map_to_original(raw))
        out.peak = geometry.peak(raw)


def explain_job(
    handle: SessionHandle,
    cache: ExplainerCache,
    request: ExplainRequest,
    result: Classification,
    original: np.ndarray | None,
    progress: ProgressFn,
    cancel: threading.Event,
) -> HeatMap:
    """Compute one heat map; Grad-CAM on a model without convolutions is ``unavailable``."""
    from app.core.explain import GradCAMUnavailable

    out = HeatMap(request)
    session = handle.session
    try:
        explainer = cache.get(session)
        if cancel.is_set():
            raise Cancelled
        # One model, one inference at a time: a dropped image waits for this map, not longer.
        with handle.lock:
            if Path(request.path).is_file():
                _from_file(explainer, request, out)
            elif result.model_input is not None:
                _from_input(explainer, session, request, result.model_input, original, out)
            else:
                from app.core import ProbscopeError

                raise ProbscopeError("the image is no longer available to explain")
    except GradCAMUnavailable as exc:
        out.unavailable = exc.message
    return out


def blend_pictures(heat: HeatMap, opacity: float) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(original with the map, what the model sees with the map), RGB uint8, for ``opacity``.

    Cheap at display size, so the GUI thread calls it for every opacity change.
    """
    from app.core.explain import blend, mark_peak

    original = seen = None
    if heat.image is not None and heat.image_map is not None:
        original = blend(heat.image, heat.image_map, opacity)
        if heat.peak is not None:
            original = mark_peak(original, heat.peak)
    if heat.seen is not None and heat.input_map is not None:
        seen = blend(heat.seen, heat.input_map, opacity)
    return original, seen
