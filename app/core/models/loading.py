"""Load a classifier safely and find its logits and penultimate features.

Temperature scaling and the "none of the classes" scores need pre-softmax logits; OOD
and diagnostics need the penultimate feature vector. Both are found by reading the graph
around the final softmax, sharing the model's own weights (no copies).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.core.errors import ModelError, UnsafeModelError
from app.core.models.image_input import (
    ImageInput,
    not_an_image_message,
    read_image_input,
    with_image_input,
)
from app.core.models.inspection import ModelInspection, inspect_model
from app.core.models.keras2_ops import op_layer_classes, readable_h5
from app.core.numeric import are_probability_rows, is_sigmoid_column
from app.core.tf_runtime import import_keras, import_tensorflow, on_tf_thread

# How logits were obtained: the UI and calibration warn about the last one.
LOGITS_STRIPPED_SOFTMAX = "stripped softmax"
LOGITS_MODEL_OUTPUT = "model outputs logits"
LOGITS_SIGMOID = "binary sigmoid"
LOGITS_FROM_PROBABILITIES = "log of probabilities (fallback)"


@dataclass
class LoadedModel:
    """A loaded classifier plus the tensors probscope needs from it."""

    path: Path
    format: str
    model: Any  # keras.Model
    inspection: ModelInspection
    input_shape: tuple[int | None, int | None, int]  # (height, width, channels)
    n_classes: int
    logits_source: str
    has_features: bool
    trusted: bool = False
    notes: list[str] = field(default_factory=list)
    # Built by find_heads: maps a float32 batch to (logits, probabilities, features or None).
    heads: Any = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def logits_are_fallback(self) -> bool:
        return self.logits_source == LOGITS_FROM_PROBABILITIES


def _load_keras_model(path: Path, fmt: str, trusted: bool) -> Any:
    keras = import_keras()
    if fmt == "savedmodel":
        return _load_savedmodel(path)
    try:
        with warnings.catch_warnings():
            # Keras 3 reads every Keras 2 layer's input_shape and warns about it on stderr,
            # once per layer: advice for whoever wrote the model, noise for whoever loads it.
            warnings.filterwarnings("ignore", message="Do not pass an `input_shape`")
            # safe_mode refuses deserialising Python code; only a trusted file may turn it off.
            if fmt != "h5":
                return keras.saving.load_model(path, compile=False, safe_mode=not trusted)
            with readable_h5(path) as readable:
                return keras.saving.load_model(readable, compile=False, safe_mode=not trusted,
                                               custom_objects=op_layer_classes(trusted))
    except (ValueError, TypeError, KeyError, OSError, AttributeError, IndexError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path.name}: Keras cannot load this model ({first[:300]})") from None


def _load_savedmodel(path: Path) -> Any:
    keras = import_keras()
    tf = import_tensorflow()
    try:
        loaded = tf.saved_model.load(str(path))
        signature = loaded.signatures["serving_default"]
    except (KeyError, OSError, ValueError) as exc:
        raise ModelError(f"{path.name}: cannot load the SavedModel ({exc})") from None
    specs = signature.structured_input_signature[1]
    if len(specs) != 1:
        raise ModelError(f"{path.name}: the SavedModel takes {len(specs)} inputs; expected one image")
    spec = next(iter(specs.values()))
    shape = tuple(spec.shape)
    layer = keras.layers.TFSMLayer(str(path), call_endpoint="serving_default")
    inp = keras.Input(shape=shape[1:], dtype="float32")
    out = layer(inp)
    if isinstance(out, dict):
        if len(out) != 1:
            raise ModelError(
                f"{path.name}: the SavedModel has {len(out)} outputs; probscope needs one "
                "class-probability output"
            )
        out = next(iter(out.values()))
    return keras.Model(inp, out)


def _single(tensors: Any, what: str, name: str) -> Any:
    if isinstance(tensors, (list, tuple)):
        if len(tensors) != 1:
            need = "one class-probability output" if what == "output" else "one image input"
            raise ModelError(f"{name}: the model has {len(tensors)} {what}s; probscope needs {need}")
        return tensors[0]
    return tensors


def _check_io(model: Any, name: str) -> tuple[ImageInput, int]:
    inp = _single(model.inputs, "input", name)
    out = _single(model.outputs, "output", name)
    in_shape = tuple(inp.shape)
    image_input = read_image_input(in_shape)
    if image_input is None:
        raise ModelError(not_an_image_message(name, in_shape))
    out_shape = tuple(out.shape)
    if len(out_shape) != 2 or out_shape[1] is None:
        raise ModelError(f"{name}: output shape {out_shape} is not a vector of class scores")
    return image_input, int(out_shape[1])


def _producer(tensor: Any) -> Any:
    history = getattr(tensor, "_keras_history", None)
    return history.operation if history is not None else None


def _activation_name(layer: Any) -> str | None:
    act = getattr(layer, "activation", None)
    if act is None:
        return None
    return getattr(act, "__name__", None)


def find_heads(loaded: LoadedModel) -> None:
    """Build ``loaded.heads``: a callable giving (logits, probabilities, features).

    Recognised endings, in order: a Dense with softmax; an ``Activation("softmax")`` or
    ``Softmax`` layer; a linear Dense (the model outputs logits); a one-unit sigmoid Dense
    (binary). Otherwise logits fall back to ``log(p)``, which calibration warns about.
    """
    keras = import_keras()
    tf = import_tensorflow()
    model = loaded.model
    out = model.outputs[0]
    last = _producer(out)
    act = _activation_name(last)
    inputs = model.inputs[0]  # a list of one makes Keras warn about the structure on each call

    def dense_logits(dense: Any, feats: Any) -> Any:
        z = tf.matmul(tf.cast(feats, dense.kernel.dtype), dense.kernel)
        if dense.use_bias:
            z = z + dense.bias
        return tf.cast(z, tf.float32)

    if isinstance(last, keras.layers.Dense) and act == "softmax":
        feature_model = keras.Model(inputs, [last.input, out])

        def heads(x: Any) -> tuple[Any, Any, Any]:
            feats, probs = feature_model(x, training=False)
            return dense_logits(last, feats), tf.cast(probs, tf.float32), feats

        loaded.logits_source = LOGITS_STRIPPED_SOFTMAX
        loaded.has_features = True
    elif (
        isinstance(last, keras.layers.Softmax)
        or (isinstance(last, keras.layers.Activation) and act == "softmax")
    ):
        logits_tensor = last.input
        before = _producer(logits_tensor)
        has_feats = isinstance(before, keras.layers.Dense) and _activation_name(before) == "linear"
        outputs = [logits_tensor, out] + ([before.input] if has_feats else [])
        head_model = keras.Model(inputs, outputs)

        def heads(x: Any) -> tuple[Any, Any, Any]:
            res = head_model(x, training=False)
            feats = res[2] if has_feats else None
            return tf.cast(res[0], tf.float32), tf.cast(res[1], tf.float32), feats

        loaded.logits_source = LOGITS_STRIPPED_SOFTMAX
        loaded.has_features = has_feats
    elif isinstance(last, keras.layers.Dense) and act == "linear" and loaded.n_classes > 1:
        feature_model = keras.Model(inputs, [last.input, out])

        def heads(x: Any) -> tuple[Any, Any, Any]:
            feats, logits = feature_model(x, training=False)
            logits = tf.cast(logits, tf.float32)
            return logits, tf.nn.softmax(logits), feats

        loaded.logits_source = LOGITS_MODEL_OUTPUT
        loaded.has_features = True
    elif isinstance(last, keras.layers.Dense) and act == "sigmoid" and loaded.n_classes == 1:
        feature_model = keras.Model(inputs, [last.input, out])

        def heads(x: Any) -> tuple[Any, Any, Any]:
            feats, _ = feature_model(x, training=False)
            z = dense_logits(last, feats)
            logits = tf.concat([tf.zeros_like(z), z], axis=1)  # softmax([0, z]) = [1-σ(z), σ(z)]
            return logits, tf.nn.softmax(logits), feats

        loaded.logits_source = LOGITS_SIGMOID
        loaded.has_features = True
        loaded.n_classes = 2
    else:
        feats_tensor = None
        if last is not None and isinstance(last, keras.layers.Dense):
            feats_tensor = last.input
        outputs = [out] + ([feats_tensor] if feats_tensor is not None else [])
        head_model = keras.Model(inputs, outputs)
        # A layer that hides its ending (a SavedModel's TFSMLayer, say) is asked instead.
        sample = _probe_scores(head_model, loaded.input_shape)
        loaded.has_features = feats_tensor is not None
        if loaded.n_classes == 1:
            loaded.heads = _binary_heads(tf, head_model, is_sigmoid_column(sample), loaded)
            return
        scores_are_logits = not are_probability_rows(sample)

        def heads(x: Any) -> tuple[Any, Any, Any]:
            res = head_model(x, training=False)
            res = res if isinstance(res, (list, tuple)) else [res]
            scores = tf.cast(res[0], tf.float32)
            feats = res[1] if len(res) > 1 else None
            if scores_are_logits:
                return scores, tf.nn.softmax(scores), feats
            # log(p) loses everything a float32 softmax saturated away; calibration warns.
            return tf.math.log(tf.maximum(scores, 1e-30)), scores, feats

        if scores_are_logits:
            loaded.logits_source = LOGITS_MODEL_OUTPUT
        else:
            loaded.logits_source = LOGITS_FROM_PROBABILITIES
            loaded.notes.append(
                "no softmax to strip: logits are log(probabilities), so calibration is less reliable"
            )
    loaded.heads = heads


def _probe_scores(head_model: Any, input_shape: tuple[int | None, ...]) -> np.ndarray:
    """The model's scores on a batch of random images, to tell what they are.

    Rows of non-negative values summing to one are probabilities; anything else is taken as
    logits (a linear last layer inside a SavedModel), as for a .tflite file.
    """
    h, w, c = (d or 32 for d in input_shape)
    x = np.random.default_rng(0).uniform(0.0, 1.0, (4, h, w, c)).astype(np.float32)
    res = head_model(x, training=False)
    return np.asarray(res[0] if isinstance(res, (list, tuple)) else res)


def _binary_heads(tf: Any, head_model: Any, sigmoid: bool, loaded: LoadedModel) -> Any:
    """Heads of a model with one output column whose ending is hidden (a SavedModel, say):
    a binary classifier, its column a sigmoid's probability or its logit, answered as
    ``[0, z]`` like a sigmoid Dense (:func:`app.core.numeric.two_class_logits`)."""
    def heads(x: Any) -> tuple[Any, Any, Any]:
        res = head_model(x, training=False)
        res = res if isinstance(res, (list, tuple)) else [res]
        z = tf.cast(res[0], tf.float32)
        if sigmoid:
            p = tf.clip_by_value(z, 1e-7, 1.0 - 1e-7)
            z = tf.math.log(p) - tf.math.log1p(-p)
        logits = tf.concat([tf.zeros_like(z), z], axis=1)
        return logits, tf.nn.softmax(logits), res[1] if len(res) > 1 else None

    loaded.n_classes = 2
    loaded.logits_source = LOGITS_SIGMOID
    loaded.notes.append(
        "one output column: read as a binary classifier, its "
        + ("sigmoid probability for the second class" if sigmoid else "logit for the second class")
    )
    return heads


def refuse_if_risky(inspection: ModelInspection, trust: bool) -> None:
    """Raise UnsafeModelError when the file can run code and the user did not trust it."""
    if inspection.risky and not trust:
        parts = "; ".join(inspection.risky[:4])
        more = f" and {len(inspection.risky) - 4} more" if len(inspection.risky) > 4 else ""
        raise UnsafeModelError(
            f"{inspection.path.name}: refused to load: it contains {parts}{more}. "
            "Load it only if you trust this file (--trust-model)"
        )


def load_model(path: str | os.PathLike[str], trust: bool = False) -> LoadedModel:
    """Load a classifier, refusing anything that can run code unless ``trust`` is set.

    Parameters
    ----------
    path : path-like
        ``.keras``, legacy ``.h5``/``.hdf5`` (Keras 2 included) or a SavedModel folder.
    trust : bool, default=False
        The user vouches for this file: Lambda layers, custom objects and SavedModel
        graphs are then allowed (Keras safe mode off).

    Raises
    ------
    UnsafeModelError
        The model has risky parts and ``trust`` is False; nothing of it was executed.
    ModelError
        Missing, corrupt, or not a single-input image classifier.
    """
    # Every TensorFlow object of the model is made on the TensorFlow thread (see on_tf_thread).
    return on_tf_thread(_load_model, path, trust)


def _load_model(path: str | os.PathLike[str], trust: bool) -> LoadedModel:
    p = Path(path)
    inspection = inspect_model(p)
    refuse_if_risky(inspection, trust)
    if inspection.format == "tflite":
        raise ModelError(f"{p.name}: a .tflite file holds no Keras model; this needs the .keras or "
                         ".h5 it was converted from")
    model = _load_keras_model(p, inspection.format, trust)
    image_input, n_outputs = _check_io(model, p.name)
    if image_input.needs_reshape:
        model = with_image_input(model, image_input)
    _adapted_statistics(model, inspection)
    loaded = LoadedModel(
        path=p,
        format=inspection.format,
        model=model,
        inspection=inspection,
        input_shape=image_input.shape,
        n_classes=n_outputs,
        logits_source=LOGITS_FROM_PROBABILITIES,
        has_features=False,
        trusted=trust,
        notes=[image_input.note] if image_input.note else [],
    )
    find_heads(loaded)
    return loaded


def _adapted_statistics(model: Any, inspection: ModelInspection) -> None:
    """Fill in the mean and variance a Normalization layer learnt by ``adapt()``.

    Its config holds None for them (they live in the weights), which ``info`` showed as if
    the layer did nothing.
    """
    for entry in inspection.preprocessing_layers:
        if entry["class_name"] != "Normalization" or entry.get("mean") is not None:
            continue
        try:
            layer = model.get_layer(entry.get("name"))
            mean, variance = np.asarray(layer.mean).ravel(), np.asarray(layer.variance).ravel()
        except (ValueError, AttributeError, TypeError):
            continue  # nested or renamed: the config's view stays
        entry["mean"], entry["variance"] = [float(v) for v in mean], [float(v) for v in variance]
        entry["adapted"] = True
