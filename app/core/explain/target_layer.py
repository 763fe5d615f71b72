"""Which layer Grad-CAM reads: the output of the model's last convolutional block.

Grad-CAM weighs the feature maps of a convolutional layer by how much the class score
depends on them. The last block is used because its maps are the most class-specific
while still spatial. "Block" means the last convolution followed by the element-wise
layers that finish it (BatchNormalization, the activation, Dropout, a residual Add…), up
to the first layer that changes the spatial size (pooling, flattening): for
Conv → BatchNorm → ReLU → MaxPool, the ReLU's output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.core.errors import ModelError

_CONV_CLASSES = frozenset({"Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose",
                           "Convolution2D", "SeparableConvolution2D"})
_POOLING_PREFIXES = ("MaxPool", "AveragePool", "GlobalMaxPool", "GlobalAveragePool")


# Why Grad-CAM cannot run, said alike when it is tried and when the window knows beforehand.
_SAVEDMODEL = "the model is a SavedModel graph whose layers cannot be read"
_NO_CONVOLUTION = "the model has no convolutional layer to read"


class GradCAMUnavailable(ModelError):
    """Grad-CAM cannot be computed for this model (no convolutional layer to read, a
    SavedModel graph, a convolution inside a nested model); occlusion still works."""


class NestedConvolutions(GradCAMUnavailable):
    """The convolutions are inside a nested model (``layer``), as in transfer learning."""

    def __init__(self, message: str, layer: str) -> None:
        super().__init__(message)
        self.layer = layer


@dataclass(frozen=True)
class TargetLayer:
    """The layer whose output Grad-CAM weighs, and the convolution that starts its block."""

    name: str
    conv_name: str
    spatial_size: tuple[int, int]
    # Rows and columns ((top, bottom), (left, right)) a Cropping2D right after the block
    # drops: the score cannot depend on them, so they carry no evidence.
    cropped: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0))


def _spatial(layer: Any) -> tuple[int, int] | None:
    try:
        shape = tuple(layer.output.shape)
    except (AttributeError, ValueError):
        return None
    if len(shape) != 4 or shape[1] is None or shape[2] is None:
        return None
    return int(shape[1]), int(shape[2])


def _nested_conv(model: Any) -> str | None:
    for layer in model.layers:
        if hasattr(layer, "layers") and any(
            type(inner).__name__ in _CONV_CLASSES for inner in _all_layers(layer)
        ):
            return layer.name
    return None


def _all_layers(model: Any) -> list[Any]:
    out = []
    for layer in model.layers:
        out.append(layer)
        if hasattr(layer, "layers"):
            out += _all_layers(layer)
    return out


def find_target_layer(model: Any, name: str | None = None) -> TargetLayer:
    """The output of the last convolutional block of ``model`` (or the layer ``name``).

    Parameters
    ----------
    model : keras.Model
        A loaded classifier.
    name : str, optional
        Use this layer instead (it must have a 4-D, spatial output).

    Raises
    ------
    GradCAMUnavailable
        No top-level convolutional layer, or ``name`` is not a spatial layer.
    """
    layers = list(model.layers)
    if name is not None:
        match = [layer for layer in layers if layer.name == name]
        if not match or _spatial(match[0]) is None:
            raise GradCAMUnavailable(f"layer {name!r} is not a convolutional feature map of the model")
        return TargetLayer(name, name, _spatial(match[0]))  # type: ignore[arg-type]
    convs = [i for i, layer in enumerate(layers)
             if type(layer).__name__ in _CONV_CLASSES and _spatial(layer) is not None]
    if not convs:
        if any(type(layer).__name__ == "TFSMLayer" for layer in layers):
            raise GradCAMUnavailable(f"Grad-CAM is unavailable: {_SAVEDMODEL}; use occlusion instead")
        nested = _nested_conv(model)
        if nested is not None:
            raise NestedConvolutions(
                f"Grad-CAM is unavailable: the convolutions are inside the nested model "
                f"{nested!r}, and the layers around it are not a simple chain probscope can "
                "rebuild; use occlusion instead", nested)
        raise GradCAMUnavailable(f"Grad-CAM is unavailable: {_NO_CONVOLUTION}; use occlusion instead")
    start = convs[-1]
    size = _spatial(layers[start])
    chosen = start
    for i in range(start + 1, len(layers)):
        layer = layers[i]
        if _spatial(layer) != size or type(layer).__name__.startswith(_POOLING_PREFIXES):
            break
        chosen = i
    return TargetLayer(layers[chosen].name, layers[start].name, size,  # type: ignore[arg-type]
                       _cropped_after(layers, chosen))


def _cropped_after(layers: list[Any], chosen: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """What a Cropping2D fed only by ``layers[chosen]`` cuts off its map (none: zeros)."""
    nothing = ((0, 0), (0, 0))
    users = [layer for layer in layers if _producer_of_input(layer) is layers[chosen]]
    if len(users) != 1 or type(users[0]).__name__ != "Cropping2D":
        return nothing
    cfg = users[0].get_config()
    if cfg.get("data_format", "channels_last") != "channels_last":
        return nothing
    (top, bottom), (left, right) = (tuple(int(v) for v in pair) for pair in cfg["cropping"])
    return (top, bottom), (left, right)


def _producer_of_input(layer: Any) -> Any:
    try:
        history = getattr(layer.input, "_keras_history", None)
    except (AttributeError, ValueError):  # no single input
        return None
    return history.operation if history is not None else None


def output_in_graph(model: Any, name: str) -> Any:
    """The output tensor of layer ``name`` in the graph that leads to ``model.outputs``.

    ``layer.output`` is the layer's *first* call; a Sequential model loaded from a file has
    been called several times while it was rebuilt, so that tensor can belong to another
    graph, from which no gradient reaches the outputs. Walking back from the outputs finds
    the call that matters.
    """
    seen: set[int] = set()
    stack = list(model.outputs)
    while stack:
        tensor = stack.pop()
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        history = getattr(tensor, "_keras_history", None)
        if history is None:
            continue
        operation, node_index = history.operation, history.node_index
        if getattr(operation, "name", None) == name:
            return tensor
        nodes = getattr(operation, "_inbound_nodes", [])
        if node_index < len(nodes):
            stack.extend(nodes[node_index].input_tensors)
    raise GradCAMUnavailable(f"Grad-CAM is unavailable: layer {name!r} is not on the way from "
                             "the model's input to its output; use occlusion instead")


def gradcam_unavailable(format_name: str, layer_classes: list[str]) -> str | None:
    """Why Grad-CAM cannot run on a model, from its format and its config's layer classes.

    For the window, which would otherwise offer Grad-CAM and take it back after a try; no
    model is loaded for it (a LiteRT session has none). What only building finds out (a
    nested base amid branching layers) is None here.
    """
    if format_name == "tflite":
        return "a .tflite file has no layers to take gradients through"
    if format_name == "savedmodel":
        return _SAVEDMODEL
    if not _CONV_CLASSES & set(layer_classes):
        return _NO_CONVOLUTION
    return None
