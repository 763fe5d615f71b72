"""The card's preprocessing as TensorFlow ops: encoded bytes in, the model's float32 input out.

Each resize backend of :mod:`app.core.preprocessing.backends` is reproduced with the ops that
come closest to it:

* ``tf`` — the very ops of the backend (``tf.io.decode_image`` and
  :func:`~app.core.preprocessing.backends.tf_resize_like_dataset`): equal to the bit.
* ``opencv`` — OpenCV resizes float32 pixels without antialiasing, like ``tf.image.resize``;
  its bicubic kernel (a = -0.75) is TensorFlow's legacy ``ResizeBicubic`` op. Lanczos-4 (an
  8x8 window) has no TensorFlow op and is refused. EXIF orientation, which OpenCV applies, is
  not: TensorFlow ignores it.
* ``pil`` — Pillow resamples uint8 images with antialiased separable kernels, which is
  ``ScaleAndTranslate`` (``antialias=True``) with the same kernel, then rounds to uint8, one
  axis after the other in the order Pillow's version picks.

``pil`` and ``opencv`` decode JPEG with libjpeg's accurate integer DCT, so the graph asks
TensorFlow's decoder for it too (its default is the fast one). The largest differences that
remain are measured in ``tests/core/export`` and listed in the README.
"""

from __future__ import annotations

from typing import Any

import PIL

from app.core.errors import CardError
from app.core.preprocessing.backends import (
    TF_INTERPOLATION,
    tf_resize_like_dataset,
)
from app.core.preprocessing.spec import PreprocessingSpec

# ScaleAndTranslate kernels of Pillow's filters (its BOX, a card's "area", has none).
_PIL_KERNELS = {"bilinear": "triangle", "bicubic": "keyscubic", "lanczos": "lanczos3"}
# ITU-R 601 luma in fixed point, as Pillow's convert("L") and OpenCV's RGB2GRAY on uint8.
_LUMA = {"pil": ((19595, 38470, 7471), 16), "opencv": ((9798, 19235, 3735), 15)}

_IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
_IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def export_problem(spec: PreprocessingSpec) -> str | None:
    """Why this preprocessing cannot be exported as TensorFlow ops, or None if it can."""
    if spec.target_size is None:
        return ("the card gives no target_size and the model takes any size: a served batch "
                "needs one size; record target_size in the card")
    if spec.resize_backend == "opencv" and spec.interpolation == "lanczos":
        return ("OpenCV's Lanczos-4 resize (8x8 window) has no TensorFlow op; record the tf "
                "backend or another interpolation to export")
    if spec.resize_backend == "pil" and spec.interpolation == "area":
        return ("Pillow's BOX filter is not TensorFlow's box kernel (measured up to 101 grey "
                "levels apart); record the tf or opencv backend for area resizing to export")
    if spec.resize_backend == "opencv" and spec.interpolation == "bicubic":
        return ("OpenCV's bicubic kernel (a = -0.75 on pixel centres) has no TensorFlow op "
                "(TensorFlow's use a = -0.5 there: up to 23 grey levels apart); record the tf "
                "backend or another interpolation to export")
    return None


def check_exportable(spec: PreprocessingSpec) -> None:
    """Raise CardError with the reason when :func:`export_problem` finds one."""
    problem = export_problem(spec)
    if problem:
        raise CardError(f"cannot export this model's preprocessing: {problem}")


def _decode(tf: Any, data: Any, spec: PreprocessingSpec) -> Any:
    if spec.resize_backend == "tf":
        return tf.io.decode_image(data, channels=spec.channels, expand_animations=False)
    rgb = tf.cond(
        tf.io.is_jpeg(data),
        lambda: tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE"),
        lambda: tf.io.decode_image(data, channels=3, expand_animations=False),
    )
    rgb = tf.ensure_shape(rgb, [None, None, 3])
    if spec.color_mode != "grayscale":
        return rgb
    (wr, wg, wb), shift = _LUMA[spec.resize_backend]
    x = tf.cast(rgb, tf.int32)
    luma = tf.bitwise.right_shift(
        x[..., 0] * wr + x[..., 1] * wg + x[..., 2] * wb + (1 << (shift - 1)), shift)
    return tf.cast(luma, tf.uint8)[..., None]


