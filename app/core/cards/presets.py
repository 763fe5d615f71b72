"""``probscope card init MODEL --like idg|dataset|<keras.applications name>``: a card from flags.

The flags are named after the Keras arguments they stand for, so a training script's call
can be copied almost verbatim::

    probscope card init digits.keras --like idg --target-size 32 32 --rescale 0.00392156862745098 \\
        --class-dir data/train
    probscope card init flowers.keras --like dataset --target-size 180 180 --classes a,b,c
    probscope card init pets.keras --like resnet50 --class-dir data/train

The command line (:mod:`app.cli.card_init_args`) parses the flags and calls
:func:`card_from_preset`, then :func:`~app.core.cards.recording.save_card_for_model`.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.core.cards.card_file import ModelCard, load_card_for, new_card
from app.core.cards.recording import (
    IDG_STD_EPSILON,
    spec_for_keras_application,
    spec_from_dataset_args,
)
from app.core.errors import CardError
from app.core.images.files import class_folders
from app.core.models.image_input import read_image_input
from app.core.preprocessing.keras_applications import keras_application_preset, preset_names
from app.core.preprocessing.spec import PreprocessingSpec

# Keras' own defaults when the size is neither given nor readable from the model.
KERAS_DEFAULT_SIZE = (256, 256)


OPTION_KEYS = ("classes", "class_dir", "target_size", "color_mode", "interpolation",
               "resize_backend", "rescale", "offset", "crop_to_aspect_ratio",
               "pad_to_aspect_ratio", "samplewise_center", "samplewise_std_normalization",
               "featurewise_mean", "featurewise_std", "mean", "std",
               "per_image_standardization")
"""The options :func:`card_from_preset` takes, named after the Keras arguments they stand for."""


def class_names_from_dir(directory: str | os.PathLike[str]) -> list[str]:
    """Sub-folder names in Keras' order (sorted; hidden folders skipped as the dataset does)."""
    p = Path(directory)
    if not p.is_dir():
        raise CardError(f"{p.name or p}: no such folder")
    names = [d.name for d in class_folders(p)]
    if not names:
        raise CardError(f"{p.name}: has no class sub-folders")
    return names


def model_input_shape(model_path: str | os.PathLike[str]) -> tuple[int | None, int | None, int | None]:
    """(height, width, channels) of a saved model's input, read from its config without loading
    (a ``.tflite`` from its interpreter).

    Returns (None, None, None) when the file holds no readable InputLayer shape.
    """
    p = Path(model_path)
    if p.suffix.lower() == ".tflite":
        return _tflite_input_shape(p)
    config: Any = None
    try:
        if p.suffix.lower() == ".keras":
            with zipfile.ZipFile(p) as zf:
                config = json.loads(zf.read("config.json"))
        elif p.suffix.lower() in (".h5", ".hdf5"):
            import h5py

            with h5py.File(p, "r") as f:
                raw = f.attrs.get("model_config")
                config = json.loads(raw.decode() if isinstance(raw, bytes) else raw) if raw else None
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        config = None
    stack = [config]
    while stack:
        node = stack.pop(0)
        if isinstance(node, dict):
            cfg = node.get("config")
            if node.get("class_name") == "InputLayer" and isinstance(cfg, dict):
                shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
                image_input = read_image_input(tuple(shape)) if isinstance(shape, list) else None
                if image_input is not None:
                    return image_input.shape
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None, None, None


def _tflite_input_shape(p: Path) -> tuple[int | None, int | None, int | None]:
    from app.core.errors import ModelError
    from app.core.models.litert_runtime import LiteRTRuntime

    try:
        return LiteRTRuntime(p, p.name).input_shape
    except ModelError:
        return None, None, None  # the model's own check names what is wrong when it opens


