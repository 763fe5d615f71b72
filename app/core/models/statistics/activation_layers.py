"""Finding a model's hidden activation layers: the ReLU-family outputs diagnostics and the
"none of the classes" probe both read.

Layers are found in Sequential and Functional models and in nested Sequential/Functional
sub-models called once; layers of a SavedModel graph (``TFSMLayer``) and of a sub-model
called more than once (shared) are skipped with a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.core.tf_runtime import import_keras, on_tf_thread

RELU_FAMILY = frozenset({"relu", "relu6"})
# Not activations a unit can die in: nothing to report.
_IGNORED = frozenset({"linear", "softmax", "log_softmax"})


@dataclass
class ActivationLayer:
    """A layer whose output is an activation, as listed for the report and the layer picker."""

    name: str
    class_name: str
    activation: str
    units: int
    applicable: bool  # ReLU family: outputs exactly zero, so dead/sparse are meaningful
    tensor: Any = field(default=None, repr=False)  # the output, in the outer model's graph


def _activation_of(layer: Any, keras: Any) -> tuple[str | None, bool]:
    """(activation name, is ReLU family) for a layer, or (None, False) when not one."""
    if isinstance(layer, keras.layers.ReLU):
        if float(layer.negative_slope or 0.0) != 0.0:
            return "leaky_relu", False
        if layer.max_value is not None:
            return ("relu6" if float(layer.max_value) == 6.0 else f"relu(max={layer.max_value:g})"), True
        return "relu", True
    for cls, name in ((keras.layers.LeakyReLU, "leaky_relu"), (keras.layers.PReLU, "prelu"),
                      (keras.layers.ELU, "elu")):
        if isinstance(layer, cls):
            return name, False
    act = getattr(layer, "activation", None)
    if act is None or not callable(act):
        return None, False
    name = str(getattr(act, "__name__", None) or type(act).__name__).lower()
    if name in _IGNORED:
        return None, False
    return name, name in RELU_FAMILY


def _units(tensor: Any) -> int:
    last = tensor.shape[-1]
    return int(last) if last is not None else 0


def _nested_tensors(sub: Any, keras: Any, prefix: str) -> tuple[list[ActivationLayer], list[str]]:
    """Activation layers of a sub-model, with outputs re-expressed in the outer graph."""
    entries, notes = _find_layers(sub, keras, prefix + sub.name + "/", outer_output=None)
    if not entries:
        return [], notes
    # A loaded model may record the same call several times; distinct inputs mean sharing.
    nodes = [n for n in getattr(sub, "_inbound_nodes", []) if n.input_tensors]
    if len({id(n.input_tensors[0]) for n in nodes}) != 1:
        return [], notes + [f"layers inside '{sub.name}' skipped: the sub-model is called "
                            f"{len(nodes)} times"]
    if len(sub.inputs) != 1:
        return [], notes + [f"layers inside '{sub.name}' skipped: it takes several inputs"]
    probe = keras.Model(sub.inputs[0], [e.tensor for e in entries])
    try:
        # The node that connects the sub-model to the outer graph is the last one made.
        outer = probe(nodes[-1].input_tensors[0])
    except (ValueError, TypeError, IndexError) as exc:
        return [], notes + [f"layers inside '{sub.name}' skipped ({str(exc)[:80]})"]
    outer = outer if isinstance(outer, (list, tuple)) else [outer]
    for e, t in zip(entries, outer, strict=True):
        e.tensor = t
    return entries, notes


def _find_layers(
    model: Any, keras: Any, prefix: str = "", outer_output: Any = None
) -> tuple[list[ActivationLayer], list[str]]:
    entries: list[ActivationLayer] = []
    notes: list[str] = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found, more = _nested_tensors(layer, keras, prefix)
            entries += found
            notes += more
            continue
        if type(layer).__name__ == "TFSMLayer":
            notes.append(f"'{layer.name}' is a SavedModel graph: its layers cannot be examined")
            continue
        name, applicable = _activation_of(layer, keras)
        if name is None:
            continue
        try:
            tensor = layer.output
        except (AttributeError, ValueError):
            notes.append(f"layer '{layer.name}' skipped: it is shared or not connected")
            continue
        if outer_output is not None and tensor is outer_output:
            continue  # the classifier's own output layer is not a hidden layer
        entries.append(ActivationLayer(prefix + layer.name, type(layer).__name__, name,
                                       _units(tensor), applicable, tensor))
    return entries, notes


def find_activation_layers(model: Any) -> tuple[list[ActivationLayer], list[str]]:
    """Every hidden activation layer of a model, in order, and notes on what was skipped.

    ReLU-family layers (Dense/Conv with ``relu``/``relu6``, ``ReLU`` layers,
    ``Activation("relu")``) are ``applicable``; leaky ReLU, ELU, PReLU, tanh, sigmoid and
    the like are listed as not applicable (they are never exactly zero).
    """
    keras = import_keras()
    return on_tf_thread(_reachable_layers, model, keras)


def _reachable_layers(model: Any, keras: Any) -> tuple[list[ActivationLayer], list[str]]:
    entries, notes = _find_layers(model, keras, "", outer_output=model.outputs[0])
    try:
        keras.Model(model.inputs[0], [e.tensor for e in entries])
    except ValueError:
        # Some nested output is not reachable from the model's input: keep those that are.
        kept = []
        for e in entries:
            try:
                keras.Model(model.inputs[0], e.tensor)
                kept.append(e)
            except ValueError:
                notes.append(f"layer '{e.name}' skipped: not connected to the model's input")
        entries = kept
    return entries, notes
