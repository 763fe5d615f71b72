"""Where probscope's bundled files live (source tree, installed checkout or frozen bundle)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def resources_dir() -> Path:
    """The ``resources/`` folder: ``$PROBSCOPE_RESOURCES``, a PyInstaller bundle, or the repo."""
    override = os.environ.get("PROBSCOPE_RESOURCES")
    if override:
        return Path(override)
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"


def bundled_model_path() -> Path:
    """The default digit model shipped with probscope."""
    return resources_dir() / "digits" / "digits.keras"


def bundled_samples_dir() -> Path:
    """Small sample images (digits and non-digits) shipped with the default model."""
    return resources_dir() / "digits" / "samples"
