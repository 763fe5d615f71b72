"""Fixtures shared by the panel tests: a private copy of the colour model and its session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ui.conftest import copy_model


@pytest.fixture
def model_copy(colour_model: Path, tmp_path: Path) -> Path:
    """The shared colour model and its card, copied so that Save may rewrite the card."""
    return copy_model(colour_model, tmp_path / "model")


@pytest.fixture
def session(model_copy: Path):  # type: ignore[no-untyped-def]
    from app.core import open_model

    s = open_model(model_copy)
    yield s
    s.close()
