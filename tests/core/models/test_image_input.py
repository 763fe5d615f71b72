"""Models that take (batch, height, width) or flattened images — the Keras tutorials' first
models — open as image classifiers and answer exactly as they do on reshaped images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.core import open_model
from app.core.errors import ModelError
from app.core.explain import GradCAM
from app.core.models.image_input import read_image_input
from app.core.models.loading import LOGITS_MODEL_OUTPUT, LOGITS_STRIPPED_SOFTMAX


@pytest.mark.parametrize(("batch_shape", "shape", "says"), [
    ((None, 32, 32, 3), (32, 32, 3), None),
    ((None, None, None, 1), (None, None, 1), None),
    ((None, 28, 28), (28, 28, 1), "no channel axis"),
    ((None, 784), (28, 28, 1), "28x28 grayscale, flattened"),
    ((None, 3072), (32, 32, 3), "32x32 colour, flattened"),
    ((None, 64), (8, 8, 1), "8x8 grayscale"),
])
def test_image_shapes_are_read(batch_shape: tuple, shape: tuple, says: str | None) -> None:
    found = read_image_input(batch_shape)
    assert found is not None and found.shape == shape
    assert found.needs_reshape == (says is not None)
    assert (found.note is None) if says is None else (says in found.note)


@pytest.mark.parametrize("batch_shape", [
    (None, 32, 32, 4), (None, 3, 32, 32, 1), (None, 10), (None, 700), (None, None),
    (None, None, 28), (None, 48),  # 48 = 3 x 16: colour 4x4, too small to be a picture
])
def test_other_inputs_are_not_images(batch_shape: tuple) -> None:
    assert read_image_input(batch_shape) is None


def _digits_28(keras):  # noqa: ANN001, ANN202
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = np.pad(np.kron(digits.images, np.ones((3, 3))), ((0, 0), (2, 2), (2, 2))) / 16.0
    return x.astype(np.float32), digits.target


def _cnn(keras, channel_axis: bool):  # noqa: ANN001, ANN202
    """A branching CNN on (28, 28) images, or the same network on (28, 28, 1)."""
    L = keras.layers
    inp = keras.Input((28, 28, 1) if channel_axis else (28, 28))
    h = inp if channel_axis else L.Reshape((28, 28, 1))(inp)
    h = L.MaxPooling2D()(L.Conv2D(6, 3, activation="relu", name="conv")(h))
    h = L.Conv2D(8, 3, activation="relu", name="last_conv")(h)
    h = L.Concatenate()([L.GlobalAveragePooling2D()(h), L.GlobalMaxPooling2D()(h)])
    return keras.Model(inp, L.Dense(10, activation="softmax")(h))


def _tutorial_models(keras) -> dict:  # noqa: ANN001
    """Keras 3 models as tutorials write them, trained a little so their answers differ."""
    keras.utils.set_random_seed(5)
    L = keras.layers
    quickstart = keras.Sequential([keras.Input((28, 28)), L.Flatten(), L.Dense(32, activation="relu"),
                                   L.Dropout(0.2), L.Dense(10)])
    flat = keras.Sequential([keras.Input((784,)), L.Dense(16, activation="relu"),
                             L.Dense(10, activation="softmax")])
    cnn = _cnn(keras, channel_axis=False)
    x, y = _digits_28(keras)
    for model, data in ((quickstart, x), (flat, x.reshape(-1, 784)), (cnn, x)):
        logits = model is quickstart
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=logits))
        model.fit(data[:600], y[:600], epochs=2, verbose=0)
    return {"quickstart": quickstart, "flat": flat, "cnn": cnn}


@pytest.fixture(scope="module")
def tutorial_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[object, Path]]:
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    folder = tmp_path_factory.mktemp("tutorial")
    out = {}
    for name, model in _tutorial_models(keras).items():
        model.save(folder / f"{name}.keras")
        out[name] = (model, folder / f"{name}.keras")
    return out


@pytest.mark.parametrize(("name", "source", "note"), [
    ("quickstart", LOGITS_MODEL_OUTPUT, "no channel axis"),
    ("flat", LOGITS_STRIPPED_SOFTMAX, "flattened row by row"),
    ("cnn", LOGITS_STRIPPED_SOFTMAX, "no channel axis"),
])
def test_tutorial_models_answer_as_on_reshaped_images(tutorial_models: dict, name: str,
                                                      source: str, note: str) -> None:
    model, path = tutorial_models[name]
    session = open_model(path)
    try:
        assert session.loaded.input_shape == (28, 28, 1)
        assert session.loaded.logits_source == source
        assert any(note in w for w in session.warnings)
        x = np.random.default_rng(1).uniform(0, 1, (6, 28, 28, 1)).astype(np.float32)
        own = np.asarray(model(x.reshape(6, *model.inputs[0].shape[1:]), training=False))
        out = session.infer(x)
        got = out.logits if source == LOGITS_MODEL_OUTPUT else out.probabilities
        np.testing.assert_allclose(got, own, atol=1e-5)
        assert out.features is not None  # what feeds the last Dense is still found
    finally:
        session.close()


def test_gradcam_behind_the_reshape_is_gradcam_of_the_same_network(tutorial_models: dict,
                                                                   tmp_path: Path) -> None:
    from app.core.tf_runtime import import_keras

    model, path = tutorial_models["cnn"]
    twin = _cnn(import_keras(), channel_axis=True)
    twin.set_weights(model.get_weights())
    twin.save(tmp_path / "twin.keras")
    x = _digits_28(None)[0][-4:, :, :, None]  # never trained on
    maps = []
    for p in (path, tmp_path / "twin.keras"):
        session = open_model(p)
        try:
            cam = GradCAM(session.loaded)
            assert cam.target.conv_name == "last_conv"
            maps.append(cam(x, list(session.infer(x).probabilities.argmax(axis=1))).maps)
        finally:
            session.close()
    assert maps[0].shape == (4, 28, 28) and maps[1].max() > 0
    np.testing.assert_allclose(maps[0], maps[1], atol=1e-6)


def test_a_tflite_without_a_channel_axis_runs_on_litert(tutorial_models: dict, tmp_path: Path) -> None:
    import tensorflow as tf

    model, _ = tutorial_models["cnn"]
    path = tmp_path / "cnn.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    session = open_model(path)
    try:
        assert session.loaded.input_shape == (28, 28, 1)
        assert any("no channel axis" in w for w in session.warnings)
        x = np.random.default_rng(2).uniform(0, 1, (5, 28, 28, 1)).astype(np.float32)
        own = np.asarray(model(x[..., 0], training=False))
        np.testing.assert_allclose(session.infer(x).probabilities, own, atol=1e-5)
    finally:
        session.close()


def test_a_keras2_quickstart_h5_opens(tmp_path: Path) -> None:
    tf_keras = pytest.importorskip("tf_keras")
    tf_keras.utils.set_random_seed(2)
    L = tf_keras.layers
    legacy = tf_keras.Sequential([L.Flatten(input_shape=(28, 28)), L.Dense(16, activation="relu"),
                                  L.Dropout(0.2), L.Dense(10)])
    path = tmp_path / "quickstart.h5"
    legacy.save(path, save_format="h5")
    session = open_model(path)
    try:
        assert session.loaded.input_shape == (28, 28, 1)
        x = np.random.default_rng(4).uniform(0, 1, (3, 28, 28, 1)).astype(np.float32)
        np.testing.assert_allclose(session.infer(x).logits, legacy(x[..., 0]).numpy(), atol=1e-5)
    finally:
        session.close()


def test_a_vector_that_is_no_image_is_refused_in_one_line(tmp_path: Path) -> None:
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    path = tmp_path / "table.keras"
    keras.Sequential([keras.Input((10,)), keras.layers.Dense(3, activation="softmax")]).save(path)
    with pytest.raises(ModelError, match=r"vector of 10 values, not a flattened square image"):
        open_model(path)
