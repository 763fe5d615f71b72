"""Explaining images for a model session: which pixels made it say what it said.

:class:`Explainer` is made once per :class:`~app.core.session.ModelSession` (it traces
Grad-CAM's function on first use) and then called for any batch, method and class::

    from app.core import open_model
    from app.core.explain import Explainer

    explainer = Explainer(open_model("digits.keras"))
    for e in explainer.explain(["photo.png"], method="occlusion"):
        print(e.class_name, e.peak)          # peak: (row, col) in photo.png's pixels
        png_rgb = e.overlay(opacity=0.5)     # the photo with the heat map over it

It is safe to call from a worker thread: TensorFlow work runs on the TensorFlow thread,
the rest is NumPy/OpenCV on the caller's thread.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from app.core.errors import CardError, ProbscopeError
from app.core.explain.geometry import InputGeometry, input_geometry, original_image
from app.core.explain.gradcam import GradCAM
from app.core.explain.maps import PREDICTED, ClassMaps
from app.core.explain.occlusion import OcclusionPlan, occlusion_maps, occlusion_plan
from app.core.explain.overlay import (
    DEFAULT_COLORMAP,
    DEFAULT_OPACITY,
    blend,
    mark_peak,
    normalize_map,
)
from app.core.files import atomic_write
from app.core.images.opencv import cv2
from app.core.preprocessing.pipeline import ImageSource, input_to_display, prepare_input
from app.core.session.model_session import ModelSession

METHODS = ("gradcam", "occlusion")


@dataclass
class Explanation:
    """One image's heat map for one class, at model-input and at original resolution."""

    path: str
    method: str
    class_index: int = -1
    class_name: str = ""
    peak: tuple[int, int] | None = None  # (row, col) in the original image's pixels
    input_map: np.ndarray | None = field(default=None, repr=False)  # (H, W) 0–1, model input
    image_map: np.ndarray | None = field(default=None, repr=False)  # (h, w) 0–1, original
    image: np.ndarray | None = field(default=None, repr=False)  # original RGB uint8
    model_input: np.ndarray | None = field(default=None, repr=False)  # (H, W, C) float32
    geometry: InputGeometry | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def overlay(self, opacity: float = DEFAULT_OPACITY, colormap: str = DEFAULT_COLORMAP,
                marker: bool = True) -> np.ndarray:
        """The original image with the map over it (and a cross at the peak): RGB uint8."""
        if not self.ok or self.image is None or self.image_map is None:
            raise ProbscopeError(f"{self.path}: no heat map ({self.error})")
        out = blend(self.image, self.image_map, opacity, colormap)
        return mark_peak(out, self.peak) if marker and self.peak is not None else out

    def input_overlay(self, display: np.ndarray, opacity: float = DEFAULT_OPACITY,
                      colormap: str = DEFAULT_COLORMAP) -> np.ndarray:
        """"What the model sees" (``input_to_display`` of the input) with the map over it."""
        if self.input_map is None:
            raise ProbscopeError(f"{self.path}: no heat map ({self.error})")
        return blend(display, self.input_map, opacity, colormap)

    def to_json(self, map_path: str | None = None) -> dict[str, object]:
        """The ``explain --json`` line: path, class, method, peak [row, col], map_path."""
        return {"path": self.path, "class": self.class_name if self.ok else None,
                "index": self.class_index if self.ok else None, "method": self.method,
                "peak": list(self.peak) if self.peak is not None else None,
                "map_path": map_path, "error": self.error}


