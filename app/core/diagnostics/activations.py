"""ReLU activations across a data set: which layers are dead, which are sparse and healthy.

One multi-output ``keras.Model`` (input → every ReLU-family output → the model output) runs
in a ``tf.function`` that reduces each activation inside the graph, so only per-unit
maxima, per-input zero fractions and a fixed histogram cross into numpy. Memory stays
bounded for VGG-sized layers: the batch shrinks so one batch of activations stays under
``ACTIVATION_BUDGET`` floats, and nothing is stored across batches but running counters.

A *unit* is a Dense neuron, or a channel of a convolution: a channel is dead when it is
zero at every spatial position for every input. Layers are found in Sequential and
Functional models and in nested Sequential/Functional sub-models called once; layers of
a SavedModel graph (``TFSMLayer``), of a sub-model called more than once (shared) and
of ``channels_first`` convolutions (units are taken on the last axis) are not examined.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.core.errors import ModelError
from app.core.models.loading import LOGITS_MODEL_OUTPUT, LOGITS_SIGMOID, LoadedModel
from app.core.models.statistics.activation_layers import (
    RELU_FAMILY,
    ActivationLayer,
    find_activation_layers,
)
from app.core.numeric import softmax
from app.core.tf_runtime import import_keras, import_tensorflow, on_tf_thread

# Histogram bins: negative | exactly 0 | (0, 1e-3) | [1e-3, 1e-2) | ... | [10, 100) | >= 100.
HISTOGRAM_EDGES = (0.0, 1e-30, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
HISTOGRAM_LABELS = ("<0", "0", "<1e-3", "<1e-2", "<0.1", "<1", "<10", "<100", ">=100")
ACTIVATION_BUDGET = 64_000_000  # float32 activations per batch (256 MB)
MAX_BATCH = 64
DEAD_LAYER_FRACTION = 0.5  # a layer is "dead" when at least half of its units never fire
PARTLY_DEAD_FRACTION = 0.1
SPARSE_FRACTION = 0.5  # mean share of zeros per input above which a layer is "sparse"


@dataclass
class LayerStats:
    """Running per-layer counters over a data set; nothing proportional to the data is kept."""

    unit_absmax: np.ndarray
    zero_sum: float = 0.0  # sum over inputs of the share of zeros in that input's activation
    mean_sum: float = 0.0
    maximum: float = float("-inf")
    histogram: np.ndarray = field(default_factory=lambda: np.zeros(len(HISTOGRAM_LABELS), np.int64))
    n: int = 0

    def dead_fraction(self) -> float:
        return float(np.mean(self.unit_absmax == 0.0)) if self.unit_absmax.size else 0.0

    def zero_fraction(self) -> float:
        return self.zero_sum / self.n if self.n else 0.0


def layer_verdict(dead_fraction: float, zero_fraction: float, applicable: bool) -> str:
    """Short verdict for one layer: dead, partly dead, sparse (healthy), healthy.

    Parameters
    ----------
    dead_fraction : float
        Share of units that are zero for every input.
    zero_fraction : float
        Mean share of zeros per input.
    applicable : bool
        False for activations that are never exactly zero.

    Returns
    -------
    str
    """
    if not applicable:
        return "not applicable: never exactly zero"
    if dead_fraction >= DEAD_LAYER_FRACTION:
        return "dead"
    if dead_fraction >= PARTLY_DEAD_FRACTION:
        return "partly dead"
    if zero_fraction >= SPARSE_FRACTION:
        return "sparse, healthy"
    return "healthy"


def probabilities_from_output(output: np.ndarray, loaded: LoadedModel) -> np.ndarray:
    """The model's class probabilities from its raw output tensor (logits or sigmoid heads)."""
    out = np.asarray(output, dtype=np.float32)
    if loaded.logits_source == LOGITS_MODEL_OUTPUT:
        return softmax(out).astype(np.float32)
    if loaded.logits_source == LOGITS_SIGMOID and out.shape[-1] == 1:
        return np.concatenate([1.0 - out, out], axis=1)
    return out


