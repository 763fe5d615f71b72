"""The runtime seam: what answers a batch, compiled TensorFlow or a LiteRT interpreter.

Everything above the models room (the session, calibration, the "none of the classes" check)
calls a runtime as ``runtime(batch) -> ModelOutputs`` and never asks which one it is, except
to say so to the user (``runtime.name``: ``"tensorflow"`` or ``"litert"``).
"""

from __future__ import annotations

import os
from typing import Protocol, runtime_checkable

import numpy as np

from app.core.models.predictor import ModelOutputs

TENSORFLOW = "tensorflow"
LITERT = "litert"
# The outputs of one inference call, in ModelOutputs order; converted graphs name them so.
OUTPUT_NAMES = ("logits", "probabilities", "features", "stats")


@runtime_checkable
class Runtime(Protocol):
    """Runs a classifier on float32 (n, H, W, C) batches in one call per batch."""

    name: str

    @property
    def input_size(self) -> tuple[int, int] | None:
        """(height, width) the model takes, or None when it takes any size."""
        ...

    def __call__(self, batch: np.ndarray) -> ModelOutputs:
        """Logits, probabilities, features and layer statistics of ``batch``."""
        ...


def runtime_preference() -> str:
    """The runtime the user asked for: ``$PROBSCOPE_RUNTIME`` (auto, tensorflow or litert).

    ``tensorflow`` never converts nor uses a converted file (a way out if LiteRT misbehaves
    on some machine); ``auto`` (the default) uses LiteRT whenever a verified file exists.
    """
    value = os.environ.get("PROBSCOPE_RUNTIME", "auto").strip().lower()
    return value if value in ("auto", TENSORFLOW, LITERT) else "auto"


def background_conversion_enabled() -> bool:
    """``$PROBSCOPE_CONVERT`` is not ``0``: convert Keras models to LiteRT when opened.

    With ``0`` a shipped or cached conversion is still used; nothing new is converted (the
    test suite does this for the many throwaway models it builds).
    """
    return os.environ.get("PROBSCOPE_CONVERT", "1").strip() != "0"
