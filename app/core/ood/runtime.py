"""The card's "none of the classes" check, applied to every classified image.

Scores follow one convention: higher means more like the training classes, and an image
is in distribution when ``score >= threshold``. The score keeps the temperature its
threshold was fitted with, so moving the calibration slider never silently shifts the
meaning of a fitted threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.core.cards.card_file import ModelCard
from app.core.ood.detector import OODDetector
from app.core.ood.scores import LAYER_SCORE_NAMES


@dataclass
class OODRuntime:
    """The card's OOD detector: chosen score, threshold, label and fitted statistics."""

    detector: OODDetector
    label: str
    # False for a new card's placeholder (msp at threshold 0, which accepts every image):
    # only a threshold fitted by ``probscope ood`` or written by hand is a check.
    checked: bool = True

    @property
    def score_name(self) -> str:
        return self.detector.score_name

    @property
    def threshold(self) -> float:
        return float(self.detector.threshold if self.detector.threshold is not None else 0.0)

    @classmethod
    def unchecked(cls, label: str) -> OODRuntime:
        """No check: every image counts as in distribution and nothing claims it passed."""
        detector = OODDetector(label=label)
        detector.score_name, detector.threshold = "msp", 0.0
        return cls(detector, label, checked=False)

    @classmethod
    def from_card(cls, card: ModelCard, card_path: Path) -> OODRuntime:
        ood = card.ood
        stats = ood.get("stats")
        stats_path = card_path.parent / str(stats) if stats else None
        detector = OODDetector.from_card_dict(ood, stats_path, temperature=card.temperature)
        return cls(detector, card.ood_label, card.ood_fitted)

    @property
    def needs_layer_statistics(self) -> bool:
        """The card's score reads the layer statistics (the session must compute them)."""
        return self.score_name in LAYER_SCORE_NAMES

    def scores(
        self, logits: np.ndarray, features: np.ndarray | None, stats: np.ndarray | None = None
    ) -> np.ndarray:
        """Score a batch with the card's score; higher = more in-distribution."""
        return np.asarray(self.detector.score(logits, features, stats), dtype=np.float64)
