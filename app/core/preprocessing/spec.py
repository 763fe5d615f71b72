"""The card's ``preprocessing`` object as a typed, validated value.

``x = (resize(decode(img)) * scale + offset - mean) / (std + std_epsilon)`` plus the
optional normalisations training pipelines use. The value transforms run in the order of
tf_keras ``ImageDataGenerator.standardize`` (see :func:`app.core.preprocessing.pipeline.normalize`):

1. ``keras_applications_mode`` (``preprocess_input``, on 0-255 pixels, as IDG's
   ``preprocessing_function`` runs first);
2. ``scale`` and ``offset`` (IDG ``rescale``, ``Rescaling(scale, offset)``);
3. ``samplewise_center`` / ``samplewise_std_normalization`` (over the whole image);
4. ``per_image_standardization`` (``tf.image.per_image_standardization``);
5. ``mean`` / ``std`` per channel (IDG feature-wise statistics use ``std_epsilon=1e-6``).

Unknown keys are kept in ``extra`` so a round trip through this class loses nothing, but
a key that is a near-miss of a known one (``interpolaton``) is refused: silently ignoring
it would change every prediction.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from app.core.errors import CardError
from app.core.json_io import json_text

COLOR_MODES = ("rgb", "bgr", "grayscale")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "area", "lanczos")
RESIZE_BACKENDS = ("pil", "tf", "opencv")
KERAS_APPLICATIONS_MODES = (None, "caffe", "tf", "torch")


def _channel_list(value: Any, key: str) -> tuple[float, ...] | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (float(value),)
    if isinstance(value, (list, tuple)) and value and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
    ):
        return tuple(float(v) for v in value)
    raise CardError(f"preprocessing.{key} must be a number, a list of numbers or null")


def _check_channel_count(values: tuple[float, ...] | None, key: str, channels: int) -> None:
    if values is not None and len(values) not in (1, channels):
        raise CardError(
            f"preprocessing.{key} has {len(values)} values but color_mode gives {channels} "
            "channel(s): give one value or one per channel"
        )
    if values is not None and not all(math.isfinite(v) for v in values):
        raise CardError(f"preprocessing.{key} must hold finite numbers")


# Magnitudes no training pipeline uses: beyond them float32 inputs overflow to inf (a scale
# of 1e300, a std of 1e-300) and the model answers NaN, or every image becomes the same.
_LIMITS = {"scale": (1e-9, 1e4), "offset": (0.0, 1e6), "mean": (0.0, 1e6), "std": (1e-6, 1e6)}


def _check_ranges(kw: dict[str, Any]) -> None:
    for key, (low, high) in _LIMITS.items():
        value = kw.get(key)
        values = value if isinstance(value, tuple) else () if value is None else (value,)
        for v in values:
            if not low <= abs(v) <= high:
                wanted = f"from {low:g} to {high:g}" if low else f"at most {high:g}"
                if key == "std":
                    wanted = f"positive, {wanted}"
                raise CardError(f"preprocessing.{key} {json_text(v)} is out of range: its size must be {wanted}")
        if key == "std" and any(v < 0 for v in values):
            raise CardError(f"preprocessing.std must be positive, got {json_text(value)}")


def _refuse_misspelt_keys(unknown: list[str], known: set[str]) -> None:
    # Unknown keys are preserved (newer tools may write them), but a near-miss of a known key
    # is almost surely a typo that would silently fall back to a default.
    for key in unknown:
        close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.8)
        if close:
            raise CardError(
                f"preprocessing has an unknown key {key!r}: did you mean {close[0]!r}?"
            )


@dataclass(frozen=True)
class PreprocessingSpec:
    """How one image file becomes the float32 tensor the model receives."""

    color_mode: str = "rgb"
    target_size: tuple[int, int] | None = None
    interpolation: str = "bilinear"
    resize_backend: str = "opencv"
    scale: float = 1.0 / 255.0
    offset: float = 0.0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    per_image_standardization: bool = False
    keras_applications_mode: str | None = None
    crop_to_aspect_ratio: bool = False
    pad_to_aspect_ratio: bool = False
    samplewise_center: bool = False
    samplewise_std_normalization: bool = False
    # ImageDataGenerator divides by (std + 1e-6); other pipelines divide by std itself.
    std_epsilon: float = 0.0
    source: str = ""
    recorded: bool = True
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def channels(self) -> int:
        return 1 if self.color_mode == "grayscale" else 3

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessingSpec:
        """Validate a card's ``preprocessing`` object; raise CardError naming the bad key."""
        if not isinstance(data, dict):
            raise CardError("preprocessing must be an object")
        known = {f.name for f in fields(cls)} - {"extra"}
        kw: dict[str, Any] = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known}
        _refuse_misspelt_keys(list(extra), known)
        mode = kw.get("color_mode", "rgb")
        if mode not in COLOR_MODES:
            raise CardError(f"preprocessing.color_mode must be one of {json_text(list(COLOR_MODES))}, got {json_text(mode)}")
        size = kw.get("target_size")
        if size is not None:
            if (
                not isinstance(size, (list, tuple))
                or len(size) != 2
                or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size)
            ):
                raise CardError(
                    f"preprocessing.target_size must be [height, width] in pixels, got {json_text(size)}"
                )
            kw["target_size"] = (int(size[0]), int(size[1]))
        interp = kw.get("interpolation", "bilinear")
        if interp not in INTERPOLATIONS:
            raise CardError(
                f"preprocessing.interpolation must be one of {json_text(list(INTERPOLATIONS))}, got {json_text(interp)}"
            )
        backend = kw.get("resize_backend", "opencv")
        if backend not in RESIZE_BACKENDS:
            raise CardError(
                f"preprocessing.resize_backend must be one of {json_text(list(RESIZE_BACKENDS))}, got {json_text(backend)}"
            )
        app_mode = kw.get("keras_applications_mode")
        if app_mode not in KERAS_APPLICATIONS_MODES:
            raise CardError(
                "preprocessing.keras_applications_mode must be null, 'caffe', 'tf' or 'torch', "
                f"got {json_text(app_mode)}"
            )
        for key in ("scale", "offset", "std_epsilon"):
            if key in kw:
                v = kw[key]
                if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                    raise CardError(f"preprocessing.{key} must be a finite number, got {json_text(v)}")
                kw[key] = float(v)
        kw["mean"] = _channel_list(kw.get("mean"), "mean")
        kw["std"] = _channel_list(kw.get("std"), "std")
        channels = 1 if mode == "grayscale" else 3
        _check_channel_count(kw["mean"], "mean", channels)
        _check_channel_count(kw["std"], "std", channels)
        if kw["std"] is not None and any(s + kw.get("std_epsilon", 0.0) == 0 for s in kw["std"]):
            raise CardError("preprocessing.std must not contain zeros")
        if kw.get("std_epsilon", 0.0) < 0:
            raise CardError("preprocessing.std_epsilon must not be negative")
        if kw.get("scale", 1.0) == 0:
            raise CardError("preprocessing.scale must not be 0 (every image would be blank)")
        _check_ranges(kw)
        for key in (
            "per_image_standardization",
            "crop_to_aspect_ratio",
            "pad_to_aspect_ratio",
            "samplewise_center",
            "samplewise_std_normalization",
            "recorded",
        ):
            if key in kw and not isinstance(kw[key], bool):
                raise CardError(f"preprocessing.{key} must be true or false")
        if kw.get("crop_to_aspect_ratio") and kw.get("pad_to_aspect_ratio"):
            raise CardError(
                "preprocessing: crop_to_aspect_ratio and pad_to_aspect_ratio exclude each other"
            )
        kw["source"] = str(kw.get("source", ""))
        return cls(**kw, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        """The card's JSON object: contract keys first, then any preserved unknown keys."""
        d = asdict(self)
        extra = d.pop("extra")
        d["target_size"] = list(self.target_size) if self.target_size else None
        d["mean"] = list(self.mean) if self.mean is not None else None
        d["std"] = list(self.std) if self.std is not None else None
        d.update(extra)
        return d

    def with_changes(self, **changes: Any) -> PreprocessingSpec:
        """A copy with some fields changed, validated like a card (raises CardError)."""
        return PreprocessingSpec.from_dict(replace(self, **changes).to_dict())

    def size_text(self, times: str = "x") -> str:
        """The target size as the card, ``--target-size`` and ``info`` give it: height first.

        Said so when the two differ ("48x64 (HxW)"): image tools put the width first.
        """
        if not self.target_size:
            return ""
        h, w = self.target_size
        return f"{h}{times}{w}" + ("" if h == w else f" (H{times}W)")

    def summary(self, mark_guess: bool = True) -> str:
        """One line for a status bar, transforms in the order applied: ``rgb 32x32 nearest/pil, x/255``.

        An unrecorded spec ends with "(UNRECORDED: guessed)" unless ``mark_guess`` is False
        (for a place that says so in its own words).
        """
        parts = [self.color_mode]
        if self.target_size:
            parts.append(self.size_text())
        parts.append(f"{self.interpolation}/{self.resize_backend}")
        if self.crop_to_aspect_ratio:
            parts.append("crop-to-aspect")
        elif self.pad_to_aspect_ratio:
            parts.append("pad-to-aspect")
        norm = []
        if self.keras_applications_mode:
            norm.append(f"keras.applications '{self.keras_applications_mode}'")
        if abs(self.scale - 1 / 255) < 1e-9:
            norm.append("x/255")
        elif self.scale != 1.0:
            norm.append(f"x*{self.scale:g}")
        if self.offset:
            norm.append(f"{self.offset:+g}")
        if self.samplewise_center or self.samplewise_std_normalization:
            norm.append("sample-wise")
        if self.per_image_standardization:
            norm.append("per-image std.")
        if self.mean is not None or self.std is not None:
            norm.append("feature-wise mean/std" if self.std_epsilon else "mean/std")
        text = " ".join(parts) + (", " + " ".join(norm) if norm else ", raw 0-255")
        return text if self.recorded or not mark_guess else text + " (UNRECORDED: guessed)"
