"""Keras 2 models that call TensorFlow in their graph — ``preprocess_input(inputs)`` of the
transfer-learning tutorials, ``inputs / 255``, ``tf.image.resize`` — open in Keras 3 when the
calls are plain arithmetic, and answer as tf.keras does; any other call stays a risk,
run only for a file the user trusts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.core import open_model
from app.core.cards import double_preprocessing_warnings, infer_card
from app.core.cards.card_file import new_card
from app.core.errors import UnsafeModelError
from app.core.models.inspection import inspect_model
from app.core.preprocessing.spec import PreprocessingSpec

tf_keras = pytest.importorskip("tf_keras")


def _keras2_h5(path: Path, graph) -> Path:  # noqa: ANN001
    """A small tf.keras model: ``graph(inputs)`` then a convolution and a softmax."""
    import tensorflow as tf

    tf_keras.utils.set_random_seed(4)
    L = tf_keras.layers
    inputs = L.Input((16, 16, 3))
    x = graph(inputs, tf)
    x = L.GlobalAveragePooling2D()(L.Conv2D(4, 3, activation="relu")(x))
    model = tf_keras.Model(inputs, L.Dense(3, activation="softmax")(x))
    model.save(path, save_format="h5")
    return path


GRAPHS = {
    "mobilenet_v2": lambda x, tf: tf_keras.applications.mobilenet_v2.preprocess_input(x),
    "resnet50": lambda x, tf: tf_keras.applications.resnet50.preprocess_input(x),
    "densenet": lambda x, tf: tf_keras.applications.densenet.preprocess_input(x),
    "divide_resize_cast": lambda x, tf: tf.image.resize(tf.cast(x, "float32") / 255.0, (12, 12)),
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_recorded_tensorflow_arithmetic_opens_and_answers_as_tf_keras(tmp_path: Path,
                                                                      name: str) -> None:
    path = _keras2_h5(tmp_path / f"{name}.h5", GRAPHS[name])
    inspection = inspect_model(path)
    assert inspection.risky == []
    assert any("function" in layer for layer in inspection.preprocessing_layers)
    session = open_model(path)
    try:
        x = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype(np.float32)
        reference = tf_keras.models.load_model(path)(x).numpy()
        assert reference.std() > 1e-3  # the three classes are told apart, not a constant
        np.testing.assert_allclose(session.infer(x).probabilities, reference, atol=1e-5)
    finally:
        session.close()


def test_a_model_with_preprocess_input_inside_is_guessed_raw_and_warned_twice(tmp_path: Path) -> None:
    path = _keras2_h5(tmp_path / "tl.h5", GRAPHS["mobilenet_v2"])
    session = open_model(path)
    try:
        guessed = infer_card(session.loaded)
        assert guessed.preprocessing["scale"] == 1.0  # raw pixels: the model scales them
        assert "tf.math.truediv(y=127.5)" in guessed.preprocessing["source"]
        twice = PreprocessingSpec.from_dict(new_card(["a", "b", "c"], {
            "color_mode": "rgb", "target_size": [16, 16], "keras_applications_mode": "tf"},
        ).preprocessing)
        (warning,) = double_preprocessing_warnings(twice, session.loaded)
        assert "changed twice" in warning and "tf.math.subtract(y=1)" in warning
    finally:
        session.close()


def test_any_other_tensorflow_call_is_still_a_risk(tmp_path: Path) -> None:
    path = _keras2_h5(tmp_path / "other.h5", lambda x, tf: tf.math.square(x))
    assert any("TFOpLambda" in r and "runs Python code" in r for r in inspect_model(path).risky)
    with pytest.raises(UnsafeModelError, match="refused to load"):
        open_model(path)
    session = open_model(path, trust=True)  # the user vouches: TensorFlow's own function runs
    try:
        x = np.random.default_rng(1).uniform(0, 1, (2, 16, 16, 3)).astype(np.float32)
        reference = tf_keras.models.load_model(path)(x).numpy()
        np.testing.assert_allclose(session.infer(x).probabilities, reference, atol=1e-5)
    finally:
        session.close()


def test_keras3_preprocess_input_in_the_graph_is_in_model_preprocessing(tmp_path: Path) -> None:
    """Keras 3 records ``preprocess_input(inputs)`` as TrueDivide and Subtract ops: it was
    listed as no in-model preprocessing, and a --like mobilenet_v2 card scaled twice."""
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    inputs = keras.Input((16, 16, 3))
    x = keras.applications.mobilenet_v2.preprocess_input(inputs)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(x))
    path = tmp_path / "tl3.keras"
    keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x)).save(path)
    steps = [p for p in inspect_model(path).preprocessing_layers if p.get("changes_values")]
    assert [(p["function"], p["arguments"]["y"]) for p in steps] == [
        ("math.truediv", 127.5), ("math.subtract", 1.0)]
    session = open_model(path)
    try:
        assert infer_card(session.loaded).preprocessing["scale"] == 1.0
        twice = PreprocessingSpec.from_dict(new_card(["a", "b", "c"], {
            "color_mode": "rgb", "target_size": [16, 16], "keras_applications_mode": "tf"},
        ).preprocessing)
        (warning,) = double_preprocessing_warnings(twice, session.loaded)
        assert "x / 127.5 (an op in the model's graph), x - 1" in warning
    finally:
        session.close()
