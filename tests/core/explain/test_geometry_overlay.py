"""Carrying maps back to the original image, and painting them: pure NumPy, no model."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.explain import (
    blend,
    colormap_lut,
    input_geometry,
    legend,
    mark_peak,
    normalize_map,
    occluded_copies,
    occlusion_maps,
    occlusion_plan,
)
from app.core.models.predictor import ModelOutputs
from app.core.preprocessing.spec import PreprocessingSpec


def _hot_at(size: tuple[int, int], row: int, col: int) -> np.ndarray:
    heat = np.zeros(size, np.float32)
    heat[row, col] = 1.0
    return heat


def test_plain_resize_maps_pixel_centres() -> None:
    g = input_geometry((320, 160), PreprocessingSpec(target_size=(32, 32)))
    # Pixel centres: input row 0 spans rows 0-10 of the original, its centre is at 5.0.
    assert g.to_original(0, 0) == (5, 2) and g.to_original(31, 31) == (315, 157)
    assert g.peak(_hot_at((32, 32), 16, 8)) == (165, 42)
    assert g.map_to_original(_hot_at((32, 32), 16, 8)).shape == (320, 160)


def test_crop_to_aspect_ratio_maps_into_the_centre_box() -> None:
    # 100 high, 200 wide, square target: the model sees columns 50..149 only.
    g = input_geometry((100, 200), PreprocessingSpec(target_size=(10, 10), crop_to_aspect_ratio=True))
    assert g.source_box == (0, 50, 100, 100)
    assert g.peak(_hot_at((10, 10), 0, 0)) == (5, 55)
    assert g.peak(_hot_at((10, 10), 9, 9)) == (95, 145)
    full = g.map_to_original(np.ones((10, 10), np.float32))
    assert full[:, :50].max() == 0 and full[:, 150:].max() == 0 and full[:, 50:150].min() == 1


def test_pad_to_aspect_ratio_ignores_the_padding() -> None:
    # 100 high, 200 wide into 20×20: the image fills rows 5..14, the rest is padding.
    g = input_geometry((100, 200), PreprocessingSpec(target_size=(20, 20), pad_to_aspect_ratio=True))
    assert g.input_box == (5, 0, 10, 20)
    padded = _hot_at((20, 20), 0, 10) * 5 + _hot_at((20, 20), 7, 3)  # hottest in the padding
    assert g.peak(padded) == (25, 35)  # the hottest pixel that shows the image
    assert g.map_to_original(padded).shape == (100, 200)


def test_normalise_colour_and_blend() -> None:
    heat = np.array([[-1.0, 0.0], [1.0, 3.0]], np.float32)
    norm = normalize_map(heat)
    np.testing.assert_allclose(norm, [[0, 0], [1 / 3, 1]], rtol=1e-6)
    assert normalize_map(np.zeros((2, 2))).max() == 0
    lut = colormap_lut("turbo")
    assert lut.shape == (256, 3) and lut.dtype == np.uint8 and lut[255, 0] > lut[255, 2]  # red hot
    image = np.full((2, 2, 3), 100, np.uint8)
    assert (blend(image, norm, opacity=0.0) == image).all()
    out = blend(image, norm, opacity=1.0)
    assert out.flags.c_contiguous and (out[1, 1] == lut[255]).all()
    assert legend(50, 8).shape == (50, 8, 3)
    with pytest.raises(ValueError):
        blend(image, np.zeros((3, 3)), 0.5)


def test_patch_larger_than_the_input_is_adapted_with_a_note() -> None:
    assert occlusion_plan((32, 32)).patch == 3 and occlusion_plan((32, 32)).note is None
    plan = occlusion_plan((32, 32), patch=40)
    assert plan.patch == 16 and "larger than half" in plan.note
    tiny = occlusion_plan((2, 2))
    assert tiny.patch == 1 and tiny.note is None
    assert plan.starts(32) == [0, 8, 16]


def test_occlusion_needs_no_gradients_only_a_batched_predictor() -> None:
    """A numpy 'runtime' (no TensorFlow) that looks only at pixel (5, 6): the peak is there."""
    calls = []

    def infer(batch: np.ndarray) -> ModelOutputs:
        calls.append(len(batch))
        evidence = batch[:, 5, 6, 0] * 10.0
        logits = np.stack([evidence, np.zeros_like(evidence)], axis=1).astype(np.float32)
        return ModelOutputs(logits, logits, None)

    x = np.ones((2, 16, 16, 1), np.float32)
    x[1] = 0.5
    plan = occlusion_plan((16, 16), patch=3, stride=1)
    result = occlusion_maps(infer, x, [0, 0], plan, fill="zero", chunk=10_000)
    assert calls == [2, 2 * 14 * 14]  # the originals, then every copy in one batch
    g = input_geometry((16, 16), PreprocessingSpec(target_size=(16, 16)))
    for m in result.maps:
        assert g.peak(m) == (5, 6)  # the centre of the patches that hide it
    assert occluded_copies(x[0], plan, "zero").shape == (196, 16, 16, 1)


@pytest.mark.parametrize("peak", [(0, 0), (59, 79), (0, 79), (30, 40)])
def test_the_peak_cross_keeps_whole_arms_through_the_peak(peak: tuple[int, int]) -> None:
    marked = mark_peak(np.full((60, 80, 3), 128, np.uint8), peak)
    white = marked.min(axis=2) > 200  # anti-aliased white
    size = 60 // 12
    # Both arms pass through the peak at their full length, even in a corner (anti-aliasing
    # softens a pixel at each end; before, a corner kept half of each arm).
    assert white[peak[0]].sum() >= 2 * size - 1
    assert white[:, peak[1]].sum() >= 2 * size - 1
    assert white[peak]
