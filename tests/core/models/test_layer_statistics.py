"""The probe's statistics vector, and the digit prior's folded pass, against direct computations."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.models.loading import load_model
from app.core.models.predictor import Predictor
from app.core.models.statistics.layer_statistics import build_stats_heads
from app.core.models.statistics.shape_statistics import pool_matrix
from app.core.ood.prior.folded_forward import folded_forward
from app.core.resources import bundled_model_path
from app.core.tf_runtime import import_keras, import_tensorflow, on_tf_thread


def _randomise_batch_norms(model, rng: np.random.Generator) -> None:
    keras = import_keras()
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 2, c), rng.normal(0, 0.5, c),
                               rng.normal(0, 0.3, c), rng.uniform(0.2, 3, c)])


def _model(tmp_path, rng):
    keras = import_keras()
    keras.utils.set_random_seed(3)
    L = keras.layers
    inputs = keras.Input((12, 10, 3))
    x = L.ReLU(name="a1")(L.BatchNormalization()(L.Conv2D(5, 3, padding="same", use_bias=False)(inputs)))
    x = L.MaxPooling2D()(x)
    x = L.Conv2D(7, 3, strides=2, padding="valid", activation="relu", name="a2")(x)
    x = L.Flatten()(x)
    x = L.Dense(9, activation="relu", name="a3")(x)
    x = L.Dense(6, activation="relu", name="features")(x)
    x = L.Dropout(0.3)(x)
    model = keras.Model(inputs, L.Dense(4, activation="softmax")(x))
    _randomise_batch_norms(model, rng)
    path = tmp_path / "chain.keras"
    model.save(path)
    return path


def test_the_statistics_vector_is_what_a_direct_computation_gives(tmp_path):
    rng = np.random.default_rng(0)
    loaded = load_model(_model(tmp_path, rng))
    x = rng.uniform(0, 1, (5, 12, 10, 3)).astype(np.float32)
    heads, layout = build_stats_heads(loaded, spatial_layers=2, grid=3)
    stats = on_tf_thread(Predictor, loaded, 8, heads)(x).stats
    assert stats.shape == (5, layout.width)

    keras = import_keras()
    model = loaded.model
    names = ["a1", "a2", "a3", "features"]
    outs = on_tf_thread(lambda: [np.asarray(t) for t in keras.Model(
        model.inputs, [model.get_layer(n).output for n in names] + [model.output])([x])])
    acts = dict(zip(names, outs[:-1], strict=True))
    probs = outs[-1]
    expected = {("a1", "mean"): acts["a1"].mean((1, 2)), ("a1", "std"): acts["a1"].std((1, 2)),
                ("a2", "mean"): acts["a2"].mean((1, 2)), ("a2", "std"): acts["a2"].std((1, 2)),
                ("a3", "mean"): acts["a3"], ("features", "features"): acts["features"]}
    for name in ("a1", "a2"):
        a = acts[name]
        pool = np.kron(pool_matrix(a.shape[1], 3), pool_matrix(a.shape[2], 3))
        expected[(f"{name}@3x3", "mean")] = np.einsum(
            "gp,npc->ngc", pool, a.reshape(5, -1, a.shape[3])).reshape(5, -1)
    logits = np.log(probs)
    logits -= logits.mean(1, keepdims=True)  # any shift: the statistics below are shift-aware
    lse = np.log(np.exp(logits).sum(1))
    expected[("logits", "msp")] = probs.max(1)
    seen = set()
    for layer, stat, start, width in layout.slots:
        got = stats[:, start:start + width]
        seen.add((layer, stat))
        if (layer, stat) == ("logits", "energy"):
            # Energy minus max logit does not depend on the logits' offset.
            top = stats[:, [s for n, st, s, _ in layout.slots if st == "max_logit"][0]]
            np.testing.assert_allclose(got[:, 0] - top, lse - logits.max(1), atol=1e-4)
        elif (layer, stat) in expected:
            np.testing.assert_allclose(got, np.reshape(expected[layer, stat], got.shape),
                                       rtol=1e-4, atol=1e-5, err_msg=f"{layer} {stat}")
    assert set(expected) <= seen


def _assert_folded_pass_gives_the_logits(loaded, x: np.ndarray) -> None:
    def both():
        tf = import_tensorflow()
        forward = folded_forward(loaded.model, import_keras())
        assert forward is not None
        t = tf.constant(x)
        return np.asarray(forward(tf, t)), np.asarray(loaded.heads(t)[0])

    folded, keras_logits = on_tf_thread(both)
    # Logits up to a per-image shift (the loaded heads may be log-probabilities).
    folded = folded - folded.mean(1, keepdims=True)
    keras_logits = keras_logits - keras_logits.mean(1, keepdims=True)
    np.testing.assert_allclose(folded, keras_logits, atol=1e-4)


def test_the_folded_pass_gives_the_models_logits(tmp_path):
    rng = np.random.default_rng(1)
    loaded = load_model(_model(tmp_path, rng))
    _assert_folded_pass_gives_the_logits(loaded, rng.uniform(0, 1, (6, 12, 10, 3)).astype(
        np.float32))


def test_towers_joined_by_a_concatenation_are_folded_each_on_its_own(tmp_path):
    """The bundled model's shape: chains side by side, concatenated into one softmax Dense."""
    keras = import_keras()
    keras.utils.set_random_seed(4)
    L = keras.layers
    inputs = keras.Input((12, 10, 3))
    towers = []
    for k, width in enumerate((5, 3)):
        x = L.ReLU()(L.BatchNormalization()(L.Conv2D(width, 3, padding="same", use_bias=False)(
            inputs)))
        x = L.MaxPooling2D()(x)
        if k == 0:  # the bundled towers pool only the middle of their last map
            x = L.Cropping2D(((1, 1), (2, 1)))(x)
        towers.append(L.Dense(4 + k, activation="relu")(L.GlobalAveragePooling2D()(x)))
    model = keras.Model(inputs, L.Dense(3, activation="softmax")(L.Concatenate()(towers)))
    rng = np.random.default_rng(5)
    _randomise_batch_norms(model, rng)
    model.save(tmp_path / "towers.keras")
    _assert_folded_pass_gives_the_logits(load_model(tmp_path / "towers.keras"), rng.uniform(
        0, 1, (5, 12, 10, 3)).astype(np.float32))


