"""`.tflite` models in every subcommand: float and int8, with a card, and the runtime in `info`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from tests.conftest import COLOURS, colour_image


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _training_set(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    names = list(COLOURS)
    x = np.stack([colour_image(rng, COLOURS[names[i % 3]], (12, 12)) for i in range(n)])
    return x.astype(np.float32) / 255.0, np.array([i % 3 for i in range(n)])


@pytest.fixture(scope="module")
def user_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A user's own model (not probscope's fixture architecture) as .keras, .tflite and int8.

    Converted the way users do, with ``TFLiteConverter.from_keras_model``; the int8 one by
    post-training quantisation with a representative data set (int8 inputs and outputs).
    """
    from app.core.tf_runtime import import_keras, import_tensorflow

    tf, keras = import_tensorflow(), import_keras()
    keras.utils.set_random_seed(5)
    x, y = _training_set(240, 11)
    model = keras.Sequential([
        keras.Input((12, 12, 3)),
        keras.layers.Conv2D(6, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=12, batch_size=32, verbose=0)
    root = tmp_path_factory.mktemp("user_models")
    paths = {"keras": root / "user.keras", "tflite": root / "user.tflite",
             "int8": root / "user_int8.tflite"}
    model.save(paths["keras"])
    paths["tflite"].write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())

    def representative():
        for i in range(0, 96, 8):
            yield [x[i : i + 1]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    paths["int8"].write_bytes(converter.convert())
    card = {
        "format": "probscope.model-card", "version": 1, "classes": list(COLOURS),
        "preprocessing": {
            "color_mode": "rgb", "target_size": [12, 12], "interpolation": "area",
            "resize_backend": "opencv", "scale": 1 / 255, "offset": 0.0, "mean": None,
            "std": None, "per_image_standardization": False, "keras_applications_mode": None,
            "source": "test: OpenCV area, x/255",
        },
        "calibration": {"temperature": 1.0}, "ood": {"score": "msp", "threshold": 0.0},
    }
    for p in paths.values():
        p.with_name(p.name + ".probscope.json").write_text(json.dumps(card))
    return paths


def _accuracy(capsys, model: Path, folder: Path) -> float:
    code, out, err = _run(capsys, "classify", str(folder), "--model", str(model), "--json")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 36 and all(r["error"] is None for r in records)
    assert all(abs(sum(r["probabilities"]) - 1) < 1e-4 for r in records)
    return sum(Path(r["path"]).parent.name == r["label"] for r in records) / len(records)


def test_tflite_classifies_as_accurately_as_its_keras_original(capsys, user_models, colour_folder) -> None:
    keras_acc = _accuracy(capsys, user_models["keras"], colour_folder)
    assert keras_acc >= 0.9
    assert _accuracy(capsys, user_models["tflite"], colour_folder) == keras_acc


def test_int8_tflite_opens_classifies_and_calibrates(capsys, user_models, colour_folder) -> None:
    model = user_models["int8"]
    assert _accuracy(capsys, model, colour_folder) >= 0.9
    code, out, err = _run(capsys, "calibrate", "--data", str(colour_folder), "--model", str(model),
                          "--conformal", "none", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["temperature"] > 0 and report["after"]["accuracy"] >= 0.9
    code, out, err = _run(capsys, "info", "--model", str(model), "--json")
    info = json.loads(out)
    assert info["runtime"] == "litert" and info["format"] == "tflite"
    assert any("quantised" in w for w in info["warnings"])
    assert info["risky_layers"] == [] and any("not code" in n for n in info["notes"])


def test_info_names_the_runtime(capsys, user_models) -> None:
    code, out, _ = _run(capsys, "info", "--json")
    assert code == 0 and json.loads(out)["runtime"] == "litert"  # the bundled model's own file
    code, out, _ = _run(capsys, "info", "--model", str(user_models["keras"]), "--json")
    assert json.loads(out)["runtime"] == "tensorflow"  # not converted yet (conversion is off here)
    code, out, _ = _run(capsys, "info", "--model", str(user_models["tflite"]))
    assert code == 0 and "runtime:        litert" in out


def test_diagnose_runs_on_a_tflite(capsys, user_models, colour_folder) -> None:
    code, out, err = _run(capsys, "diagnose", "--data", str(colour_folder), "--model",
                          str(user_models["int8"]), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert not report["collapsed"] and report["n"] == 36 and report["labelled"]
    assert [row["units"] for row in report["layers"]] == [6]  # its one Conv2D(6, relu)


def test_a_tflite_that_is_not_one_is_a_one_line_error(capsys, tmp_path: Path) -> None:
    fake = tmp_path / "phone.tflite"
    fake.write_bytes(b"PK\x03\x04 this is a zip, not a flatbuffer" * 4)
    code, out, err = _run(capsys, "info", "--model", str(fake))
    assert code == 1 and "not a TensorFlow Lite model" in err
    assert len(err.strip().splitlines()) == 1
    # Right identifier, broken body: LiteRT itself refuses it, still in one line.
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 40)
    code, out, err = _run(capsys, "info", "--model", str(broken))
    assert code == 1 and "broken.tflite" in err and "Traceback" not in err


def test_card_init_writes_a_card_for_a_bare_tflite(capsys, user_models, tmp_path) -> None:
    bare = tmp_path / "bare.tflite"
    bare.write_bytes(user_models["tflite"].read_bytes())
    code, out, err = _run(capsys, "card", "init", str(bare), "--like", "arrays", "--rescale",
                          "1/255", "--classes", ",".join(COLOURS))
    assert code == 0, err
    card = json.loads(bare.with_name("bare.tflite.probscope.json").read_text())
    assert card["classes"] == list(COLOURS) and card["preprocessing"]["target_size"] == [12, 12]
    # A card that contradicts the .tflite is refused as for a Keras file.
    code, _, err = _run(capsys, "card", "init", str(bare), "--like", "arrays", "--classes", "a,b")
    assert code == 1 and "2 classes but the model outputs 3" in err


def test_explain_on_a_tflite_points_to_occlusion(capsys, user_models, colour_folder, tmp_path) -> None:
    image = str(next(colour_folder.rglob("*.png")))
    code, _, err = _run(capsys, "explain", image, "--model", str(user_models["tflite"]),
                        "--out", str(tmp_path / "maps"))
    assert code == 1 and "--method occlusion" in err and "Traceback" not in err
    code, _, err = _run(capsys, "explain", image, "--model", str(user_models["tflite"]),
                        "--method", "occlusion", "--out", str(tmp_path / "maps"))
    assert code == 0, err
    assert list((tmp_path / "maps").glob("*.occlusion.png"))
