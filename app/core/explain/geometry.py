"""Where a model-input pixel came from in the original image: resize, crop and pad undone.

A heat map is computed on the model input (``target_size``), but the user asks "where in
*my* image?". The preprocessing backends either resize the whole image, resize a centre
crop with the target's aspect ratio (``crop_to_aspect_ratio``, Keras' ``smart_resize`` and
``load_img(keep_aspect_ratio=True)``), or resize it to fit and pad the rest with zeros
(``pad_to_aspect_ratio``, ``tf.image.resize_with_pad``). :class:`InputGeometry` records
which box of the original image fills which box of the model input, so both a map and a
single peak can be carried back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from app.core.images.decoding import decode_image_bytes, read_image_bytes
from app.core.images.opencv import cv2
from app.core.preprocessing.backends import crop_box_for_aspect, pad_geometry
from app.core.preprocessing.spec import PreprocessingSpec

Box = tuple[int, int, int, int]  # (top, left, height, width)


@dataclass(frozen=True)
class InputGeometry:
    """How the original image maps onto the model input.

    Attributes
    ----------
    original_size : tuple of int
        (height, width) of the original image.
    input_size : tuple of int
        (height, width) of the model input.
    source_box : tuple of int
        (top, left, height, width) of the part of the original the model sees (the crop).
    input_box : tuple of int
        (top, left, height, width) of the part of the input that image fills (inside the pad).
    """

    original_size: tuple[int, int]
    input_size: tuple[int, int]
    source_box: Box
    input_box: Box

    def to_original(self, row: float, col: float) -> tuple[int, int]:
        """The original pixel (row, col) that model-input pixel (row, col) shows.

        Pixel centres are mapped (a pixel spans [i, i + 1)): in a 32-pixel input of a
        320-pixel image, pixel 0 covers original rows 0–10 and is sent to the pixel at its
        centre, 5, and pixel 31 to 315, not to 0 and 310.
        """
        st, sl, sh, sw = self.source_box
        it, il, ih, iw = self.input_box
        r = st + (row + 0.5 - it) * sh / ih  # the centre, in continuous coordinates
        c = sl + (col + 0.5 - il) * sw / iw
        # Clipped to the box: a pixel of the padding shows nothing of the original.
        return (int(np.clip(np.floor(r), st, st + sh - 1)),
                int(np.clip(np.floor(c), sl, sl + sw - 1)))

    def map_to_original(self, heat: np.ndarray) -> np.ndarray:
        """Carry a model-input map (H, W) to the original image (h, w), bilinearly.

        Parts of the original the model never saw (outside a crop) are 0; the padding of
        the input is dropped.
        """
        it, il, ih, iw = self.input_box
        st, sl, sh, sw = self.source_box
        inner = np.ascontiguousarray(heat[it : it + ih, il : il + iw], dtype=np.float32)
        resized = cv2.resize(inner, (sw, sh), interpolation=cv2.INTER_LINEAR)
        if (sh, sw) == self.original_size:
            return resized
        out = np.zeros(self.original_size, dtype=np.float32)
        out[st : st + sh, sl : sl + sw] = resized
        return out

    def peak(self, heat: np.ndarray) -> tuple[int, int] | None:
        """The hottest model-input pixel that shows the image, in original pixels (row, col).

        Where several pixels share the maximum (a plateau), the one nearest their centre is
        taken rather than the top-left one. None when no pixel is above 0: nothing in the
        image speaks for the class, and a cross in the middle would say something did.
        """
        it, il, ih, iw = self.input_box
        inner = np.asarray(heat, dtype=np.float64)[it : it + ih, il : il + iw]
        top = inner.max() if inner.size else 0.0
        if top <= 0:
            return None
        rows, cols = np.nonzero(inner >= top - 1e-6 * max(abs(top), 1e-12))
        k = int(np.argmin((rows - rows.mean()) ** 2 + (cols - cols.mean()) ** 2))
        return self.to_original(it + int(rows[k]), il + int(cols[k]))


def input_geometry(original_size: tuple[int, int], spec: PreprocessingSpec) -> InputGeometry:
    """The geometry the spec's backend applies to an image of ``original_size`` (h, w).

    Parameters
    ----------
    original_size : tuple of int
        (height, width) of the decoded image.
    spec : PreprocessingSpec
        The model's preprocessing (``target_size``, ``crop_to_aspect_ratio``,
        ``pad_to_aspect_ratio``).

    Returns
    -------
    InputGeometry
        Without a ``target_size`` the input is the image itself.

    Notes
    -----
    The crop box is the integer one of ``load_img`` and the OpenCV backend; the ``tf``
    backend computes ``smart_resize``'s box in float32 and may differ by one pixel.
    """
    h, w = int(original_size[0]), int(original_size[1])
    if spec.target_size is None:
        return InputGeometry((h, w), (h, w), (0, 0, h, w), (0, 0, h, w))
    th, tw = int(spec.target_size[0]), int(spec.target_size[1])
    full_source, full_input = (0, 0, h, w), (0, 0, th, tw)
    if spec.crop_to_aspect_ratio:
        return InputGeometry((h, w), (th, tw), crop_box_for_aspect(h, w, (th, tw)), full_input)
    if spec.pad_to_aspect_ratio:
        return InputGeometry((h, w), (th, tw), full_source, pad_geometry(h, w, (th, tw)))
    return InputGeometry((h, w), (th, tw), full_source, full_input)


def original_image(source: str | os.PathLike[str] | bytes | np.ndarray,
                   spec: PreprocessingSpec, name: str | None = None) -> np.ndarray:
    """The image as the spec's backend reads it before resizing: RGB uint8 (h, w, 3).

    The OpenCV backend applies EXIF orientation; the ``pil`` and ``tf`` backends (like the
    Keras pipelines they reproduce) do not, so neither does this for them — the peak must
    be in the pixels the model saw.
    """
    if isinstance(source, np.ndarray):
        rgb = source if source.ndim == 3 else source[:, :, None]
        return np.ascontiguousarray(np.repeat(rgb, 3, axis=2) if rgb.shape[2] == 1 else rgb[..., :3])
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, label = bytes(source), name or "image"
    else:
        data, label = read_image_bytes(source), name or os.path.basename(os.fspath(source))
    rgb = decode_image_bytes(data, label)
    if spec.resize_backend != "opencv":
        flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
        raw = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
        if raw is not None and raw.dtype == np.uint8 and raw.shape[:2] != rgb.shape[:2]:
            rgb = cv2.cvtColor(raw, cv2.COLOR_BGR2RGB)
    return rgb
