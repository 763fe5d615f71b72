"""The probe's statistics for a bare ``.tflite`` classifier, in numpy, from LiteRT's outputs.

The same vector :func:`app.core.models.statistics.layer_statistics.build_stats_heads` traces
into a Keras model's call, slot for slot — per-channel mean and standard deviation of each
ReLU-family feature map (a dense ReLU is its own mean), 3 x 3 grid means of the last two maps,
the penultimate features, then max logit, energy and top probability — computed from the
tensors :func:`app.core.models.litert_graph.expose_inner_tensors` made readable, so the
"none of the classes" probe works on a ``.tflite`` without TensorFlow.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from app.core.models.statistics.layer_statistics import LOGIT_STATS, StatsLayout
from app.core.models.statistics.shape_statistics import GRID, pool_matrix

SPATIAL_LAYERS = 2  # as build_stats_heads: grid means of the last two feature maps


def litert_stats_layout(relus: Sequence[tuple[str, tuple[int, ...]]], feature_width: int,
                        grid: int = GRID) -> StatsLayout:
    """Where each statistic sits, for ReLU outputs ``(name, shape without the batch axis)``.

    Parameters
    ----------
    relus : sequence of (str, tuple of int)
        Each ReLU-family output, in the model's order.
    feature_width : int
        Width of the penultimate features, 0 when the file has none.
    grid : int, default=3

    Returns
    -------
    StatsLayout
    """
    layout = StatsLayout()
    for name, shape in relus:
        layout.add(name, "mean", shape[-1] if len(shape) == 3 else int(np.prod(shape)))
        if len(shape) == 3:
            layout.add(name, "std", shape[-1])
    for name, shape in _spatial(relus):
        layout.add(f"{name}@{grid}x{grid}", "mean", grid * grid * shape[-1])
    if feature_width:
        layout.add("features", "features", feature_width)
    for stat in LOGIT_STATS:
        layout.add("logits", stat, 1)
    if not relus:
        layout.notes.append("no ReLU-family layers found in the .tflite: the probe uses "
                            + ("features and logits only" if feature_width else "logits only"))
    return layout


def _spatial(relus: Sequence[tuple[str, tuple[int, ...]]]) -> list[tuple[str, tuple[int, ...]]]:
    maps = [(name, shape) for name, shape in relus if len(shape) == 3]
    return maps[max(0, len(maps) - SPATIAL_LAYERS):]


def litert_stats(relus: Sequence[np.ndarray], features: np.ndarray | None, logits: np.ndarray,
                 probabilities: np.ndarray, grid: int = GRID) -> np.ndarray:
    """The statistics vector of each image, ``(n, width)`` float32, in the layout's order.

    Parameters
    ----------
    relus : sequence of ndarray
        Each ReLU output, ``(n, h, w, c)`` or ``(n, units)``.
    features : ndarray of shape (n, d), optional
    logits, probabilities : ndarray of shape (n, k)
    grid : int, default=3

    Returns
    -------
    ndarray of shape (n, width), float32
    """
    n = len(logits)
    parts: list[np.ndarray] = []
    for a in relus:
        a = np.asarray(a, dtype=np.float32)
        if a.ndim == 4:
            mean = a.mean(axis=(1, 2))
            var = np.square(a - mean[:, None, None, :]).mean(axis=(1, 2))
            parts += [mean, np.sqrt(var + 1e-12)]
        else:
            parts.append(a.reshape(n, -1))
    maps = [np.asarray(a, dtype=np.float32) for a in relus if np.ndim(a) == 4]
    for a in maps[max(0, len(maps) - SPATIAL_LAYERS):]:
        _, h, w, c = a.shape
        pool = np.kron(pool_matrix(h, grid), pool_matrix(w, grid))
        parts.append(np.einsum("pq,nqc->npc", pool, a.reshape(n, h * w, c)).reshape(n, -1))
    if features is not None:
        parts.append(np.asarray(features, dtype=np.float32).reshape(n, -1))
    z = np.asarray(logits, dtype=np.float64)
    top = z.max(axis=1, keepdims=True)
    msp = np.asarray(probabilities, dtype=np.float64).max(axis=1, keepdims=True)
    parts += [top, top - np.log(np.maximum(msp, 1e-30)), msp]
    return np.concatenate(parts, axis=1).astype(np.float32)