def test_the_bundled_model_is_folded():
    loaded = load_model(bundled_model_path())
    _assert_folded_pass_gives_the_logits(loaded, np.random.default_rng(6).uniform(
        0, 1, (4, *loaded.input_shape)).astype(np.float32))


@pytest.mark.parametrize("odd", ["residual", "leaky", "concatenated_mid_way"])
def test_anything_but_a_plain_chain_is_left_to_keras(odd):
    keras = import_keras()
    L = keras.layers
    inputs = keras.Input((8, 8, 3))
    x = L.Conv2D(3, 3, padding="same")(inputs)
    if odd == "residual":
        x = L.Add()([x, inputs])
    elif odd == "leaky":
        x = L.LeakyReLU()(x)
    else:  # a concatenation that is not the input of the last Dense
        x = L.Conv2D(2, 1)(L.Concatenate()([x, inputs]))
    model = keras.Model(inputs, L.Dense(2, activation="softmax")(L.GlobalAveragePooling2D()(x)))
    assert on_tf_thread(folded_forward, model, keras) is None


@pytest.mark.parametrize("ending", ["sigmoid", "logits_hidden"])
def test_the_probe_heads_answer_as_the_plain_heads(tmp_path, ending):
    """The probe's pass replaces the plain one once a probe is fitted: a binary sigmoid model
    read through it gave one column, [1.0], so every image was the first class at 100 %."""
    keras = import_keras()
    keras.utils.set_random_seed(4)
    L = keras.layers
    layers = [keras.Input((8, 8, 3)), L.Conv2D(4, 3, activation="relu"), L.Flatten(),
              L.Dense(5, activation="relu")]
    layers += ([L.Dense(1, activation="sigmoid")] if ending == "sigmoid"
               else [L.Dense(3), L.Dropout(0.2)])
    path = tmp_path / f"{ending}.keras"
    keras.Sequential(layers).save(path)
    loaded = load_model(path)
    x = np.random.default_rng(2).uniform(0, 1, (6, 8, 8, 3)).astype(np.float32)
    plain = on_tf_thread(Predictor, loaded, 8)(x)
    heads, _ = build_stats_heads(loaded)
    probed = on_tf_thread(Predictor, loaded, 8, heads)(x)
    assert probed.probabilities.shape == plain.probabilities.shape == (6, 2 if ending == "sigmoid" else 3)
    np.testing.assert_allclose(probed.logits, plain.logits, atol=1e-5)
    np.testing.assert_allclose(probed.probabilities, plain.probabilities, atol=1e-6)


def test_the_probe_heads_of_a_savedmodel_without_a_channel_axis(tmp_path):
    """Its TFSMLayer is called on a Reshape: what fed it first lies outside the graph, and the
    probe said "Output with path '1' is not connected to 'inputs'" and was dropped."""
    keras = import_keras()
    keras.utils.set_random_seed(5)
    L = keras.layers
    model = keras.Sequential([keras.Input((10, 10)), L.Flatten(), L.Dense(6, activation="relu"),
                              L.Dense(3)])
    model.export(tmp_path / "sm", verbose=False)
    loaded = load_model(tmp_path / "sm", trust=True)
    x = np.random.default_rng(3).uniform(0, 1, (4, 10, 10, 1)).astype(np.float32)
    heads, layout = build_stats_heads(loaded)
    probed = on_tf_thread(Predictor, loaded, 8, heads)(x)
    np.testing.assert_allclose(probed.logits, np.asarray(model(x[..., 0])), atol=1e-5)
    # Its Dense(relu) is inside the graph: hidden, not absent.
    assert "no ReLU-family layers that can be examined: the probe uses logits only" in layout.notes
