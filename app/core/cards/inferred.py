"""What can be known about preprocessing when there is no card, and what looks wrong when there is.

Without a card, probscope infers input size and channels from the model and notices
in-model preprocessing layers, but the value scale is a guess and is marked as one.
"""

from __future__ import annotations

import os
import shlex
from typing import Any

from app.core.cards.card_file import ModelCard, new_card
from app.core.models.loading import LoadedModel
from app.core.preprocessing.spec import PreprocessingSpec

_SCALING_LAYERS = ("Rescaling", "Normalization")
_GEOMETRY_LAYERS = ("Resizing", "CenterCrop")


def in_model_scaling(loaded: LoadedModel) -> list[dict[str, Any]]:
    """The model's own value-scaling layers (Rescaling, Normalization, and a Keras 2 model's
    recorded arithmetic such as ``preprocess_input``'s ``x / 127.5 - 1``), as inspected."""
    return [p for p in loaded.inspection.preprocessing_layers
            if p["class_name"] in _SCALING_LAYERS or p.get("changes_values")]


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return str(value)


def layer_text(layer: dict[str, Any]) -> str:
    """How ``info`` and the warnings name an in-model preprocessing step."""
    if "function" in layer:
        args = ", ".join(f"{k}={_short(v)}" for k, v in layer.get("arguments", {}).items()
                         if k != "slice_spec")
        if layer["class_name"] not in ("TFOpLambda", "SlicingOpLambda"):
            symbol = {"math.truediv": "/", "math.multiply": "*", "math.subtract": "-",
                      "math.add": "+"}[layer["function"]]
            return f"x {symbol} {_short(layer['arguments']['y'])} (an op in the model's graph)"
        call = "x[..., ::-1]" if layer["function"] == "__operators__.getitem" else (
            f"tf.{layer['function']}({args})")
        return f"{call} (a Keras 2 TensorFlow call)"
    return f"{layer['class_name']} '{layer.get('name')}'"


def _in_model_geometry(loaded: LoadedModel) -> list[dict[str, Any]]:
    return [p for p in loaded.inspection.preprocessing_layers if p["class_name"] in _GEOMETRY_LAYERS]


def infer_card(loaded: LoadedModel) -> ModelCard:
    """A card for a model that has none: classes 0..N-1, preprocessing inferred and flagged.

    Size and channels come from the model's input (or its first Resizing layer when the
    input takes any size). The value scale cannot be known: with an in-model Rescaling
    or Normalization layer raw 0–255 pixels are the likely input, otherwise x/255 is the
    most common choice; either way ``recorded`` is false and ``source`` says it is a guess.
    """
    h, w, c = loaded.input_shape
    target = (h, w) if h and w else None
    resizing = [g for g in _in_model_geometry(loaded) if g["class_name"] == "Resizing"]
    if target is None and resizing and resizing[0].get("height") and resizing[0].get("width"):
        target = (int(resizing[0]["height"]), int(resizing[0]["width"]))
    scaling = in_model_scaling(loaded)
    if scaling:
        names = ", ".join(layer_text(p) for p in scaling)
        guess = f"scale 1 (raw 0-255) guessed because the model has {names}"
    elif "Lambda" in loaded.inspection.layer_classes:
        # Its code may scale the input (x / 255 inside), which no config says.
        guess = ("scale 1/255 is a guess: the model has no Rescaling layer, but a Lambda "
                 "layer that may scale the input itself")
    else:
        guess = "scale 1/255 is a guess (the model has no Rescaling layer)"
    pre = PreprocessingSpec(
        color_mode="grayscale" if c == 1 else "rgb",
        target_size=target,
        interpolation="bilinear",
        resize_backend="opencv",
        scale=1.0 if scaling else 1.0 / 255.0,
        source=f"inferred from the model: size and channels; {guess}",
        recorded=False,
    )
    return new_card([str(i) for i in range(loaded.n_classes)], pre.to_dict())


def recording_hint(model_path: str | os.PathLike[str]) -> str:
    """The command that records a card-less model's preprocessing (the next step to name).

    The path as it was given, quoted for a shell: the bare name was wrong from any other
    folder than the model's.
    """
    name = shlex.quote(os.fspath(model_path).rstrip("/")) or "MODEL"
    return (f"record how it was trained: probscope card init {name} --like "
            "idg|dataset|arrays|<keras.applications name> (see --help)")


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


