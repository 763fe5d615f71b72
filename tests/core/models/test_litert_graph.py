"""A bare ``.tflite`` gives what a Keras model gives the "none of the classes" probe: its
logits before the softmax, its features, and its ReLU outputs, read from the rewritten file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from app.core import open_model
from app.core.cards.card_file import card_path_for
from app.core.models.litert_graph import expose_inner_tensors
from app.core.models.loading import LOGITS_STRIPPED_SOFTMAX
from tests.conftest import COLOURS, colour_image, write_png


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory, colour_model: Path) -> dict[str, Path]:
    """A CNN with two ReLU feature maps, a Flatten and a dense ReLU, as .keras, float .tflite
    and int8 .tflite (int8 inputs and outputs), each with the colour model's card."""
    from app.core.tf_runtime import import_keras, import_tensorflow

    keras, tf = import_keras(), import_tensorflow()
    keras.utils.set_random_seed(6)
    rng = np.random.default_rng(6)
    names = list(COLOURS)
    x = np.stack([colour_image(rng, COLOURS[names[i % 3]], (16, 16)) for i in range(150)])
    x = x.astype("float32") / 255.0
    L = keras.layers
    model = keras.Sequential([
        keras.Input((16, 16, 3)), L.Conv2D(8, 3, activation="relu"), L.MaxPooling2D(),
        L.Conv2D(8, 3, activation="relu"), L.Flatten(), L.Dense(16, activation="relu"),
        L.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(x, np.arange(150) % 3, epochs=4, batch_size=30, verbose=0)
    root = tmp_path_factory.mktemp("converted")
    paths = {"keras": root / "cnn.keras", "float": root / "cnn.tflite", "int8": root / "cnn8.tflite"}
    model.save(paths["keras"])
    paths["float"].write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[i : i + 1]] for i in range(0, 150, 10))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    paths["int8"].write_bytes(converter.convert())
    for p in paths.values():
        shutil.copy(card_path_for(colour_model), card_path_for(p))
    return paths


def test_the_rewritten_file_names_what_it_exposes(converted: dict[str, Path]) -> None:
    inner = expose_inner_tensors(converted["float"].read_bytes())
    assert inner is not None
    assert inner.names[:3] == ["probabilities", "logits", "features"]
    assert len(inner.relus) == 2  # the two maps; the dense ReLU is the features themselves
    assert expose_inner_tensors(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 40) is None


@pytest.mark.parametrize("kind, tolerance", [("float", 1e-4), ("int8", 0.3)])
def test_a_tflite_gives_the_keras_models_logits_features_and_statistics(
        converted: dict[str, Path], kind: str, tolerance: float) -> None:
    """Slot for slot the same statistics vector as the Keras graph's (the int8 file within
    its quantisation, on images like those it was calibrated on), and real logits: they were
    log(probabilities)."""
    rng = np.random.default_rng(2)
    x = np.stack([colour_image(rng, rgb, (16, 16)) for rgb in COLOURS.values()] * 2)
    x = x.astype(np.float32) / 255.0
    keras_session, tflite_session = open_model(converted["keras"]), open_model(converted[kind])
    try:
        assert tflite_session.runtime_name == "litert"
        assert tflite_session.loaded.logits_source == LOGITS_STRIPPED_SOFTMAX
        assert tflite_session.loaded.has_features
        keras_layout = keras_session.enable_layer_statistics()
        tflite_layout = tflite_session.enable_layer_statistics()
        assert ([(s, w) for _, s, _, w in tflite_layout.slots]
                == [(s, w) for _, s, _, w in keras_layout.slots])
        ours, theirs = tflite_session.infer(x), keras_session.infer(x)
        assert ours.stats.shape == theirs.stats.shape == (6, keras_layout.width)
        np.testing.assert_allclose(ours.stats, theirs.stats, atol=tolerance)
        np.testing.assert_allclose(ours.logits, theirs.logits, atol=tolerance)
        np.testing.assert_allclose(ours.features, theirs.features, atol=tolerance)
    finally:
        keras_session.close()
        tflite_session.close()


def test_the_no_class_probe_is_fitted_and_kept_for_a_tflite(
        converted: dict[str, Path], colour_folder: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`ood --save` fitted a .tflite's check on the energy alone, with no reference: now the
    probe is fitted against the built-in reference and reopens with the file."""
    model = tmp_path / converted["float"].name
    shutil.copy(converted["float"], model)
    shutil.copy(card_path_for(converted["float"]), card_path_for(model))
    rng = np.random.default_rng(9)
    for name, rgb in COLOURS.items():
        for i in range(20):
            write_png(tmp_path / "val" / name / f"{i}.png", colour_image(rng, rgb, (20, 24)))
    assert main(["ood", "--model", str(model), "--data", str(tmp_path / "val"), "--score", "probe",
                 "--save", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["score"] == "probe" and report["reference"]["n"] > 0
    # Junk of each kind, judged by a probe fitted without that kind: almost all refused.
    held_out = [row["held_out_accepted"] for row in report["per_kind"]]
    assert len(held_out) >= 10 and np.mean(held_out) < 0.1
    session = open_model(model)
    try:
        assert session.ood.detector.score_name == "probe" and session.stats_layout is not None
        image = next(colour_folder.rglob("*.png"))
        (result,) = session.classify([str(image)])
        assert result.ood.checked and result.ood.in_distribution
    finally:
        session.close()


def test_diagnose_reads_a_tflites_relu_maps_as_the_keras_models_layers(
        converted: dict[str, Path], colour_folder: Path) -> None:
    """diagnose refused a .tflite ("needs the Keras model"); its layer table now comes from
    the ReLU maps LiteRT exposes and matches the Keras original's, layer for layer."""
    from app.core.diagnostics.run import diagnose_model

    reports = {}
    for kind in ("keras", "float"):
        session = open_model(converted[kind])
        try:
            reports[kind] = diagnose_model(session, colour_folder)
        finally:
            session.close()
    keras_rows, tflite_rows = reports["keras"].layers, reports["float"].layers
    assert len(tflite_rows) == len(keras_rows) == 3  # two maps and the dense ReLU (the features)
    for ours, theirs in zip(tflite_rows, keras_rows, strict=True):
        assert ours["units"] == theirs["units"] and ours["verdict"] == theirs["verdict"]
        assert ours["dead_fraction"] == theirs["dead_fraction"]
        assert abs(ours["zero_fraction"] - theirs["zero_fraction"]) < 1e-3
        assert ours["histogram"]["counts"] == pytest.approx(theirs["histogram"]["counts"], abs=3)
    assert reports["float"].n == reports["keras"].n == 36
    assert reports["float"].prediction_histogram == reports["keras"].prediction_histogram


def test_one_images_activations_come_from_the_tflite_as_from_keras(converted: dict[str, Path]) -> None:
    """The window's "for the current image" layer picker stayed empty for a .tflite."""
    from app.core.diagnostics import session_activation_layers, session_layer_activations

    x = np.random.default_rng(5).uniform(0, 1, (16, 16, 3)).astype(np.float32)
    keras_session, tflite_session = open_model(converted["keras"]), open_model(converted["float"])
    try:
        ours = session_activation_layers(tflite_session)
        theirs = [e for e in session_activation_layers(keras_session) if e.applicable]
        assert [e.units for e in ours] == [e.units for e in theirs] == [8, 8, 16]
        for mine, keras_layer in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(session_layer_activations(tflite_session, x, mine.name),
                                       session_layer_activations(keras_session, x, keras_layer.name),
                                       atol=1e-5)
    finally:
        keras_session.close()
        tflite_session.close()
