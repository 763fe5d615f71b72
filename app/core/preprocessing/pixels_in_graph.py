"""A model input back to pixels, in TensorFlow ops, for a second model inside the same call.

The in-graph twin of :func:`app.core.preprocessing.pipeline.input_to_display`: a batch the
user's model receives is turned back into RGB values 0–255, so that another network (the
digit prior of the "none of the classes" check) sees the same image within one compiled
inference call. Affine steps are inverted exactly; data-dependent ones (per-image
standardisation) cannot be, so each image is min–max stretched, as the display does.
"""

from __future__ import annotations

from typing import Any

from app.core.preprocessing.pipeline import (
    _CAFFE_MEAN_BGR,
    _IMAGENET_MEAN_RGB,
    _IMAGENET_STD_RGB,
)
from app.core.preprocessing.spec import PreprocessingSpec


def pixels_in_graph(tf: Any, x: Any, spec: PreprocessingSpec) -> Any:
    """RGB pixel values, ``(n, h, w, 3)`` float32 in [0, 255], of a batch of model inputs.

    Parameters
    ----------
    tf : module
        TensorFlow (imported lazily by the caller).
    x : tf.Tensor of shape (n, h, w, c)
        Model inputs, prepared by ``spec``; c is 1 or 3.
    spec : PreprocessingSpec
        The preprocessing that made ``x``.

    Returns
    -------
    tf.Tensor of shape (n, h, w, 3), float32
    """
    y = tf.cast(x, tf.float32)
    if spec.std is not None:
        y = y * (tf.constant(spec.std, tf.float32) + spec.std_epsilon)
    if spec.mean is not None:
        y = y + tf.constant(spec.mean, tf.float32)
    if spec.per_image_standardization or spec.samplewise_center or spec.samplewise_std_normalization:
        lo = tf.reduce_min(y, axis=[1, 2, 3], keepdims=True)
        hi = tf.reduce_max(y, axis=[1, 2, 3], keepdims=True)
        y = tf.math.divide_no_nan(y - lo, hi - lo) * 255.0
    else:
        y = (y - float(spec.offset)) / float(spec.scale)
        y = _undo_keras_applications(tf, y, spec)
    y = tf.clip_by_value(y, 0.0, 255.0)
    if y.shape[-1] == 1:
        return tf.tile(y, [1, 1, 1, 3])
    return y[..., ::-1] if spec.color_mode == "bgr" else y


def _undo_keras_applications(tf: Any, y: Any, spec: PreprocessingSpec) -> Any:
    mode = spec.keras_applications_mode
    rgb = y.shape[-1] == 3
    if mode == "tf":
        return (y + 1.0) * 127.5
    if mode == "torch":
        if rgb:
            mean, std = _IMAGENET_MEAN_RGB, _IMAGENET_STD_RGB
            if spec.color_mode == "bgr":
                mean, std = mean[::-1], std[::-1]
            y = y * tf.constant(std.copy()) + tf.constant(mean.copy())
        return y * 255.0
    if mode == "caffe" and rgb:
        y = y + tf.constant(_CAFFE_MEAN_BGR)
        return y if spec.color_mode == "bgr" else y[..., ::-1]
    return y
