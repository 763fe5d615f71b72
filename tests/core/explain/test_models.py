"""Grad-CAM on the model formats probscope opens, and what happens when it cannot run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.core import open_model
from app.core.cards.card_file import card_path_for
from app.core.explain import Explainer, GradCAM, GradCAMUnavailable, find_target_layer

tf_keras = pytest.importorskip("tf_keras")


def _card(classes: list[str], size: int) -> dict:
    return {"format": "probscope.model-card", "version": 1, "classes": classes,
            "preprocessing": {"color_mode": "rgb", "target_size": [size, size],
                              "interpolation": "bilinear", "resize_backend": "opencv",
                              "scale": 1 / 255, "offset": 0.0, "mean": None, "std": None,
                              "per_image_standardization": False,
                              "keras_applications_mode": None, "source": "test"},
            "calibration": {"temperature": 1.0}, "ood": {"score": "msp", "threshold": 0.0}}


@pytest.fixture(scope="module")
def keras2_h5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tf.keras (Keras 2) Conv/BatchNorm/Activation model ending in Activation("softmax")."""
    tf_keras.utils.set_random_seed(1)
    L = tf_keras.layers
    model = tf_keras.Sequential([
        L.Conv2D(6, 3, padding="same", input_shape=(16, 16, 3)), L.BatchNormalization(),
        L.Activation("relu"), L.MaxPooling2D(), L.Conv2D(8, 3, padding="same"),
        L.Activation("relu"), L.GlobalAveragePooling2D(), L.Dense(3), L.Activation("softmax"),
    ])
    rng = np.random.default_rng(0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(rng.uniform(0, 1, (64, 16, 16, 3)), rng.integers(0, 3, 64), epochs=1, verbose=0)
    path = tmp_path_factory.mktemp("k2") / "legacy.h5"
    model.save(path, save_format="h5")
    card_path_for(path).write_text(json.dumps(_card(["a", "b", "c"], 16)))
    return path


def _reference_gradcam(path: Path, x: np.ndarray, cls: int) -> np.ndarray:
    """Grad-CAM written directly against tf.keras, as its users do (Keras' own example)."""
    import tensorflow as tf

    legacy = tf_keras.models.load_model(path)
    conv = legacy.layers[5]  # the ReLU after the last convolution
    probe = tf_keras.Model(legacy.inputs, [conv.output, legacy.layers[-2].output])  # logits
    with tf.GradientTape() as tape:
        maps, logits = probe(x, training=False)
        score = logits[:, cls]
    grads = tape.gradient(score, maps)
    cam = tf.nn.relu(tf.reduce_sum(tf.reduce_mean(grads, axis=(1, 2), keepdims=True) * maps, -1))
    return tf.image.resize(cam[..., None], (16, 16))[..., 0].numpy()


def test_keras2_h5_gradcam_matches_a_tf_keras_reference(keras2_h5: Path) -> None:
    session = open_model(keras2_h5)
    try:
        cam = GradCAM(session.loaded)
        assert cam.target.name == "activation_1" and cam.target.conv_name == "conv2d_1"
        x = np.random.default_rng(3).uniform(0, 1, (4, 16, 16, 3)).astype(np.float32)
        for cls in range(3):
            got = cam(x, [cls] * 4)
            expected = _reference_gradcam(keras2_h5, x, cls)
            assert expected.max() > 0
            np.testing.assert_allclose(got.maps, expected, rtol=1e-4, atol=1e-5 * expected.max())
            assert (got.classes == cls).all()
    finally:
        session.close()


def test_model_without_convolutions(tmp_path: Path) -> None:
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(2, activation="softmax")])
    path = tmp_path / "dense.keras"
    model.save(path)
    card_path_for(path).write_text(json.dumps(_card(["x", "y"], 8)))
    session = open_model(path)
    try:
        with pytest.raises(GradCAMUnavailable, match="no convolutional layer.*occlusion"):
            find_target_layer(session.loaded.model)
        explainer = Explainer(session)
        image = np.random.default_rng(0).integers(0, 255, (5, 7, 3), dtype=np.uint8)
        with pytest.raises(GradCAMUnavailable):
            explainer.explain([image], method="gradcam")
        (e,) = explainer.explain([image], method="occlusion")  # still works: no gradients
        assert e.ok and e.image_map.shape == (5, 7) and 0 <= e.peak[0] < 5 and 0 <= e.peak[1] < 7
    finally:
        session.close()


def test_cells_a_cropping_drops_carry_no_evidence(tmp_path: Path) -> None:
    """The bundled towers pool only the middle of their last map: its rim cannot move the
    score, so Grad-CAM must not light it up however strongly it fires."""
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    L = keras.layers
    inputs = keras.Input((16, 16, 3))
    # Positive weights on positive pixels: every cell of the map fires, the rim too.
    maps = L.Conv2D(4, 3, padding="same", kernel_initializer="ones",
                    bias_initializer="ones", activation="relu")(L.MaxPooling2D(4)(inputs))
    pooled = L.GlobalAveragePooling2D()(L.Cropping2D(1)(maps))
    head = L.Dense(2, activation="softmax", kernel_initializer="ones")
    model = keras.Model(inputs, head(pooled))
    kernel, bias = head.get_weights()
    head.set_weights([kernel * np.array([1.0, -1.0], np.float32), bias])  # "y": all against
    path = tmp_path / "middle.keras"
    model.save(path)
    card_path_for(path).write_text(json.dumps(_card(["x", "y"], 16)))
    session = open_model(path)
    try:
        cam = GradCAM(session.loaded)
        assert cam.target.spatial_size == (4, 4) and cam.target.cropped == ((1, 1), (1, 1))
        x = np.random.default_rng(2).uniform(0.2, 1, (2, 16, 16, 3)).astype(np.float32)
        got = cam(x, [0, 0]).maps
        assert got[:, 6:10, 6:10].min() > 0  # the middle speaks for the class
        assert got[:, 0, 0].max() == 0 and got[:, -1, -1].max() == 0  # the rim does not
        # Every pixel speaks against "y": a map of zeros, and no peak to point at.
        image = (x[0] * 255).astype(np.uint8)
        (for_y,) = Explainer(session).explain([image], method="gradcam", class_name="y")
        assert for_y.ok and for_y.peak is None and not for_y.image_map.any()
        (for_x,) = Explainer(session).explain([image], method="gradcam", class_name="x")
        assert for_x.peak is not None
    finally:
        session.close()
