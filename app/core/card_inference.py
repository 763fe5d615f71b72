"""What can be known about preprocessing when there is no card, and what looks wrong when there is.

Without a card, probscope infers input size and channels from the model and notices
in-model preprocessing layers, but the value scale is a guess and is marked as one.
"""

from __future__ import annotations

from typing import Any

from app.core.model_card import ModelCard, new_card
from app.core.model_loading import LoadedModel
from app.core.preprocessing_spec import PreprocessingSpec

_SCALING_LAYERS = ("Rescaling", "Normalization")


def in_model_scaling(loaded: LoadedModel) -> list[dict[str, Any]]:
    """The model's own value-scaling layers (Rescaling, Normalization), as inspected."""
    return [p for p in loaded.inspection.preprocessing_layers if p["class_name"] in _SCALING_LAYERS]


def infer_card(loaded: LoadedModel) -> ModelCard:
    """A card for a model that has none: classes 0..N-1, preprocessing inferred and flagged."""
    h, w, c = loaded.input_shape
    scaling = in_model_scaling(loaded)
    guess = "1.0 because the model rescales itself" if scaling else "1/255 is a guess"
    pre = PreprocessingSpec(
        color_mode="grayscale" if c == 1 else "rgb",
        target_size=(h, w) if h and w else None,
        interpolation="bilinear",
        resize_backend="opencv",
        scale=1.0 if scaling else 1.0 / 255.0,
        source=f"inferred from the model: size and channels; scale {guess}",
        recorded=False,
    )
    return new_card([str(i) for i in range(loaded.n_classes)], pre.to_dict())


def card_problems(card: ModelCard, spec: PreprocessingSpec, loaded: LoadedModel) -> list[str]:
    """Contradictions between a card and its model that would make every answer wrong.

    Returns
    -------
    list of str
        One-line problems; the first kind (class count, size, channels) is fatal.
    """
    problems = []
    if len(card.classes) != loaded.n_classes:
        problems.append(
            f"the card names {len(card.classes)} classes but the model outputs {loaded.n_classes}"
        )
    h, w, c = loaded.input_shape
    if spec.channels != c:
        problems.append(
            f"the card's color_mode '{spec.color_mode}' gives {spec.channels} channel(s) but the "
            f"model takes {c}"
        )
    if spec.target_size is None and not (h and w):
        problems.append("the model accepts any image size: record target_size in the card")
    elif spec.target_size is not None and h and w and tuple(spec.target_size) != (h, w):
        problems.append(
            f"the card's target_size {spec.target_size[0]}x{spec.target_size[1]} differs from the "
            f"model's input {h}x{w}"
        )
    return problems


def double_preprocessing_warnings(spec: PreprocessingSpec, loaded: LoadedModel) -> list[str]:
    """Warn when the card scales values that the model will scale again itself."""
    warnings = []
    card_scales = spec.scale != 1.0 or spec.mean is not None or spec.keras_applications_mode
    for layer in in_model_scaling(loaded):
        if layer["class_name"] == "Rescaling" and card_scales:
            warnings.append(
                f"both the card ({spec.summary()}) and the model's Rescaling layer "
                f"'{layer.get('name')}' (scale {layer.get('scale')}) rescale the input: "
                "it is scaled twice"
            )
        elif layer["class_name"] == "Normalization" and (spec.mean is not None or spec.std is not None):
            warnings.append(
                f"both the card's mean/std and the model's Normalization layer "
                f"'{layer.get('name')}' normalise the input: it is normalised twice"
            )
    return warnings
