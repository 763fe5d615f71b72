"""`probscope classify` and friends: JSON contract, per-file errors, exit codes, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from tests.conftest import COLOURS, colour_image, write_png


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_classify_json_on_labelled_folder_is_accurate(capsys, colour_model: Path, colour_folder: Path) -> None:
    code, out, err = _run(capsys, "classify", str(colour_folder), "--model", str(colour_model), "--json")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 36
    keys = {"path", "label", "index", "probabilities", "raw_probabilities", "temperature", "ood", "error"}
    assert all(keys <= set(r) for r in records)
    assert set(records[0]["ood"]) >= {"score", "threshold", "in_distribution"}
    correct = sum(Path(r["path"]).parent.name == r["label"] for r in records)
    assert correct / len(records) >= 0.9
    assert all(abs(sum(r["probabilities"]) - 1) < 1e-5 for r in records)


def test_per_file_errors_are_reported_and_the_run_continues(capsys, colour_model: Path, tmp_path: Path) -> None:
    good = write_png(tmp_path / "good.png", colour_image(np.random.default_rng(0), COLOURS["red"], (20, 20)))
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "random.png").write_bytes(np.random.default_rng(0).bytes(300))
    code, out, err = _run(capsys, "classify", str(good), str(tmp_path / "empty.png"),
                          str(tmp_path / "random.png"), "--model", str(colour_model), "--json")
    assert code == 1
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["error"] is None for r in records] == [True, False, False]
    assert records[0]["label"] == "red"
    assert "empty" in records[1]["error"] and "not an image" in records[2]["error"]
    assert "2 of 3" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv_tail", "message"),
    [(["/nonexistent/x.png"], "no such file"), (["EMPTY_DIR"], "no images")],
)
def test_user_errors_exit_1_with_one_line(capsys, colour_model: Path, tmp_path: Path, argv_tail, message) -> None:
    # A path that gives no image is an error row of its own (the run goes on), then exit 1.
    (tmp_path / "EMPTY_DIR").mkdir()
    argv = [a.replace("EMPTY_DIR", str(tmp_path / "EMPTY_DIR")) for a in argv_tail]
    code, out, err = _run(capsys, "classify", *argv, "--model", str(colour_model))
    assert code == 1
    last = out.splitlines()[-1]
    assert message in last and last.startswith("ERROR")
    assert last.count(str(tmp_path)) <= 1  # the path is named once, not "path: path: ..."
    expected = ("1 path(s) gave no image" if "EMPTY_DIR" in argv_tail
                else "1 of 1 image(s) could not be classified")
    assert err.strip() == f"probscope: {expected}"


def test_usage_error_exits_2(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["classify"])
    assert info.value.code == 2


def test_preprocess_writes_the_exact_batch(capsys, colour_model: Path, colour_folder: Path, tmp_path: Path) -> None:
    files = sorted((colour_folder / "green").glob("*.png"))[:3]
    out_file = tmp_path / "batch.npy"
    code, _, err = _run(capsys, "preprocess", *map(str, files), "--model", str(colour_model), "--out", str(out_file))
    assert code == 0, err
    batch = np.load(out_file)
    assert batch.shape == (3, 16, 16, 3) and batch.dtype == np.float32
    assert batch.min() >= 0.0 and batch.max() <= 1.0


def test_info_json_names_classes_and_preprocessing(capsys, colour_model: Path) -> None:
    code, out, _ = _run(capsys, "info", "--model", str(colour_model), "--json")
    info = json.loads(out)
    assert code == 0 and info["classes"] == list(COLOURS) and info["input_shape"] == [16, 16, 3]
    assert info["preprocessing"]["resize_backend"] == "opencv" and info["risky_layers"] == []


def test_info_shows_what_an_adapted_normalization_learnt(capsys, tmp_path: Path) -> None:
    """adapt() puts mean and variance in the weights; the config says null for both."""
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    norm = keras.layers.Normalization(name="norm")
    norm.adapt(np.array([[[[10.0, 20.0, 30.0]]], [[[30.0, 40.0, 50.0]]]], np.float32))
    model = keras.Sequential([keras.Input((8, 8, 3)), norm, keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2, activation="softmax")])
    path = tmp_path / "norm.keras"
    model.save(path)
    code, out, _ = _run(capsys, "info", "--model", str(path), "--json")
    (layer,) = json.loads(out)["preprocessing_layers"]
    assert code == 0 and layer["name"] == "norm" and layer["adapted"] is True
    assert layer["mean"] == pytest.approx([20.0, 30.0, 40.0])
    assert layer["variance"] == pytest.approx([100.0, 100.0, 100.0])


def test_installed_command_keeps_tracebacks_from_users(tmp_path: Path) -> None:
    """The real entry point, in a fresh process: a bad model is one line and exit code 1."""
    bad = tmp_path / "notes.keras"
    bad.write_text("not a model")
    img = write_png(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8))
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "classify", str(img), "--model", str(bad)],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHONWARNINGS="ignore"),
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("probscope: error: notes.keras")


def test_importing_the_cli_does_not_import_tensorflow() -> None:
    code = "import sys, app.cli; print('tensorflow' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "False"


def test_version_comes_from_package_metadata(capsys) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"probscope {version('probscope')}"


def test_without_a_fitted_check_no_image_is_called_ok(capsys, colour_model: Path, colour_folder: Path) -> None:
    image = str(next(colour_folder.rglob("*.png")))
    code, out, err = _run(capsys, "classify", image, "--model", str(colour_model), "--json")
    assert code == 0, err
    assert json.loads(out)["ood"]["checked"] is False  # the card's placeholder check
    code, out, _ = _run(capsys, "classify", image, "--model", str(colour_model))
    assert "unchecked" in out and " ok " not in out
    code, out, _ = _run(capsys, "info", "--model", str(colour_model))
    assert "not set up" in out


def test_the_bundled_models_check_is_applied(capsys) -> None:
    from app.core.resources import bundled_samples_dir

    image = str(bundled_samples_dir() / "digit_7_printed.png")
    code, out, err = _run(capsys, "classify", image, "--json")
    assert code == 0, err
    verdict = json.loads(out)["ood"]
    assert verdict["checked"] is True and verdict["in_distribution"] is True


def test_card_init_refuses_a_card_that_contradicts_the_model(capsys, colour_model: Path, tmp_path: Path) -> None:
    import shutil

    model = tmp_path / "copy.keras"
    shutil.copy(colour_model, model)
    code, _, err = _run(capsys, "card", "init", str(model), "--like", "idg", "--classes", "a,b")
    assert code == 1 and "card not written" in err and "classes" in err
    assert not list(tmp_path.glob("*.json"))
    names = ",".join(COLOURS)
    code, out, err = _run(capsys, "card", "init", str(model), "--like", "idg", "--classes", names)
    assert code == 0, err
    assert list(tmp_path.glob("*.json"))


def test_info_still_describes_a_model_whose_card_is_wrong(capsys, colour_model: Path, tmp_path: Path) -> None:
    import shutil

    model = tmp_path / "copy.keras"
    shutil.copy(colour_model, model)
    card = json.loads(Path(f"{colour_model}.probscope.json").read_text())
    card["classes"] = ["a", "b"]
    Path(f"{model}.probscope.json").write_text(json.dumps(card))
    code, out, _ = _run(capsys, "info", "--model", str(model))
    assert code == 1
    assert "copy.keras (keras)" in out and "2 classes but the model outputs 3" in out
    assert "copy.keras.probscope.json" in out


def test_gui_arguments_route_images_away_from_the_model_slot(tmp_path):
    from app.cli.model_commands import split_gui_arguments

    model = str(tmp_path / "m.keras")
    assert split_gui_arguments(None, [], None) == (None, [])
    assert split_gui_arguments(model, ["a.png"], None) == (model, ["a.png"])
    assert split_gui_arguments("a.png", ["b.png"], None) == (None, ["a.png", "b.png"])
    # With --model, a first positional is an image (or a folder of them), never the model.
    assert split_gui_arguments("a.png", [], model) == (model, ["a.png"])
    assert split_gui_arguments(str(tmp_path), [], model) == (model, [str(tmp_path)])
    assert split_gui_arguments(str(tmp_path), [], None) == (None, [str(tmp_path)])


def test_an_image_with_transparency_says_it_was_dropped(capsys, colour_model: Path, tmp_path: Path) -> None:
    from PIL import Image

    logo = np.zeros((24, 24, 4), np.uint8)
    logo[6:18, 6:18] = (200, 30, 30, 255)  # a red square on transparent black
    Image.fromarray(logo, "RGBA").save(tmp_path / "logo.png")
    Image.fromarray(logo[..., :3], "RGB").save(tmp_path / "flat.png")
    code, out, err = _run(capsys, "classify", str(tmp_path / "logo.png"), str(tmp_path / "flat.png"),
                          "--model", str(colour_model))
    assert code == 0, err
    rows = {line.split()[-1] if "logo" not in line else "logo": line for line in out.splitlines()[1:]}
    assert rows["logo"].endswith("(transparency dropped)")
    assert not any(r.endswith("(transparency dropped)") for k, r in rows.items() if k != "logo")
    assert "1 image(s) have transparency" in err
    code, out, _ = _run(capsys, "classify", str(tmp_path / "logo.png"), str(tmp_path / "flat.png"),
                        "--model", str(colour_model), "--json")
    records = {Path(r["path"]).stem: r for r in map(json.loads, out.splitlines())}
    assert records["logo"]["transparency_dropped"] is True
    assert records["flat"]["transparency_dropped"] is False
