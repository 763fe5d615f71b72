"""The ``card init`` command-line options.

Kept apart from :mod:`app.core.cards.presets` (NumPy, model cards) because every ``probscope``
start builds the whole parser: the options must cost nothing to add.
"""

from __future__ import annotations

import argparse
from typing import Any

_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "area", "box", "lanczos", "lanczos3")


def number(text: str) -> float:
    """A finite number or a fraction such as ``1/255`` or ``-1/127.5``, as Keras code writes it."""
    import math

    parts = text.split("/")
    try:
        if len(parts) == 1:
            value = float(parts[0])
        elif len(parts) == 2:
            value = float(parts[0]) / float(parts[1])
        else:
            raise ValueError(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"expected a number or a fraction like 1/255, not {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text!r}")
    return value


def add_card_init_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``card init`` options (all but the MODEL positional) to ``parser``."""
    parser.add_argument(
        "--like", required=True, metavar="PIPELINE",
        help="idg (ImageDataGenerator.flow_from_directory), dataset "
             "(image_dataset_from_directory), arrays (NumPy arrays fed to fit(), e.g. "
             "x_train / 255) or a keras.applications model, e.g. resnet50, mobilenet_v2",
    )
    classes = parser.add_mutually_exclusive_group()
    classes.add_argument("--classes", metavar="A,B,C",
                         help="class names in output order (default: 0..N-1, the model's outputs)")
    classes.add_argument("--class-dir", metavar="DIR",
                         help="training folder: its sub-folder names, sorted, are the classes")
    parser.add_argument("--target-size", "--image-size", nargs=2, type=int, metavar=("H", "W"),
                        help="resize to H x W (default: the model's input size)")
    parser.add_argument("--color-mode", choices=("rgb", "grayscale", "bgr"), default=None,
                        help="default: rgb, or grayscale for a 1-channel model")
    parser.add_argument("--interpolation", choices=_INTERPOLATIONS, default=None,
                        help="default: Keras' own (idg: nearest, dataset: bilinear); arrays: "
                             "area (OpenCV's faithful shrink; give bilinear if you made the "
                             "arrays with cv2.resize's default)")
    parser.add_argument("--resize-backend", choices=("pil", "tf", "opencv"), default=None,
                        help="override: idg uses pil, dataset and keras.applications use tf, "
                             "arrays opencv")
    parser.add_argument("--rescale", "--scale", type=number, default=None, metavar="X",
                        help="multiply pixels by X, a number or a fraction (e.g. 1/255)")
    parser.add_argument("--offset", type=number, default=None, help="then add this (e.g. -1)")
    parser.add_argument("--crop-to-aspect-ratio", "--keep-aspect-ratio", action="store_true",
                        help="centre-crop to the target aspect ratio before resizing")
    parser.add_argument("--pad-to-aspect-ratio", action="store_true",
                        help="pad to the target aspect ratio instead (dataset only)")
    parser.add_argument("--samplewise-center", action="store_true")
    parser.add_argument("--samplewise-std-normalization", action="store_true")
    parser.add_argument("--featurewise-mean", nargs="+", type=float, metavar="M",
                        help="ImageDataGenerator.mean after fit(), one value per channel")
    parser.add_argument("--featurewise-std", nargs="+", type=float, metavar="S",
                        help="ImageDataGenerator.std after fit() (divided as std + 1e-6)")
    parser.add_argument("--mean", nargs="+", type=float, metavar="M",
                        help="subtract per channel (a Normalization applied in the data pipeline)")
    parser.add_argument("--std", nargs="+", type=float, metavar="S", help="then divide by this")
    parser.add_argument("--per-image-standardization", action="store_true",
                        help="tf.image.per_image_standardization in the data pipeline")


def card_from_args(args: argparse.Namespace, default_classes: list[str] | None = None,
                   input_shape: tuple[int | None, int | None, int] | None = None) -> Any:
    """``card_from_preset(args.like, args.model, ...)`` with the parsed ``card init`` options.

    The model path is taken from ``args.model_path``, ``args.model`` or ``args.path``.
    """
    model = next((getattr(args, k) for k in ("model_path", "model", "path")
                  if getattr(args, k, None)), None)
    if model is None:
        from app.core.errors import CardError

        raise CardError("card init: no model given")
    from app.core.cards.presets import OPTION_KEYS, card_from_preset

    options = {k: getattr(args, k) for k in OPTION_KEYS if hasattr(args, k)}

    return card_from_preset(args.like, model, default_classes=default_classes,
                            input_shape=input_shape, **options)