def _resize_opencv(tf: Any, img: Any, spec: PreprocessingSpec) -> Any:
    th, tw = spec.target_size  # type: ignore[misc]
    x = tf.cast(img, tf.float32)  # the backend resizes float32 (no 8-bit rounding)
    if spec.crop_to_aspect_ratio:
        x = _crop_box(tf, x, spec)
    shape = tf.shape(x)
    size = (th, tw)
    if spec.pad_to_aspect_ratio:
        h, w = tf.cast(shape[0], tf.float64), tf.cast(shape[1], tf.float64)
        ratio = tf.maximum(_divide(tf, w, tf.constant(tw, tf.float64)),
                           _divide(tf, h, tf.constant(th, tf.float64)))
        nh = tf.maximum(1, tf.cast(_divide(tf, h, ratio), tf.int32))
        nw = tf.maximum(1, tf.cast(_divide(tf, w, ratio), tf.int32))
        small = _opencv_resize(tf, x, tf.stack([nh, nw]), spec.interpolation)
        top, left = (th - nh) // 2, (tw - nw) // 2
        return tf.pad(small, [[top, th - nh - top], [left, tw - nw - left], [0, 0]])
    same = tf.logical_and(tf.equal(shape[0], th), tf.equal(shape[1], tw))
    out = tf.cond(same, lambda: x, lambda: _opencv_resize(tf, x, size, spec.interpolation))
    return tf.ensure_shape(out, [th, tw, None])


def _opencv_resize(tf: Any, x: Any, size: Any, interpolation: str) -> Any:
    if interpolation == "nearest":
        rows = _nearest_centres(tf, tf.shape(x)[0], size[0])
        return tf.gather(tf.gather(x, rows, axis=0), _nearest_centres(tf, tf.shape(x)[1], size[1]),
                         axis=1)
    if interpolation == "bicubic":
        # OpenCV's cubic kernel is a = -0.75, as TensorFlow's legacy op (not tf.image.resize).
        return tf.raw_ops.ResizeBicubic(images=x[None], size=size, half_pixel_centers=True)[0]
    if interpolation == "area":
        # OpenCV box-filters only when both sides shrink; otherwise INTER_AREA interpolates
        # both axes linearly with its own "area mode" coefficients (resize.cpp).
        shape = tf.shape(x)
        shrinks = tf.logical_and(shape[0] >= size[0], shape[1] >= size[1])
        return tf.cond(shrinks, lambda: tf.image.resize(x, size, method="area"),
                       lambda: _area_mode_axis(tf, _area_mode_axis(tf, x, size[0], 0), size[1], 1))
    return tf.image.resize(x, size, method=TF_INTERPOLATION[interpolation])


def _area_mode_axis(tf: Any, x: Any, n_dst: Any, axis: int) -> Any:
    """OpenCV's INTER_AREA along one axis when not both sides shrink: ``sx = floor(dx * s)``,
    ``fx = frac((dx + 1) - (sx + 1) / s)`` (0 when not positive), linear between sx and sx+1."""
    n_src = tf.shape(x)[axis]
    inv = _divide(tf, tf.cast(n_dst, tf.float64), tf.cast(n_src, tf.float64))
    dx = tf.range(tf.cast(n_dst, tf.float64))
    sx = tf.floor(dx * _divide(tf, tf.constant(1.0, tf.float64), inv))
    # OpenCV rounds fx to float before taking its fraction: a sample on a pixel edge gives
    # 0.99999999999999 in double, 1.0f in float, and a fraction of 0, not of almost 1.
    fx = tf.cast((dx + 1.0) - (sx + 1.0) * inv, tf.float32)
    fx = tf.where(fx <= 0.0, tf.zeros_like(fx), fx - tf.floor(fx))
    last = tf.cast(n_src - 1, tf.float64)
    fx = tf.where(sx >= last, tf.zeros_like(fx), fx)  # at the border: the last pixel only
    i0 = tf.cast(tf.clip_by_value(sx, 0.0, last), tf.int32)
    i1 = tf.cast(tf.clip_by_value(sx + 1.0, 0.0, last), tf.int32)
    w = tf.reshape(fx, [-1, 1, 1] if axis == 0 else [1, -1, 1])
    return tf.gather(x, i0, axis=axis) * (1.0 - w) + tf.gather(x, i1, axis=axis) * w


