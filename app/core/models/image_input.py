"""Models whose input is not a batch of channels-last images, read as images all the same.

The first model of most Keras tutorials starts with ``Flatten(input_shape=(28, 28))`` and
takes (batch, 28, 28); older ones take the flattened (batch, 784). Both are image classifiers:
probscope feeds them (height, width, channels) images through a ``Reshape`` placed in front
of the model's own layers, so every tool (heads, diagnostics, Grad-CAM, export, LiteRT) sees
an ordinary image model.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

# A flat input is read as an image only from 8x8 up (scikit-learn's digits): below that it is
# more likely a table of features than a picture.
MIN_FLAT_SIDE = 8
RESHAPE_LAYER_NAME = "probscope_image_to_model_input"


@dataclass(frozen=True)
class ImageInput:
    """How images reach a model: their (height, width, channels), and how they are reshaped."""

    shape: tuple[int | None, int | None, int]
    model_shape: tuple[int | None, ...]  # the model's own input, batch axis left out
    note: str | None = None  # said to the user when the model's input is not an image batch

    @property
    def needs_reshape(self) -> bool:
        return self.note is not None


def _size(h: int, w: int) -> str:
    return f"{h}x{w}"


def read_image_input(batch_shape: tuple[int | None, ...]) -> ImageInput | None:
    """Interpret a model's input shape as images, or None when it is not one of ours.

    Parameters
    ----------
    batch_shape : tuple
        The input shape with its batch axis: (batch, height, width, channels), (batch,
        height, width) for grayscale without a channel axis, or (batch, n) for images
        flattened row by row (n a square, grayscale, or three times a square, colour).

    Returns
    -------
    ImageInput or None
        None for any other rank, for a channel count other than 1 or 3 (the caller says
        why), or for a flat or channel-less input whose size is not fixed.
    """
    dims = tuple(None if d is None else int(d) for d in batch_shape[1:])
    if len(dims) == 3:
        h, w, c = dims
        if c not in (1, 3):
            return None
        return ImageInput((h, w, c), dims)
    if len(dims) == 2:
        h, w = dims
        if not h or not w:
            return None
        note = (f"the model's input {batch_shape} has no channel axis: images are fed as "
                f"{_size(h, w)} grayscale")
        return ImageInput((h, w, 1), dims, note)
    if len(dims) == 1 and dims[0]:
        n = dims[0]
        for channels, mode in ((1, "grayscale"), (3, "colour")):
            side = math.isqrt(n // channels)
            if n % channels == 0 and side * side * channels == n and side >= MIN_FLAT_SIDE:
                note = (f"the model's input {batch_shape} is a flat vector: images are fed as "
                        f"{_size(side, side)} {mode}, flattened row by row")
                return ImageInput((side, side, channels), dims, note)
    return None


def not_an_image_message(name: str, batch_shape: tuple[int | None, ...]) -> str:
    """The one-line refusal for an input that :func:`read_image_input` cannot read."""
    dims = tuple(batch_shape[1:])
    if len(dims) == 3:
        return (f"{name}: input has {dims[2]} channels; probscope reads grayscale (1) or colour "
                "(3) images in channels-last order")
    if len(dims) == 1:
        return (f"{name}: input shape {tuple(batch_shape)} is a vector of {dims[0]} values, not "
                "a flattened square image (n x n grayscale or n x n x 3 colour)")
    return (f"{name}: input shape {tuple(batch_shape)} is not an image batch (expected batch, "
            "height, width[, channels] of a fixed size)")


def with_image_input(model: Any, image_input: ImageInput) -> Any:
    """A copy of ``model`` that takes (height, width, channels) images through a ``Reshape``.

    The copy is rebuilt from the model's config with the ``Reshape`` after its input and its
    weights set layer by layer, so every layer is called once, on the images: its softmax,
    features and convolutions are where whoever reads the graph (``layer.input``,
    ``layer.output``) looks for them.
    """
    import keras

    images = keras.Input(image_input.shape, name="image")
    reshape = keras.layers.Reshape(image_input.model_shape, name=RESHAPE_LAYER_NAME)
    inner = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if len(inner) == 1 and not isinstance(model, keras.Sequential):
        # One opaque layer (a SavedModel's TFSMLayer): nothing reads inside it, and rebuilding
        # it from its config would load the SavedModel again, outside safe mode's say.
        return keras.Model(images, inner[0](reshape(images)), name=model.name)
    config = copy.deepcopy(model.get_config())
    batch_shape = [None, *image_input.shape]
    reshape_config = keras.layers.serialize(reshape)
    layers = config["layers"]
    first = layers[0]
    if first.get("class_name") != "InputLayer":
        raise ValueError("the model's config does not start with its input")
    first["config"]["batch_shape"] = batch_shape
    first["config"].pop("batch_input_shape", None)
    if isinstance(model, keras.Sequential):
        layers.insert(1, reshape_config)
        config.pop("build_input_shape", None)
        rebuilt = keras.Sequential.from_config(config)
    else:
        _rewire(layers, first["name"], reshape_config, batch_shape)
        rebuilt = keras.Model.from_config(config)
    for layer in model.layers:
        if layer.weights:
            rebuilt.get_layer(layer.name).set_weights(layer.get_weights())
    return rebuilt


def _rewire(layers: list[dict], input_name: str, reshape: dict, batch_shape: list) -> None:
    """Make the layers that read the input read the ``Reshape`` placed right after it."""
    for entry in layers[1:]:
        _replace_history(entry.get("inbound_nodes", []), input_name, RESHAPE_LAYER_NAME)
    reshape["name"] = RESHAPE_LAYER_NAME
    reshape["inbound_nodes"] = [{"args": [{"class_name": "__keras_tensor__", "config": {
        "shape": batch_shape, "dtype": "float32", "keras_history": [input_name, 0, 0]}}],
        "kwargs": {}}]
    layers.insert(1, reshape)


def _replace_history(node: Any, old: str, new: str) -> None:
    if isinstance(node, dict):
        history = node.get("keras_history")
        if isinstance(history, list) and history and history[0] == old:
            history[0] = new
        for value in node.values():
            _replace_history(value, old, new)
    elif isinstance(node, list):
        for value in node:
            _replace_history(value, old, new)
