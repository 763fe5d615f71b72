"""Keras 2's recorded TensorFlow calls (``TFOpLambda``), read by Keras 3 when they are plain math.

A Keras 2 functional model that calls a TensorFlow function on a tensor — most often
``keras.applications.<net>.preprocess_input(inputs)`` in the transfer-learning tutorials, or
``inputs / 255`` — saves each call as a ``TFOpLambda`` (``SlicingOpLambda`` for ``x[..., ::-1]``)
layer: the function's name and its constant arguments. Keras 3 has no such layer and cannot
load the file. Any TensorFlow function could be named there (``tf.io.write_file`` as well), so
only the arithmetic below, with constant numbers as arguments, is rebuilt, and anything else
stays a risk that needs the user's trust and, even then, Keras 2 to run.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from app.core.json_io import objects_with

OP_LAYERS = frozenset({"TFOpLambda", "SlicingOpLambda"})

# Function (as Keras 2 records it) -> the constant arguments it may take besides the tensor.
_VALUE_OPS: dict[str, frozenset[str]] = {
    "math.truediv": frozenset({"y", "name"}),
    "math.divide": frozenset({"y", "name"}),
    "math.multiply": frozenset({"y", "name"}),
    "math.subtract": frozenset({"y", "name"}),
    "math.add": frozenset({"y", "name"}),
    "__operators__.add": frozenset({"y", "name"}),
    "nn.bias_add": frozenset({"bias", "data_format", "name"}),
}
_OTHER_OPS: dict[str, frozenset[str]] = {
    "cast": frozenset({"dtype", "name"}),
    "__operators__.getitem": frozenset({"slice_spec"}),
    "image.resize": frozenset({"size", "method", "antialias", "preserve_aspect_ratio", "name"}),
}
_RESIZE_METHODS = frozenset({"bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5",
                             "gaussian", "mitchellcubic"})
_FLOAT_TYPES = frozenset({"float16", "float32", "float64", "bfloat16"})
# x[..., ::-1]: the channel reversal of keras.applications' "caffe" mode.
_REVERSED_CHANNELS = [{"class_name": "__ellipsis__"}, {"start": None, "stop": None, "step": -1}]


def _constant(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return value is None
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, list) and 0 < len(value) <= 4 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)


def _call_of(layer: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(function, keyword arguments) of a TFOpLambda layer called once on one tensor."""
    cfg = layer.get("config")
    nodes = layer.get("inbound_nodes")
    if not isinstance(cfg, dict) or not isinstance(nodes, list) or len(nodes) != 1:
        return None
    node = nodes[0]
    # Keras 2 writes [name, node, tensor, kwargs] for these layers (no list around it).
    if not (isinstance(node, list) and len(node) == 4 and isinstance(node[0], str)
            and isinstance(node[3], dict)):
        return None
    function = cfg.get("function")
    return (function, node[3]) if isinstance(function, str) else None


def safe_op_call(layer: dict[str, Any]) -> dict[str, Any] | None:
    """What a ``TFOpLambda`` layer does, when it is arithmetic probscope can rebuild; else None.

    Returns
    -------
    dict or None
        ``function`` (``"math.truediv"``) and ``arguments`` (``{"y": 127.5}``), and
        ``changes_values`` (False for a cast or a channel reversal).
    """
    call = _call_of(layer)
    return None if call is None else _safe_call(*call)


