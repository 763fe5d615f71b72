"""Choose what answers for a model file: LiteRT when it can, compiled TensorFlow otherwise.

* A ``.tflite`` file runs on LiteRT (or on TensorFlow's interpreter when it needs TensorFlow
  ops LiteRT lacks).
* A Keras file with a verified conversion (shipped beside it or cached) runs on LiteRT and
  is not loaded at all: TensorFlow is imported only when something needs the Keras model.
* Any other Keras file is loaded and compiled as before, and converted in the background;
  the conversion answers once it has matched TensorFlow.
"""

from __future__ import annotations

import os
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.core.errors import ModelError
from app.core.models.deferred import DeferredModel, TFLiteModel
from app.core.models.inspection import inspect_model
from app.core.models.litert_cache import Conversion, find_conversion
from app.core.models.litert_graph import expose_inner_tensors
from app.core.models.litert_runtime import LiteRTRuntime
from app.core.models.loading import (
    LOGITS_FROM_PROBABILITIES,
    LOGITS_MODEL_OUTPUT,
    LOGITS_SIGMOID,
    LOGITS_STRIPPED_SOFTMAX,
    LoadedModel,
    load_model,
    refuse_if_risky,
)
from app.core.models.predictor import TensorflowRuntime
from app.core.models.runtime import (
    TENSORFLOW,
    Runtime,
    background_conversion_enabled,
    runtime_preference,
)

# Ops a LiteRT build without TensorFlow cannot resolve are reported with these words.
_MISSING_OPS = ("Select TensorFlow op", "unresolved custom op", "Flex", "Regular TensorFlow ops")
_CONVERTIBLE = ("keras", "h5")


@dataclass
class ModelRuntime:
    """A model and what answers for it, with notes for the session's warnings."""

    loaded: LoadedModel
    runtime: Runtime
    notes: list[str] = field(default_factory=list)
    # The background conversion, when one was started: resolves to a Conversion.
    conversion: Future[Conversion] | None = None


def open_runtime(path: str | os.PathLike[str], trust: bool = False) -> ModelRuntime:
    """Open ``path`` on the fastest runtime that reproduces it.

    Raises
    ------
    ModelError, UnsafeModelError
        As :func:`~app.core.models.loading.load_model`; a ``.tflite`` that is not one.
    """
    p = Path(path)
    preference = runtime_preference()
    inspection = inspect_model(p)
    refuse_if_risky(inspection, trust)
    if inspection.format == "tflite":
        return open_tflite(p, inspection)
    if preference != TENSORFLOW and inspection.format in _CONVERTIBLE:
        found = find_conversion(p)
        if found is not None and found.verified:
            try:
                return _from_conversion(p, inspection, found, trust)
            except ModelError:
                pass  # the file passed its hash check yet LiteRT refuses it: rebuild below
    loaded = load_model(p, trust=trust)
    runtime = TensorflowRuntime(loaded)
    choice = ModelRuntime(loaded, runtime)
    if preference == TENSORFLOW or inspection.format not in _CONVERTIBLE:
        return choice
    found = find_conversion(p)
    if found is None and not background_conversion_enabled():
        return choice
    if found is not None and not found.verified:
        # A rejection is cached too: say why once, and do not convert again.
        from app.core.models.conversion import rejection_warning

        choice.notes.append(rejection_warning(found))
        return choice
    from app.core.models.conversion import start_conversion

    choice.conversion = start_conversion(loaded, runtime)
    return choice


def _from_conversion(p: Path, inspection, found: Conversion, trust: bool) -> ModelRuntime:  # noqa: ANN001
    meta = found.meta
    runtime = LiteRTRuntime(found.model, p.name, outputs=meta.get("outputs"))
    shape = tuple(None if s is None else int(s) for s in meta["input_shape"])
    loaded = DeferredModel(
        p, inspection, shape, int(meta["n_classes"]), str(meta["logits_source"]),
        bool(meta["has_features"]), trusted=trust, notes=list(meta.get("notes", [])),
    )
    return ModelRuntime(loaded, runtime)


def _tensorflow_interpreter() -> object:
    from app.core.tf_runtime import import_tensorflow

    return import_tensorflow().lite.Interpreter


def open_tflite(p: Path, inspection) -> ModelRuntime:  # noqa: ANN001
    """Open a ``.tflite`` file: LiteRT, else TensorFlow's interpreter for TensorFlow ops."""
    notes: list[str] = []
    # Its logits and features made readable (litert_graph), its ReLU maps too once the probe
    # asks for them; else the file as it is.
    data = _small_file_bytes(p)
    inner = expose_inner_tensors(data, relus=False)
    model, outputs = (inner.model, inner.names) if inner is not None else (p, None)

    def with_relus() -> tuple[bytes, list[str], str | None] | None:
        exposed = expose_inner_tensors(data)
        return None if exposed is None else (exposed.model, exposed.names, exposed.features_relu)

    stats_model = with_relus if data else None
    try:
        runtime = LiteRTRuntime(model, p.name, outputs=outputs, stats_model=stats_model)
    except ModelError as exc:
        if not any(word in str(exc) for word in _MISSING_OPS):
            raise
        runtime = LiteRTRuntime(model, p.name, interpreter_class=_tensorflow_interpreter(),
                                runtime_name=TENSORFLOW, outputs=outputs, stats_model=stats_model)
        notes.append(f"{p.name} uses TensorFlow ops LiteRT lacks: TensorFlow's interpreter runs it")
    if runtime.image_input.note:
        notes.append(runtime.image_input.note)
    logits_source = LOGITS_MODEL_OUTPUT
    if runtime.logits_inside:
        logits_source = LOGITS_STRIPPED_SOFTMAX
    elif runtime.binary:
        logits_source = LOGITS_SIGMOID
        sigmoid = runtime.scores_are_probabilities_on(_probe(runtime))
        runtime.scores_are = "probabilities" if sigmoid else "logits"
        notes.append("one output column: read as a binary classifier, its "
                     + ("sigmoid probability" if sigmoid else "logit") + " for the second class")
    elif runtime.scores_are_probabilities_on(_probe(runtime)):
        logits_source = LOGITS_FROM_PROBABILITIES
        notes.append("the .tflite outputs probabilities: logits are log(probabilities), so "
                     "calibration is less reliable")
    else:
        runtime.scores_are = "logits"
    if runtime.quantised:
        notes.append(f"{p.name} is quantised: its outputs are coarser than the float model's")
    loaded = TFLiteModel(p, inspection, runtime.input_shape, runtime.n_classes, logits_source,
                         runtime.has_features, trusted=True, notes=notes)
    return ModelRuntime(loaded, runtime, [])


# Above this a .tflite is run as it is: rewriting its outputs would copy every weight in
# Python objects first (a MobileNetV2 of 14 MB rewrites in a fraction of a second).
MAX_REWRITE_BYTES = 64 * 1024 * 1024


def _small_file_bytes(p: Path) -> bytes:
    try:
        if p.stat().st_size > MAX_REWRITE_BYTES:
            return b""
        return p.read_bytes()
    except OSError as exc:
        raise ModelError(f"{p.name}: cannot be read ({exc.strerror or exc})") from None


def _probe(runtime: LiteRTRuntime) -> np.ndarray:
    from app.core.models.conversion import probe_batch

    return probe_batch(runtime.input_shape)
