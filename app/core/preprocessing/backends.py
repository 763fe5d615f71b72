"""Decode-and-resize backends: how pixels reach ``target_size``, per training pipeline.

Each backend takes the encoded file bytes and returns a float32 (H, W, C) array in the
0–255 range, channel order per ``color_mode``, before any normalisation:

* ``pil`` — exactly ``tf_keras.utils.load_img`` + ``img_to_array`` as called by
  ``ImageDataGenerator.flow_from_directory``: Pillow decode, ``convert("RGB"|"L")`` only
  when the mode differs (so 16-bit grayscale stays 16-bit, as in Keras), Pillow resize
  only when the size differs, ``keep_aspect_ratio`` as a ``box=`` crop; EXIF ignored.
  Keras has no "area" for Pillow: it is Pillow's BOX filter (Keras' ``"box"``).
* ``tf`` — exactly ``keras.utils.image_dataset_from_directory``: ``tf.io.decode_image``
  (TensorFlow's own grayscale: libjpeg's luma for JPEG, libpng's for PNG), then
  ``tf.image.resize`` always, ``smart_resize``'s centre crop computed in float32 as in
  the dataset graph, or ``tf.image.resize_with_pad``; EXIF ignored.
* ``opencv`` — the fast general path: EXIF orientation applied, alpha dropped, OpenCV
  resize; close to but not bit-identical with either Keras pipeline.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from PIL import Image

from app.core.errors import ImageError
from app.core.images.decoding import (
    decode_image_bytes,
    open_with_pillow,
    pillow_reason,
    probe_image,
)
from app.core.images.formats import jpeg_has_end, png_problem
from app.core.images.opencv import cv2
from app.core.preprocessing.spec import PreprocessingSpec

# Nearest samples pixel centres (nearest_centres), like Pillow and TF; OpenCV's INTER_NEAREST
# is off by half a pixel and picks different pixels on every downscale.
_CV2_INTERPOLATION = {
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}
# tf_keras' load_img names: "box" is what a card calls "area".
_PIL_INTERPOLATION = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "area": Image.Resampling.BOX,
    "lanczos": Image.Resampling.LANCZOS,
}
TF_INTERPOLATION = {
    "nearest": "nearest",
    "bilinear": "bilinear",
    "bicubic": "bicubic",
    "area": "area",
    "lanczos": "lanczos3",
}


def crop_box_for_aspect(height: int, width: int, target: tuple[int, int]) -> tuple[int, int, int, int]:
    """Centre box (top, left, height, width) with the target's aspect ratio.

    Integer arithmetic as tf_keras ``load_img(keep_aspect_ratio=True)``; Keras 3's
    ``smart_resize`` gives the same box except where float32 rounding differs, which the
    ``tf`` backend reproduces separately.
    """
    th, tw = target
    crop_h = max(min(height, (width * th) // tw), 1)
    crop_w = max(min(width, (height * tw) // th), 1)
    return (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w


def pad_geometry(height: int, width: int, target: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, left, new_height, new_width) of ``tf.image.resize_with_pad``'s inner image."""
    th, tw = target
    ratio = max(width / tw, height / th)
    nh, nw = max(1, int(height / ratio)), max(1, int(width / ratio))
    return (th - nh) // 2, (tw - nw) // 2, nh, nw


def nearest_centres(n_src: int, n_dst: int) -> np.ndarray:
    """The source pixel whose centre is nearest each output pixel's: ``floor((i + 0.5) *
    n_src / n_dst)`` in integers, so no rounding decides a sample that falls on a pixel edge.

    OpenCV's ``INTER_NEAREST_EXACT`` means this too, but its 16.16 fixed point takes the
    other pixel at some edges, and which ones changes between its releases; the exported
    graph (:mod:`app.core.export.preprocess_graph`) computes the same integers.
    """
    return (2 * np.arange(n_dst, dtype=np.int64) + 1) * n_src // (2 * n_dst)


def _cv2_resize(rgb: np.ndarray, size: tuple[int, int], interpolation: str) -> np.ndarray:
    h, w = size
    if interpolation == "nearest":
        out = rgb[nearest_centres(rgb.shape[0], h)][:, nearest_centres(rgb.shape[1], w)]
        return np.ascontiguousarray(out)
    out = cv2.resize(rgb, (w, h), interpolation=_CV2_INTERPOLATION[interpolation])
    return out.reshape((h, w) + rgb.shape[2:])


