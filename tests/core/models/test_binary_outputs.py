"""Binary classifiers whose one output column is all a file shows: a SavedModel from
``model.export()`` and a ``.tflite``. They read as two classes, like the ``.keras`` original
(a one-unit sigmoid Dense), not as one class answered at 100 % for every image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.core import open_model
from app.core.models.loading import LOGITS_SIGMOID
from app.core.numeric import two_class_logits


@pytest.fixture(scope="module")
def binary_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[object, Path]]:
    """A sigmoid model and a logit model (``from_logits=True`` training), each as a
    SavedModel and a .tflite; the logit model's bias keeps its answers out of [0, 1]."""
    from app.core.tf_runtime import import_keras, import_tensorflow

    keras, tf = import_keras(), import_tensorflow()
    keras.utils.set_random_seed(8)
    folder = tmp_path_factory.mktemp("binary")
    out = {}
    for ending in ("sigmoid", "logit"):
        L = keras.layers
        model = keras.Sequential([
            keras.Input((8, 8, 3)), L.Conv2D(4, 3, activation="relu"), L.Flatten(),
            L.Dense(1, activation="sigmoid" if ending == "sigmoid" else None,
                    bias_initializer=keras.initializers.Constant(0.0 if ending == "sigmoid" else -4.0)),
        ])
        model.export(folder / f"{ending}_sm", verbose=False)
        tflite = folder / f"{ending}.tflite"
        tflite.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
        out[f"{ending}_sm"] = (model, folder / f"{ending}_sm")
        out[f"{ending}_tflite"] = (model, tflite)
    return out


@pytest.mark.parametrize("name", ["sigmoid_sm", "sigmoid_tflite", "logit_sm", "logit_tflite"])
def test_one_output_column_reads_as_two_classes(binary_models: dict, name: str) -> None:
    model, path = binary_models[name]
    session = open_model(path, trust=True)
    try:
        assert session.loaded.n_classes == 2
        assert session.loaded.logits_source == LOGITS_SIGMOID
        kind = "sigmoid probability" if name.startswith("sigmoid") else "logit"
        assert any(f"binary classifier, its {kind}" in w for w in session.warnings)
        x = np.random.default_rng(3).uniform(0, 1, (7, 8, 8, 3)).astype(np.float32)
        own = np.asarray(model(x, training=False), dtype=np.float64)
        p = own[:, 0] if name.startswith("sigmoid") else 1 / (1 + np.exp(-own[:, 0]))
        out = session.infer(x)
        np.testing.assert_allclose(out.probabilities[:, 1], p, atol=1e-5)
        np.testing.assert_allclose(out.probabilities.sum(axis=1), 1.0, atol=1e-6)
    finally:
        session.close()


def test_two_class_logits_give_the_sigmoid_back() -> None:
    z = np.array([[-30.0], [-2.0], [0.0], [3.5], [30.0]])
    p = 1 / (1 + np.exp(-z))
    for column, probabilities in ((z, False), (p, True)):
        logits = two_class_logits(column, probabilities)
        assert logits.shape == (5, 2) and np.isfinite(logits).all()
        soft = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        np.testing.assert_allclose(soft[:, 1], p[:, 0], atol=1e-6)


def test_a_binary_tflite_gives_its_features_and_relu_maps(binary_models: dict) -> None:
    """Its sigmoid hid the dense layer before it: no features, no ReLU maps, a logits-only
    probe that accepted 84 % of the reference and an empty diagnose table."""
    from app.core.diagnostics import session_activation_layers

    _, path = binary_models["sigmoid_tflite"]
    session = open_model(path)
    try:
        assert session.loaded.has_features
        assert [e.units for e in session_activation_layers(session)] == [4]  # its Conv2D(4, relu)
        layout = session.enable_layer_statistics()
        assert {stat for _, stat, _, _ in layout.slots} >= {"mean", "std", "features"}
    finally:
        session.close()
