"""The heat-map job's pure helpers: display-size maps and Qt ↔ NumPy pictures."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest

from app.ui.jobs.explain_jobs import ExplainRequest, HeatMap, blend_pictures, resize_map
from app.ui.widgets.qt_images import qimage_to_rgb, rgb_to_qimage


@pytest.mark.parametrize("shape", [(5, 7, 3), (3, 1, 3), (1, 9, 3)])
def test_qimage_round_trip_with_padded_rows(shape: tuple[int, int, int]) -> None:
    # Widths not a multiple of 4 bytes per row are padded by Qt: the copy must cut that off.
    rgb = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    assert np.array_equal(qimage_to_rgb(rgb_to_qimage(rgb)), rgb)


def test_resize_map_is_bilinear_and_keeps_the_corners() -> None:
    heat = np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)
    out = resize_map(heat, 3, 5)
    assert out.shape == (3, 5)
    assert out[0, 0] == 0.0 and out[0, -1] == 1.0 and out[-1, 0] == 1.0 and out[-1, -1] == 0.0
    assert out[1, 2] == pytest.approx(0.5)
    assert resize_map(heat, 2, 2) is not None and np.array_equal(resize_map(heat, 2, 2), heat)


def test_blend_pictures_follows_the_opacity() -> None:
    request = ExplainRequest("x.png", None, "gradcam", None, 1)
    grey = np.full((4, 6, 3), 128, np.uint8)
    heat = HeatMap(request, image=grey, image_map=np.ones((4, 6), np.float32), peak=None,
                   seen=grey[:2, :2], input_map=np.ones((2, 2), np.float32))
    plain, seen = blend_pictures(heat, 0.0)
    assert np.array_equal(plain, grey) and np.array_equal(seen, grey[:2, :2])
    strong, _ = blend_pictures(heat, 1.0)
    assert not np.array_equal(strong, grey)
    assert heat.predicted
