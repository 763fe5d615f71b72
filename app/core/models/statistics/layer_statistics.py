"""Probe statistics computed inside the model's one compiled inference call.

``build_stats_heads`` extends what :func:`app.core.models.loading.find_heads` builds: one functional
``keras.Model`` whose outputs are the classifier's output, the input of its last layer (the
penultimate features, or the logits before a ``Softmax`` layer) and every ReLU-family activation
found by :func:`app.core.models.statistics.activation_layers.find_activation_layers`. In the same graph each activation is
reduced to per-channel spatial mean and standard deviation (a Dense activation is its own mean),
the last two conv activations also get per-channel means on a 3 x 3 grid (where the strokes
are: letters and digits share global statistics but not their layout; :mod:`app.core.models.statistics.shape_statistics`), and
the logit statistics (max logit, energy, maximum softmax probability) are appended, so
the predictor's single batched call returns logits, probabilities, features and one fixed-width
float32 statistics vector per image. Only that vector crosses into numpy. Callers may add
``ExtraHead`` columns computed from the model input by other code in the same call (the no-class
check's digit prior: a second network).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.core.models.loading import LOGITS_MODEL_OUTPUT, LOGITS_SIGMOID, LoadedModel
from app.core.models.statistics.activation_layers import find_activation_layers
from app.core.models.statistics.shape_statistics import (
    GRID,
    INPUT_STATS,
    grid_means,
    input_shape_stats,
)
from app.core.tf_runtime import import_keras, import_tensorflow, on_tf_thread

LOGIT_STATS = ("max_logit", "energy", "msp")


@dataclass(frozen=True)
class ExtraHead:
    """Statistics computed from the model input by the caller's code, in the same call.

    ``build(tf, x)`` is traced inside the predictor's ``tf.function`` and returns an
    ``(n, width)`` float32 tensor; ``module`` holds any weights it reads (for export).
    """

    layer: str
    stat: str
    width: int
    build: Callable[[Any, Any], Any]
    module: Any = None


@dataclass
class StatsLayout:
    """Where each statistic sits in the vector: ``(layer, stat, start, width)`` per slot."""

    slots: list[tuple[str, str, int, int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def width(self) -> int:
        return self.slots[-1][2] + self.slots[-1][3] if self.slots else 0

    def add(self, layer: str, stat: str, width: int) -> None:
        self.slots.append((layer, stat, self.width, int(width)))

    def columns(self, stats: tuple[str, ...]) -> list[int]:
        """Indices of the vector's entries whose stat is in ``stats``."""
        return [i for _, s, a, w in self.slots if s in stats for i in range(a, a + w)]


def _producer(tensor: Any) -> Any:
    history = getattr(tensor, "_keras_history", None)
    return history.operation if history is not None else None


def _logit_maker(loaded: LoadedModel, keras: Any, tf: Any) -> tuple[Any, Any]:
    """(tensor feeding the last layer, fn(output, that tensor) -> logits) for the model's ending.

    Mirrors the cases of ``find_heads``; anything else falls back to ``log(p)``.
    """
    out = loaded.model.outputs[0]
    last = _producer(out)
    act = getattr(getattr(last, "activation", None), "__name__", None)
    head_input = getattr(last, "input", None)
    if isinstance(last, keras.layers.Dense) and act == "softmax":
        def logits(_: Any, feats: Any) -> Any:
            z = tf.matmul(tf.cast(feats, last.kernel.dtype), last.kernel)
            return tf.cast(z + last.bias if last.use_bias else z, tf.float32)
        return head_input, logits
    if isinstance(last, keras.layers.Softmax) or (
            isinstance(last, keras.layers.Activation) and act == "softmax"):
        return head_input, lambda _, z: tf.cast(z, tf.float32)
    if isinstance(last, keras.layers.Dense) and act == "linear":
        return head_input, lambda o, _: tf.cast(o, tf.float32)
    if isinstance(last, keras.layers.Dense) and act == "sigmoid" and loaded.logits_source == LOGITS_SIGMOID:
        def binary(_: Any, feats: Any) -> Any:
            z = tf.matmul(tf.cast(feats, last.kernel.dtype), last.kernel)
            z = tf.cast(z + last.bias if last.use_bias else z, tf.float32)
            return tf.concat([tf.zeros_like(z), z], axis=1)  # softmax([0, z]) = [1-σ(z), σ(z)]
        return head_input, binary
    # An ending that hides its kind (a SavedModel's TFSMLayer, a Dense under a Dropout): what
    # feeds it is no feature vector, and may lie outside the graph (a layer called twice).
    head_input = head_input if isinstance(last, keras.layers.Dense) else None
    if loaded.logits_source == LOGITS_MODEL_OUTPUT:  # asked, and answered logits
        return head_input, lambda o, _: tf.cast(o, tf.float32)
    return head_input, lambda o, _: tf.math.log(tf.maximum(tf.cast(o, tf.float32), 1e-30))


