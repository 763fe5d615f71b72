"""Core messages become sentences in the panels; names they start with keep their spelling."""

from __future__ import annotations

import pytest

from app.ui.panels.panel_messages import sentence


@pytest.mark.parametrize(("core", "shown"), [
    ("no images for class(es) D, E", "No images for class(es) D, E."),
    ("shapes_val: sub-folder(s) x are not classes", "shapes_val: sub-folder(s) x are not classes."),
    ("mnist.npz: no 'labels' array", "mnist.npz: no 'labels' array."),
    ("cancelled…", "Cancelled…"),
    ("", ""),
])
def test_a_fragment_becomes_a_sentence_without_renaming_a_folder(core: str, shown: str) -> None:
    assert sentence(core) == shown
