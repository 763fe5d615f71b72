"""The card's preprocessing object: validation messages, round trips, display inversion."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from app.core.errors import CardError
from app.core.preprocessing.pipeline import input_to_display, normalize, prepare_input
from app.core.preprocessing.spec import PreprocessingSpec

CONTRACT = {
    "color_mode": "rgb", "target_size": [8, 6], "interpolation": "bilinear",
    "resize_backend": "opencv", "scale": 1 / 255, "offset": 0.0, "mean": None, "std": None,
    "per_image_standardization": False, "keras_applications_mode": None, "source": "test",
}


@pytest.mark.parametrize(("change", "fragment"), [
    ({"color_mode": "rgba"}, "color_mode must be one of"),
    ({"target_size": [32]}, "target_size must be [height, width]"),
    ({"target_size": [32, 0]}, "target_size must be [height, width]"),
    ({"target_size": [32.5, 32]}, "target_size must be [height, width]"),
    ({"interpolation": "cubic"}, "interpolation must be one of"),
    ({"resize_backend": "skimage"}, "resize_backend must be one of"),
    ({"scale": "1/255"}, "scale must be a finite number"),
    ({"scale": float("nan")}, "scale must be a finite number"),
    ({"scale": 0}, "scale must not be 0"),
    ({"offset": True}, "offset must be a finite number"),
    ({"mean": [1, 2]}, "mean has 2 values but color_mode gives 3"),
    ({"mean": ["a", "b", "c"]}, "mean must be a number, a list of numbers or null"),
    ({"std": [1, 0, 1]}, "std must not contain zeros"),
    ({"std_epsilon": -1e-6}, "std_epsilon must not be negative"),
    ({"per_image_standardization": "yes"}, "per_image_standardization must be true or false"),
    ({"keras_applications_mode": "pytorch"}, "keras_applications_mode must be null"),
    ({"crop_to_aspect_ratio": True, "pad_to_aspect_ratio": True}, "exclude each other"),
    ({"interpolaton": "nearest"}, "unknown key 'interpolaton': did you mean 'interpolation'?"),
    ({"rescale": 0.5}, "did you mean 'scale'?"),
])
def test_bad_values_raise_one_line_card_errors(change, fragment):
    with pytest.raises(CardError) as err:
        PreprocessingSpec.from_dict(CONTRACT | change)
    assert fragment in err.value.message
    assert "\n" not in err.value.message


def test_not_an_object():
    with pytest.raises(CardError, match="preprocessing must be an object"):
        PreprocessingSpec.from_dict(["rgb"])


def test_round_trip_keeps_unknown_keys_and_values():
    data = CONTRACT | {"mean": [0.5, 0.4, 0.3], "std": [0.2, 0.2, 0.2], "std_epsilon": 1e-6,
                      "samplewise_center": True, "my_tool_note": {"x": 1}}
    spec = PreprocessingSpec.from_dict(data)
    assert spec.extra == {"my_tool_note": {"x": 1}}
    again = PreprocessingSpec.from_dict(spec.to_dict())
    assert again == spec and again.to_dict() == spec.to_dict()
    assert again.to_dict()["my_tool_note"] == {"x": 1}


def test_with_changes_validates():
    spec = PreprocessingSpec.from_dict(CONTRACT)
    assert spec.with_changes(target_size=(4, 4)).target_size == (4, 4)
    with pytest.raises(CardError, match="interpolation"):
        spec.with_changes(interpolation="cubic")


def test_summary_mentions_order_and_guess():
    spec = PreprocessingSpec.from_dict(CONTRACT | {"resize_backend": "pil",
                                                   "interpolation": "nearest"})
    # Height first, as target_size, --target-size and info give it (was "6x8": width first).
    assert spec.summary() == "rgb 8x6 (HxW) nearest/pil, x/255"
    assert spec.with_changes(recorded=False).summary().endswith("(UNRECORDED: guessed)")


# Value transforms a card can record that are exactly invertible (the display, the digit prior).
AFFINE_PREPROCESSING = [
    {"scale": 1 / 255},
    {"scale": 2 / 255, "offset": -1.0},
    {"scale": 1 / 255, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
    {"scale": 1.0, "mean": [120.0], "std": [60.0], "std_epsilon": 1e-6},
    {"scale": 1.0, "keras_applications_mode": "caffe"},
    {"scale": 1.0, "keras_applications_mode": "tf"},
    {"scale": 1.0, "keras_applications_mode": "torch"},
    {"scale": 1 / 255, "color_mode": "bgr"},
]


@pytest.mark.parametrize("pre", AFFINE_PREPROCESSING)
def test_input_to_display_inverts_affine_normalisation(pre):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (8, 6, 3), dtype=np.uint8)
    spec = PreprocessingSpec.from_dict(CONTRACT | pre)
    x = prepare_input(rgb, spec)
    np.testing.assert_array_equal(input_to_display(x, spec), rgb)


def test_input_to_display_grayscale_and_data_dependent():
    gray = np.arange(48, dtype=np.uint8).reshape(8, 6) * 5
    spec = PreprocessingSpec.from_dict(CONTRACT | {"color_mode": "grayscale"})
    rgb = np.repeat(gray[:, :, None], 3, axis=2)
    shown = input_to_display(prepare_input(rgb, spec), spec)
    assert shown.shape == (8, 6, 3)
    np.testing.assert_array_equal(shown[..., 0], gray)
    std_spec = spec.with_changes(per_image_standardization=True)
    stretched = input_to_display(prepare_input(rgb, std_spec), std_spec)
    assert stretched.min() == 0 and stretched.max() == 255


def test_normalize_follows_image_data_generator_order():
    """preprocess_input, rescale, sample-wise (whole image), then feature-wise with +1e-6."""
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 255, (4, 5, 3)).astype(np.float32)
    spec = PreprocessingSpec.from_dict(CONTRACT | {
        "scale": 0.5, "samplewise_center": True, "samplewise_std_normalization": True,
        "mean": [0.1, 0.2, 0.3], "std": [1.5, 2.0, 2.5], "std_epsilon": 1e-6})
    expected = x * np.float32(0.5)
    expected -= np.mean(expected, keepdims=True)
    expected /= np.std(expected, keepdims=True) + 1e-6
    expected -= np.array([0.1, 0.2, 0.3], np.float32)
    expected /= np.array([1.5, 2.0, 2.5], np.float32) + 1e-6
    np.testing.assert_array_equal(normalize(x, spec), expected)


def test_flat_image_per_image_standardization_stays_finite(tmp_path):
    path = tmp_path / "flat.png"
    Image.new("RGB", (6, 8), (90, 90, 90)).save(path)
    spec = PreprocessingSpec.from_dict(CONTRACT | {"per_image_standardization": True})
    x = prepare_input(path, spec)
    assert np.isfinite(x).all() and np.abs(x).max() == 0


@pytest.mark.parametrize(("change", "shown"), [
    ({"offset": True}, "got true"),
    ({"interpolation": None}, 'got null'),
    ({"interpolation": "cubic"}, 'one of ["nearest", "bilinear"'),
])
def test_card_errors_spell_values_as_the_card_does(change, shown):
    with pytest.raises(CardError) as err:
        PreprocessingSpec.from_dict(CONTRACT | change)
    assert shown in err.value.message
    assert "None" not in err.value.message and "True" not in err.value.message
