"""Convert a loaded Keras model's inference graph to a float32 ``.tflite``, and prove it.

The converted graph is the TensorFlow runtime's own: the same heads, so the same logits
(softmax split off), probabilities, penultimate features and layer statistics, as named
outputs. It is used only if it matches TensorFlow on a probe batch: identical top class and
logits within :data:`LOGIT_TOLERANCE` of their range (features and statistics within
:data:`FEATURE_TOLERANCE` of theirs, since the "none of the classes" check reads them).
"""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np

from app.core.errors import ModelError
from app.core.models.litert_cache import Conversion, store_conversion
from app.core.models.litert_runtime import LiteRTRuntime
from app.core.models.loading import LoadedModel
from app.core.models.predictor import ModelOutputs, TensorflowRuntime
from app.core.models.runtime import OUTPUT_NAMES
from app.core.tf_runtime import import_tensorflow, on_tf_thread, submit_to_tf_thread

LOGIT_TOLERANCE = 1e-4
FEATURE_TOLERANCE = 1e-3
_PROBE_SIZE = 16
_ANY_SIZE = (32, 32)


def probe_batch(input_shape: tuple[int | None, int | None, int]) -> np.ndarray:
    """A fixed batch covering the ranges preprocessing produces ([0, 1] and [-1, 1])."""
    h, w, c = input_shape
    rng = np.random.default_rng(17)
    shape = (_PROBE_SIZE // 2, h or _ANY_SIZE[0], w or _ANY_SIZE[1], c)
    return np.concatenate([rng.uniform(0, 1, shape), rng.uniform(-1, 1, shape)]).astype(np.float32)


def _within(reference: np.ndarray | None, candidate: np.ndarray | None, tolerance: float) -> bool:
    if reference is None or candidate is None:
        return reference is None and candidate is None
    if reference.shape != candidate.shape:
        return False
    spread = float(np.ptp(reference)) if reference.size else 0.0
    return bool(np.max(np.abs(reference - candidate), initial=0.0) <= tolerance * max(spread, 1e-6))


def parity_problem(reference: ModelOutputs, candidate: ModelOutputs) -> str | None:
    """Why ``candidate`` is not ``reference`` (None when it matches).

    A top class may differ only where TensorFlow's two best logits are tied within the
    tolerance (noise in the probe batch can make near-ties; no runtime can be asked to agree
    on those).
    """
    ref, cand = reference.logits, candidate.logits
    if ref.shape != cand.shape:
        return f"logits of shape {cand.shape[1:]} instead of {ref.shape[1:]}"
    tol = LOGIT_TOLERANCE * max(float(np.ptp(ref)), 1e-6)
    top = np.sort(ref, axis=1)
    tied = (top[:, -1] - top[:, -2] <= tol) if ref.shape[1] > 1 else np.zeros(len(ref), bool)
    differs = (ref.argmax(1) != cand.argmax(1)) & ~tied
    if differs.any():
        return f"the top class differs on {int(differs.sum())} of {len(ref)} probe images"
    if not _within(ref, cand, LOGIT_TOLERANCE):
        err = float(np.max(np.abs(ref - cand)))
        return f"logits differ by up to {err:.3g} (more than {LOGIT_TOLERANCE:g} of their range)"
    for what in ("features", "stats"):
        if not _within(getattr(reference, what), getattr(candidate, what), FEATURE_TOLERANCE):
            return f"the {what} differ from TensorFlow's"
    return None


def _convert_on_tf_thread(loaded: LoadedModel, runtime: TensorflowRuntime) -> tuple[bytes, list[str]]:
    tf = import_tensorflow()
    widths = runtime(probe_batch(loaded.input_shape)[:2])
    # Zero-width outputs (no features, no statistics) are left out: TensorFlow Lite has no
    # use for empty tensors, and the runtime reports them as None either way.
    present = [name for name in OUTPUT_NAMES if getattr(widths, name) is not None]
    fn = runtime.graph_function

    def named(x: Any) -> tuple[Any, ...]:
        # A tuple, not a dict: freezing drops output names, and the file's signature then
        # lists output_0, output_1, ... in this order, which the record keeps as "outputs".
        return tuple(out for name, out in zip(OUTPUT_NAMES, fn(x), strict=True) if name in present)

    h, w, c = loaded.input_shape
    concrete = tf.function(
        named, input_signature=[tf.TensorSpec((None, h, w, c), tf.float32)]
    ).get_concrete_function()
    # Weights become constants first: the heads read kernels as variables, which the
    # converter would keep as READ_VARIABLE ops that LiteRT leaves uninitialised (NaN).
    # (This is what TFLiteConverter.from_keras_model does internally.)
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    frozen = convert_variables_to_constants_v2(concrete)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen], loaded.model)
    # Builtin ops only: a file LiteRT cannot run alone would need TensorFlow again.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert(), present


def convert(loaded: LoadedModel, runtime: TensorflowRuntime) -> tuple[bytes | None, dict[str, Any]]:
    """Convert and check ``loaded``; return the flatbuffer (None if rejected) and its record.

    The record holds what opening the model later without TensorFlow needs: input shape,
    number of classes, logits source, whether features exist, and the load notes.
    """
    meta: dict[str, Any] = {
        "model": loaded.path.name,
        "input_shape": list(loaded.input_shape),
        "n_classes": loaded.n_classes,
        "logits_source": loaded.logits_source,
        "has_features": loaded.has_features,
        "notes": list(loaded.notes),
        "verified": False,
        "problem": None,
    }
    try:
        content, present = on_tf_thread(_convert_on_tf_thread, loaded, runtime)
    except Exception as exc:  # ConverterError and friends: ops LiteRT lacks, odd graphs
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        meta["problem"] = f"it cannot be converted to LiteRT ({first[:160]})"
        return None, meta
    meta["outputs"] = present
    try:
        lite = LiteRTRuntime(content, loaded.name, outputs=present)
        probe = probe_batch(loaded.input_shape)
        problem = parity_problem(runtime(probe), lite(probe))
    except ModelError as exc:
        problem = f"LiteRT cannot run the converted file ({exc})"
    meta["problem"] = problem
    meta["verified"] = problem is None
    return (content if problem is None else None), meta


def _convert_and_store(loaded: LoadedModel, runtime: TensorflowRuntime) -> Conversion:
    content, meta = convert(loaded, runtime)
    return store_conversion(Path(loaded.path), content, meta)


def start_conversion(loaded: LoadedModel, runtime: TensorflowRuntime) -> Future[Conversion]:
    """Convert, check and cache in the background (on the TensorFlow thread); never raises.

    Inference queued behind it waits; one conversion per model and version, ever, because
    the verdict (file or rejection) is cached.
    """
    return submit_to_tf_thread(_convert_and_store, loaded, runtime)


def rejection_warning(conversion: Conversion) -> str:
    """The one warning a session gives when the converted model cannot be used."""
    return f"LiteRT is not used: {conversion.meta.get('problem')}; TensorFlow answers instead"