def _classes(model_path: str | os.PathLike[str], classes: str | Sequence[str] | None,
             class_dir: str | None, default: Sequence[str] | None = None) -> list[str]:
    if class_dir:
        return class_names_from_dir(class_dir)
    if isinstance(classes, str):
        names = [c.strip() for c in classes.split(",")]
        if not all(names):
            raise CardError("--classes: empty class name in the comma-separated list")
        return names
    if classes:
        return [str(c) for c in classes]
    existing = load_card_for(model_path)
    if existing is not None and existing.classes:
        return existing.classes
    if default:
        return [str(c) for c in default]
    raise CardError("card init: give the class names with --classes a,b,c or --class-dir DIR")


def card_from_preset(
    like: str,
    model_path: str | os.PathLike[str],
    default_classes: Sequence[str] | None = None,
    input_shape: tuple[int | None, int | None, int] | None = None,
    **options: Any,
) -> ModelCard:
    """Build (not save) a model card describing the given training pipeline.

    Parameters
    ----------
    like : str
        ``"idg"`` (tf_keras ImageDataGenerator.flow_from_directory), ``"dataset"``
        (keras.utils.image_dataset_from_directory) or a keras.applications name
        (``"resnet50"``, ``"mobilenet_v2"``, ``"densenet121"``, ...).
    model_path : path-like
        The model; its input size and channels are read (not loaded) for defaults, and an
        existing card's classes are reused when no classes are given.
    default_classes : sequence of str, optional
        Classes when none are given and no card exists (e.g. "0".."N-1" for N outputs).
    input_shape : (height, width, channels), optional
        The loaded model's, when known (a SavedModel has no config to read it from).
    **options
        Keys as added by :func:`add_card_init_arguments` (``classes``, ``class_dir``,
        ``target_size``, ``color_mode``, ``interpolation``, ``resize_backend``, ``rescale``,
        ``offset``, ``crop_to_aspect_ratio``, ``pad_to_aspect_ratio``,
        ``samplewise_center``, ``samplewise_std_normalization``, ``featurewise_mean``,
        ``featurewise_std``, ``mean``, ``std``, ``per_image_standardization``).

    Raises
    ------
    CardError
        Unknown pipeline or option, missing classes, or an invalid combination.
    """
    unknown = set(options) - set(OPTION_KEYS)
    if unknown:
        raise CardError(f"card init: unknown option(s) {', '.join(sorted(unknown))}")
    opt = {k: v for k, v in options.items() if v is not None and v is not False}
    classes = _classes(model_path, opt.pop("classes", None), opt.pop("class_dir", None),
                       default_classes)
    h, w, c = input_shape or model_input_shape(model_path)
    size = opt.pop("target_size", None)
    color_mode = opt.pop("color_mode", None) or ("grayscale" if c == 1 else "rgb")
    kind = like.strip().lower()
    if kind in ("idg", "imagedatagenerator", "flow_from_directory"):
        spec = _idg_spec(size or ((h, w) if h and w else KERAS_DEFAULT_SIZE), color_mode, opt)
    elif kind in ("arrays", "numpy", "array"):
        spec = _arrays_spec(size or ((h, w) if h and w else None), color_mode, opt)
    elif kind in ("dataset", "image_dataset_from_directory"):
        size = size or ((h, w) if h and w else KERAS_DEFAULT_SIZE)
        spec = _dataset_spec(size, color_mode, opt)
    else:
        try:
            keras_application_preset(kind)
        except CardError:
            raise CardError(
                f"card init: --like {like!r} is not idg, dataset, arrays or a keras.applications model "
                f"({', '.join(preset_names()[:8])}, ...)"
            ) from None
        spec = spec_for_keras_application(
            kind, size or ((h, w) if h and w else None),
            _card_interpolation(opt.pop("interpolation", "bilinear")),
            opt.pop("resize_backend", "tf"), color_mode)
        spec = _apply_value_options(spec, opt)
    return new_card(classes, spec.to_dict())


def _card_interpolation(name: str) -> str:
    return {"box": "area", "lanczos3": "lanczos"}.get(name, name)


