"""The digit prior's forward pass as a few raw TensorFlow ops, batch norm folded into the convs.

Called inside the user's model call, the prior pays per op, not per multiply: on one image a
Keras ``BatchNormalization`` at inference is five small ops per block, each costing scheduling
time that dwarfs its arithmetic. For a plain chain (Conv2D, BatchNormalization, ReLU, pooling,
Dense, Dropout) the normalisation is folded into the preceding convolution's kernel and bias
once, in numpy, and the pass becomes conv, bias, ReLU per block (a Cropping2D is a slice). Anything else in the model
returns None, and the caller keeps the Keras call; the result is also checked against it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Forward = Callable[[Any, Any], Any]  # (tf, x) -> logits


def _relu_like(layer: Any, keras: Any) -> bool:
    if isinstance(layer, keras.layers.ReLU):
        cfg = layer.get_config()
        return cfg.get("max_value") is None and not cfg.get("negative_slope") and not cfg.get(
            "threshold")
    return isinstance(layer, keras.layers.Activation) and _act(layer) == "relu"


def _act(layer: Any) -> str | None:
    return getattr(getattr(layer, "activation", None), "__name__", None)


def _fold(kernel: np.ndarray, bias: np.ndarray, bn: Any) -> tuple[np.ndarray, np.ndarray]:
    gamma, beta, mean, var = (np.asarray(w, np.float64) for w in bn.get_weights())
    factor = gamma / np.sqrt(var + bn.epsilon)
    return kernel * factor, (bias - mean) * factor + beta


def _layers(model: Any, keras: Any) -> list[Any]:
    return [la for la in model.layers if not isinstance(la, keras.layers.InputLayer)]


def _steps(model: Any, keras: Any, ends_in_dense: bool = True) -> list[tuple[str, dict]] | None:
    """The model as (op, parameters) steps, or None when it is not a plain supported chain."""
    layers = _layers(model, keras)
    # Each layer must take the previous one's output: side-by-side branches are listed
    # interleaved, and folding across them would pair one branch's conv with another's norm.
    if any(b.input is not a.output for a, b in zip(layers, layers[1:], strict=False)):
        return None
    steps: list[tuple[str, dict]] = []
    i = 0
    while i < len(layers):
        la = layers[i]
        if type(la) is keras.layers.Conv2D:  # exactly: a subclass may compute otherwise
            cfg = la.get_config()
            if cfg["data_format"] != "channels_last" or tuple(cfg["dilation_rate"]) != (1, 1) \
                    or cfg["groups"] != 1 or _act(la) not in ("linear", "relu"):
                return None
            kernel = np.asarray(la.kernel.numpy(), np.float64)
            bias = np.asarray(la.bias.numpy(), np.float64) if la.use_bias else np.zeros(
                kernel.shape[-1])
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            if _act(la) == "linear" and isinstance(nxt, keras.layers.BatchNormalization):
                kernel, bias = _fold(kernel, bias, nxt)
                i += 1
            steps.append(("conv", {"kernel": kernel.astype(np.float32),
                                   "bias": bias.astype(np.float32),
                                   "strides": tuple(cfg["strides"]),
                                   "padding": cfg["padding"].upper()}))
            if _act(la) == "relu":
                steps.append(("relu", {}))
        elif _relu_like(la, keras):
            steps.append(("relu", {}))
        elif isinstance(la, keras.layers.MaxPooling2D | keras.layers.AveragePooling2D):
            cfg = la.get_config()
            steps.append(("max_pool" if isinstance(la, keras.layers.MaxPooling2D) else "avg_pool",
                          {"size": tuple(cfg["pool_size"]), "strides": tuple(cfg["strides"]),
                           "padding": cfg["padding"].upper()}))
        elif isinstance(la, keras.layers.Cropping2D):
            cfg = la.get_config()
            if cfg["data_format"] != "channels_last":
                return None
            steps.append(("crop", {"cropping": tuple(tuple(c) for c in cfg["cropping"])}))
        elif isinstance(la, keras.layers.GlobalAveragePooling2D):
            steps.append(("global_mean", {}))
        elif isinstance(la, keras.layers.Flatten):
            steps.append(("flatten", {}))
        elif isinstance(la, keras.layers.Dropout):
            pass
        elif isinstance(la, keras.layers.Dense) and _act(la) in ("linear", "relu", "softmax"):
            last = i == len(layers) - 1
            if _act(la) == "softmax" and not last:
                return None
            steps.append(("dense", {"kernel": la.kernel.numpy().astype(np.float32),
                                    "bias": (la.bias.numpy() if la.use_bias else np.zeros(
                                        la.units)).astype(np.float32)}))
            if _act(la) == "relu":
                steps.append(("relu", {}))
        else:
            return None
        i += 1
    return steps if steps and (steps[-1][0] == "dense" or not ends_in_dense) else None


def _branches(model: Any, keras: Any) -> tuple[list[list[tuple[str, dict]]], dict] | None:
    """Chains from the input joined by a Concatenate into the last Dense (an ensemble of
    towers), as each chain's steps and the head's parameters; None for anything else."""
    layers = _layers(model, keras)
    if len(layers) < 3 or not isinstance(layers[-2], keras.layers.Concatenate) \
            or layers[-2].get_config().get("axis") not in (-1, 1):
        return None
    head = _steps(keras.Model(layers[-2].output, layers[-1].output), keras)
    if head is None or len(head) != 1:
        return None
    chains = []
    for branch in layers[-2].input:
        # The sub-model from the input to this branch lists the layers of its path only.
        chain = _steps(keras.Model(model.inputs, branch), keras, ends_in_dense=False)
        if chain is None:
            return None
        chains.append(chain)
    return chains, head[0][1]


def _run(tf: Any, x: Any, steps: list[tuple[str, dict]]) -> Any:
    for op, p in steps:
        if op == "conv":
            x = tf.nn.bias_add(tf.nn.conv2d(x, tf.constant(p["kernel"]), p["strides"],
                                            p["padding"]), tf.constant(p["bias"]))
        elif op == "relu":
            x = tf.nn.relu(x)
        elif op == "max_pool":
            x = tf.nn.max_pool2d(x, p["size"], p["strides"], p["padding"])
        elif op == "avg_pool":
            x = tf.nn.avg_pool2d(x, p["size"], p["strides"], p["padding"])
        elif op == "crop":
            (top, bottom), (left, right) = p["cropping"]
            x = x[:, top:x.shape[1] - bottom, left:x.shape[2] - right, :]
        elif op == "global_mean":
            x = tf.reduce_mean(x, axis=[1, 2])
        elif op == "flatten":
            x = tf.reshape(x, (-1, int(np.prod(x.shape[1:]))))
        else:
            x = tf.nn.bias_add(tf.matmul(x, tf.constant(p["kernel"])), tf.constant(p["bias"]))
    return x


def folded_forward(model: Any, keras: Any) -> Forward | None:
    """``(tf, x) -> logits`` of a plain Conv/BN/ReLU/pool/Dense chain, or None.

    Chains side by side from the input, concatenated into the last Dense (towers whose logits
    the model averages, as the bundled one's), are folded each on its own.

    Parameters
    ----------
    model : keras.Model
        A classifier whose last layer is a Dense (softmax or linear).
    keras : module
        Keras, to recognise layer types.

    Returns
    -------
    callable or None
        The logits (before any softmax) from the model input, to be traced in a graph.
    """
    steps = _steps(model, keras)
    if steps is not None:
        return lambda tf, x: _run(tf, x, steps)
    branches = _branches(model, keras)
    if branches is None:
        return None
    chains, head = branches

    def forward(tf: Any, x: Any) -> Any:
        joined = tf.concat([_run(tf, x, chain) for chain in chains], axis=-1)
        return _run(tf, joined, [("dense", head)])

    return forward
