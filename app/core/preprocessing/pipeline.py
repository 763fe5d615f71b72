"""Turn image files, buffers or arrays into the exact float32 batch a model receives.

``x = (resize(decode(img)) * scale + offset - mean) / std``, with the optional
normalisations of :class:`~app.core.preprocessing.spec.PreprocessingSpec` applied in the
order tf_keras ``ImageDataGenerator.standardize`` applies them: ``preprocessing_function``
(a Keras applications mode), rescale, sample-wise centring then scaling (over the whole
image), per-image standardisation, then feature-wise mean and std. Every step runs in
float32 with the same operations as Keras, so the results agree to the last bit or two.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from app.core.errors import ImageError, ProbscopeError
from app.core.images.decoding import probe_image, read_image_bytes
from app.core.preprocessing.backends import BACKENDS, array_to_input_range
from app.core.preprocessing.spec import PreprocessingSpec

ImageSource = str | os.PathLike[str] | bytes | np.ndarray

_IMAGENET_MEAN_RGB = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_IMAGENET_STD_RGB = np.array([0.229, 0.224, 0.225], dtype=np.float32)
_CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)


def _keras_applications(x: np.ndarray, mode: str, spec: PreprocessingSpec) -> np.ndarray:
    # keras.applications.imagenet_utils.preprocess_input on 0-255 input, float32 throughout.
    if mode == "tf":
        return x / np.float32(127.5) - np.float32(1.0)
    if mode == "torch":
        x = x / np.float32(255.0)
        if x.shape[-1] == 3:
            mean, std = _IMAGENET_MEAN_RGB, _IMAGENET_STD_RGB
            if spec.color_mode == "bgr":
                mean, std = mean[::-1], std[::-1]
            x = (x - mean) / std
        return x
    if mode == "caffe" and x.shape[-1] == 3:
        if spec.color_mode != "bgr":
            x = x[..., ::-1]  # caffe models were trained on BGR
        return x - _CAFFE_MEAN_BGR
    return x


def normalize(x: np.ndarray, spec: PreprocessingSpec) -> np.ndarray:
    """Apply the spec's value transforms to one resized image in the 0–255 range.

    Parameters
    ----------
    x : ndarray of shape (height, width, channels)
        Resized pixels, float32, 0–255.
    spec : PreprocessingSpec
        What training did.

    Returns
    -------
    ndarray of shape (height, width, channels), float32
        The model input for this image.
    """
    # A card's numbers are checked for range, but an image can still push a step past float32
    # (a flat image under sample-wise scaling): numpy must not print warnings about it, and
    # prepare_input refuses the non-finite result.
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        return _normalize(np.asarray(x, dtype=np.float32), spec)


def _normalize(x: np.ndarray, spec: PreprocessingSpec) -> np.ndarray:
    if spec.keras_applications_mode:
        x = _keras_applications(x, spec.keras_applications_mode, spec)
    if spec.scale != 1.0:
        x = x * np.float32(spec.scale)
    if spec.offset != 0.0:
        x = x + np.float32(spec.offset)
    # IDG: np.mean/np.std over the whole image (all pixels and channels), float32.
    if spec.samplewise_center:
        x = x - np.mean(x, keepdims=True)
    if spec.samplewise_std_normalization:
        x = x / (np.std(x, keepdims=True) + np.float32(1e-6))
    if spec.per_image_standardization:
        # tf.image.per_image_standardization: std floored at 1/sqrt(N) so flat images stay finite.
        mean = np.mean(x, dtype=np.float64)
        std = max(float(np.std(x, dtype=np.float64)), 1.0 / np.sqrt(x.size))
        x = ((x - np.float32(mean)) / np.float32(std)).astype(np.float32)
    if spec.mean is not None:
        x = x - np.asarray(spec.mean, dtype=np.float32)
    if spec.std is not None:
        x = x / (np.asarray(spec.std, dtype=np.float32) + np.float32(spec.std_epsilon))
    return x.astype(np.float32, copy=False)


class PixelBudget:
    """How many decoded pixels may be in memory at once, over every thread of the process.

    A file's size says nothing about its cost: a 338 KB PNG can hold 100 megapixels, which
    take 300 MB decoded and more while being resized. Decoders wait here until the pixels
    they are about to decode fit; one image larger than the whole budget runs alone.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = int(capacity)
        self._free = self.capacity
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        """Wait until ``pixels`` fit in the budget, hold them for the ``with`` block."""
        need = max(0, min(int(pixels), self.capacity))
        with self._cond:
            self._cond.wait_for(lambda: self._free >= need)
            self._free -= need
        try:
            yield
        finally:
            with self._cond:
                self._free += need
                self._cond.notify_all()


# 120 megapixels: one image at the 100-megapixel limit decodes alone (about 1 GB at its
# peak), while a dozen 10-megapixel photos still decode side by side.
MAX_PIXELS_IN_FLIGHT = 120_000_000
DECODE_BUDGET = PixelBudget(MAX_PIXELS_IN_FLIGHT)