def _idg_spec(size: Sequence[int], color_mode: str, opt: dict[str, Any]) -> PreprocessingSpec:
    if opt.pop("pad_to_aspect_ratio", False):
        raise CardError("card init: flow_from_directory has no pad_to_aspect_ratio")
    spec = PreprocessingSpec.from_dict({
        "color_mode": color_mode, "target_size": list(size),
        "interpolation": _card_interpolation(opt.pop("interpolation", "nearest")),
        "resize_backend": opt.pop("resize_backend", "pil"),
        "scale": opt.pop("rescale", 1.0), "offset": 0.0, "mean": None, "std": None,
        "per_image_standardization": False, "keras_applications_mode": None,
        "crop_to_aspect_ratio": bool(opt.pop("crop_to_aspect_ratio", False)),
        "source": "tf_keras ImageDataGenerator.flow_from_directory (card init)",
    })
    return _apply_value_options(spec, opt)


def _arrays_spec(size: Sequence[int] | None, color_mode: str, opt: dict[str, Any]) -> PreprocessingSpec:
    # Trained on arrays already at the model's size: any image file must be brought to that
    # size, and OpenCV's area filter is the faithful way to shrink a photo; values as fed.
    if size is None:
        raise CardError("card init: --like arrays needs --target-size H W (the model takes any "
                        "size, or its size cannot be read without opening it: --trust-model)")
    spec = PreprocessingSpec.from_dict({
        "color_mode": color_mode, "target_size": list(size),
        "interpolation": _card_interpolation(opt.pop("interpolation", "area")),
        "resize_backend": opt.pop("resize_backend", "opencv"), "scale": 1.0, "offset": 0.0,
        "source": "NumPy arrays passed to model.fit (card init --like arrays); images are "
                  "resized to the arrays' size (OpenCV area unless --interpolation says how the "
                  "arrays were made)",
    })
    return _apply_value_options(spec, opt)


def _dataset_spec(size: Sequence[int], color_mode: str, opt: dict[str, Any]) -> PreprocessingSpec:
    spec = spec_from_dataset_args(
        size, opt.pop("interpolation", "bilinear"), "rgb" if color_mode == "bgr" else color_mode,
        bool(opt.pop("crop_to_aspect_ratio", False)), bool(opt.pop("pad_to_aspect_ratio", False)),
        opt.pop("rescale", 1.0), opt.pop("offset", 0.0))
    changes: dict[str, Any] = {"source": spec.source + " (card init)", "color_mode": color_mode}
    if "resize_backend" in opt:
        changes["resize_backend"] = opt.pop("resize_backend")
    return _apply_value_options(spec.with_changes(**changes), opt)


def _apply_value_options(spec: PreprocessingSpec, opt: dict[str, Any]) -> PreprocessingSpec:
    """The value options every pipeline accepts; what is left over does not apply."""
    changes: dict[str, Any] = {}
    for key in ("rescale", "offset"):
        if key in opt:
            changes["scale" if key == "rescale" else key] = float(opt.pop(key))
    for key in ("samplewise_center", "samplewise_std_normalization", "per_image_standardization",
                "crop_to_aspect_ratio", "pad_to_aspect_ratio"):
        if opt.pop(key, False):
            changes[key] = True
    if "featurewise_mean" in opt or "featurewise_std" in opt:
        if "mean" in opt or "std" in opt:
            raise CardError("card init: give --featurewise-mean/--featurewise-std or --mean/--std")
        changes["mean"] = opt.pop("featurewise_mean", None)
        changes["std"] = opt.pop("featurewise_std", None)
        changes["std_epsilon"] = IDG_STD_EPSILON if changes["std"] is not None else 0.0
    elif "mean" in opt or "std" in opt:
        changes["mean"], changes["std"] = opt.pop("mean", None), opt.pop("std", None)
    if opt:
        raise CardError(f"card init: {', '.join(sorted(opt))} does not apply here")
    return spec.with_changes(**changes) if changes else spec
