"""What every explanation method returns: one heat map per image and the class it explains."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PREDICTED = -1  # class index meaning "the class the model predicts for this image"


@dataclass
class ClassMaps:
    """Heat maps for a batch and the class each explains.

    Attributes
    ----------
    maps : ndarray of shape (n, H, W), float32
        One map per image at model-input resolution; higher means more evidence for the class.
    classes : ndarray of shape (n,), int
        The class index each map explains.
    logits : ndarray of shape (n, k), float32
        The model's logits for the unoccluded images.
    """

    maps: np.ndarray
    classes: np.ndarray
    logits: np.ndarray
