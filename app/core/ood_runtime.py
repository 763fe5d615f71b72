"""The card's "none of the classes" check, applied to every classified image.

Scores follow one convention: higher means more like the training classes, and an image
is in distribution when ``score >= threshold``. Logit scores need nothing but the logits;
feature scores (Mahalanobis, k-NN) load statistics stored beside the card.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.core.errors import CardError
from app.core.model_card import DEFAULT_OOD_LABEL, ModelCard
from app.core.numeric import logsumexp, softmax

LOGIT_SCORES = ("msp", "max_logit", "energy")


def logit_score(name: str, logits: np.ndarray, temperature: float) -> np.ndarray:
    """Maximum softmax probability, maximum logit or energy (T·logsumexp(z/T))."""
    if name == "msp":
        return softmax(logits, temperature).max(axis=1)
    if name == "max_logit":
        return np.asarray(logits, dtype=np.float64).max(axis=1)
    if name == "energy":
        return temperature * logsumexp(np.asarray(logits, dtype=np.float64) / temperature, axis=1)
    raise CardError(f"unknown OOD score {name!r}")


@dataclass
class OODRuntime:
    """The chosen score, its threshold and label, and any fitted statistics."""

    score_name: str = "msp"
    threshold: float = 0.0
    label: str = DEFAULT_OOD_LABEL
    detector: Any = field(default=None, repr=False)  # a fitted OODDetector for feature scores

    @classmethod
    def from_card(cls, card: ModelCard, card_path: Path) -> OODRuntime:
        ood = card.ood
        name = str(ood.get("score", "msp"))
        threshold = float(ood.get("threshold", 0.0))
        detector = None
        if name not in LOGIT_SCORES:
            from app.core.ood_detector import OODDetector

            stats = ood.get("stats")
            if not stats:
                raise CardError(f"{card_path.name}: OOD score {name!r} needs fitted statistics ('stats')")
            detector = OODDetector.from_card_dict(ood, card_path.parent / str(stats))
        return cls(name, threshold, card.ood_label, detector)

    def scores(self, logits: np.ndarray, features: np.ndarray | None, temperature: float) -> np.ndarray:
        """Score a batch; higher = more in-distribution."""
        if self.detector is not None:
            return np.asarray(self.detector.score(logits, features), dtype=np.float64)
        return logit_score(self.score_name, logits, temperature)
