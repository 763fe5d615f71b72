"""The Diagnostics panel's work, as module-level functions run on a worker thread.

Each job takes its inputs plus the :class:`~app.ui.jobs.runner.JobRunner` progress callback
and cancel event, and returns plain data; none touches a widget. The core (and with it
TensorFlow) is imported inside the jobs so that importing the panel stays cheap.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from app.core import ImageError, ProbscopeError
from app.ui.jobs.runner import Cancelled, ProgressFn

if TYPE_CHECKING:
    from app.core import ModelSession
    from app.core.diagnostics import DiagnosisResult, WhatIfPrediction
    from app.core.session import Classification


@dataclass(frozen=True)
class LayerInfo:
    """One hidden activation layer, as offered in the layer picker (no graph tensors kept)."""

    name: str
    class_name: str
    activation: str
    units: int
    applicable: bool


@dataclass
class ImageActivation:
    """One layer's activation for the current image, with its summary numbers."""

    image: str  # the result's path or name
    layer: str
    activation: np.ndarray  # without the batch axis: (units,) or (h, w, channels)
    summary: dict[str, Any]
    model_input: np.ndarray  # kept so switching layers does not re-decode the image


@dataclass
class WhatIfRun:
    """The current image under the recorded preprocessing and the common mistakes."""

    image: str
    predictions: list[WhatIfPrediction] = field(default_factory=list)
    from_model_input: bool = False  # the file was gone: rebuilt from what the model saw


def diagnose_job(
    session: ModelSession,
    data: str | list[str],
    progress: ProgressFn,
    cancel: threading.Event,
) -> DiagnosisResult:
    """Every diagnostic over a folder, an ``.npz`` or a list of image files."""
    from app.core.diagnostics import diagnose_model

    try:
        return diagnose_model(session, data, progress, cancel.is_set)
    except ProbscopeError:
        if cancel.is_set():  # the core reports a cancel as DataError("cancelled")
            raise Cancelled from None
        raise


def layers_job(session: ModelSession, progress: ProgressFn, cancel: threading.Event) -> list[LayerInfo]:
    """The model's hidden activation layers, in model order (ReLU family and the others)."""
    from app.core.diagnostics import session_activation_layers

    found = session_activation_layers(session)
    return [LayerInfo(e.name, e.class_name, e.activation, e.units, e.applicable) for e in found]


def model_input_for(session: ModelSession, result: Classification) -> np.ndarray:
    """The result's model input, re-prepared from its file when the window did not keep it."""
    if result.model_input is not None:
        return np.asarray(result.model_input, dtype=np.float32)
    path = Path(result.path)
    if not path.is_file():
        raise ImageError(f"{path.name or result.path}: the image is no longer available")
    batch = session.prepare([str(path)])
    if not batch.ok_indices:
        raise ImageError(batch.errors[0] or f"{path.name}: cannot be read")
    return batch.inputs[0]


def activation_job(
    session: ModelSession,
    result: Classification,
    model_input: np.ndarray | None,
    layer: str,
    progress: ProgressFn,
    cancel: threading.Event,
) -> ImageActivation:
    """One layer's activation for one image (``model_input`` None: prepare it first)."""
    from app.core.diagnostics import activation_summary, session_layer_activations

    x = model_input_for(session, result) if model_input is None else model_input
    if cancel.is_set():
        raise Cancelled
    activation = session_layer_activations(session, x, layer)
    return ImageActivation(result.path, layer, activation, activation_summary(activation), x)


def what_if_job(
    session: ModelSession,
    result: Classification,
    model_input: np.ndarray | None,
    progress: ProgressFn,
    cancel: threading.Event,
) -> WhatIfRun:
    """The prediction as recorded and under the two most common preprocessing mistakes.

    From the image file when it still exists; otherwise from what the model saw (the
    model input with its value transforms undone), which is the same image at model size.
    """
    from app.core.diagnostics import what_if

    path = Path(result.path)
    name = path.name or result.path
    if path.is_file():
        return WhatIfRun(result.path, what_if(session, str(path), name))
    if model_input is None and result.model_input is None:
        raise ImageError(f"{name}: the image is no longer available")
    from app.core.preprocessing import input_to_display

    x = result.model_input if model_input is None else model_input
    pixels = input_to_display(np.asarray(x, dtype=np.float32), session.spec)
    if cancel.is_set():
        raise Cancelled
    return WhatIfRun(result.path, what_if(session, pixels, name), from_model_input=True)