def _resize_opencv(rgb: np.ndarray, spec: PreprocessingSpec) -> np.ndarray:
    if spec.target_size is None:
        return rgb
    th, tw = spec.target_size
    h, w = rgb.shape[:2]
    if spec.crop_to_aspect_ratio:
        top, left, ch, cw = crop_box_for_aspect(h, w, spec.target_size)
        rgb = np.ascontiguousarray(rgb[top : top + ch, left : left + cw])
    elif spec.pad_to_aspect_ratio:
        top, left, nh, nw = pad_geometry(h, w, spec.target_size)
        small = _cv2_resize(rgb, (nh, nw), spec.interpolation)
        out = np.zeros((th, tw) + rgb.shape[2:], dtype=small.dtype)
        out[top : top + nh, left : left + nw] = small
        return out
    if rgb.shape[:2] == (th, tw):
        return rgb
    return _cv2_resize(rgb, (th, tw), spec.interpolation)


def decode_resize_opencv(data: bytes, spec: PreprocessingSpec, name: str = "image") -> np.ndarray:
    """OpenCV path: decode to RGB, convert colour mode, resize; float32 in 0–255."""
    return array_to_input_range(decode_image_bytes(data, name), spec)


def array_to_input_range(rgb: np.ndarray, spec: PreprocessingSpec) -> np.ndarray:
    """Apply colour mode and resize (OpenCV) to an RGB uint8 array; float32 in 0–255.

    This is also the path for images that arrive as arrays (``.npz`` data sets, pastes).
    Grayscale is OpenCV's ``RGB2GRAY`` (ITU-R 601 luma, like Pillow's ``"L"``).
    """
    if rgb.ndim == 2:
        rgb = rgb[:, :, None]
    if spec.color_mode == "grayscale":
        if rgb.shape[2] == 3:
            rgb = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)[:, :, None]
    elif rgb.shape[2] == 1:
        rgb = np.repeat(rgb, 3, axis=2)
    elif spec.color_mode == "bgr":
        rgb = rgb[:, :, ::-1]
    # Resizing in float32 avoids OpenCV's 8-bit fixed-point rounding (up to 0.7 grey levels
    # off tf.image.resize's bilinear); nearest stays exact either way.
    if (spec.target_size is None or spec.interpolation not in _PER_CHANNEL_EXACT
            or rgb.shape[0] * rgb.shape[1] <= _WHOLE_IMAGE_PIXELS):
        resized = _resize_opencv(np.ascontiguousarray(rgb, dtype=np.float32), spec)
        return resized.reshape(resized.shape[:2] + (spec.channels,))
    # A large image is converted and resized one channel at a time: OpenCV's nearest, linear
    # and area filters treat each channel on their own, so the result is the same to the bit
    # (its cubic and Lanczos code is not: up to 6e-5 apart, so those keep the whole image),
    # and the float32 copy of a 100-megapixel photo is 400 MB instead of 1.2 GB.
    planes = [
        _resize_opencv(np.ascontiguousarray(rgb[:, :, c], dtype=np.float32), spec)
        for c in range(rgb.shape[2])
    ]
    return np.ascontiguousarray(np.stack(planes, axis=-1).reshape(planes[0].shape[:2] + (spec.channels,)))


# Below this many pixels the whole image is converted at once (fastest); above, per channel.
_WHOLE_IMAGE_PIXELS = 4_000_000
_PER_CHANNEL_EXACT = frozenset({"nearest", "bilinear", "area"})


def decode_resize_pil(data: bytes, spec: PreprocessingSpec, name: str = "image") -> np.ndarray:
    """``tf_keras.utils.load_img`` + ``img_to_array``, step for step (see module docstring)."""
    from app.core.tf_runtime import quiet_native_stderr

    header = probe_image(data, name)
    if header.format == "JPEG" and not jpeg_has_end(data):
        raise ImageError(f"{name}: the JPEG file is truncated")  # as the other backends say
    try:
        # Pillow's libjpeg prints "Corrupt JPEG data: …" to fd 2 while it decodes on.
        with quiet_native_stderr(), open_with_pillow(data) as img:
            if spec.color_mode == "grayscale":
                if img.mode not in ("L", "I;16", "I"):
                    img = img.convert("L")
            elif img.mode != "RGB":
                img = img.convert("RGB")
            if spec.target_size is not None:
                wh = (spec.target_size[1], spec.target_size[0])
                if img.size != wh:
                    resample = _PIL_INTERPOLATION[spec.interpolation]
                    if spec.crop_to_aspect_ratio:
                        # load_img resizes from a box: the filter may read pixels just
                        # outside it, so cropping first would not be identical.
                        top, left, ch, cw = crop_box_for_aspect(img.height, img.width, spec.target_size)
                        img = img.resize(wh, resample, box=(left, top, left + cw, top + ch))
                    else:
                        img = img.resize(wh, resample)
            arr = np.asarray(img, dtype=np.float32)
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageError(f"{name}: the image data is corrupt ({pillow_reason(exc)})") from None
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if spec.color_mode == "bgr":
        arr = arr[:, :, ::-1]
    return np.ascontiguousarray(arr)