def _nearest_centres(tf: Any, n_src: Any, n_dst: Any) -> Any:
    """:func:`app.core.preprocessing.backends.nearest_centres` in int64 ops."""
    n_src, n_dst = tf.cast(n_src, tf.int64), tf.cast(n_dst, tf.int64)
    return (2 * tf.range(n_dst) + 1) * n_src // (2 * n_dst)


def _divide(tf: Any, x: Any, y: Any) -> Any:
    """``x / y`` rounded once, as C does: a traced division by a constant, or of a constant
    by a quotient, is rewritten into a multiplication by a reciprocal (one rounding more),
    which moves a sample that falls on a pixel edge to the next pixel. ``divide_no_nan`` is
    left alone (and the divisors here are never 0)."""
    return tf.math.divide_no_nan(x, y)


def _crop_box(tf: Any, x: Any, spec: PreprocessingSpec) -> Any:
    shape = tf.shape(x)
    th, tw = spec.target_size  # type: ignore[misc]
    # crop_box_for_aspect's integer arithmetic, in graph ops (the image size is dynamic).
    h, w = shape[0], shape[1]
    ch = tf.maximum(tf.minimum(h, (w * th) // tw), 1)
    cw = tf.maximum(tf.minimum(w, (h * tw) // th), 1)
    top, left = (h - ch) // 2, (w - cw) // 2
    return x[top : top + ch, left : left + cw, :]


def _resize_pil(tf: Any, img: Any, spec: PreprocessingSpec) -> Any:
    th, tw = spec.target_size  # type: ignore[misc]
    x = tf.cast(img, tf.float32)
    shape = tf.shape(x)
    h, w = shape[0], shape[1]
    if spec.crop_to_aspect_ratio:
        # load_img resamples from a box of the whole image (its filter may read pixels just
        # outside the box), which is ScaleAndTranslate with a translation.
        ch = tf.maximum(tf.minimum(h, (w * th) // tw), 1)
        cw = tf.maximum(tf.minimum(w, (h * tw) // th), 1)
        top, left = (h - ch) // 2, (w - cw) // 2
    else:
        ch, cw, top, left = h, w, 0, 0
    if spec.interpolation == "nearest":
        rows = _pil_nearest_index(tf, top, ch, th)
        out = tf.gather(tf.gather(x, rows, axis=0), _pil_nearest_index(tf, left, cw, tw), axis=1)
    else:
        # Pillow resamples one axis, rounds to uint8, then the other, rounds again: two passes,
        # so that ringing kernels clip in between as they do in Pillow.
        kernel = _PIL_KERNELS[spec.interpolation]
        sx, sy = tw / tf.cast(cw, tf.float32), th / tf.cast(ch, tf.float32)
        across = tf.stack([1.0, sx]), tf.stack([0.0, -tf.cast(left, tf.float32) * sx])
        down = tf.stack([sy, 1.0]), tf.stack([-tf.cast(top, tf.float32) * sy, 0.0])

        def rows_first() -> Any:
            return _pil_pass(tf, _pil_pass(tf, x, [h, tw], *across, kernel), [th, tw], *down,
                             kernel)

        def columns_first() -> Any:
            return _pil_pass(tf, _pil_pass(tf, x, [th, w], *down, kernel), [th, tw], *across,
                             kernel)
        out = tf.cond(_pillow_columns_first(tf, h, w, th, tw), columns_first, rows_first)
    same = tf.logical_and(tf.equal(h, th), tf.equal(w, tw))
    # load_img resizes only when the size differs.
    out = tf.cond(same, lambda: x, lambda: out)
    return tf.ensure_shape(out, [th, tw, None])


def _pil_nearest_index(tf: Any, start: Any, length: Any, n_out: int) -> Any:
    """The source pixel Pillow's NEAREST resize takes for each output pixel along one axis.

    Pillow (``ImagingScaleAffine``) starts half a step into the box and adds the step in
    double precision, truncating each sum: where a sample falls on a pixel edge, the
    accumulated rounding decides, not ``tf.image.resize``'s own arithmetic (measured: 184 of
    784 pixels of a 512-pixel photo taken one pixel over, up to 241 grey levels apart).
    A float64 cumulative sum adds in the same order.
    """
    step = _divide(tf, tf.cast(length, tf.float64), tf.constant(n_out, tf.float64))
    first = tf.cast(start, tf.float64) + step * 0.5
    sums = tf.math.cumsum(tf.concat([first[None], tf.fill([n_out - 1], step)], 0))
    return tf.cast(tf.clip_by_value(tf.floor(sums), 0.0, tf.cast(start + length - 1, tf.float64)),
                   tf.int32)


def _pillow_columns_first(tf: Any, h: Any, w: Any, th: int, tw: int) -> Any:
    """Whether Pillow resamples columns first: since Pillow 13, when the image loses much more
    height than width (its whole size, whatever the box); rows first before."""
    if int(PIL.__version__.split(".")[0]) < 13:
        return tf.constant(False)
    return tf.logical_and(h > th, h - th > 2 * (w - tw))


def _pil_pass(tf: Any, x: Any, size: Any, scale: Any, translation: Any, kernel: str) -> Any:
    out = tf.raw_ops.ScaleAndTranslate(images=x[None], size=tf.stack(size), scale=scale,
                                       translation=translation, kernel_type=kernel,
                                       antialias=True)[0]
    # Pillow resamples uint8 images into uint8: round and clip like its fixed-point code.
    return tf.clip_by_value(tf.floor(out + 0.5), 0.0, 255.0)


def _keras_applications(tf: Any, x: Any, spec: PreprocessingSpec) -> Any:
    mode = spec.keras_applications_mode
    if mode == "tf":
        return x / 127.5 - 1.0
    if mode == "torch":
        x = x / 255.0
        if spec.channels == 3:
            mean, std = _IMAGENET_MEAN_RGB, _IMAGENET_STD_RGB
            if spec.color_mode == "bgr":
                mean, std = mean[::-1], std[::-1]
            x = (x - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)
        return x
    if mode == "caffe" and spec.channels == 3:
        if spec.color_mode != "bgr":
            x = x[..., ::-1]
        return x - tf.constant(_CAFFE_MEAN_BGR, tf.float32)
    return x


def normalize_graph(tf: Any, x: Any, spec: PreprocessingSpec) -> Any:
    """:func:`app.core.preprocessing.pipeline.normalize` as float32 TensorFlow ops."""
    if spec.keras_applications_mode:
        x = _keras_applications(tf, x, spec)
    if spec.scale != 1.0:
        x = x * tf.constant(spec.scale, tf.float32)
    if spec.offset != 0.0:
        x = x + tf.constant(spec.offset, tf.float32)
    if spec.samplewise_center:
        x = x - tf.reduce_mean(x)
    if spec.samplewise_std_normalization:
        x = x / (tf.math.reduce_std(x) + 1e-6)
    if spec.per_image_standardization:
        # As the numpy path: mean and std in float64, std floored at 1/sqrt(N).
        x64 = tf.cast(x, tf.float64)
        n = tf.cast(tf.size(x64), tf.float64)
        std = tf.maximum(tf.math.reduce_std(x64), 1.0 / tf.sqrt(n))
        x = (x - tf.cast(tf.reduce_mean(x64), tf.float32)) / tf.cast(std, tf.float32)
    if spec.mean is not None:
        x = x - tf.constant(spec.mean, tf.float32)
    if spec.std is not None:
        x = x / (tf.constant(spec.std, tf.float32) + tf.constant(spec.std_epsilon, tf.float32))
    return x


def image_to_input(tf: Any, data: Any, spec: PreprocessingSpec) -> Any:
    """One encoded image (scalar tf.string) to the float32 (H, W, C) model input."""
    img = _decode(tf, data, spec)
    if spec.resize_backend == "tf":
        method = TF_INTERPOLATION[spec.interpolation]
        x = tf.cast(tf_resize_like_dataset(tf, img, spec.target_size, method,
                                           spec.crop_to_aspect_ratio, spec.pad_to_aspect_ratio),
                    tf.float32)
    elif spec.resize_backend == "opencv":
        x = _resize_opencv(tf, img, spec)
    else:
        x = _resize_pil(tf, img, spec)
    if spec.color_mode == "bgr":
        x = x[..., ::-1]
    return normalize_graph(tf, x, spec)
