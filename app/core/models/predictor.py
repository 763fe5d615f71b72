"""One compiled inference function per model, batched: never ``model.predict`` per image.

``model.predict`` builds a data pipeline and a fresh step loop on every call, which costs
tens of milliseconds for a single image; a ``tf.function`` with a fixed input signature is
traced once and then costs about a millisecond for a small CNN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from app.core.errors import ModelError
from app.core.models.loading import LOGITS_FROM_PROBABILITIES, LOGITS_STRIPPED_SOFTMAX, LoadedModel
from app.core.numeric import softmax
from app.core.tf_runtime import import_tensorflow, on_tf_thread

DEFAULT_BATCH_SIZE = 64
_WARMUP_SIZE = (32, 32)


@dataclass
class ModelOutputs:
    """What one batch produced: float32 logits and probabilities, features when known.

    ``stats`` is the fixed-width vector of layer statistics the "none of the classes" probe
    reads (per-channel means and spreads of the hidden activations), computed in the same
    compiled call; None when the model's heads provide none.
    """

    logits: np.ndarray  # (n, k)
    probabilities: np.ndarray  # (n, k)
    features: np.ndarray | None  # (n, d)
    stats: np.ndarray | None = None  # (n, s)

    def __len__(self) -> int:
        return len(self.logits)


def concat_outputs(parts: list[ModelOutputs], n_classes: int) -> ModelOutputs:
    """Join the outputs of several batches (an empty list gives empty arrays)."""
    if not parts:
        empty = np.zeros((0, n_classes), dtype=np.float32)
        return ModelOutputs(empty, empty.copy(), None)
    feats = None if parts[0].features is None else np.concatenate([p.features for p in parts])
    stats = None if parts[0].stats is None else np.concatenate([p.stats for p in parts])
    return ModelOutputs(
        np.concatenate([p.logits for p in parts]),
        np.concatenate([p.probabilities for p in parts]),
        feats,
        stats,
    )


class TensorflowRuntime:
    """Run a loaded classifier on float32 batches through one traced ``tf.function``.

    The TensorFlow side of the runtime seam (:mod:`app.core.models.runtime`); the graph it
    runs is also what :mod:`app.core.models.conversion` hands to the LiteRT converter.

    Parameters
    ----------
    loaded : LoadedModel
        The model and its logits/feature heads.
    batch_size : int, default=64
        Largest batch sent to the model at once; bounds memory for big inputs.
    heads : callable, optional
        What to trace instead of ``loaded.heads``, e.g. heads that also give the layer
        statistics (:func:`app.core.models.statistics.layer_statistics.build_stats_heads`).
    """

    name = "tensorflow"

    def __init__(self, loaded: LoadedModel, batch_size: int = DEFAULT_BATCH_SIZE,
                 heads: Any = None) -> None:
        tf = import_tensorflow()
        self.loaded = loaded
        self.batch_size = batch_size
        self.stats_width = 0
        h, w, c = loaded.input_shape
        self._signature_shape = (None, h, w, c)
        heads = loaded.heads if heads is None else heads
        has_features = loaded.has_features

        def run(x: object) -> tuple[object, object, object, object]:
            # Heads give (logits, probabilities, features) and, when the model's layer
            # statistics are wired in, a fourth output: one call returns all of it.
            logits, probs, feats, *more = heads(x)
            n = tf.shape(x)[0]
            if not has_features or feats is None:
                feats = tf.zeros((n, 0), tf.float32)
            stats = more[0] if more and more[0] is not None else tf.zeros((n, 0), tf.float32)
            return (logits, probs, tf.cast(tf.reshape(feats, (n, -1)), tf.float32),
                    tf.cast(stats, tf.float32))

        self._fn = tf.function(
            run,
            input_signature=[tf.TensorSpec(self._signature_shape, tf.float32)],
            reduce_retracing=True,
        )
        self._warm_up()

    @property
    def input_size(self) -> tuple[int, int] | None:
        h, w, _ = self.loaded.input_shape
        return (h, w) if h and w else None

    @property
    def graph_function(self) -> Any:
        """The traced function: a float32 batch to (logits, probabilities, features, stats)."""
        return self._fn

    def _warm_up(self) -> None:
        h, w, c = self.loaded.input_shape
        rng = np.random.default_rng(0)
        x = rng.uniform(0.0, 1.0, size=(2, h or _WARMUP_SIZE[0], w or _WARMUP_SIZE[1], c))
        try:
            out = self(x.astype(np.float32))
        except Exception as exc:  # a model that cannot run at all is a user-facing model error
            raise ModelError(f"{self.loaded.name}: the model fails to run ({str(exc)[:200]})") from None
        self.stats_width = 0 if out.stats is None else int(out.stats.shape[1])
        # The stripped head must reproduce the model exactly, or its logits are not the
        # model's; fall back rather than calibrate the wrong thing.
        if self.loaded.logits_source == LOGITS_STRIPPED_SOFTMAX and not np.allclose(
            softmax(out.logits), out.probabilities, atol=1e-4
        ):
            self.loaded.logits_source = LOGITS_FROM_PROBABILITIES
            self.loaded.notes.append("stripped logits did not reproduce the model; using log(p)")
            self._use_log_probabilities()

    def _use_log_probabilities(self) -> None:
        fn = self._fn

        def wrapped(x: object) -> tuple[object, object, object, object]:
            tf = import_tensorflow()
            _, probs, feats, stats = fn(x)
            return tf.math.log(tf.maximum(probs, 1e-30)), probs, feats, stats

        self._fn = wrapped

    def _run_chunks(self, x: np.ndarray) -> list[ModelOutputs]:
        parts = []
        for start in range(0, len(x), self.batch_size):
            logits, probs, feats, stats = self._fn(x[start : start + self.batch_size])
            f, s = feats.numpy(), stats.numpy()
            parts.append(ModelOutputs(logits.numpy(), probs.numpy(), f if f.shape[1] else None,
                                      s if s.shape[1] else None))
        return parts

    def __call__(self, batch: np.ndarray) -> ModelOutputs:
        """Run the model on a (n, H, W, C) float32 batch, in chunks of ``batch_size``."""
        x = np.asarray(batch, dtype=np.float32)
        expected = self._signature_shape[1:]
        if x.ndim != 4 or any(e is not None and e != s for e, s in zip(expected, x.shape[1:], strict=True)):
            raise ModelError(
                f"{self.loaded.name}: got inputs of shape {x.shape[1:]}, the model expects "
                f"{tuple(expected)}; check target_size and color_mode in the model card"
            )
        parts = on_tf_thread(self._run_chunks, x)
        return concat_outputs(parts, self.loaded.n_classes)


# The name this class had before the runtime seam; kept for scripts that use it.
Predictor = TensorflowRuntime
