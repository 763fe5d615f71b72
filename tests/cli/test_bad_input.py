"""The command on bad input (issue 16): every file gets its record, stderr holds probscope's lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from tests.conftest import COLOURS, colour_image, write_png

REPO = Path(__file__).resolve().parents[2]
POSTSCRIPT = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\n%%EndComments\n"
              b"newpath 0 0 moveto 64 64 lineto stroke\nshowpage\n%%EOF\n")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _probscope(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *argv], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYTHONWARNINGS": "default"})


def _only_probscope_lines(stderr: str) -> None:
    lines = stderr.strip().splitlines()
    assert all(line.startswith("probscope: ") for line in lines), stderr


@pytest.fixture
def folder_with_postscript(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    folder = tmp_path / "mixed"
    for i, name in enumerate(COLOURS):
        write_png(folder / f"{i}_{name}.png", colour_image(rng, COLOURS[name], (20, 20)))
    (folder / "1_evil.png").write_bytes(POSTSCRIPT)
    png = (folder / "0_red.png").read_bytes()
    (folder / "3_noend.png").write_bytes(png[:-12])  # libpng would print "libpng error"
    return folder


def test_a_postscript_file_named_png_gets_an_error_record_and_the_others_theirs(
    folder_with_postscript: Path, colour_model: Path
) -> None:
    start = time.perf_counter()
    proc = _probscope("classify", str(folder_with_postscript), "--model", str(colour_model), "--json",
                      timeout=120)
    elapsed = time.perf_counter() - start
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 1, proc.stderr
    assert len(records) == 5
    errors = {Path(r["path"]).name: r["error"] for r in records}
    assert errors["1_evil.png"] == "1_evil.png: not an image file (a PostScript/PDF document)"
    assert [n for n, e in errors.items() if e is None] == ["0_red.png", "1_green.png", "2_blue.png",
                                                             "3_noend.png"]
    assert elapsed < 90, "normal time: the run must not wait for Ghostscript"
    _only_probscope_lines(proc.stderr)
    assert proc.stderr.strip() == "probscope: 1 of 5 image(s) could not be classified"


def test_one_missing_path_does_not_stop_the_run(capsys, colour_model: Path, tmp_path: Path) -> None:
    good = write_png(tmp_path / "good.png", colour_image(np.random.default_rng(0), COLOURS["red"], (20, 20)))
    code, out, err = _run(capsys, "classify", str(tmp_path / "missing.png"), str(good),
                          "--model", str(colour_model), "--json")
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 1
    assert [(r["path"], r["error"]) for r in records] == [
        (str(tmp_path / "missing.png"), "missing.png: no such file"), (str(good), None)]
    assert "1 of 2" in err


def test_folder_problems_are_records_too(capsys, colour_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "f"
    write_png(folder / "a.png", colour_image(np.random.default_rng(0), COLOURS["red"], (20, 20)))
    (folder / "dangling.png").symlink_to(tmp_path / "gone.png")
    (folder / "back").symlink_to(folder)
    (tmp_path / "empty").mkdir()
    code, out, _ = _run(capsys, "classify", str(folder), str(tmp_path / "empty"),
                        "--model", str(colour_model), "--json")
    errors = sorted(r["error"] or "" for r in (json.loads(line) for line in out.splitlines()))
    assert code == 1 and len(errors) == 4 and errors[0] == ""
    assert any("broken symbolic link" in e for e in errors)
    assert any("symbolic link loop" in e for e in errors)
    assert any(e.endswith("the folder contains no images") for e in errors)


@pytest.mark.parametrize("size", ["0", "-1", "two"])
def test_a_batch_size_below_one_is_a_usage_error(capsys, size: str) -> None:
    with pytest.raises(SystemExit) as info:
        main(["classify", "x.png", "--batch-size", size])
    assert info.value.code == 2
    assert "--batch-size" in capsys.readouterr().err


@pytest.mark.parametrize("tpr", ["1.5", "1", "0.2", "most"])
def test_a_tpr_out_of_range_is_a_usage_error(capsys, tpr: str) -> None:
    with pytest.raises(SystemExit) as info:
        main(["ood", "--data", "x", "--tpr", tpr])
    assert info.value.code == 2
    assert "--tpr" in capsys.readouterr().err


def test_preprocess_writes_exactly_the_file_named_or_refuses(capsys, colour_model: Path,
                                                             colour_folder: Path, tmp_path: Path) -> None:
    image = str(next(colour_folder.rglob("*.png")))
    out = tmp_path / "batch.float32"
    code, stdout, err = _run(capsys, "preprocess", image, "--model", str(colour_model), "--out", str(out))
    assert code == 0, err
    assert stdout.startswith(f"wrote {out}:") and out.is_file() and not Path(f"{out}.npy").exists()
    assert np.load(out).shape == (1, 16, 16, 3)
    code, _, err = _run(capsys, "preprocess", image, "--model", str(colour_model), "--out", str(tmp_path))
    assert code == 1 and "is a folder" in err and not list(tmp_path.glob("*.npy"))


def test_info_with_a_card_error_says_why_on_stderr(capsys, colour_model: Path, tmp_path: Path) -> None:
    import shutil

    model = Path(shutil.copy(colour_model, tmp_path / "m.keras"))
    card = tmp_path / "m.keras.probscope.json"
    card.write_bytes(b'{"classes": ["caf\xe9"]}')  # Latin-1, not UTF-8
    code, out, err = _run(capsys, "info", "--model", str(model))
    assert code == 1
    assert err.startswith("probscope: error: m.keras.probscope.json: not a text file in UTF-8")
    assert f"fix or delete {card}" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("fields", ['"preprocessing": {"interpolation": "weird"}',
                                    '"preprocessing": {}, "ood": {"score": "magic"}'])
def test_a_bad_card_value_names_the_card_file(capsys, colour_model: Path, tmp_path: Path,
                                              fields: str) -> None:
    import shutil

    model = Path(shutil.copy(colour_model, tmp_path / "m.keras"))
    (tmp_path / "m.keras.probscope.json").write_text(
        '{"format": "probscope.model-card", "version": 1, "classes": ["r", "g", "b"], ' + fields + "}")
    code, _, err = _run(capsys, "classify", str(tmp_path / "x.png"), "--model", str(model))
    assert code == 1 and err.startswith("probscope: error: m.keras.probscope.json: ")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_info_on_a_model_of_any_input_size_does_not_blame_a_missing_card(capsys, tmp_path: Path) -> None:
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    inp = keras.Input((None, None, 3))
    pooled = keras.layers.GlobalAveragePooling2D(name="anysize_pool")(inp)
    out = keras.layers.Dense(2, activation="softmax", name="anysize_head")(pooled)
    model = tmp_path / "anysize.keras"
    keras.Model(inp, out).save(model)
    code, stdout, err = _run(capsys, "info", "--model", str(model))
    if code == 0:
        pytest.skip("this probscope infers a card for any input size")
    assert "fix or delete" not in err and "probscope card init" in err
    assert err.startswith("probscope: error: ")


def test_nan_in_an_unknown_card_key_is_a_one_line_error_on_calibrate_save(capsys, colour_model: Path,
                                                                            colour_folder: Path,
                                                                            tmp_path: Path) -> None:
    import shutil

    model = Path(shutil.copy(colour_model, tmp_path / "m.keras"))
    card = json.loads((colour_model.parent / f"{colour_model.name}.probscope.json").read_text())
    card["notes"] = {"score": "NaN-PLACEHOLDER"}
    (tmp_path / "m.keras.probscope.json").write_text(json.dumps(card).replace('"NaN-PLACEHOLDER"', "NaN"))
    code, _, err = _run(capsys, "calibrate", "--model", str(model), "--data", str(colour_folder),
                        "--save", "--conformal", "none")
    assert code == 1
    assert err.startswith("probscope: error: m.keras.probscope.json: not valid JSON (NaN is not")
    assert "PROBSCOPE_DEBUG" not in err


@pytest.mark.parametrize("changes, refused", [
    ({"scale": 1e300}, True), ({"std": [1e-300] * 3}, True),
    ({"scale": 1e4, "mean": [1e6] * 3, "std": [1e-6] * 3}, False),  # extreme, still in range
])
def test_huge_scale_or_tiny_std_prints_no_numpy_warning(colour_model: Path, tmp_path: Path,
                                                        changes: dict, refused: bool) -> None:
    import shutil

    model = Path(shutil.copy(colour_model, tmp_path / "m.keras"))
    card = json.loads((colour_model.parent / f"{colour_model.name}.probscope.json").read_text())
    card["preprocessing"].update(changes)
    (tmp_path / "m.keras.probscope.json").write_text(json.dumps(card))
    image = write_png(tmp_path / "a.png", np.full((8, 8, 3), 255, np.uint8))
    proc = _probscope("classify", str(image), "--model", str(model), "--json")
    _only_probscope_lines(proc.stderr)
    if refused:
        assert proc.returncode == 1 and "out of range" in proc.stderr and proc.stdout == ""
    else:
        assert proc.returncode == 0 and json.loads(proc.stdout)["error"] is None


def test_ctrl_c_during_start_up_says_interrupted(colour_model: Path, colour_folder: Path) -> None:
    import signal

    for delay in (0.8, 2.5):
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "classify", str(colour_folder),
                                 "--model", str(colour_model)], cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        if proc.returncode == 0:
            continue  # finished before the signal came
        assert proc.returncode == 130, err
        assert err.strip().splitlines()[-1] == "probscope: interrupted", err
        assert "Traceback" not in err
