"""Diagnostics on real small Keras models: healthy, collapsed, VGG-style, mis-preprocessed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.core import open_model
from app.core.cards.card_file import card_path_for
from app.core.cards.recording import input_statistics
from app.core.diagnostics.activations import find_activation_layers, layer_activations
from app.core.diagnostics.run import diagnose_model
from app.core.diagnostics.whatif import what_if
from app.core.images.files import collect_image_files
from tests.conftest import COLOURS, colour_image


def _diagnose(path: Path, folder: Path):  # noqa: ANN202
    """``diagnose_model`` on the model file at ``path``, its session closed after."""
    session = open_model(path)
    try:
        return diagnose_model(session, folder)
    finally:
        session.close()


def _copy(model: Path, dst_dir: Path, card_changes: dict | None = None) -> Path:
    dst = dst_dir / model.name
    shutil.copy(model, dst)
    card = json.loads(card_path_for(model).read_text())
    for key, value in (card_changes or {}).items():
        if key == "preprocessing":
            card["preprocessing"].update(value)
        else:
            card[key] = value
    card_path_for(dst).write_text(json.dumps(card))
    return dst


def _trained_colour_cnn(path: Path, colour_model: Path, seed: int, rescaling: bool = False) -> Path:
    """A small CNN trained a few epochs at a moderate learning rate on easy colour images,
    saved with the colour model's card (same classes, x/255). With ``rescaling`` it scales
    the pixels itself (a Rescaling(1/255) layer) and is trained on raw 0-255 pixels."""
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    names = list(COLOURS)
    x = np.stack([colour_image(rng, COLOURS[names[i % 3]], (16, 16)) for i in range(240)])
    L = keras.layers
    model = keras.Sequential([
        keras.Input((16, 16, 3)),
        *([L.Rescaling(1 / 255, name="rescale")] if rescaling else []),
        L.Conv2D(16, 3, activation="relu", name="conv"),
        L.GlobalAveragePooling2D(),
        L.Dense(32, activation="relu", name="hidden"),
        L.Dense(3, activation="softmax", name="predictions"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    inputs = x.astype("float32") if rescaling else x.astype("float32") / 255.0
    model.fit(inputs, np.arange(240) % 3, epochs=6, batch_size=32, verbose=0)
    model.save(path)
    shutil.copy(card_path_for(colour_model), card_path_for(path))
    return path


@pytest.fixture(scope="module")
def healthy_model(tmp_path_factory: pytest.TempPathFactory, colour_model: Path) -> Path:
    return _trained_colour_cnn(tmp_path_factory.mktemp("healthy") / "healthy.keras", colour_model, 2)


def test_healthy_trained_cnn_is_not_collapsed(healthy_model: Path, colour_folder: Path) -> None:
    session = open_model(healthy_model)
    result = diagnose_model(session, colour_folder)
    assert not result.collapsed and not result.near_collapse
    assert result.n == 36 and result.labelled
    assert sorted(result.prediction_histogram.values()) == [12, 12, 12]
    assert [r["name"] for r in result.layers] == ["conv", "hidden"]
    assert all(r["dead_fraction"] < 0.5 and r["verdict"] != "dead" for r in result.layers)
    assert all(r["applicable"] and 0.0 < r["zero_fraction"] < 1.0 for r in result.layers)
    assert not any("dead" in w for w in result.warnings)
    assert result.input_mismatch["findings"] == [] and result.advice == []
    assert result.output_spread["mean_tv"] > 0.5
    session.close()


def test_dead_hidden_layer_collapses_the_model(colour_model: Path, colour_folder: Path, tmp_path: Path) -> None:
    session = open_model(_copy(colour_model, tmp_path))
    keras_model = session.loaded.model
    hidden = keras_model.get_layer("dense")
    hidden.bias.assign(np.full(hidden.bias.shape, -1e4, np.float32))  # no unit can fire
    result = diagnose_model(session, colour_folder)
    assert result.collapsed
    dense = next(r for r in result.layers if r["name"] == "dense")
    assert dense["dead_fraction"] == 1.0 and dense["zero_fraction"] == 1.0
    assert dense["verdict"] == "dead"
    assert any("collapsed" in w for w in result.warnings)
    assert any("'dense'" in w and "100%" in w for w in result.warnings)
    assert any("Dying ReLUs in dense" in a for a in result.advice)
    session.close()


def _vgg_style(path: Path, card_source: Path) -> Path:
    """Conv+ReLU blocks in a nested base model, some channels made dead on purpose."""
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(3)
    L = keras.layers
    base = keras.Sequential([
        keras.Input((16, 16, 3)),
        L.Conv2D(8, 3, padding="same", activation="relu", name="block1_conv1"),
        L.Conv2D(8, 3, padding="same", activation="relu", name="block1_conv2"),
        L.MaxPooling2D(name="block1_pool"),
        L.Conv2D(16, 3, padding="same", name="block2_conv1"),
        L.ReLU(name="block2_relu"),
        L.Conv2D(16, 3, padding="same", activation="relu6", name="block2_conv2"),
    ], name="base")
    model = keras.Sequential([
        keras.Input((16, 16, 3)),
        base,
        L.GlobalAveragePooling2D(),
        L.Dense(16, name="fc"),
        L.LeakyReLU(name="fc_leaky"),
        L.Dense(3, activation="softmax", name="predictions"),
    ])
    conv = base.get_layer("block1_conv2")
    bias = np.zeros(8, np.float32)
    bias[:3] = -1e3  # three of eight channels can never fire
    conv.bias.assign(bias)
    model.save(path)
    shutil.copy(card_path_for(card_source), card_path_for(path))
    return path


def test_vgg_style_report_matches_a_direct_computation(colour_model: Path, colour_folder: Path, tmp_path: Path) -> None:
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    session = open_model(_vgg_style(tmp_path / "vgg.keras", colour_model))
    result = diagnose_model(session, colour_folder)
    rows = {r["name"]: r for r in result.layers}
    assert list(rows) == ["base/block1_conv1", "base/block1_conv2", "base/block2_relu",
                          "base/block2_conv2", "fc_leaky"]
    assert rows["fc_leaky"]["applicable"] is False
    assert rows["fc_leaky"]["verdict"] == "not applicable: never exactly zero"
    assert rows["base/block2_conv2"]["activation"] == "relu6"
    assert rows["base/block1_conv2"]["dead_fraction"] == pytest.approx(3 / 8)

    files = collect_image_files([colour_folder])
    x = session.prepare(files).inputs
    base = session.loaded.model.get_layer("base")
    for name in ("block1_conv1", "block1_conv2", "block2_relu", "block2_conv2"):
        acts = keras.Model(base.inputs[0], base.get_layer(name).output)(x).numpy()
        dead = np.mean(np.all(acts == 0, axis=(0, 1, 2)))  # a channel: every position, input
        zeros = np.mean(np.mean(acts == 0, axis=(1, 2, 3)))
        row = rows[f"base/{name}"]
        assert row["dead_fraction"] == pytest.approx(dead, abs=1e-12), name
        assert row["zero_fraction"] == pytest.approx(zeros, abs=1e-6), name
        assert row["units"] == acts.shape[-1]
        assert sum(row["histogram"]["counts"]) == acts.size
        assert row["max"] == pytest.approx(float(acts.max()), rel=1e-6)
        # the layer picker's single-image view agrees with the probe
        one = layer_activations(session.loaded, x[0], f"base/{name}")
        np.testing.assert_allclose(one, acts[0], rtol=1e-5, atol=1e-6)
    names = [e.name for e in find_activation_layers(session.loaded.model)[0]]
    assert names == list(rows)
    session.close()


def test_raw_pixels_for_a_zero_to_one_model_trigger_the_mismatch_warning(
    colour_model: Path, colour_folder: Path, tmp_path: Path
) -> None:
    rng = np.random.default_rng(4)
    train = np.stack([colour_image(rng, rgb, (16, 16)) for rgb in COLOURS.values()] * 4) / 255.0
    stats = input_statistics([train.astype(np.float32)], "test: 0-1 training inputs")
    # scale 1.0 simulates the mistake: 0-255 pixels reach a model trained on 0-1
    path = _copy(colour_model, tmp_path, {"input_statistics": stats, "preprocessing": {"scale": 1.0}})
    session = open_model(path)
    result = diagnose_model(session, colour_folder)
    kinds = [f["kind"] for f in result.input_mismatch["findings"]]
    assert kinds == ["range_too_large"]
    assert result.input_mismatch["basis"] == "recorded statistics"
    warning = next(w for w in result.warnings if w.startswith("input:"))
    assert "too large" in warning and "not rescaled" in warning
    assert result.input_mismatch["observed"]["max"][0] > 200
    session.close()


def test_what_if_gives_three_predictions(colour_model: Path) -> None:
    session = open_model(colour_model)
    red = colour_image(np.random.default_rng(6), COLOURS["red"], (20, 20))
    preds = what_if(session, red)
    assert [p.key for p in preds] == ["as_recorded", "no_rescale", "bgr"]
    assert preds[0].label == "red" and preds[0].probability > 0.5
    assert preds[2].label == "blue"  # red reversed is blue
    for p in preds:
        assert p.probabilities.shape == (3,) and 0.0 <= p.probability <= 1.0
        assert json.dumps(p.to_json())
    session.close()


def test_every_layer_verdict_has_a_note(healthy_model: Path, colour_folder: Path) -> None:
    session = open_model(healthy_model)
    try:
        result = diagnose_model(session, colour_folder)
    finally:
        session.close()
    for row in result.layers:
        if row["applicable"]:
            assert any(f"layer '{row['name']}' is" in n for n in result.notes + result.warnings), row


def test_a_card_scaling_what_the_model_scales_is_blamed_not_the_model(
    colour_model: Path, colour_folder: Path, tmp_path: Path
) -> None:
    """x/255 in the card before the model's own Rescaling(1/255): every input is nearly 0, the
    answers collapse, and the advice must say "fix the card" first, never "retrain" alone."""
    # The card says x/255 too.
    path = _trained_colour_cnn(tmp_path / "rescaling.keras", colour_model, 3, rescaling=True)
    result = _diagnose(path, colour_folder)
    kinds = [f["kind"] for f in result.input_mismatch["findings"]]
    assert "preprocessed_twice" in kinds
    assert any(w.startswith("input:") and "scaled twice" in w for w in result.warnings)
    assert sum("scaled twice" in w for w in result.warnings) == 1  # said once, as an input finding
    assert result.collapsed or result.near_collapse, "inputs of 0-0.004 should flatten the answers"
    assert result.advice[0].startswith("Unnormalised or mis-scaled input")
    assert "diagnose again" in result.advice[0]


def test_a_collapse_with_batchnorm_names_its_moving_statistics(colour_model: Path,
                                                               colour_folder: Path,
                                                               tmp_path: Path) -> None:
    """Moving statistics far from what the layer sees (as after a few training steps) flatten
    every image; the advice names them, and partly dead layers no longer say "can work"."""
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    L = keras.layers
    model = keras.Sequential([
        keras.Input((16, 16, 3)), L.Conv2D(8, 3, name="conv"), L.BatchNormalization(name="bn"),
        L.ReLU(name="relu"), L.GlobalAveragePooling2D(), L.Dense(3, activation="softmax"),
    ])
    bn = model.get_layer("bn")
    gamma, beta, _, _ = bn.get_weights()
    bn.set_weights([gamma, beta, np.full(8, 50.0, np.float32), np.full(8, 1e-4, np.float32)])
    path = tmp_path / "bn.keras"
    model.save(path)
    shutil.copy(card_path_for(colour_model), card_path_for(path))
    result = _diagnose(path, colour_folder)
    assert result.collapsed
    assert any(a.startswith("BatchNormalization statistics not settled") for a in result.advice)
    assert not any("the model can work" in n for n in result.notes)


def test_a_collapse_without_batchnorm_does_not_blame_it(colour_model: Path, colour_folder: Path,
                                                         tmp_path: Path) -> None:
    path = _copy(colour_model, tmp_path)
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    model = keras.saving.load_model(path)
    dense = model.layers[-1]
    kernel, bias = dense.get_weights()
    dense.set_weights([np.zeros_like(kernel), bias])  # the answer no longer depends on the image
    model.save(path)
    result = _diagnose(path, colour_folder)
    assert result.collapsed
    assert not any(a.startswith("BatchNormalization statistics") for a in result.advice)


def test_a_card_with_its_classes_out_of_order_is_at_chance(
        healthy_model: Path, colour_folder: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A confident model that names every image wrongly (its card lists the classes in
    another order) varies and predicts every class, so no collapse was found and diagnose
    printed "outputs: ok"."""
    from app.cli import main

    card = json.loads(card_path_for(healthy_model).read_text())
    shifted = _copy(healthy_model, tmp_path, {"classes": card["classes"][1:] + card["classes"][:1]})
    assert main(["diagnose", "--model", str(shifted), "--data", str(colour_folder)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("outputs: at chance") and "warning: at chance: right on 0% of the 36" in out
    assert "try:     Class order or preprocessing" in out
    assert main(["diagnose", "--model", str(healthy_model), "--data", str(colour_folder)]) == 0
    assert capsys.readouterr().out.startswith("outputs: ok")


def test_a_card_that_forgot_the_rescale_is_an_input_finding(healthy_model: Path, colour_folder: Path,
                                                            tmp_path: Path) -> None:
    """Trained on x/255, fed raw pixels by a card with scale 1 and no training statistics:
    measured against the card's own range the inputs agreed, and diagnose said nothing."""
    raw = _copy(healthy_model, tmp_path, {"preprocessing": {"scale": 1.0}})
    result = _diagnose(raw, colour_folder)
    kinds = [f["kind"] for f in result.input_mismatch["findings"]]
    assert kinds == ["unscaled"]
    assert any(w.startswith("input: nothing scales the pixels") and "--rescale 1/255" in w
               for w in result.warnings)