class Explainer:
    """Grad-CAM and occlusion maps for one model session.

    Parameters
    ----------
    session : ModelSession
        The open model (its preprocessing, predictor and classes are used).
    patch, stride : int, optional
        Occlusion patch side and step in model-input pixels (default: a twelfth of the
        input's shorter side, at least 3, and half a patch, at least 2).
    fill : {"mean", "zero"} or float, default="mean"
        What an occluding patch holds, in model units.
    """

    def __init__(self, session: ModelSession, patch: int | None = None, stride: int | None = None,
                 fill: str | float = "mean") -> None:
        self.session = session
        size = session.loaded.input_shape[:2]
        self.plan: OcclusionPlan = occlusion_plan((size[0] or 32, size[1] or 32), patch, stride)
        self.fill = fill
        self._gradcam: GradCAM | None = None
        self._lock = threading.Lock()

    @property
    def gradcam(self) -> GradCAM:
        """Grad-CAM for this model, built (and traced) on first use; raises GradCAMUnavailable."""
        with self._lock:
            if self._gradcam is None:
                self._gradcam = GradCAM(self.session.loaded)
            return self._gradcam

    def class_index(self, name: str | int | None) -> int:
        """The index of a class name (or ``PREDICTED`` for None); CardError lists the classes."""
        if name is None:
            return PREDICTED
        classes = self.session.classes
        if isinstance(name, int) and not isinstance(name, bool) and 0 <= name < len(classes):
            return name
        if str(name) in classes:
            return classes.index(str(name))
        raise CardError(f"class {name!r} is not one of the model's classes: {', '.join(classes)}")

    def maps(self, inputs: np.ndarray, method: str = "gradcam",
             classes: Sequence[int] | None = None) -> ClassMaps:
        """Raw maps (model-input resolution) for a prepared batch: what the window's worker calls.

        Parameters
        ----------
        inputs : ndarray of shape (n, H, W, C), float32
            Model inputs (``Classification.model_input`` stacked, or ``session.prepare``).
        method : {"gradcam", "occlusion"}
        classes : sequence of int, optional
            Class per image; -1 or None: the predicted class.
        """
        if method == "gradcam":
            return self.gradcam(inputs, classes)
        if method == "occlusion":
            return occlusion_maps(self.session.infer, inputs, classes, self.plan, self.fill)
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")

    def explain(self, sources: Sequence[ImageSource], method: str = "gradcam",
                class_name: str | int | None = None,
                names: Sequence[str] | None = None) -> list[Explanation]:
        """Decode, preprocess and explain images; a failing image gets an ``error``, not an exception.

        Raises
        ------
        CardError
            ``class_name`` is not one of the model's classes.
        GradCAMUnavailable
            ``method="gradcam"`` on a model without a readable convolutional layer.
        """
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
        wanted = self.class_index(class_name)
        if method == "gradcam":
            _ = self.gradcam  # fail before decoding anything
        names = list(names) if names is not None else [
            str(s) if isinstance(s, (str, os.PathLike)) else f"image {i + 1}"
            for i, s in enumerate(sources)]
        out = [Explanation(path=n, method=method) for n in names]
        ready: list[tuple[int, np.ndarray, np.ndarray]] = []
        for i, source in enumerate(sources):
            try:
                label = os.path.basename(names[i])
                # The exact tensor classify gives (each backend's own decoder), and the image
                # as that backend oriented it, for the overlay and the peak.
                x = prepare_input(source, self.session.spec, label)
                image = original_image(source, self.session.spec, label)
            except ProbscopeError as exc:
                out[i].error = exc.message
                continue
            ready.append((i, image, x))
        if not ready:
            return out
        batch = np.stack([x for _, _, x in ready]).astype(np.float32)
        result = self.maps(batch, method, [wanted] * len(ready))
        for k, (i, image, x) in enumerate(ready):
            self._fill(out[i], result.maps[k], int(result.classes[k]), image, x)
        return out

    def _fill(self, e: Explanation, raw: np.ndarray, index: int, image: np.ndarray,
              x: np.ndarray) -> None:
        geometry = input_geometry(image.shape[:2], self.session.spec)
        e.class_index, e.class_name = index, self.session.classes[index]
        e.input_map = normalize_map(raw)
        e.image_map = normalize_map(geometry.map_to_original(raw))
        e.peak = geometry.peak(raw)
        e.image, e.model_input, e.geometry = image, x, geometry

    def display_input(self, e: Explanation) -> np.ndarray:
        """"What the model sees" for an explanation, as RGB uint8 at model resolution."""
        return input_to_display(e.model_input, self.session.spec)


def save_overlay(explanation: Explanation, path: str | os.PathLike[str],
                 opacity: float = DEFAULT_OPACITY, colormap: str = DEFAULT_COLORMAP) -> str:
    """Write the overlay as a PNG, atomically; returns the path written."""
    rgb = explanation.overlay(opacity, colormap)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ProbscopeError(f"{path}: the overlay could not be encoded as PNG")
    return str(atomic_write(path, encoded.tobytes()))
