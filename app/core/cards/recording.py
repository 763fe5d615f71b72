"""Record, at training time, the preprocessing a model is trained with, into its model card.

Call one of these from the training script, next to ``model.save``; importing this module
starts nothing heavy (no TensorFlow, no OpenCV)::

    from app.core import record_from_flow
    train = ImageDataGenerator(rescale=1 / 255).flow_from_directory("data/train", (32, 32))
    model.fit(train, epochs=5)
    model.save("digits.keras")
    record_from_flow(train, model_path="digits.keras")   # writes digits.keras.probscope.json

Every ``record_*`` function returns the :class:`~app.core.cards.card_file.ModelCard` and, given
``model_path``, saves it beside the model with :func:`save_card_for_model`. The card also
gets ``input_statistics``: per-channel mean/std/min/max of the model's input tensor over a
sample of the training data, which diagnostics compare inference inputs against.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app.core.cards.card_file import ModelCard, card_path_for, load_card_for, new_card, write_card
from app.core.cards.input_statistics import input_statistics
from app.core.errors import CardError
from app.core.preprocessing.keras_applications import MODES_BY_MODULE, keras_application_preset
from app.core.preprocessing.spec import PreprocessingSpec

IDG_STD_EPSILON = 1e-6  # ImageDataGenerator.standardize divides by (std + 1e-6)
PathLike = str | os.PathLike[str]

# tf_keras load_img names -> card names; "hamming" has no counterpart in the other backends.
_IDG_INTERPOLATION = {"nearest": "nearest", "bilinear": "bilinear", "bicubic": "bicubic",
                      "box": "area", "lanczos": "lanczos"}
_DATASET_INTERPOLATION = {"nearest": "nearest", "bilinear": "bilinear", "bicubic": "bicubic",
                          "area": "area", "lanczos3": "lanczos", "lanczos": "lanczos"}


def _raw_dataset_inputs(dataset: Any, spec: PreprocessingSpec, sample_batches: int,
                        already_normalized: bool) -> Iterable[np.ndarray]:
    """Model inputs from a ``tf.data`` data set of raw 0–255 images (batched or not)."""
    from app.core.preprocessing.pipeline import normalize

    images = 0
    for taken, element in enumerate(dataset, start=1):
        x = element[0] if isinstance(element, (tuple, list)) else element
        x = np.asarray(x.numpy() if hasattr(x, "numpy") else x, dtype=np.float32)
        batch = x[None] if x.ndim == 3 else x
        yield batch if already_normalized else np.stack([normalize(img, spec) for img in batch])
        images += len(batch)
        # An unbatched data set yields one image per element: sample as many images as
        # sample_batches batches of 32 would hold.
        if taken >= sample_batches and (x.ndim == 4 or images >= 32 * sample_batches):
            break


# -- saving ---------------------------------------------------------------------------------
def save_card_for_model(card: ModelCard, model_path: PathLike) -> Path:
    """Write ``card`` beside the model as ``<model>.probscope.json``, atomically.

    When a card is already there, its ``classes``, ``preprocessing`` and
    ``input_statistics`` are replaced and everything else (calibration, OOD threshold,
    keys written by other tools, and unknown keys inside ``preprocessing``) is kept.

    Returns
    -------
    Path
        The card file.

    Raises
    ------
    CardError
        The existing card is unreadable (it is left untouched) or the write failed.
    """
    target = card_path_for(model_path)
    existing = load_card_for(model_path)
    if existing is not None:
        merged = existing.copy()
        for key in ("classes", "preprocessing", "input_statistics"):
            if key in card.data:
                merged.data[key] = card.data[key]
        old_pre = existing.data.get("preprocessing")
        if isinstance(old_pre, dict) and isinstance(merged.data.get("preprocessing"), dict):
            # Keys probscope does not know (another tool's, a newer version's) stay.
            known = set(PreprocessingSpec.__dataclass_fields__)
            kept = {k: v for k, v in old_pre.items() if k not in known}
            merged.data["preprocessing"] = {**kept, **merged.data["preprocessing"]}
        card.data = merged.data
    write_card(card, target)
    return target


def fits_left_stale(existing: ModelCard | None, card: ModelCard) -> list[str]:
    """What ``existing`` fitted under a preprocessing that ``card`` changes, and which
    :func:`save_card_for_model` would keep: the temperature, the prediction sets, the "none of
    the classes" check. Empty when the preprocessing is the same or nothing was fitted."""
    if existing is None:
        return []

    def spec_of(c: ModelCard) -> dict[str, Any] | None:
        # What changes the pixels; where the spec came from does not.
        try:
            return {k: v for k, v in PreprocessingSpec.from_dict(
                c.data.get("preprocessing") or {}).to_dict().items()
                if k not in ("source", "recorded")}
        except CardError:
            return None
    if spec_of(existing) == spec_of(card):
        return []
    stale = []
    if existing.temperature != 1.0:
        stale.append("temperature")
    if (existing.data.get("calibration") or {}).get("conformal"):
        stale.append("prediction sets")
    if existing.ood_fitted:
        stale.append("'none of the classes' check")
    return stale


