"""Dead and sparse ReLU units of a bare ``.tflite``, from the maps LiteRT exposes.

The same counters and report as :class:`app.core.diagnostics.activations.ActivationScanner`,
reduced in numpy from the ReLU outputs :func:`app.core.models.litert_graph.expose_inner_tensors`
made readable (fused into a convolution or a dense op, or standing alone), so ``diagnose``
works on a ``.tflite`` without TensorFlow.
"""

from __future__ import annotations

import numpy as np

from app.core.diagnostics.activations import (
    ACTIVATION_BUDGET,
    HISTOGRAM_EDGES,
    HISTOGRAM_LABELS,
    MAX_BATCH,
    ActivationScanner,
    LayerStats,
)
from app.core.errors import ModelError
from app.core.models.litert_runtime import LiteRTRuntime
from app.core.models.statistics.activation_layers import ActivationLayer
from app.core.session.model_session import ModelSession


class LiteRTActivationScanner(ActivationScanner):
    """:class:`ActivationScanner` for a session whose model is a ``.tflite`` run by LiteRT."""

    def __init__(self, session: ModelSession) -> None:  # noqa: D107 - the class says it
        runtime = session.predictor
        if not isinstance(runtime, LiteRTRuntime):
            raise ModelError(f"{session.loaded.name}: diagnose needs its .tflite run by LiteRT")
        self.loaded = session.loaded
        self._runtime = runtime
        shapes = runtime.relu_shapes(with_features=True)
        self.layers = [ActivationLayer(name, "TFLite op", "relu", shape[-1], True)
                       for name, shape in shapes]
        self.notes = [] if shapes else ["no ReLU-family layers found in the .tflite"]
        self.stats = [LayerStats(np.zeros(layer.units, np.float32)) for layer in self.layers]
        per_image = sum(int(np.prod(shape)) for _, shape in shapes)
        self.batch_size = int(max(1, min(MAX_BATCH, ACTIVATION_BUDGET // max(per_image, 1))))

    def _reduce(self, chunk: np.ndarray) -> tuple[list[tuple[np.ndarray, ...]], np.ndarray]:
        """The Keras scanner's in-graph reductions, in numpy on LiteRT's ReLU maps."""
        outputs, maps = self._runtime.with_relus(chunk)
        reduced = []
        for a in maps:
            a = np.asarray(a, dtype=np.float32).reshape(len(chunk), -1, a.shape[-1])
            # TensorFlow's Bucketize: bin i holds edges[i-1] <= x < edges[i].
            bins = np.searchsorted(HISTOGRAM_EDGES, a.ravel(), side="right")
            reduced.append((np.abs(a).max(axis=(0, 1)), np.mean(a == 0.0, axis=(1, 2)),
                            a.mean(axis=(1, 2)), a.max(),
                            np.bincount(bins, minlength=len(HISTOGRAM_LABELS))))
        return reduced, outputs.probabilities


def session_activation_layers(session: ModelSession) -> list[ActivationLayer]:
    """The hidden activation layers of the session's model, Keras or ``.tflite``, in order."""
    if session.loaded.format == "tflite" and isinstance(session.predictor, LiteRTRuntime):
        return [ActivationLayer(name, "TFLite op", "relu", shape[-1], True)
                for name, shape in session.predictor.relu_shapes(with_features=True)]
    from app.core.diagnostics.activations import find_activation_layers

    return find_activation_layers(session.loaded.model)[0]


def session_layer_activations(session: ModelSession, x: np.ndarray, layer: str) -> np.ndarray:
    """One layer's activation for one prepared input (see ``layer_activations``), Keras or
    ``.tflite``: the latter from the ReLU maps LiteRT exposes."""
    if session.loaded.format == "tflite" and isinstance(session.predictor, LiteRTRuntime):
        names = [name for name, _ in session.predictor.relu_shapes(with_features=True)]
        if layer not in names:
            raise ModelError(f"{session.loaded.name}: no activation layer named {layer!r}")
        batch = np.asarray(x, dtype=np.float32).reshape((1, *session.loaded.input_shape))
        _, maps = session.predictor.with_relus(batch)
        return np.asarray(maps[names.index(layer)][0], dtype=np.float32)
    from app.core.diagnostics.activations import layer_activations

    return layer_activations(session.loaded, x, layer)
