"""The heat map points at the evidence: a glyph pasted at a random place on a texture.

A CNN trained in the test (``glyphs.glyph_model``) reads which of four glyph shapes is on
a 48×48 textured canvas. On held-out canvases it classifies correctly, the peak of each
method's map must fall inside the glyph's box for at least 85 % of the images; moving the
glyph must move the peak with it. Printed: the share per method (``pytest -s``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.core import open_model
from app.core.explain import Explainer
from tests.core.explain import glyphs

N_HELD_OUT = 100
REQUIRED = 0.85


@pytest.fixture(scope="module")
def explainer(tmp_path_factory: pytest.TempPathFactory) -> Explainer:
    session = open_model(glyphs.glyph_model(tmp_path_factory.mktemp("glyphs")))
    yield Explainer(session)
    session.close()


@pytest.fixture(scope="module")
def held_out(explainer: Explainer) -> tuple[list[np.ndarray], np.ndarray]:
    images, labels, boxes = glyphs.dataset(seed=2024, n=N_HELD_OUT)
    predicted = np.array([r.index for r in explainer.session.classify(list(images))])
    shown = (predicted == labels) & (labels != glyphs.BLANK)
    # The model must be good enough for the check to mean something.
    assert shown.sum() >= 0.8 * (labels != glyphs.BLANK).sum(), "the glyph model did not learn"
    return [images[i] for i in np.flatnonzero(shown)], boxes[shown]


def _inside(peak: tuple[int, int], box: np.ndarray) -> bool:
    top, left, h, w = (int(v) for v in box)
    return top <= peak[0] < top + h and left <= peak[1] < left + w


@pytest.mark.parametrize("method", ["gradcam", "occlusion"])
def test_peak_falls_inside_the_glyph(explainer: Explainer, held_out, method: str) -> None:
    images, boxes = held_out
    explained = explainer.explain(images, method=method)
    inside = [_inside(e.peak, box) for e, box in zip(explained, boxes, strict=True)]
    share = float(np.mean(inside))
    print(f"\n{method}: peak inside the glyph for {share:.1%} of {len(inside)} correctly "
          "classified held-out canvases")
    assert share >= REQUIRED, f"{method}: only {share:.1%} of peaks inside the glyph"


@pytest.mark.parametrize("method", ["gradcam", "occlusion"])
def test_moving_the_glyph_moves_the_peak(explainer: Explainer, method: str) -> None:
    rng = np.random.default_rng(5)
    moved = 0
    trials = 0
    for kind in range(4):
        background = glyphs.texture(rng)
        a, _, box_a = glyphs.sample(np.random.default_rng(kind), kind, (4, 4), 14, background)
        b, _, box_b = glyphs.sample(np.random.default_rng(kind), kind, (30, 30), 14, background)
        ea, eb = explainer.explain([a, b], method=method)
        if ea.class_index != kind or eb.class_index != kind:
            continue  # the control is about where, for images the model reads right
        trials += 1
        shift = np.subtract(eb.peak, ea.peak)
        # The glyph moved 26 px down and right: so must the peak, by most of that.
        moved += bool(_inside(ea.peak, np.array(box_a)) and _inside(eb.peak, np.array(box_b))
                      and (shift >= 13).all())
    assert trials >= 3
    assert moved >= trials - 1, f"{method}: the peak followed the glyph in {moved} of {trials}"


def test_a_map_that_ignores_the_image_fails_the_check(explainer: Explainer, held_out) -> None:
    """The check can fail: the centre of the canvas as "peak" is inside far fewer boxes."""
    _, boxes = held_out
    share = np.mean([_inside((24, 24), box) for box in boxes])
    assert share < REQUIRED


def test_overlay_is_the_original_size(explainer: Explainer, tmp_path: Path) -> None:
    image, _, _ = glyphs.sample(np.random.default_rng(1), 0)
    big = np.repeat(np.repeat(image, 2, axis=0), 2, axis=1)  # 96×96: resized to the 48 input
    (e,) = explainer.explain([big], method="gradcam")
    assert e.image_map.shape == (96, 96) and e.overlay().shape == (96, 96, 3)
    assert e.input_map.shape == (48, 48) and 0.0 <= e.input_map.min() <= e.input_map.max() <= 1.0
    display = explainer.display_input(e)
    assert e.input_overlay(display).shape == (48, 48, 3)