def _finish(classes: Sequence[Any], spec: PreprocessingSpec, stats: dict[str, Any] | None,
            model_path: PathLike | None) -> ModelCard:
    if not classes:
        raise CardError("recording: no class names (pass classes=[...] in output order)")
    card = new_card([str(c) for c in classes], spec.to_dict())
    if stats is not None:
        card.data["input_statistics"] = stats
    if model_path is not None:
        save_card_for_model(card, model_path)
    return card


# -- ImageDataGenerator.flow_from_directory ---------------------------------------------------
def _mode_of_preprocessing_function(fn: Any) -> str:
    module = str(getattr(fn, "__module__", "") or "")
    mode = MODES_BY_MODULE.get(module.rsplit(".", 1)[-1], "unknown")
    if "applications" not in module or mode == "unknown":
        raise CardError(
            f"recording: ImageDataGenerator(preprocessing_function={getattr(fn, '__name__', fn)!r}) "
            "is custom code that a card cannot describe; record by hand with record_by_hand()"
        )
    return mode or ""


def spec_from_flow(iterator: Any) -> PreprocessingSpec:
    """The preprocessing of a tf_keras ``ImageDataGenerator(...).flow_from_directory(...)``.

    Raises
    ------
    CardError
        Something the card cannot reproduce: ZCA whitening, ``rgba``, ``channels_first``,
        ``hamming`` interpolation, an unfitted feature-wise generator, custom
        ``preprocessing_function``.
    """
    gen = getattr(iterator, "image_data_generator", None)
    if gen is None or not hasattr(iterator, "target_size"):
        raise CardError("recording: expected the iterator returned by flow_from_directory()")
    if getattr(iterator, "data_format", "channels_last") != "channels_last":
        raise CardError("recording: only data_format='channels_last' is supported")
    if iterator.color_mode not in ("rgb", "grayscale"):
        raise CardError(f"recording: color_mode={iterator.color_mode!r} is not supported")
    interp = _IDG_INTERPOLATION.get(iterator.interpolation)
    if interp is None:
        raise CardError(f"recording: interpolation={iterator.interpolation!r} is not supported")
    if getattr(gen, "zca_whitening", False):
        raise CardError("recording: zca_whitening is not supported by model cards")
    mode = None
    if gen.preprocessing_function is not None:
        mode = _mode_of_preprocessing_function(gen.preprocessing_function) or None
    mean = std = None
    if gen.featurewise_center:
        if gen.mean is None:
            raise CardError("recording: featurewise_center is set but the generator was never fit()")
        mean = [float(v) for v in np.ravel(gen.mean)]
    if gen.featurewise_std_normalization:
        if gen.std is None:
            raise CardError(
                "recording: featurewise_std_normalization is set but the generator was never fit()"
            )
        std = [float(v) for v in np.ravel(gen.std)]
    return PreprocessingSpec.from_dict({
        "color_mode": iterator.color_mode,
        "target_size": [int(s) for s in iterator.target_size],
        "interpolation": interp,
        "resize_backend": "pil",
        "scale": float(gen.rescale) if gen.rescale else 1.0,
        "offset": 0.0,
        "mean": mean,
        "std": std,
        "std_epsilon": IDG_STD_EPSILON if std is not None else 0.0,
        "per_image_standardization": False,
        "keras_applications_mode": mode,
        "crop_to_aspect_ratio": bool(getattr(iterator, "keep_aspect_ratio", False)),
        "samplewise_center": bool(gen.samplewise_center),
        "samplewise_std_normalization": bool(gen.samplewise_std_normalization),
        "source": "tf_keras ImageDataGenerator.flow_from_directory",
        "recorded": True,
    })