def _decode_resize(data: bytes, spec: PreprocessingSpec, name: str) -> np.ndarray:
    header = probe_image(data, name)
    with DECODE_BUDGET.hold(header.width * header.height):
        return BACKENDS[spec.resize_backend](data, spec, name)


def resize_source(source: ImageSource, spec: PreprocessingSpec, name: str | None = None) -> np.ndarray:
    """Decode and resize one image with the spec's backend; float32 in 0–255.

    Decoding waits for room in :data:`DECODE_BUDGET`, so that parallel decodes of huge
    images cannot exhaust memory.
    """
    if isinstance(source, np.ndarray):
        if source.dtype != np.uint8:
            raise ImageError(f"{name or 'array'}: expected uint8 pixels, got {source.dtype}")
        return array_to_input_range(source, spec)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _decode_resize(bytes(source), spec, name or "image")
    data = read_image_bytes(source)
    return _decode_resize(data, spec, name or os.path.basename(os.fspath(source)))


def prepare_input(source: ImageSource, spec: PreprocessingSpec, name: str | None = None) -> np.ndarray:
    """The model input for one image: decode, resize, normalise. Raises ImageError."""
    x = normalize(resize_source(source, spec, name), spec)
    if not np.isfinite(x).all():
        label = name or (os.path.basename(os.fspath(source)) if isinstance(source, (str, os.PathLike))
                         else "image")
        raise ImageError(f"{label}: preprocessing gives values that are not finite numbers "
                         "(check the card's scale, mean and std)")
    return x


@dataclass
class PreparedBatch:
    """A batch of model inputs plus, per source, the error that kept it out (or None)."""

    inputs: np.ndarray  # (n_ok, H, W, C) float32
    ok_indices: list[int]
    errors: list[str | None]


def _prepare_or_error(source: ImageSource, spec: PreprocessingSpec) -> np.ndarray | str:
    try:
        return prepare_input(source, spec)
    except ProbscopeError as exc:
        return exc.message
    except MemoryError:
        return "not enough memory to decode this image"


def prepare_batch(
    sources: Sequence[ImageSource],
    spec: PreprocessingSpec,
    executor: ThreadPoolExecutor | None = None,
) -> PreparedBatch:
    """Prepare many images, in parallel threads when given an executor (OpenCV frees the GIL).

    A failing image does not fail the batch: its message is in ``errors``.
    """
    results = list(executor.map(lambda s: _prepare_or_error(s, spec), sources)) if executor else [
        _prepare_or_error(s, spec) for s in sources
    ]
    ok = [i for i, r in enumerate(results) if not isinstance(r, str)]
    errors = [r if isinstance(r, str) else None for r in results]
    if ok:
        inputs = np.stack([results[i] for i in ok]).astype(np.float32, copy=False)
    else:
        size = spec.target_size or (1, 1)
        inputs = np.zeros((0, size[0], size[1], spec.channels), dtype=np.float32)
    return PreparedBatch(inputs=inputs, ok_indices=ok, errors=errors)


def input_to_display(x: np.ndarray, spec: PreprocessingSpec) -> np.ndarray:
    """Undo the value transforms of one model input for display: RGB uint8 (H, W, 3).

    Affine steps are inverted exactly (in reverse order of :func:`normalize`);
    data-dependent ones (per-image or sample-wise standardisation) cannot be, so the
    image is shown min–max stretched, which is what the model "sees" anyway.
    """
    y = np.asarray(x, dtype=np.float32)
    if spec.std is not None:
        y = y * (np.asarray(spec.std, dtype=np.float32) + np.float32(spec.std_epsilon))
    if spec.mean is not None:
        y = y + np.asarray(spec.mean, dtype=np.float32)
    data_dependent = spec.per_image_standardization or spec.samplewise_center or (
        spec.samplewise_std_normalization
    )
    if data_dependent:
        lo, hi = float(y.min()), float(y.max())
        y = (y - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(y)
    else:
        y = (y - np.float32(spec.offset)) / np.float32(spec.scale)
        mode = spec.keras_applications_mode
        if mode == "tf":
            y = (y + 1.0) * 127.5
        elif mode == "torch":
            if y.shape[-1] == 3:
                mean, std = _IMAGENET_MEAN_RGB, _IMAGENET_STD_RGB
                if spec.color_mode == "bgr":
                    mean, std = mean[::-1], std[::-1]
                y = y * std + mean
            y = y * 255.0
        elif mode == "caffe" and y.shape[-1] == 3:
            y = y + _CAFFE_MEAN_BGR
            if spec.color_mode != "bgr":
                y = y[..., ::-1]
    y = np.clip(np.rint(y), 0, 255).astype(np.uint8)
    if y.shape[-1] == 1:
        y = np.repeat(y, 3, axis=-1)
    elif spec.color_mode == "bgr":
        y = y[..., ::-1]
    return np.ascontiguousarray(y)