def _number(value: Any, default: float) -> float:
    # Rescaling's scale/offset may be saved as a float or a per-channel list.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value):
        return float(value[0])
    return default


def card_value_steps(spec: PreprocessingSpec) -> list[str]:
    """The value transforms a card applies to 0-255 pixels, named; empty for raw pixels."""
    steps = []
    if spec.keras_applications_mode:
        steps.append(f"keras.applications '{spec.keras_applications_mode}'")
    if spec.scale != 1.0 or spec.offset != 0.0:
        steps.append(f"scale {spec.scale:g}" + (f" offset {spec.offset:+g}" if spec.offset else ""))
    if spec.samplewise_center or spec.samplewise_std_normalization:
        steps.append("sample-wise standardisation")
    if spec.per_image_standardization:
        steps.append("per-image standardisation")
    if spec.mean is not None or spec.std is not None:
        steps.append("mean/std")
    return steps


def double_preprocessing_warnings(spec: PreprocessingSpec, loaded: LoadedModel) -> list[str]:
    """Warn when the card does what the model's own preprocessing layers do again.

    A model with Rescaling/Normalization layers expects what its training pipeline fed it
    *before* those layers, usually raw 0–255 pixels; a card that also scales or
    normalises (say x/255 in front of ``Rescaling(1/255)``) shrinks every input.
    """
    return double_value_warnings(spec, loaded) + double_geometry_warnings(spec, loaded)


def double_value_warnings(spec: PreprocessingSpec, loaded: LoadedModel) -> list[str]:
    """The warnings of :func:`double_preprocessing_warnings` about pixel values (scale, mean)."""
    warnings = []
    steps = card_value_steps(spec)
    for layer in in_model_scaling(loaded):
        name = f"{layer['class_name']} layer '{layer.get('name')}'"
        if layer["class_name"] == "Rescaling" and steps:
            scale = _number(layer.get("scale"), 1.0)
            text = (f"the card ({', '.join(steps)}) and the model's {name} (scale {scale:g}) both "
                    "rescale the input: it is scaled twice")
            if spec.scale != 1.0 and not spec.keras_applications_mode and not (
                spec.mean is not None or spec.per_image_standardization
            ):
                hi = 255.0 * spec.scale * scale + spec.offset * scale + _number(layer.get("offset"), 0.0)
                text += f" (0-255 pixels reach the network as 0-{hi:.3g})"
            warnings.append(text + "; set scale 1 in the card if training fed raw pixels")
        elif layer["class_name"] == "Normalization" and (
            spec.mean is not None or spec.std is not None or spec.per_image_standardization
            or spec.samplewise_center or spec.keras_applications_mode in ("caffe", "torch")
        ):
            warnings.append(
                f"both the card ({', '.join(steps)}) and the model's {name} normalise the "
                "input: it is normalised twice"
            )
    calls = [layer_text(p) for p in in_model_scaling(loaded) if p.get("changes_values")]
    if calls and steps:
        warnings.append(f"the card ({', '.join(steps)}) and the model's own {', '.join(calls)} "
                        "both change pixel values: they are changed twice; set scale 1 in the "
                        "card if training fed raw pixels")
    return warnings


def double_geometry_warnings(spec: PreprocessingSpec, loaded: LoadedModel) -> list[str]:
    """The warnings of :func:`double_preprocessing_warnings` about cropping and padding."""
    warnings = []
    for layer in _in_model_geometry(loaded):
        if layer["class_name"] == "CenterCrop" and spec.crop_to_aspect_ratio:
            warnings.append(
                f"both the card (crop_to_aspect_ratio) and the model's CenterCrop layer "
                f"'{layer.get('name')}' crop the image: it is cropped twice"
            )
        elif layer["class_name"] == "Resizing" and (
            (layer.get("crop_to_aspect_ratio") and spec.crop_to_aspect_ratio)
            or (layer.get("pad_to_aspect_ratio") and spec.pad_to_aspect_ratio)
        ):
            warnings.append(
                f"both the card and the model's Resizing layer '{layer.get('name')}' fit the "
                "aspect ratio: the image is cropped or padded twice"
            )
    return warnings