def record_from_flow(iterator: Any, model_path: PathLike | None = None, sample_batches: int = 8,
                     classes: Sequence[str] | None = None) -> ModelCard:
    """Record a ``flow_from_directory`` iterator's preprocessing, classes and input statistics.

    Parameters
    ----------
    iterator : tf_keras DirectoryIterator
        What ``ImageDataGenerator(...).flow_from_directory(...)`` returned (fit() first when
        feature-wise normalisation is on).
    model_path : path-like, optional
        Save the card beside this model (``<model>.probscope.json``).
    sample_batches : int, default=8
        Batches read from the iterator for ``input_statistics`` (0: no statistics). They
        are the model's real training inputs, augmentation included.
    classes : sequence of str, optional
        Class names in output order; default: ``class_indices`` sorted by index.

    Returns
    -------
    ModelCard
    """
    spec = spec_from_flow(iterator)
    if classes is None:
        indices = getattr(iterator, "class_indices", None) or {}
        classes = [name for name, _ in sorted(indices.items(), key=lambda kv: kv[1])]
    stats = None
    if sample_batches > 0 and len(iterator) > 0:
        def batches() -> Iterable[np.ndarray]:
            for i in range(min(sample_batches, len(iterator))):
                item = iterator[i]
                yield item[0] if isinstance(item, tuple) else item

        stats = input_statistics(batches(), "flow_from_directory batches")
    return _finish(classes, spec, stats, model_path)


# -- keras.utils.image_dataset_from_directory -------------------------------------------------
def spec_from_dataset_args(
    image_size: Sequence[int] = (256, 256),
    interpolation: str = "bilinear",
    color_mode: str = "rgb",
    crop_to_aspect_ratio: bool = False,
    pad_to_aspect_ratio: bool = False,
    scale: float = 1.0,
    offset: float = 0.0,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    keras_applications_mode: str | None = None,
) -> PreprocessingSpec:
    """The preprocessing of ``image_dataset_from_directory`` with these arguments.

    ``scale``/``offset`` say what the training code did next (``Rescaling(scale, offset)``
    in a ``map`` or ``x * scale + offset``); ``mean``/``std`` a ``Normalization`` in a map.
    Keras defaults are kept (``image_size=(256, 256)``, ``bilinear``).
    """
    interp = _DATASET_INTERPOLATION.get(str(interpolation).lower())
    if interp is None:
        raise CardError(f"recording: interpolation={interpolation!r} is not supported")
    if color_mode not in ("rgb", "grayscale"):
        raise CardError(f"recording: color_mode={color_mode!r} is not supported")
    return PreprocessingSpec.from_dict({
        "color_mode": color_mode,
        "target_size": [int(s) for s in image_size],
        "interpolation": interp,
        "resize_backend": "tf",
        "scale": float(scale),
        "offset": float(offset),
        "mean": list(mean) if mean is not None else None,
        "std": list(std) if std is not None else None,
        "per_image_standardization": False,
        "keras_applications_mode": keras_applications_mode,
        "crop_to_aspect_ratio": bool(crop_to_aspect_ratio),
        "pad_to_aspect_ratio": bool(pad_to_aspect_ratio),
        "source": "keras.utils.image_dataset_from_directory",
        "recorded": True,
    })


