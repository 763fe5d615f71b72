"""Models with their own preprocessing layers: no double scaling, and honest guesses without a card."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.cards.inferred import double_preprocessing_warnings, infer_card
from app.core.models.loading import load_model
from app.core.preprocessing.spec import PreprocessingSpec


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    layers = keras.layers
    root = tmp_path_factory.mktemp("in_model")

    def save(name, *pre, shape=(16, 16, 3)):
        model = keras.Sequential([keras.Input(shape), *pre, layers.Flatten(),
                                  layers.Dense(2, activation="softmax")])
        model.save(root / name)
        return load_model(root / name)

    return {
        "plain": save("plain.keras"),
        "rescaling": save("rescaling.keras", layers.Rescaling(1 / 255)),
        "normalization": save("normalization.keras",
                              layers.Normalization(mean=[120.0] * 3, variance=[3600.0] * 3)),
        "resize_crop": save("resize_crop.keras", layers.Resizing(20, 20),
                            layers.CenterCrop(16, 16), layers.Rescaling(1 / 127.5, offset=-1),
                            shape=(None, None, 3)),
    }


def spec(**pre):
    return PreprocessingSpec.from_dict({"target_size": [16, 16], "scale": 1.0} | pre)


def test_no_card_with_rescaling_layer_takes_raw_pixels(models):
    pre = infer_card(models["rescaling"]).preprocessing
    assert pre["scale"] == 1.0 and pre["recorded"] is False
    assert "Rescaling" in pre["source"] and "guessed" in pre["source"]


def test_no_card_without_scaling_layer_says_scale_is_a_guess(models):
    card = infer_card(models["plain"])
    pre = PreprocessingSpec.from_dict(card.preprocessing)
    assert pre.scale == pytest.approx(1 / 255) and not pre.recorded
    assert "is a guess" in pre.source and pre.summary().endswith("(UNRECORDED: guessed)")
    assert pre.target_size == (16, 16) and card.classes == ["0", "1"]


def test_no_card_with_a_lambda_layer_says_it_may_scale_the_input(tmp_path):
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Lambda(lambda x: x / 255.0),
                              keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")])
    model.save(tmp_path / "lambda.keras")
    pre = infer_card(load_model(tmp_path / "lambda.keras", trust=True)).preprocessing
    assert pre["scale"] == pytest.approx(1 / 255) and pre["recorded"] is False
    assert "a Lambda layer that may scale the input itself" in pre["source"]


def test_no_card_any_size_model_takes_its_resizing_size(models):
    pre = infer_card(models["resize_crop"]).preprocessing
    assert pre["target_size"] == [20, 20] and pre["scale"] == 1.0


def test_card_scaling_twice_is_warned(models):
    (warning,) = double_preprocessing_warnings(spec(scale=1 / 255), models["rescaling"])
    assert "scaled twice" in warning and "0-0.00392" in warning
    assert double_preprocessing_warnings(spec(), models["rescaling"]) == []
    assert double_preprocessing_warnings(spec(scale=1 / 255), models["plain"]) == []
    (warning,) = double_preprocessing_warnings(spec(keras_applications_mode="tf"),
                                               models["resize_crop"])
    assert "keras.applications 'tf'" in warning


def test_card_normalising_twice_is_warned(models):
    (warning,) = double_preprocessing_warnings(spec(mean=[120.0], std=[60.0]),
                                               models["normalization"])
    assert "normalised twice" in warning
    assert double_preprocessing_warnings(spec(), models["normalization"]) == []


def test_card_cropping_twice_is_warned(models):
    warnings = double_preprocessing_warnings(spec(crop_to_aspect_ratio=True), models["resize_crop"])
    assert any("cropped twice" in w for w in warnings)


def test_raw_card_through_in_model_rescaling_gives_training_values(models, tmp_path):
    """A card with scale 1 feeds 0-255 pixels; the model's Rescaling makes them 0-1 itself."""
    from PIL import Image

    from app.core.preprocessing.pipeline import prepare_input

    rgb = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "x.png")
    x = prepare_input(tmp_path / "x.png", spec(resize_backend="pil"))
    rescaled = models["rescaling"].model.layers[0](x[None]).numpy()[0]
    np.testing.assert_allclose(rescaled, rgb / 255.0, atol=1e-6)