def tf_resize_like_dataset(tf: Any, img: Any, size: tuple[int, int], method: str, crop: bool,
                           pad: bool) -> Any:
    """``image_dataset_from_directory``'s resize of one decoded image, as TensorFlow ops.

    Shared by the ``tf`` backend and the exported serving graph (:mod:`app.core.export`), so
    both run the same ops and agree to the bit.
    """
    th, tw = size
    if crop:
        # keras smart_resize, dynamic-shape branch (what the dataset graph runs): float32.
        shape = tf.shape(img)
        h, w = shape[0], shape[1]
        ch = tf.cast(tf.cast(w * th, tf.float32) / tw, tf.int32)
        ch = tf.maximum(tf.minimum(h, ch), 1)
        cw = tf.cast(tf.cast(h * tw, tf.float32) / th, tf.int32)
        cw = tf.maximum(tf.minimum(w, cw), 1)
        top = tf.cast(tf.cast(h - ch, tf.float32) / 2, tf.int32)
        left = tf.cast(tf.cast(w - cw, tf.float32) / 2, tf.int32)
        return tf.image.resize(img[top : top + ch, left : left + cw, :], size, method=method)
    if pad:
        return tf.image.resize_with_pad(img, th, tw, method=method)
    return tf.image.resize(img, size, method=method)


@functools.lru_cache(maxsize=16)
def _tf_loader(channels: int, size: tuple[int, int] | None, method: str, crop: bool, pad: bool) -> Any:
    """One traced ``tf.function`` per geometry: the dataset's ``_load_image_tf`` graph."""
    from app.core.tf_runtime import import_tensorflow

    tf = import_tensorflow()

    @tf.function(input_signature=[tf.TensorSpec([], tf.string)])
    def load(data: Any) -> Any:
        img = tf.io.decode_image(data, channels=channels, expand_animations=False)
        if size is None:
            return tf.cast(img, tf.float32)
        return tf.cast(tf_resize_like_dataset(tf, img, size, method, crop, pad), tf.float32)

    return load


def decode_resize_tf(data: bytes, spec: PreprocessingSpec, name: str = "image") -> np.ndarray:
    """``image_dataset_from_directory``'s ``_load_image_tf``: TF decode and TF resize."""
    from app.core.tf_runtime import import_tensorflow, on_tf_thread, quiet_native_stderr

    header = probe_image(data, name)
    problem = png_problem(data) if header.format == "PNG" else None
    if problem:
        # TensorFlow's libpng would log about it on stderr; the file is damaged either way.
        raise ImageError(f"{name}: the PNG file is damaged ({problem})")
    if header.format == "JPEG" and not jpeg_has_end(data):
        raise ImageError(f"{name}: the JPEG file is truncated")
    tf = import_tensorflow()

    def decode() -> np.ndarray:
        load = _tf_loader(
            spec.channels,
            tuple(spec.target_size) if spec.target_size else None,
            TF_INTERPOLATION[spec.interpolation],
            spec.crop_to_aspect_ratio,
            spec.pad_to_aspect_ratio,
        )
        # TensorFlow's libjpeg prints "Corrupt JPEG data: …" straight to fd 2 and decodes on.
        with quiet_native_stderr():
            return load(tf.constant(data)).numpy()

    try:
        # Traced and run on the TensorFlow thread: tracing on a window worker while that
        # thread was busy with TensorFlow (importing it, loading a model) segfaulted.
        arr = on_tf_thread(decode)
    except tf.errors.OpError as exc:
        raise ImageError(f"{name}: TensorFlow cannot decode it ({tf_error_reason(exc.message)})") from None
    if spec.color_mode == "bgr":
        arr = arr[:, :, ::-1]
    return np.ascontiguousarray(arr, dtype=np.float32)


def tf_error_reason(message: str | None) -> str:
    """The reason in a TensorFlow op error, without "Graph execution error:" and its trace.

    A ``tf.function`` error reads "Graph execution error:", where the op was defined (a
    Python stack), the reason, then ``[[{{node …}}]]``; eager errors are the reason alone.
    """
    lines = [line.strip() for line in (message or "").splitlines()]
    for k, line in enumerate(lines):
        if line.startswith("[[") and k > 0:
            reason = next((x for x in reversed(lines[:k]) if x), "")
            if reason:
                return reason.rstrip(".")
    kept = [x for x in lines if x and x != "Graph execution error:" and not x.startswith("[[")]
    return kept[0].split(" [Op:")[0] if kept else "not a valid image"


BACKENDS = {"opencv": decode_resize_opencv, "pil": decode_resize_pil, "tf": decode_resize_tf}
