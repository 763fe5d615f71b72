"""Grad-CAM through a nested model: the transfer-learning layout.

``keras.applications`` bases are used as one layer of the user's model
(``Input → [preprocessing] → MobileNetV2 → pooling → Dense``), so the convolutions Grad-CAM
reads are inside that layer, whose own output is already pooled. The outer layers are
called again in order on a fresh input, with the nested model replaced by one that also
returns its last block's maps. That is only right when the outer layers form a chain, so
the rebuilt model must reproduce the model's answers on random images, or Grad-CAM says it
is unavailable (occlusion still works).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from app.core.explain.target_layer import (
    GradCAMUnavailable,
    TargetLayer,
    find_target_layer,
    output_in_graph,
)


def nested_probe(model: Any, nested: str, logits_from_output: bool, keras: Any) -> tuple[TargetLayer, Any]:
    """(the block Grad-CAM reads, a model giving its maps and the tensor logits come from).

    Parameters
    ----------
    model : keras.Model
        The user's model; ``nested`` names the layer (a model) holding the convolutions.
    logits_from_output : bool
        Logits are read from the model's output (else from the input of its last layer, a
        softmax Dense or Softmax being stripped).
    keras : module

    Raises
    ------
    GradCAMUnavailable
        The nested model holds its convolutions deeper still, or the outer layers are not a
        chain (the rebuilt model answers differently).
    """
    base = model.get_layer(nested)
    target = find_target_layer(base)  # one level: a nested model inside it is refused here
    inner = keras.Model(base.inputs, [output_in_graph(base, target.name), base.outputs[0]])
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    inputs = keras.Input(tuple(model.inputs[0].shape[1:]))
    x, maps, before_last = inputs, None, inputs
    try:
        for layer in layers:
            before_last = x
            if layer is base:
                maps, x = inner(x)
            else:
                x = layer(x)
    except (ValueError, TypeError) as exc:
        raise _not_a_chain(nested, str(exc)) from None
    _check_same_answers(model, keras.Model(inputs, x), nested)
    return target, keras.Model(inputs, [maps, x if logits_from_output else before_last])


def _check_same_answers(model: Any, rebuilt: Any, nested: str) -> None:
    shape = [d or 32 for d in model.inputs[0].shape[1:]]
    x = np.random.default_rng(0).uniform(0.0, 255.0, (2, *shape)).astype(np.float32)
    want = np.asarray(model(x, training=False))
    got = np.asarray(rebuilt(x, training=False))
    if want.shape != got.shape or not np.allclose(want, got, rtol=1e-4, atol=1e-5):
        raise _not_a_chain(nested, "rebuilt in order, the layers answer differently")


def _not_a_chain(nested: str, why: str) -> GradCAMUnavailable:
    return GradCAMUnavailable(
        f"Grad-CAM is unavailable: the convolutions are inside the nested model {nested!r}, "
        f"and the layers around it are not a chain probscope can rebuild ({why[:100]}); "
        "use occlusion instead")
