"""What a session needs from the no-class check and the prediction sets, not how they work.

The check is fitted and stored by :mod:`app.core.ood`, which sits above the session (it fits
on a session's outputs). The session only calls it through this protocol, and
:func:`app.core.open_model` hands it the card's check.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class NoClassCheck(Protocol):
    """Scores images by how much they look like the classes; higher = more in distribution."""

    label: str
    # False while the card holds no fitted or chosen threshold: nothing is flagged then, and
    # nothing may claim that an image passed a check either.
    checked: bool

    @property
    def score_name(self) -> str: ...

    @property
    def threshold(self) -> float: ...

    def scores(
        self, logits: np.ndarray, features: np.ndarray | None, stats: np.ndarray | None = None
    ) -> np.ndarray: ...


class PredictionSets(Protocol):
    """Conformal prediction sets: for each image, the classes that may be the true one."""

    alpha: float
    method: str  # "lac", "aps" or "raps"
    warnings_: list[str]  # e.g. fitted under another temperature than the card's

    def predict_members(self, probabilities: np.ndarray) -> list[list[int]]:
        """Class indices in every image's set, most probable first."""
        ...