def build_stats_heads(loaded: LoadedModel, spatial_layers: int = 2, grid: int = GRID,
                      input_stats: bool = False,
                      extra_heads: Sequence[ExtraHead] = ()) -> tuple[Any, StatsLayout]:
    """A callable ``x -> (logits, probabilities, features, stats)`` and the stats layout.

    Parameters
    ----------
    loaded : LoadedModel
        A model loaded by :func:`app.core.models.loading.load_model`.
    spatial_layers : int, default=2
        The last this many conv (rank-4) ReLU-family outputs also get per-channel means on a
        ``grid x grid`` grid; their slots are ``("<layer>@<g>x<g>", "mean")``.
    grid : int, default=3
        Grid side for those means.
    input_stats : bool, default=False
        Append the input-space shape statistics of :func:`app.core.models.statistics.shape_statistics.input_shape_stats` (slots
        ``("input", name)``).
    extra_heads : sequence of ExtraHead, default=()
        Appended, in order, before the logit statistics.

    Returns
    -------
    heads : callable
        To be traced inside the predictor's ``tf.function``; one forward pass.
    layout : StatsLayout
        The slots of the statistics vector, and notes (e.g. no ReLU-family layer found).
    """
    return on_tf_thread(_build, loaded, spatial_layers, grid, input_stats, tuple(extra_heads))


def _build(loaded: LoadedModel, spatial_layers: int, grid: int, input_stats: bool,
           extra_heads: tuple[ExtraHead, ...]) -> tuple[Any, StatsLayout]:
    keras, tf = import_keras(), import_tensorflow()
    model = loaded.model
    entries, notes = find_activation_layers(model)
    head_input, make_logits = _logit_maker(loaded, keras, tf)
    # The last layer's input is the feature vector already; keep activations that are not it.
    relus = [e for e in entries if e.applicable and e.tensor is not head_input]
    has_feats = head_input is not None and len(head_input.shape) == 2 and loaded.has_features
    if has_feats and relus and len(relus[-1].tensor.shape) == 2 and (
            relus[-1].units == int(head_input.shape[-1])):
        # Dense(relu) -> Dropout -> Dense(softmax): at inference the features are that layer.
        relus = relus[:-1]
    layout = StatsLayout(notes=list(notes))
    for e in relus:
        rank = len(e.tensor.shape)
        layout.add(e.name, "mean", e.units)
        if rank == 4:
            layout.add(e.name, "std", e.units)
    convs = [i for i, e in enumerate(relus) if len(e.tensor.shape) == 4]
    spatial = convs[max(0, len(convs) - spatial_layers):] if spatial_layers > 0 else []
    for i in spatial:
        layout.add(f"{relus[i].name}@{grid}x{grid}", "mean", grid * grid * relus[i].units)
    if has_feats:
        layout.add("features", "features", int(head_input.shape[-1]))
    if input_stats:
        for name, width in INPUT_STATS:
            layout.add("input", name, width)
    for extra in extra_heads:
        layout.add(extra.layer, extra.stat, extra.width)
    for name in LOGIT_STATS:
        layout.add("logits", name, 1)
    if not any(e.applicable for e in entries):
        # A Dense(relu) that is itself the feature vector is read as features: nothing lost.
        # A SavedModel graph hides its layers (a note above says so): none found is not none.
        which = "that can be examined" if notes else ""
        layout.notes.append(f"no ReLU-family layers{' ' + which if which else ''}: the probe uses "
                            + ("features and logits only" if has_feats else "logits only"))
    tensors = [model.outputs[0], head_input if head_input is not None else model.outputs[0]]
    graph = keras.Model(model.inputs, tensors + [e.tensor for e in relus])
    ranks = [len(e.tensor.shape) for e in relus]
    units = [int(e.units) for e in relus]
    feat_width = int(head_input.shape[-1]) if has_feats else 0

    def heads(x: Any) -> tuple[Any, Any, Any, Any]:
        # On one image each graph op costs microseconds of scheduling, more than its
        # arithmetic: no op reads the batch size, and the energy comes from the softmax.
        res = graph(x, training=False)
        out, before = res[0], res[1]
        logits = make_logits(out, before)
        probs = tf.nn.softmax(logits)
        acts = [tf.cast(t, tf.float32) for t in res[2:]]
        parts = []
        for t, rank, unit in zip(acts, ranks, units, strict=True):
            if rank == 4:
                m = tf.reduce_mean(t, axis=[1, 2], keepdims=True)
                var = tf.reduce_mean(tf.math.squared_difference(t, m), axis=[1, 2])
                parts += [tf.reshape(m, (-1, unit)), tf.sqrt(var + 1e-12)]
            else:
                parts.append(tf.reshape(t, (-1, unit)))
        parts += [grid_means(tf, acts[i], grid) for i in spatial]
        feats = tf.cast(tf.reshape(before, (-1, feat_width)), tf.float32) if has_feats else None
        if has_feats:
            parts.append(feats)
        if input_stats:
            parts += input_shape_stats(tf, x)
        parts += [tf.cast(extra.build(tf, x), tf.float32) for extra in extra_heads]
        top = tf.reduce_max(logits, axis=1, keepdims=True)
        msp = tf.reduce_max(probs, axis=1, keepdims=True)
        # log-sum-exp from the softmax already computed: top - log(p_max) = logsumexp(z).
        parts += [top, top - tf.math.log(msp), msp]
        return logits, probs, feats, tf.concat(parts, axis=1)

    return heads, layout
