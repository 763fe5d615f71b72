"""`probscope diagnose` in-process: the JSON contract and the human table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from tests.conftest import COLOURS, colour_image, write_png


def test_diagnose_json_contract(capsys: pytest.CaptureFixture[str], colour_model: Path,
                                colour_folder: Path) -> None:
    code = main(["diagnose", "--model", str(colour_model), "--data", str(colour_folder), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    res = json.loads(out)
    assert isinstance(res["collapsed"], bool) and res["collapsed"] is False
    assert isinstance(res["warnings"], list) and all(isinstance(w, str) for w in res["warnings"])
    assert [layer["name"] for layer in res["layers"]] == ["conv2d", "dense"]
    for layer in res["layers"]:
        assert {"name", "class_name", "activation", "units", "dead_fraction", "zero_fraction",
                "applicable", "verdict"} <= set(layer)
        assert 0.0 <= layer["dead_fraction"] <= 1.0 and 0.0 <= layer["zero_fraction"] <= 1.0
    assert {"near_collapse", "prediction_histogram", "output_spread", "input_mismatch", "n"} <= set(res)
    assert res["n"] == 36 and sum(res["prediction_histogram"].values()) == 36


def test_diagnose_human_output_on_unlabelled_folder(capsys: pytest.CaptureFixture[str],
                                                    colour_model: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    for i, rgb in enumerate(list(COLOURS.values()) * 4):
        write_png(tmp_path / "mixed" / f"{i}.png", colour_image(rng, rgb, (20, 20)))
    code = main(["diagnose", "--model", str(colour_model), "--data", str(tmp_path / "mixed")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "outputs: ok (spread" in out and "12 inputs" in out
    assert "layer" in out and "dead" in out and "zeros" in out and "conv2d" in out


def test_diagnose_on_too_few_inputs_says_not_judged(capsys: pytest.CaptureFixture[str],
                                                    colour_model: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    for i, rgb in enumerate(list(COLOURS.values())[:2]):
        write_png(tmp_path / "two" / f"{i}.png", colour_image(rng, rgb, (20, 20)))
    code = main(["diagnose", "--model", str(colour_model), "--data", str(tmp_path / "two")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "outputs: not judged (spread" in out and "outputs: ok" not in out
    assert "at least 8 are needed" in out


def test_diagnose_npz_of_unscaled_float_inputs(capsys: pytest.CaptureFixture[str],
                                               colour_model: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    images = np.stack([colour_image(rng, rgb, (16, 16)) for rgb in COLOURS.values()] * 4)
    npz = tmp_path / "raw.npz"
    np.savez(npz, images=images.astype(np.float32))  # floats are model inputs: 0-255, not 0-1
    code = main(["diagnose", "--model", str(colour_model), "--data", str(npz), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    res = json.loads(out)
    assert res["input_mismatch"]["basis"] == "card preprocessing range"
    assert [f["kind"] for f in res["input_mismatch"]["findings"]] == ["range_too_large"]
    assert any(w.startswith("input:") and "255" in w for w in res["warnings"])


def test_diagnose_bad_path_is_a_user_error(capsys: pytest.CaptureFixture[str], colour_model: Path,
                                           tmp_path: Path) -> None:
    code = main(["diagnose", "--model", str(colour_model), "--data", str(tmp_path / "nope")])
    _, err = capsys.readouterr()
    assert code == 1 and "no such file or folder" in err and "Traceback" not in err


def test_long_layer_names_are_not_cut_in_the_table(capsys: pytest.CaptureFixture[str],
                                                   colour_model: Path, colour_folder: Path,
                                                   tmp_path: Path) -> None:
    """Names that differ only after 27 characters (block_1 / block_10) stay apart."""
    import shutil

    from app.core.cards.card_file import card_path_for
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    stem = "mobilenetv2_1.00_96_block_1"
    model = keras.Sequential([
        keras.Input((16, 16, 3)),
        keras.layers.Conv2D(4, 3, activation="relu", name=f"{stem}_expand_relu"),
        keras.layers.Conv2D(4, 3, activation="relu", name=f"{stem}0_expand_relu"),
        keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3, activation="softmax"),
    ])
    path = tmp_path / "long.keras"
    model.save(path)
    shutil.copy(card_path_for(colour_model), card_path_for(path))
    code = main(["diagnose", "--model", str(path), "--data", str(colour_folder)])
    out, err = capsys.readouterr()
    assert code == 0, err
    rows = [line.split()[0] for line in out.splitlines() if line.startswith(stem)]
    assert rows == [f"{stem}_expand_relu", f"{stem}0_expand_relu"]
