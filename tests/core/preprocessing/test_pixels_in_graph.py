"""The in-graph inversion of preprocessing gives back the pixels, as the numpy display does."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.preprocessing.pipeline import input_to_display, prepare_input
from app.core.preprocessing.pixels_in_graph import pixels_in_graph
from app.core.preprocessing.spec import PreprocessingSpec
from app.core.tf_runtime import import_tensorflow, on_tf_thread
from tests.core.preprocessing.test_spec import AFFINE_PREPROCESSING, CONTRACT


def _in_graph(x: np.ndarray, spec: PreprocessingSpec) -> np.ndarray:
    tf = import_tensorflow()
    return on_tf_thread(lambda: pixels_in_graph(tf, tf.constant(x[None]), spec).numpy()[0])


@pytest.mark.parametrize("pre", [*AFFINE_PREPROCESSING,
                                 {"scale": 1 / 255, "color_mode": "grayscale"},
                                 {"scale": 1 / 255, "per_image_standardization": True}])
def test_pixels_in_graph_match_the_display_inversion(pre):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (8, 6, 3), dtype=np.uint8)
    spec = PreprocessingSpec.from_dict(CONTRACT | pre)
    x = prepare_input(rgb, spec)
    pixels = _in_graph(x, spec)
    assert pixels.shape == (8, 6, 3) and pixels.dtype == np.float32
    # The display rounds to uint8; the graph keeps the float it rounds from.
    np.testing.assert_allclose(pixels, input_to_display(x, spec).astype(np.float32), atol=0.51)
    if not pre.get("per_image_standardization") and pre.get("color_mode") != "grayscale":
        np.testing.assert_allclose(pixels, rgb, atol=0.51)  # affine steps: the very pixels
