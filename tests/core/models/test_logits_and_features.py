"""Logits are found by stripping the softmax, sharing weights; features are the Dense input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.core import open_model
from app.core.models.loading import (
    LOGITS_FROM_PROBABILITIES,
    LOGITS_MODEL_OUTPUT,
    LOGITS_STRIPPED_SOFTMAX,
)
from app.core.numeric import softmax


def _build(kind: str):
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(3)
    layers = [keras.Input((10, 10, 1)), keras.layers.Flatten(), keras.layers.Dense(6, activation="relu")]
    if kind == "dense_softmax":
        layers.append(keras.layers.Dense(4, activation="softmax"))
    elif kind == "activation_softmax":
        layers += [keras.layers.Dense(4), keras.layers.Activation("softmax")]
    elif kind == "softmax_layer":
        layers += [keras.layers.Dense(4), keras.layers.Softmax()]
    elif kind == "logits":
        layers.append(keras.layers.Dense(4))
    elif kind == "no_dense_end":
        layers += [keras.layers.Dense(4, activation="softmax"), keras.layers.Dropout(0.1)]
    elif kind == "logits_hidden":  # a linear ending no layer type says: asked, not read
        layers += [keras.layers.Dense(4), keras.layers.Dropout(0.1)]
    return keras.Sequential(layers)


@pytest.mark.parametrize(
    ("kind", "source"),
    [("dense_softmax", LOGITS_STRIPPED_SOFTMAX), ("activation_softmax", LOGITS_STRIPPED_SOFTMAX),
     ("softmax_layer", LOGITS_STRIPPED_SOFTMAX), ("logits", LOGITS_MODEL_OUTPUT),
     ("no_dense_end", LOGITS_FROM_PROBABILITIES), ("logits_hidden", LOGITS_MODEL_OUTPUT)],
)
def test_logits_reproduce_the_model(tmp_path: Path, kind: str, source: str) -> None:
    model = _build(kind)
    path = tmp_path / f"{kind}.keras"
    model.save(path)
    session = open_model(path)
    assert session.loaded.logits_source == source
    x = np.random.default_rng(0).uniform(0, 1, (5, 10, 10, 1)).astype(np.float32)
    out = session.infer(x)
    expected = np.asarray(model(x, training=False))
    if source == LOGITS_MODEL_OUTPUT:
        np.testing.assert_allclose(out.logits, expected, atol=1e-5)
    else:
        np.testing.assert_allclose(out.probabilities, expected, atol=1e-6)
    np.testing.assert_allclose(softmax(out.logits), out.probabilities, atol=1e-5)
    if kind == "logits_hidden":
        assert not any("log(probabilities)" in w for w in session.warnings)
    elif source != LOGITS_FROM_PROBABILITIES:
        assert out.features is not None and out.features.shape == (5, 6)
        assert (out.features >= 0).all()  # the ReLU Dense output feeds the classifier
    else:
        assert any("log(probabilities)" in w for w in session.warnings)


def test_a_savedmodel_that_outputs_logits_is_read_as_logits(tmp_path: Path) -> None:
    """model.export() hides the ending in a TFSMLayer: its scores are tested, not assumed to
    be probabilities (a user's logits came out as 'probabilities' summing to -3.8)."""
    model = _build("logits")
    model.export(tmp_path / "exported", verbose=False)
    session = open_model(tmp_path / "exported", trust=True)
    try:
        assert session.loaded.logits_source == LOGITS_MODEL_OUTPUT
        x = np.random.default_rng(1).uniform(0, 1, (5, 10, 10, 1)).astype(np.float32)
        out = session.infer(x)
        np.testing.assert_allclose(out.logits, np.asarray(model(x, training=False)), atol=1e-5)
        np.testing.assert_allclose(out.probabilities.sum(axis=1), 1.0, atol=1e-5)
    finally:
        session.close()


def test_batches_larger_than_batch_size_match_single_calls(colour_model: Path) -> None:
    session = open_model(colour_model)
    session.predictor.batch_size = 4
    x = np.random.default_rng(1).uniform(0, 1, (11, 16, 16, 3)).astype(np.float32)
    whole = session.infer(x)
    ones = [session.infer(x[i : i + 1]).probabilities[0] for i in range(11)]
    np.testing.assert_allclose(whole.probabilities, np.stack(ones), atol=1e-6)