class ActivationScanner:
    """Run a model once per batch, returning its probabilities and updating layer counters.

    Parameters
    ----------
    loaded : LoadedModel
    input_size : (height, width), optional
        For models that accept any size: the size inputs are prepared at.
    """

    def __init__(self, loaded: LoadedModel, input_size: tuple[int, int] | None = None) -> None:
        tf = import_tensorflow()
        keras = import_keras()
        self.loaded = loaded
        model = loaded.model
        self.layers, self.notes = find_activation_layers(model)
        probe = on_tf_thread(keras.Model, model.inputs[0],
                             [e.tensor for e in self.layers] + [model.outputs[0]])
        self.stats = [LayerStats(np.zeros(e.units, np.float32)) for e in self.layers]
        h, w, c = loaded.input_shape
        h, w = (h, w) if h and w else (input_size or (h, w))
        edges = list(HISTOGRAM_EDGES)
        n_bins = len(HISTOGRAM_LABELS)

        def run(x: Any) -> Any:
            outs = probe(x, training=False)
            outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
            reduced = []
            for a in outs[:-1]:
                a = tf.cast(a, tf.float32)
                rank = len(a.shape)
                per_input = list(range(1, rank))
                idx = tf.raw_ops.Bucketize(input=a, boundaries=edges)
                reduced.append((
                    tf.reduce_max(tf.abs(a), axis=list(range(rank - 1))),
                    tf.reduce_mean(tf.cast(tf.equal(a, 0.0), tf.float32), axis=per_input),
                    tf.reduce_mean(a, axis=per_input),
                    tf.reduce_max(a),
                    tf.math.bincount(tf.reshape(idx, [-1]), minlength=n_bins, maxlength=n_bins),
                ))
            return reduced, tf.cast(outs[-1], tf.float32)

        self._fn = tf.function(run, input_signature=[tf.TensorSpec((None, h, w, c), tf.float32)],
                               reduce_retracing=True)
        per_image = sum(_elements(e.tensor, h, w) for e in self.layers)
        self.batch_size = int(max(1, min(MAX_BATCH, ACTIVATION_BUDGET // max(per_image, 1))))

    def update(self, inputs: np.ndarray) -> np.ndarray:
        """Add a batch of model inputs to the counters; return the model's probabilities."""
        parts = []
        x = np.asarray(inputs, dtype=np.float32)
        for start in range(0, len(x), self.batch_size):
            chunk = x[start : start + self.batch_size]
            reduced, probabilities = self._reduce(chunk)
            for s, (absmax, zeros, means, top, hist) in zip(self.stats, reduced, strict=True):
                s.unit_absmax = np.maximum(s.unit_absmax, absmax)
                s.zero_sum += float(np.sum(zeros, dtype=np.float64))
                s.mean_sum += float(np.sum(means, dtype=np.float64))
                s.maximum = max(s.maximum, float(top))
                s.histogram += hist.astype(np.int64)
                s.n += len(chunk)
            parts.append(probabilities)
        if not parts:
            return np.zeros((0, self.loaded.n_classes), np.float32)
        return np.concatenate(parts).astype(np.float32, copy=False)

    def _reduce(self, chunk: np.ndarray) -> tuple[list[tuple[np.ndarray, ...]], np.ndarray]:
        """Per layer (unit |max|, zero share per input, mean per input, max, histogram), and
        the class probabilities, for one chunk of inputs."""
        try:
            reduced, out = on_tf_thread(self._run_numpy, chunk)
        except Exception as exc:  # shape mismatches surface as TF errors
            raise ModelError(f"{self.loaded.name}: the model fails on these inputs "
                             f"({str(exc).strip()[:200]})") from None
        return reduced, probabilities_from_output(out, self.loaded)

    def _run_numpy(self, chunk: np.ndarray) -> tuple[list[tuple[np.ndarray, ...]], np.ndarray]:
        reduced, out = self._fn(chunk)
        return [tuple(t.numpy() for t in layer) for layer in reduced], out.numpy()

    def report(self) -> list[dict[str, Any]]:
        """One JSON-ready row per layer (see :func:`layer_verdict` for ``verdict``)."""
        rows = []
        for e, s in zip(self.layers, self.stats, strict=True):
            dead, zeros = s.dead_fraction(), s.zero_fraction()
            rows.append({
                "name": e.name,
                "class_name": e.class_name,
                "activation": e.activation,
                "units": e.units,
                "dead_fraction": dead,
                "zero_fraction": zeros,
                "dead_units": int(np.sum(s.unit_absmax == 0.0)),
                "applicable": e.applicable,
                "verdict": layer_verdict(dead, zeros, e.applicable),
                "mean": s.mean_sum / s.n if s.n else 0.0,
                "max": s.maximum if s.n else 0.0,
                "histogram": {"labels": list(HISTOGRAM_LABELS),
                              "counts": [int(c) for c in s.histogram]},
            })
        return rows


def _elements(tensor: Any, h: int | None, w: int | None) -> int:
    # Unknown spatial sizes (a model taking any size) are bounded by the input's.
    n = 1
    for d in tensor.shape[1:]:
        n *= int(d) if d is not None else max(h or 64, w or 64)
    return n


# -- one image, one layer: for the window's layer picker ------------------------------------
_PROBES: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def layer_activations(loaded: LoadedModel, x: np.ndarray, layer_name: str) -> np.ndarray:
    """The activation of one layer for one prepared model input.

    Parameters
    ----------
    loaded : LoadedModel
        ``session.loaded``.
    x : ndarray of shape (height, width, channels) or (1, height, width, channels)
        A model input as prepared by the session (``Classification.model_input``).
    layer_name : str
        A name from :func:`find_activation_layers` (``sub/inner`` for nested layers).

    Returns
    -------
    ndarray
        The layer output without the batch axis, float32: (units,) for Dense,
        (h, w, channels) for Conv2D.

    Raises
    ------
    ModelError
        No such activation layer.
    """
    keras = import_keras()
    return on_tf_thread(_activation_of_one, loaded, layer_name, keras, _as_batch(x))


def _activation_of_one(loaded: LoadedModel, layer_name: str, keras: Any, batch: np.ndarray) -> np.ndarray:
    # Called eagerly: one image at a time needs no compiled graph.
    probe = _probe_for(loaded, layer_name, keras)
    return np.asarray(probe(batch, training=False), dtype=np.float32)[0]


def _as_batch(x: np.ndarray) -> np.ndarray:
    batch = np.asarray(x, dtype=np.float32)
    return batch[None] if batch.ndim == 3 else batch


def _probe_for(loaded: LoadedModel, layer_name: str, keras: Any) -> Any:
    model = loaded.model
    cache = _PROBES.setdefault(model, {})
    fn = cache.get(layer_name)
    if fn is None:
        layers, _ = find_activation_layers(model)
        match = [e for e in layers if e.name == layer_name]
        if not match:
            names = ", ".join(e.name for e in layers[:8]) or "none"
            raise ModelError(f"{loaded.name}: no activation layer '{layer_name}' (layers: {names})")
        fn = keras.Model(model.inputs[0], match[0].tensor)
        cache[layer_name] = fn
    return fn


def activation_summary(activation: np.ndarray) -> dict[str, Any]:
    """Sparsity and value summary of one activation (one image, one layer).

    Parameters
    ----------
    activation : ndarray
        A layer output for one input, units on the last axis.

    Returns
    -------
    dict
        ``zero_fraction`` (share of exact zeros), ``silent_units`` (share of units zero
        everywhere in this image — not "dead", which needs a data set), ``mean``, ``max``
        and ``histogram`` over :data:`HISTOGRAM_LABELS`.
    """
    a = np.asarray(activation, dtype=np.float32)
    units = a.reshape(-1, a.shape[-1]) if a.ndim > 1 else a.reshape(1, -1)
    idx = np.searchsorted(np.asarray(HISTOGRAM_EDGES, np.float32), a.ravel(), side="right")
    return {
        "zero_fraction": float(np.mean(a == 0.0)) if a.size else 0.0,
        "silent_units": float(np.mean(np.all(units == 0.0, axis=0))) if a.size else 0.0,
        "mean": float(a.mean()) if a.size else 0.0,
        "max": float(a.max()) if a.size else 0.0,
        "histogram": {"labels": list(HISTOGRAM_LABELS),
                      "counts": [int(c) for c in np.bincount(idx, minlength=len(HISTOGRAM_LABELS))]},
    }


__all__ = ["RELU_FAMILY", "ActivationLayer", "find_activation_layers"]
