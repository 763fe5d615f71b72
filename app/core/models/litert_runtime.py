"""Run a ``.tflite`` flatbuffer with Google's LiteRT interpreter (``ai-edge-litert``).

LiteRT imports in a few hundredths of a second and runs a small CNN in a fraction of a
millisecond, which is what lets the first answer arrive before TensorFlow could even import.
An interpreter is not thread-safe, so each runtime owns one behind a lock; its input is
resized to the batch only when the batch size changes (resizing re-plans memory).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.core.errors import ModelError
from app.core.models.image_input import not_an_image_message, read_image_input
from app.core.models.predictor import DEFAULT_BATCH_SIZE, ModelOutputs, concat_outputs
from app.core.models.runtime import LITERT, OUTPUT_NAMES
from app.core.models.statistics.layer_statistics import StatsLayout
from app.core.models.statistics.litert_statistics import litert_stats, litert_stats_layout
from app.core.numeric import are_probability_rows, is_sigmoid_column, two_class_logits
from app.core.tf_runtime import quiet_native_stderr

InterpreterFactory = Callable[..., Any]


def litert_interpreter_class() -> InterpreterFactory:
    """LiteRT's ``Interpreter`` class (imported here, on first use: it is cheap but not free)."""
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter


def litert_threads() -> int:
    """Threads per interpreter: ``$PROBSCOPE_LITERT_THREADS``, else all cores but one.

    A folder run decodes the next batch while this one infers; leaving a core to the decoder
    keeps the two from stalling each other (a small CNN gains little from a second thread).
    """
    override = os.environ.get("PROBSCOPE_LITERT_THREADS", "")
    if override.isdigit() and int(override) > 0:
        return int(override)
    return max(1, (os.cpu_count() or 1) - 1)


@dataclass(frozen=True)
class _Tensor:
    """One input or output tensor: where it is and how it is quantised."""

    index: int
    dtype: Any
    scale: float
    zero_point: int

    @classmethod
    def from_details(cls, details: dict[str, Any]) -> _Tensor:
        # Per-tensor quantisation only: per-channel parameters occur on weights, not on I/O.
        params = details.get("quantization_parameters") or {}
        scales = np.asarray(params.get("scales", []), dtype=np.float64)
        zeros = np.asarray(params.get("zero_points", []), dtype=np.int64)
        scale, zero = details.get("quantization", (0.0, 0))
        if scales.size:
            scale, zero = float(scales[0]), int(zeros[0]) if zeros.size else 0
        return cls(int(details["index"]), details["dtype"], float(scale), int(zero))

    @property
    def quantised(self) -> bool:
        return np.issubdtype(self.dtype, np.integer) and self.scale > 0

    def quantise(self, x: np.ndarray) -> np.ndarray:
        if not self.quantised:
            return x.astype(self.dtype, copy=False)
        info = np.iinfo(self.dtype)
        q = np.round(x / self.scale + self.zero_point)
        return np.clip(q, info.min, info.max).astype(self.dtype)

    def dequantise(self, q: np.ndarray) -> np.ndarray:
        if not self.quantised:
            return q.astype(np.float32, copy=False)
        return ((q.astype(np.float32) - self.zero_point) * self.scale).astype(np.float32)


def _output_roles(interpreter: Any, names: list[str] | None) -> dict[str, int]:
    """Map ``logits``/``probabilities``/``features``/``stats`` to output positions.

    ``names`` (from a conversion's record) names the signature's outputs ``output_0``,
    ``output_1``, ... in order; a signature may also name them itself. Any other file is taken
    to have one output of class scores (of several, the first is used).
    """
    details = interpreter.get_output_details()
    position = {int(d["index"]): i for i, d in enumerate(details)}
    try:
        signatures = interpreter.get_signature_list()
    except Exception:  # older or stripped files carry no signature table
        signatures = {}
    for key in signatures:
        named = interpreter.get_signature_runner(key).get_output_details()
        if names:
            aliases = {f"output_{i}": name for i, name in enumerate(names)}
            named = {aliases.get(k, k): d for k, d in named.items()}
        roles = {name: position[int(d["index"])] for name, d in named.items() if name in OUTPUT_NAMES}
        if "logits" in roles or "probabilities" in roles:
            return roles
    if names and len(names) == len(details):
        return {name: i for i, name in enumerate(names)}
    return {"scores": 0} if details else {}


