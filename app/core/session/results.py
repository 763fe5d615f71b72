"""Results of classifying images: one record per image, with the BRIEF's JSON shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class OODVerdict:
    """The "none of the classes" check for one image (higher score = more in-distribution)."""

    score: float
    threshold: float
    in_distribution: bool
    score_name: str = "msp"
    # False while the card has no fitted or chosen threshold: nothing is then flagged, and
    # nothing may claim that the image passed a check either.
    checked: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "score": float(self.score),
            "threshold": float(self.threshold),
            "in_distribution": bool(self.in_distribution),
            "checked": bool(self.checked),
        }


@dataclass
class Classification:
    """What the model said about one image, or why it could not say anything."""

    path: str
    label: str | None = None
    index: int | None = None
    probabilities: np.ndarray | None = None  # calibrated, in class order
    raw_probabilities: np.ndarray | None = None
    temperature: float = 1.0
    ood: OODVerdict | None = None
    error: str | None = None
    logits: np.ndarray | None = field(default=None, repr=False)
    features: np.ndarray | None = field(default=None, repr=False)
    stats: np.ndarray | None = field(default=None, repr=False)  # layer statistics (probe)
    model_input: np.ndarray | None = field(default=None, repr=False)
    # Conformal prediction set (class names, most probable first); None while the card has none.
    prediction_set: list[str] | None = None
    # The file had transparency, which decoding drops as in training: the model saw the colours
    # under it, which a viewer does not show.
    transparency_dropped: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def no_class(self) -> bool:
        """The 'none of the classes' check says this image belongs to no class (an unfitted
        check counts every image as in distribution)."""
        return self.ok and self.ood is not None and not self.ood.in_distribution

    @property
    def confidence(self) -> float | None:
        if self.probabilities is None or self.index is None:
            return None
        return float(self.probabilities[self.index])

    def to_json(self) -> dict[str, Any]:
        """The ``classify --json`` record (one JSON object per image)."""
        def as_list(a: np.ndarray | None) -> list[float] | None:
            return None if a is None else [float(v) for v in a]

        return {
            "path": self.path,
            "label": self.label,
            "index": self.index,
            "probabilities": as_list(self.probabilities),
            "raw_probabilities": as_list(self.raw_probabilities),
            "temperature": float(self.temperature),
            "ood": None if self.ood is None else self.ood.to_json(),
            "error": self.error,
            "prediction_set": None if self.prediction_set is None else list(self.prediction_set),
            "transparency_dropped": bool(self.transparency_dropped),
        }
