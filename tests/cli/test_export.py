"""`probscope export` and `probscope score`: the servable agrees with `classify --json`.

The export is loaded in a fresh Python process with ``tf.saved_model.load`` and no probscope
import; ``score`` runs Apache Beam's DirectRunner. The bundled digit model's card uses the
``opencv`` backend (area resize), so probabilities must agree within 1e-3 (measured: ~1e-6).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from tests.core.export.image_files import write_image_files

N_FILES = 200
# The issue asks for 1,000 files through `score`; 200 keep this test near 30 s on 2 cores
# (the benchmark runs 2,000).
N_SCORED = 200

FRESH_PROCESS = r"""
import json, sys
import tensorflow as tf
paths = json.loads(sys.stdin.read())
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
out = serve(image_bytes=tf.constant([open(p, "rb").read() for p in paths]))
assert not [m for m in sys.modules if m == "app" or m.startswith("app.")]  # no probscope code
print(json.dumps({k: v.numpy().tolist() if v.dtype != tf.string else
                  [s.decode() for s in v.numpy()] for k, v in out.items()}))
"""


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_image_files(tmp_path_factory.mktemp("images"), N_FILES)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The README's serving layout, whose folders do not exist yet: made as by mkdir -p.
    out = tmp_path_factory.mktemp("exports") / "models" / "digits" / "1"
    assert main(["export", "--out", str(out)]) == 0
    return out


def _classify(capsys: pytest.CaptureFixture[str], paths: list[str]) -> dict[str, dict]:
    code, out, err = _run(capsys, "classify", "--json", *paths)
    return {r["path"]: r for r in map(json.loads, out.splitlines())}


def test_export_in_a_fresh_process_agrees_with_classify(capsys, files, exported) -> None:
    paths = [str(p) for p in files]
    expected = _classify(capsys, paths)
    run = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(exported)], input=json.dumps(paths),
                         capture_output=True, text=True, timeout=120, cwd="/")
    assert run.returncode == 0, run.stderr[-2000:]
    got = json.loads(run.stdout.splitlines()[-1])
    assert set(got) >= {"probabilities", "raw_probabilities", "index", "label", "ood_score",
                        "in_distribution", "prediction_set"}
    want = [expected[p] for p in paths]
    probs = np.array(got["probabilities"])
    assert np.abs(probs - [r["probabilities"] for r in want]).max() < 1e-3
    assert np.abs(np.array(got["raw_probabilities"]) - [r["raw_probabilities"] for r in want]).max() < 1e-3
    assert np.mean(np.array(got["index"]) == [r["index"] for r in want]) >= 0.995
    assert got["label"] == [r["label"] for r in want] or np.mean(
        np.array(got["label"]) == [r["label"] for r in want]) >= 0.995
    verdicts = np.array(got["in_distribution"]) == [r["ood"]["in_distribution"] for r in want]
    assert verdicts.mean() >= 0.99
    assert np.abs(np.array(got["ood_score"]) - [r["ood"]["score"] for r in want]).max() < 1e-3
    # The bundled card carries 95 % prediction sets: the export's masks are classify's sets.
    mask = np.array(got["prediction_set"], dtype=bool)
    classes = np.array([str(d) for d in range(mask.shape[1])])  # the bundled digits
    same = [set(classes[m]) == set(r["prediction_set"] or []) for m, r in zip(mask, want, strict=True)]
    assert np.mean(same) >= 0.99 and mask.any()


def test_score_on_the_direct_runner_writes_the_classify_records(capsys, files, exported, tmp_path) -> None:
    from app.core.export.beam_pipeline import read_records

    folder = tmp_path / "in"
    folder.mkdir()
    for p in files[:N_SCORED - 3]:
        (folder / p.name).write_bytes(p.read_bytes())
    from PIL import Image

    with Image.open(files[N_SCORED - 3]) as im:  # opaque, but with an alpha channel
        im.convert("RGBA").save(folder / "alpha.png")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    (folder / "text.jpg").write_bytes(b"not a picture")
    code, out, err = _run(capsys, "score", str(folder), "--out", str(tmp_path / "out" / "run"),
                          "--export", str(exported), "--runner", "DirectRunner",
                          "--direct_num_workers=1")
    assert code == 1, err  # two files could not be classified, as classify says too
    got = {r["path"]: r for r in read_records(str(tmp_path / "out" / "run"))}
    expected = _classify(capsys, [str(folder)])
    assert set(got) == set(expected) and len(got) == N_SCORED
    for path, want in expected.items():
        have = got[path]
        assert set(have) == set(want)
        assert (have["error"] is None) == (want["error"] is None), path
        if want["error"]:
            continue
        assert have["label"] == want["label"] and have["index"] == want["index"]
        assert np.abs(np.subtract(have["probabilities"], want["probabilities"])).max() < 1e-3
        assert have["temperature"] == want["temperature"]
        assert set(have["ood"]) == set(want["ood"])
        assert have["ood"]["in_distribution"] == want["ood"]["in_distribution"]
        assert abs(have["ood"]["score"] - want["ood"]["score"]) < 1e-3
        assert have["prediction_set"] == want["prediction_set"]
        assert have["transparency_dropped"] == want["transparency_dropped"] == path.endswith("alpha.png")


def test_opening_an_export_as_a_model_says_what_it_is(capsys, exported) -> None:
    code, _, err = _run(capsys, "classify", "x.png", "--model", str(exported), "--trust-model")
    assert code == 1 and "a probscope export, made for serving" in err and str(exported) in err
    assert "Traceback" not in err


def test_export_refuses_an_existing_folder_unless_forced(capsys, tmp_path) -> None:
    (tmp_path / "taken").mkdir()
    code, out, err = _run(capsys, "export", "--out", str(tmp_path / "taken"))
    assert code == 1 and "already exists" in err and "--force" in err and "Traceback" not in err


def test_export_where_nothing_can_be_written_names_the_folder_asked_for(capsys) -> None:
    code, out, err = _run(capsys, "export", "--out", "/proc/probscope-export")
    assert code == 1 and err.startswith("probscope: error: /proc/probscope-export: cannot write")
    assert "/proc/." not in err and "Traceback" not in err  # not the hidden staging folder


def test_export_refuses_a_folder_under_a_file(capsys, tmp_path) -> None:
    (tmp_path / "file").write_text("x")
    code, out, err = _run(capsys, "export", "--out", str(tmp_path / "file" / "sub" / "1"))
    assert code == 1 and "is a file, not a folder" in err and "Traceback" not in err
    assert (tmp_path / "file").read_text() == "x"


def test_export_refuses_tflite_with_the_reason(capsys, tmp_path) -> None:
    code, out, err = _run(capsys, "export", "--out", str(tmp_path / "t"), "--format", "tflite")
    assert code == 1 and "tflite" in err


def test_unknown_options_are_still_refused_outside_score(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["classify", "x.png", "--runner=DirectRunner"])
    assert exc.value.code == 2


def test_score_refuses_a_folder_that_is_no_export(capsys, tmp_path) -> None:
    code, out, err = _run(capsys, "score", str(tmp_path), "--out", str(tmp_path / "o"),
                          "--export", str(tmp_path))
    assert code == 1 and "not a probscope export" in err and "Traceback" not in err


def test_a_model_with_augmentation_layers_exports_and_agrees(capsys, files, tmp_path) -> None:
    """Keras' "image classification from scratch" model: RandomFlip/RandomRotation/RandomZoom
    inside (identity at inference), Rescaling; its seeds were left out of the export."""
    from app.core.cards.card_file import card_path_for
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(7)
    L = keras.layers
    model = keras.Sequential([keras.Input((24, 24, 3)), L.RandomFlip("horizontal"),
                              L.RandomRotation(0.1), L.RandomZoom(0.1), L.Rescaling(1 / 255),
                              L.Conv2D(4, 3, activation="relu"), L.GlobalAveragePooling2D(),
                              L.Dense(3, activation="softmax")])
    path = tmp_path / "augmented.keras"
    model.save(path)
    assert main(["card", "init", str(path), "--like", "dataset", "--classes", "a,b,c",
                 "--image-size", "24", "24"]) == 0
    assert card_path_for(path).exists()
    out = tmp_path / "export" / "1"
    code, _, err = _run(capsys, "export", "--model", str(path), "--out", str(out))
    assert code == 0, err
    paths = [str(p) for p in files[:20]]
    code, stdout, _ = _run(capsys, "classify", "--json", "--model", str(path), *paths)
    want = [json.loads(line) for line in stdout.splitlines()]
    run = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(out)], input=json.dumps(paths),
                         capture_output=True, text=True, timeout=120, cwd="/")
    assert run.returncode == 0, run.stderr[-2000:]
    got = json.loads(run.stdout.splitlines()[-1])
    assert np.abs(np.array(got["probabilities"]) - [r["probabilities"] for r in want]).max() < 1e-3