def record_from_dataset_args(
    class_names: Sequence[str],
    image_size: Sequence[int] = (256, 256),
    interpolation: str = "bilinear",
    color_mode: str = "rgb",
    crop_to_aspect_ratio: bool = False,
    pad_to_aspect_ratio: bool = False,
    scale: float = 1.0,
    offset: float = 0.0,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    keras_applications_mode: str | None = None,
    dataset: Any = None,
    sample_batches: int = 8,
    dataset_is_normalized: bool = False,
    model_path: PathLike | None = None,
) -> ModelCard:
    """Record ``image_dataset_from_directory``'s preprocessing from the arguments it was given.

    Parameters
    ----------
    class_names : sequence of str
        ``dataset.class_names`` (output order).
    image_size, interpolation, color_mode, crop_to_aspect_ratio, pad_to_aspect_ratio
        As passed to ``image_dataset_from_directory``.
    scale, offset, mean, std, keras_applications_mode
        The value transforms the training code applied afterwards, see
        :func:`spec_from_dataset_args`.
    dataset : tf.data.Dataset, optional
        The training data set, for ``input_statistics``; ``sample_batches`` elements are
        read. It should yield raw 0–255 images (as ``image_dataset_from_directory`` does)
        unless ``dataset_is_normalized`` says the value transforms are already applied.
    model_path : path-like, optional
        Save the card beside this model.
    """
    spec = spec_from_dataset_args(image_size, interpolation, color_mode, crop_to_aspect_ratio,
                                  pad_to_aspect_ratio, scale, offset, mean, std,
                                  keras_applications_mode)
    stats = None
    if dataset is not None and sample_batches > 0:
        stats = input_statistics(
            _raw_dataset_inputs(dataset, spec, sample_batches, dataset_is_normalized),
            "image_dataset_from_directory elements",
        )
    return _finish(class_names, spec, stats, model_path)


# -- keras.applications and by hand -----------------------------------------------------------
def spec_for_keras_application(name: str, image_size: Sequence[int] | None = None,
                               interpolation: str = "bilinear", resize_backend: str = "tf",
                               color_mode: str = "rgb") -> PreprocessingSpec:
    """``keras.applications.<name>.preprocess_input`` on images resized by the data pipeline.

    The default resize is ``image_dataset_from_directory``'s (``tf``, ``bilinear``) at the
    model's default input size.
    """
    preset = keras_application_preset(name)
    size = list(image_size) if image_size is not None else [preset.size, preset.size]
    return PreprocessingSpec.from_dict({
        "color_mode": color_mode,
        "target_size": size,
        "interpolation": interpolation,
        "resize_backend": resize_backend,
        "scale": 1.0,
        "offset": 0.0,
        "mean": None,
        "std": None,
        "per_image_standardization": False,
        "keras_applications_mode": preset.mode,
        "source": f"keras.applications.{preset.module}.preprocess_input ({preset.name})",
        "recorded": True,
    })


def record_keras_application(name: str, classes: Sequence[str], model_path: PathLike | None = None,
                             image_size: Sequence[int] | None = None,
                             interpolation: str = "bilinear", resize_backend: str = "tf",
                             dataset: Any = None, sample_batches: int = 8) -> ModelCard:
    """Record the preprocessing of a fine-tuned ``keras.applications`` model.

    ``dataset`` (raw 0–255 images, e.g. from ``image_dataset_from_directory``) gives
    ``input_statistics``; see :func:`spec_for_keras_application` for the rest.
    """
    spec = spec_for_keras_application(name, image_size, interpolation, resize_backend)
    stats = None
    if dataset is not None and sample_batches > 0:
        stats = input_statistics(_raw_dataset_inputs(dataset, spec, sample_batches, False),
                                 f"{name} training data")
    return _finish(classes, spec, stats, model_path)


def record_by_hand(classes: Sequence[str], model_path: PathLike | None = None,
                   inputs: Iterable[np.ndarray] | None = None, **preprocessing: Any) -> ModelCard:
    """Record preprocessing given as card keys (``color_mode=``, ``target_size=``, ...).

    ``inputs`` are batches of model inputs (already normalised) for ``input_statistics``.
    Keys are validated as in a card file (raises CardError on a bad key or value).
    """
    preprocessing.setdefault("source", "recorded by hand")
    preprocessing.setdefault("recorded", True)
    spec = PreprocessingSpec.from_dict(preprocessing)
    stats = input_statistics(inputs, "model inputs given by hand") if inputs is not None else None
    return _finish(classes, spec, stats, model_path)


__all__ = ["input_statistics"]