class LiteRTRuntime:
    """A classifier run by a LiteRT (or TensorFlow Lite) interpreter, returning ModelOutputs.

    Parameters
    ----------
    model : bytes or path-like
        The flatbuffer, in memory or as a file.
    name : str
        Shown to the user: the file name of the model it answers for.
    scores_are : {"logits", "probabilities"}, default="probabilities"
        For a file with a single unnamed output: what that output holds.
    batch_size : int, default=64
        Largest batch sent to the interpreter at once.
    interpreter_class : callable, optional
        LiteRT's ``Interpreter`` unless given (``tf.lite.Interpreter`` runs files that need
        TensorFlow ops LiteRT lacks).
    runtime_name : str, default="litert"
        What :attr:`name` reports.
    outputs : list of str, optional
        What the outputs of a file probscope converted are, in order (its record says).

    Raises
    ------
    ModelError
        The bytes are not a model LiteRT can run.
    """

    def __init__(
        self,
        model: bytes | str | os.PathLike[str],
        name: str,
        scores_are: str = "probabilities",
        batch_size: int = DEFAULT_BATCH_SIZE,
        interpreter_class: InterpreterFactory | None = None,
        runtime_name: str = LITERT,
        outputs: list[str] | None = None,
        stats_model: Callable[[], tuple[bytes, list[str], str | None] | None] | None = None,
    ) -> None:
        self.name = runtime_name
        self.model_name = name
        self.batch_size = batch_size
        self.scores_are = scores_are
        self._class = interpreter_class or litert_interpreter_class()
        self._stats_model = stats_model
        self.stats_width = 0
        self._lock = threading.Lock()
        self._open(model, outputs)

    def _open(self, model: bytes | str | os.PathLike[str], outputs: list[str] | None,
              features_relu: str | None = None) -> None:
        name = self.model_name
        self._features_relu = features_relu
        kwargs: dict[str, Any] = {"num_threads": litert_threads()}
        if isinstance(model, (bytes, bytearray)):
            kwargs["model_content"] = bytes(model)
        else:
            kwargs["model_path"] = str(Path(model))
        try:
            # LiteRT announces its XNNPACK delegate on stderr at creation: noise for users.
            with quiet_native_stderr():
                self._interpreter = self._class(**kwargs)
                self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelError(f"{name}: LiteRT cannot run this model ({first[:200]})") from None
        inputs = self._interpreter.get_input_details()
        if len(inputs) != 1:
            raise ModelError(f"{name}: the model takes {len(inputs)} inputs; expected one image")
        self._input = _Tensor.from_details(inputs[0])
        signature = inputs[0].get("shape_signature", inputs[0]["shape"])
        batch_shape = tuple(None if int(s) < 0 else int(s) for s in signature)
        image_input = read_image_input(batch_shape)
        if image_input is None:
            raise ModelError(not_an_image_message(name, batch_shape))
        self.input_shape: tuple[int | None, int | None, int] = image_input.shape
        self.image_input = image_input
        self._batch = int(inputs[0]["shape"][0])
        details = self._interpreter.get_output_details()
        self._outputs = [_Tensor.from_details(d) for d in details]
        self._roles = _output_roles(self._interpreter, outputs)
        if not self._roles:
            raise ModelError(f"{name}: the model has no outputs")
        first = details[self._roles.get("logits", self._roles.get("scores", 0))]
        self.n_classes = int(first["shape"][-1])
        # One unnamed output column: a binary classifier (a sigmoid, or its logit).
        self.binary = self.n_classes == 1 and "scores" in self._roles
        if self.binary:
            self.n_classes = 2
        # ReLU outputs of a rewritten file (litert_graph), for the probe's statistics.
        self._relus = [(role, pos) for role, pos in sorted(self._roles.items(), key=lambda r: r[1])
                       if role.startswith("relu:")]

    @property
    def input_size(self) -> tuple[int, int] | None:
        h, w, _ = self.input_shape
        return (h, w) if h and w else None

    @property
    def has_features(self) -> bool:
        return "features" in self._roles

    @property
    def logits_inside(self) -> bool:
        """Whether the logits before the file's softmax are read (not log(probabilities))."""
        return "logits" in self._roles and "probabilities" in self._roles

    def relu_shapes(self, with_features: bool = False) -> list[tuple[str, tuple[int, ...]]]:
        """The file's ReLU outputs, ``(name, shape without the batch axis)``, in its order;
        ``with_features`` adds the features when a ReLU made them (the probe reads those as
        features, diagnostics as a layer).

        The file with its ReLU maps exposed (``stats_model``) replaces the one without: each
        exposed map costs a little on every call, so it is loaded only when asked for.
        """
        with self._lock:
            exposed = self._stats_model() if self._stats_model is not None else None
            if exposed is not None:
                self._open(*exposed)
                self._stats_model = None
            details = self._interpreter.get_output_details()
            return [(name, tuple(int(d) for d in details[pos]["shape"][1:]))
                    for name, pos in self._relu_outputs(with_features)]

    def _relu_outputs(self, with_features: bool) -> list[tuple[str, int]]:
        relus = [(role[len("relu:"):], pos) for role, pos in self._relus]
        if with_features and self._features_relu is not None:
            relus.append((self._features_relu, self._roles["features"]))
        return relus

    def enable_stats(self) -> StatsLayout:
        """Compute the probe's statistics (:mod:`app.core.models.statistics.litert_statistics`)
        in every call from now on; the layout says where each one sits."""
        shapes = self.relu_shapes()
        pos = self._roles.get("features")
        details = self._interpreter.get_output_details()
        width = int(np.prod(details[pos]["shape"][1:])) if pos is not None else 0
        layout = litert_stats_layout(shapes, width)
        self.stats_width = layout.width
        return layout

    def with_relus(self, batch: np.ndarray) -> tuple[ModelOutputs, list[np.ndarray]]:
        """Outputs of one batch and the ReLU maps of ``relu_shapes(with_features=True)``."""
        with self._lock:
            raw = self._invoke(np.asarray(batch, dtype=np.float32))
            return self._outputs_of(raw), [raw[pos] for _, pos in self._relu_outputs(True)]

    @property
    def quantised(self) -> bool:
        return self._input.quantised or any(t.quantised for t in self._outputs)

    def scores_are_probabilities_on(self, probe: np.ndarray) -> bool:
        """For a file with one unnamed output: does it give probabilities on ``probe``?

        Rows of non-negative values summing to one are taken as a softmax output; anything
        else as logits.
        """
        if "scores" not in self._roles:
            return False
        with self._lock:
            raw = self._invoke(np.asarray(probe, np.float32))[self._roles["scores"]]
        return is_sigmoid_column(raw) if self.binary else are_probability_rows(raw)

    def _invoke(self, x: np.ndarray) -> list[np.ndarray]:
        interp = self._interpreter
        if self.image_input.needs_reshape:
            x = x.reshape(len(x), *self.image_input.model_shape)
        if len(x) != self._batch:
            interp.resize_tensor_input(self._input.index, list(x.shape), strict=False)
            interp.allocate_tensors()
            self._batch = len(x)
        interp.set_tensor(self._input.index, self._input.quantise(x))
        interp.invoke()
        # get_tensor copies: the interpreter's buffers are reused by the next invoke.
        return [t.dequantise(interp.get_tensor(t.index)) for t in self._outputs]

    def _outputs_of(self, raw: list[np.ndarray]) -> ModelOutputs:
        roles = self._roles
        n = len(raw[0]) if raw else 0

        def part(role: str) -> np.ndarray | None:
            pos = roles.get(role)
            return None if pos is None else raw[pos].reshape(n, -1)

        if "scores" in roles:
            scores = part("scores")
            if self.binary:
                logits = two_class_logits(scores, self.scores_are == "probabilities")
                probs = _softmax(logits)
            elif self.scores_are == "logits":
                logits = scores
                probs = _softmax(scores)
            else:
                probs = scores
                logits = np.log(np.maximum(scores, 1e-30)).astype(np.float32)
        else:
            logits, probs = part("logits"), part("probabilities")
            if probs is None:
                probs = _softmax(logits)
        features, stats = part("features"), part("stats")
        if self.stats_width and stats is None:
            stats = litert_stats([raw[pos] for _, pos in self._relus], features, logits, probs)
        return ModelOutputs(logits, probs, features, stats)

    def _run_chunks(self, x: np.ndarray) -> list[ModelOutputs]:
        parts = []
        with self._lock:
            for start in range(0, len(x), self.batch_size):
                parts.append(self._outputs_of(self._invoke(x[start : start + self.batch_size])))
        return parts

    def __call__(self, batch: np.ndarray) -> ModelOutputs:
        """Run the model on a (n, H, W, C) float32 batch, in chunks of ``batch_size``."""
        x = np.asarray(batch, dtype=np.float32)
        if x.ndim != 4 or any(e is not None and e != s for e, s in
                              zip(self.input_shape, x.shape[1:], strict=True)):
            raise ModelError(
                f"{self.model_name}: got inputs of shape {x.shape[1:]}, the model expects "
                f"{self.input_shape}; check target_size and color_mode in the model card"
            )
        if len(x) == 0:
            return concat_outputs([], self.n_classes)
        try:
            parts = self._run_chunks(x)
        except (ValueError, RuntimeError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelError(f"{self.model_name}: LiteRT failed on this batch ({first[:200]})") from None
        return concat_outputs(parts, self.n_classes)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
