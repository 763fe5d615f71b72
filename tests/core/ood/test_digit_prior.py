"""The digit prior: the bundled digit model's energy, computed inside the user's model call."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.core import open_model
from app.core.cards.card_file import card_path_for, load_card_for, new_card, write_card
from app.core.models.loading import load_model
from app.core.ood.prior import DIGIT_PRIOR_SLOT, digit_prior_applies, digit_prior_head
from app.core.resources import bundled_model_path
from app.core.tf_runtime import import_keras, on_tf_thread
from tests.core.ood.junk_images import no_digit_test
from tests.core.ood.test_no_class_check import DIGITS, _digits


def test_it_applies_to_digit_classes_only():
    assert digit_prior_applies(DIGITS) and digit_prior_applies(["3", "8"])
    assert not digit_prior_applies(["cat", "dog"])
    assert not digit_prior_applies(["A", "B", "C"])
    assert not digit_prior_applies(["7"])  # one class: nothing to tell apart
    assert not digit_prior_applies(["0", "1", "X"])


def _user_model(root: Path, size: int, gray: bool, scale: float) -> Path:
    """An untrained digit CNN: the prior's column must not depend on what it learnt."""
    keras = import_keras()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((size, size, 1 if gray else 3)),
        keras.layers.Conv2D(4, 3, activation="relu"), keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    path = root / f"user_{size}_{int(gray)}.keras"
    model.save(path)
    card = new_card(DIGITS, {"color_mode": "grayscale" if gray else "rgb",
                             "target_size": [size, size], "interpolation": "area",
                             "resize_backend": "opencv", "scale": scale, "source": "test"})
    write_card(card, card_path_for(path))
    return path


def _prior_column(model: Path, images: np.ndarray) -> np.ndarray:
    session = open_model(model)
    try:
        layout = session.enable_layer_statistics([digit_prior_head(session.spec)])
        (start,) = [a for name, stat, a, _ in layout.slots if (name, stat) == DIGIT_PRIOR_SLOT]
        batch = session.prepare(list(images))
        return session.infer(batch.inputs).stats[:, start]
    finally:
        session.close()


# Calling the bundled model eagerly on a bare array (the direct computation) makes Keras note
# that its one input is named; the app calls it inside the compiled graph.
@pytest.mark.filterwarnings("ignore:The structure of `inputs`")
@pytest.mark.parametrize("scale", [1 / 255, 1.0], ids=["rescaled", "raw pixels"])
def test_the_column_is_the_bundled_models_energy_on_the_same_pixels(tmp_path, scale):
    images, _ = _digits(24, 7, 32, gray=False)
    column = _prior_column(_user_model(tmp_path, 32, False, scale), images)
    # Directly: the bundled model on x/255 (its card), energy at its card's temperature.
    card = load_card_for(bundled_model_path())
    loaded = load_model(bundled_model_path())
    logits = on_tf_thread(lambda: loaded.heads(images.astype(np.float32) / 255.0)[0].numpy())
    t = card.temperature
    direct = t * np.log(np.exp(logits / t).sum(axis=1))
    np.testing.assert_allclose(column, direct, rtol=1e-4, atol=1e-4)


def test_a_grayscale_28px_model_gets_a_prior_that_tells_digits_from_junk(tmp_path):
    digits, _ = _digits(60, 8, 28, gray=True)
    junk, _ = no_digit_test(10, 28, True, seed=9)
    model = _user_model(tmp_path, 28, True, 1 / 255)
    on_digits, on_junk = _prior_column(model, digits), _prior_column(model, junk)
    assert np.isfinite(on_digits).all() and np.isfinite(on_junk).all()
    # Upscaled to the prior's 32 x 32 and turned to RGB, digits stay digits to it.
    assert np.median(on_digits) > np.quantile(on_junk, 0.9)


def _card_less(root: Path, n_classes: int) -> Path:
    keras = import_keras()
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(2, 3),
                              keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(n_classes, activation="softmax")])
    path = root / f"plain_{n_classes}.keras"
    model.save(path)
    return path


def test_guessed_class_names_are_digits_only_when_there_are_ten(tmp_path):
    """A card-less model is named 0..N-1: five shapes must not get the digit prior or lose
    the glyphs 0-4 from their reference; ten outputs are most likely a digit model."""
    from app.core.ood.probe_fitting import resolve_kinds

    five = open_model(_card_less(tmp_path, 5))
    ten = open_model(_card_less(tmp_path, 10))
    try:
        assert five.classes == ["0", "1", "2", "3", "4"] and five.named_classes == []
        assert not digit_prior_applies(five.named_classes)
        assert "glyphs" not in resolve_kinds(None, five.named_classes)
        assert ten.named_classes == DIGITS and digit_prior_applies(ten.named_classes)
    finally:
        five.close()
        ten.close()
    # Once a card names them, the user's word counts, digits or not.
    (tmp_path / "named").mkdir()
    path = _card_less(tmp_path / "named", 5)
    write_card(new_card(["0", "1", "2", "3", "4"], {"color_mode": "rgb", "target_size": [16, 16],
                                                    "scale": 1 / 255, "source": "test"}),
               card_path_for(path))
    named = open_model(path)
    try:
        assert named.named_classes == ["0", "1", "2", "3", "4"]
        assert digit_prior_applies(named.named_classes)
    finally:
        named.close()
