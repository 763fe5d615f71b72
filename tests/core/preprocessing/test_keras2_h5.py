"""A Keras 2 (tf.keras) .h5 trained with ImageDataGenerator classifies at its true accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.core import open_model
from app.core.cards.card_file import card_path_for
from tests.conftest import COLOURS, colour_image, write_png

tf_keras = pytest.importorskip("tf_keras")


@pytest.fixture(scope="module")
def keras2_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("keras2")
    rng = np.random.default_rng(7)
    for split, n in (("train", 20), ("val", 8)):
        for name, rgb in COLOURS.items():
            for i in range(n):
                size = (int(rng.integers(20, 60)), int(rng.integers(20, 60)))
                write_png(root / split / name / f"{i}.png", colour_image(rng, rgb, size))
    tf_keras.utils.set_random_seed(0)
    L = tf_keras.layers
    model = tf_keras.Sequential([
        L.Conv2D(8, 3, input_shape=(32, 32, 3)), L.BatchNormalization(), L.Activation("relu"),
        L.MaxPooling2D(), L.Flatten(), L.Dense(16), L.Activation("relu"), L.Dense(3),
        L.Activation("softmax"),
    ])
    model.compile(optimizer=tf_keras.optimizers.Adam(0.01), loss="categorical_crossentropy")
    gen = tf_keras.preprocessing.image.ImageDataGenerator(rescale=1 / 255)
    flow = gen.flow_from_directory(root / "train", target_size=(32, 32), batch_size=16, seed=0)
    model.fit(flow, epochs=4, verbose=0)
    path = root / "legacy.h5"
    model.save(path, save_format="h5")
    classes = [c for c, _ in sorted(flow.class_indices.items(), key=lambda kv: kv[1])]
    card = {"format": "probscope.model-card", "version": 1, "classes": classes,
            "preprocessing": {"color_mode": "rgb", "target_size": [32, 32], "interpolation": "nearest",
                              "resize_backend": "pil", "scale": 1 / 255, "offset": 0.0, "mean": None,
                              "std": None, "per_image_standardization": False,
                              "keras_applications_mode": None, "source": "ImageDataGenerator"},
            "calibration": {"temperature": 1.0}, "ood": {"score": "msp", "threshold": 0.0}}
    card_path_for(path).write_text(json.dumps(card))
    return path, root / "val"


def test_keras2_h5_matches_its_own_pipeline(keras2_model: tuple[Path, Path]) -> None:
    path, val = keras2_model
    legacy = tf_keras.models.load_model(path)
    gen = tf_keras.preprocessing.image.ImageDataGenerator(rescale=1 / 255)
    flow = gen.flow_from_directory(val, target_size=(32, 32), batch_size=8, shuffle=False)
    expected = legacy.predict(flow, verbose=0)
    files = [val / f for f in flow.filenames]

    session = open_model(path)
    assert session.loaded.format == "h5" and session.loaded.logits_source == "stripped softmax"
    results = session.classify(files)
    got = np.stack([r.raw_probabilities for r in results])
    np.testing.assert_allclose(got, expected, atol=1e-4)
    truth = flow.classes
    assert np.mean([r.index for r in results] == truth) == np.mean(expected.argmax(1) == truth)


def test_loading_a_keras2_h5_prints_no_keras_advice(tmp_path, recwarn) -> None:
    L = tf_keras.layers
    model = tf_keras.Sequential([L.Conv2D(4, 3, activation="relu", input_shape=(12, 12, 3)),
                                 L.Flatten(), L.Dense(3, activation="softmax")])
    path = tmp_path / "k2.h5"
    model.save(path)
    recwarn.clear()
    from app.core.models import load_model

    load_model(path)
    assert not [w for w in recwarn if "input_shape" in str(w.message)]