def _safe_call(function: str, kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """:func:`safe_op_call` for a function name and the arguments it was called with."""
    allowed = _VALUE_OPS.get(function) or _OTHER_OPS.get(function)
    if allowed is None or not set(kwargs) <= allowed:
        return None
    arguments = {k: v for k, v in kwargs.items() if k != "name"}
    if function == "cast":
        ok = arguments.get("dtype") in _FLOAT_TYPES
    elif function == "__operators__.getitem":
        spec = arguments.get("slice_spec")
        # As saved, or as Keras 3's reader hands it over (the ellipsis marker made Ellipsis).
        ok = spec in (_REVERSED_CHANNELS, [Ellipsis, _REVERSED_CHANNELS[1]])
    elif function == "image.resize":
        size = arguments.get("size")
        ok = (isinstance(size, list) and len(size) == 2
              and all(isinstance(v, int) and 0 < v <= 4096 for v in size)
              and arguments.get("method", "bilinear") in _RESIZE_METHODS
              and arguments.get("antialias", False) in (True, False)
              and not arguments.get("preserve_aspect_ratio", False))
    elif function == "nn.bias_add":
        ok = _constant(arguments.get("bias")) and arguments.get("data_format") in (None, "NHWC")
    else:
        ok = _constant(arguments.get("y")) and arguments.get("y") is not None
    if not ok:
        return None
    return {"function": function, "arguments": arguments,
            "changes_values": function in _VALUE_OPS}


# Keras 3 records a NumPy-style op called on a tensor as a layer of keras.src.ops.numpy.
_KERAS3_OPS = {"TrueDivide": "math.truediv", "Divide": "math.truediv",
               "Multiply": "math.multiply", "Subtract": "math.subtract", "Add": "math.add"}


def keras3_op_call(layer: dict[str, Any]) -> dict[str, Any] | None:
    """A Keras 3 op on the tensor and a constant (``preprocess_input``'s ``x / 127.5 - 1``)."""
    function = _KERAS3_OPS.get(str(layer.get("class_name")))
    nodes = layer.get("inbound_nodes")
    if (function is None or not str(layer.get("module", "")).startswith("keras.src.ops")
            or not isinstance(nodes, list) or len(nodes) != 1 or not isinstance(nodes[0], dict)):
        return None
    args = nodes[0].get("args")
    if not (isinstance(args, list) and len(args) == 2 and isinstance(args[0], dict)
            and args[0].get("class_name") == "__keras_tensor__" and _constant(args[1])
            and args[1] is not None and not nodes[0].get("kwargs")):
        return None
    return {"function": function, "arguments": {"y": args[1]}, "changes_values": True}


def _implementation(function: str, arguments: dict[str, Any]) -> Callable[[Any], Any]:
    from app.core.tf_runtime import import_tensorflow

    tf = import_tensorflow()

    if function == "cast":
        return lambda x: tf.cast(x, arguments["dtype"])
    if function == "__operators__.getitem":
        return lambda x: x[..., ::-1]
    if function == "image.resize":
        return lambda x: tf.image.resize(x, arguments["size"],
                                         method=arguments.get("method", "bilinear"),
                                         antialias=bool(arguments.get("antialias", False)))
    if function == "nn.bias_add":
        return lambda x: tf.nn.bias_add(x, tf.constant(arguments["bias"], x.dtype))
    ops = {"math.truediv": tf.math.truediv, "math.divide": tf.math.divide,
           "math.multiply": tf.math.multiply, "math.subtract": tf.math.subtract,
           "math.add": tf.math.add, "__operators__.add": tf.math.add}
    op = ops[function]
    return lambda x: op(x, tf.constant(arguments["y"], x.dtype))


def _trusted_call(function: str, arguments: dict[str, Any]) -> Callable[[Any], Any]:
    """Any TensorFlow function by its recorded name: only for a file the user trusts."""
    import functools

    from app.core.tf_runtime import import_tensorflow

    fn = functools.reduce(getattr, function.split("."), import_tensorflow())
    if function == "__operators__.getitem":
        return lambda x: fn(x, tuple(arguments.get("slice_spec", ())))
    return lambda x: fn(x, **arguments)


def op_layer_classes(trusted: bool = False) -> dict[str, type]:
    """Keras 3 stand-ins for ``TFOpLambda`` and ``SlicingOpLambda``, as ``custom_objects``.

    Untrusted, only the arithmetic of :func:`safe_op_call` runs; a trusted file may call any
    TensorFlow function it names, with the constant arguments it recorded.
    """
    from app.core.tf_runtime import import_keras

    keras = import_keras()

    class TFOpLambda(keras.layers.Layer):
        """One allowed TensorFlow call of a Keras 2 model, on a tensor, with constants."""

        def __init__(self, function: str, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.function = function

        def call(self, x: Any, **arguments: Any) -> Any:
            arguments.pop("name", None)
            found = _safe_call(self.function, arguments)
            if found is not None:
                return _implementation(self.function, found["arguments"])(x)
            if trusted:
                return _trusted_call(self.function, arguments)(x)
            # The inspection refused the file first; this is the last guard.
            raise ValueError(f"TensorFlow call {self.function!r} is not rebuilt")

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "function": self.function}

    return {"TFOpLambda": TFOpLambda, "SlicingOpLambda": TFOpLambda}


def _rewrite_nodes(config: Any) -> bool:
    """Wrap each op layer's bare node in the list Keras 3's legacy reader expects."""
    changed = False
    for layer in objects_with(config, "inbound_nodes"):
        nodes = layer.get("inbound_nodes")
        if layer.get("class_name") in OP_LAYERS and isinstance(nodes, list):
            fixed = [[n] if isinstance(n, list) and n and isinstance(n[0], str) else n
                     for n in nodes]
            changed |= fixed != nodes
            layer["inbound_nodes"] = fixed
    return changed


@contextmanager
def readable_h5(path: Path) -> Iterator[Path]:
    """``path``, or a temporary copy whose op layers Keras 3 can read (same weights)."""
    import h5py

    with h5py.File(path, "r") as f:
        raw = f.attrs.get("model_config")
    text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw or "")
    config = json.loads(text) if text else None
    if config is None or not _rewrite_nodes(config):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="probscope-h5-") as folder:
        copy = Path(folder) / path.name
        shutil.copyfile(path, copy)
        with h5py.File(copy, "r+") as f:
            f.attrs["model_config"] = json.dumps(config)
        yield copy
