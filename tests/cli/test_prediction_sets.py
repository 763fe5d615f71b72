"""Prediction sets end to end: `calibrate --alpha --save`, then `classify --json` on new images.

A real CNN is trained here on four overlapping colour classes (accuracy well below 100 %, so
sets of more than one class are needed), the sets are fitted on one folder and their coverage
is measured on another the fit never saw.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from app.core.cards.card_file import card_path_for, new_card, write_card
from tests.conftest import write_png

CLASSES = ["amber", "coral", "olive", "teal"]
CENTRES = np.array([[200, 140, 40], [215, 110, 80], [150, 150, 50], [60, 150, 140]], float)
SIZE = 12


def _images(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.integers(0, len(CLASSES), n)
    # Per-image colour jitter makes neighbouring classes overlap: the model cannot be sure.
    centre = CENTRES[labels] + rng.normal(0, 28, size=(n, 3))
    pixels = centre[:, None, None, :] + rng.normal(0, 12, size=(n, SIZE, SIZE, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8), labels


def _folder(root: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    for i, (img, y) in enumerate(zip(images, labels, strict=True)):
        write_png(root / CLASSES[y] / f"{i:04d}.png", img)
    return root


@pytest.fixture(scope="module")
def overlap(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    x, y = _images(rng, 1200)
    model = keras.Sequential([
        keras.Input((SIZE, SIZE, 3)),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(len(CLASSES), activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(0.03), loss="sparse_categorical_crossentropy")
    model.fit(x / 255.0, y, epochs=12, batch_size=64, verbose=0)
    root = tmp_path_factory.mktemp("overlap")
    path = root / "overlap.keras"
    model.save(path)
    card = new_card(CLASSES, {"color_mode": "rgb", "target_size": [SIZE, SIZE],
                              "interpolation": "area", "resize_backend": "opencv",
                              "scale": 1 / 255, "source": "test"}, team={"owner": "qa"})
    write_card(card, card_path_for(path))
    fit = _folder(root / "fit", *_images(rng, 600))
    held_out = _folder(root / "held_out", *_images(rng, 600))
    return path, fit, held_out


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("alpha", [0.1, 0.05])
def test_sets_cover_new_images_as_promised(capsys, overlap, alpha, tmp_path, monkeypatch):
    monkeypatch.setenv("PROBSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    model, fit, held_out = overlap
    code, out, err = _run(capsys, "calibrate", "--model", str(model), "--data", str(fit),
                          "--alpha", str(alpha), "--save", "--json")
    assert code == 0, err
    report = json.loads(out)["conformal"]
    assert report["method"] == "lac" and report["alpha"] == alpha
    assert 1 - alpha - 0.05 <= report["coverage"] <= 1 - alpha + 0.05
    card = json.loads(card_path_for(model).read_text())
    assert card["team"] == {"owner": "qa"}  # unknown keys survive the rewrite
    assert card["calibration"]["conformal"]["threshold"] == pytest.approx(report["threshold"])

    code, out, err = _run(capsys, "classify", str(held_out), "--model", str(model), "--json")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 600
    hits = [Path(r["path"]).parent.name in r["prediction_set"] for r in records]
    sizes = [len(r["prediction_set"]) for r in records]
    # 600 new images: the binomial spread of the coverage is about ±1.2 points.
    assert 1 - alpha - 0.04 <= np.mean(hits) <= 1 - alpha + 0.05
    assert 1.0 < np.mean(sizes) < len(CLASSES)  # informative: neither always one nor all
    for r in records:  # most probable first
        probs = dict(zip(CLASSES, r["probabilities"], strict=True))
        shown = [probs[c] for c in r["prediction_set"]]
        assert shown == sorted(shown, reverse=True)


def test_classify_shows_no_set_until_one_is_fitted_and_table_shows_braces(capsys, overlap):
    model, _, held_out = overlap
    one = next(held_out.rglob("*.png"))
    card = json.loads(card_path_for(model).read_text())
    card["calibration"].pop("conformal", None)
    card_path_for(model).write_text(json.dumps(card))
    code, out, _ = _run(capsys, "classify", str(one), "--model", str(model), "--json")
    assert code == 0 and json.loads(out)["prediction_set"] is None
    code, out, _ = _run(capsys, "info", "--model", str(model))
    assert "prediction sets: none (fit them with 'probscope calibrate" in out
    code, out, err = _run(capsys, "calibrate", "--model", str(model), "--data",
                          str(held_out.parent / "fit"), "--save")
    assert code == 0, err
    assert "prediction sets: LAC, 90% coverage promised" in out
    code, out, _ = _run(capsys, "info", "--model", str(model), "--json")
    sets = json.loads(out)["prediction_sets"]
    assert sets["method"] == "lac" and sets["alpha"] == pytest.approx(0.1)
    assert 0 < sets["held_out"]["coverage"] <= 1
    code, out, _ = _run(capsys, "info", "--model", str(model))
    assert "prediction sets: LAC, 90% coverage promised (held-out coverage" in out
    code, out, _ = _run(capsys, "classify", str(one), "--model", str(model))
    assert "{" in out.splitlines()[1] and "}" in out.splitlines()[1]


@pytest.mark.parametrize("alpha", ["0", "1", "1.5", "x"])
def test_alpha_outside_zero_one_is_a_usage_error(capsys, overlap, alpha):
    model, fit, _ = overlap
    with pytest.raises(SystemExit) as stop:
        main(["calibrate", "--model", str(model), "--data", str(fit), "--alpha", alpha])
    assert stop.value.code == 2
    assert "between 0 and 1" in capsys.readouterr().err


def test_too_few_images_for_the_asked_alpha_say_how_many(capsys, overlap, tmp_path):
    model, fit, _ = overlap
    small = tmp_path / "small"
    for cls in CLASSES:
        for f in sorted((fit / cls).glob("*.png"))[:3]:
            (small / cls).mkdir(parents=True, exist_ok=True)
            (small / cls / f.name).write_bytes(f.read_bytes())
    code, _, err = _run(capsys, "calibrate", "--model", str(model), "--data", str(small),
                        "--alpha", "0.01", "--conformal", "lac")
    assert code == 1 and "at least" in err and "labelled images" in err


def test_by_class_refuses_a_class_without_images_and_names_thin_ones(capsys, overlap, tmp_path):
    model, fit, _ = overlap
    part = tmp_path / "part"
    for k, cls in enumerate(CLASSES):
        keep = [] if k == 0 else sorted((fit / cls).glob("*.png"))[:4 if k == 1 else None]
        for f in keep:
            (part / cls).mkdir(parents=True, exist_ok=True)
            (part / cls / f.name).write_bytes(f.read_bytes())
    code, _, err = _run(capsys, "calibrate", "--model", str(model), "--data", str(part),
                        "--by-class", "--save")
    assert code == 1 and f"no labelled image of {CLASSES[0]}" in err and "Traceback" not in err
    (part / CLASSES[0]).mkdir()
    for f in sorted((fit / CLASSES[0]).glob("*.png")):
        (part / CLASSES[0] / f.name).write_bytes(f.read_bytes())
    code, out, err = _run(capsys, "calibrate", "--model", str(model), "--data", str(part),
                          "--by-class")
    # Four images of one class, split in halves, cannot carry a 90 % per-class promise.
    assert code == 0, err
    assert f"class(es) {CLASSES[1]} have fewer than" in out + err


def test_a_changed_temperature_warns_that_the_sets_no_longer_hold(capsys, overlap):
    model, fit, _ = overlap
    code, _, err = _run(capsys, "calibrate", "--model", str(model), "--data", str(fit), "--save")
    assert code == 0, err
    card = json.loads(card_path_for(model).read_text())
    card["calibration"]["temperature"] = card["calibration"]["temperature"] * 2
    card_path_for(model).write_text(json.dumps(card))
    code, out, _ = _run(capsys, "info", "--model", str(model), "--json")
    assert any("prediction sets were fitted under temperature" in w
               for w in json.loads(out)["warnings"])
    # classify uses the sets: it says so too, on stderr, once.
    image = next(p for p in fit.rglob("*.png"))
    code, out, err = _run(capsys, "classify", str(image), "--model", str(model), "--json")
    assert code == 0 and json.loads(out)["prediction_set"] is not None
    assert err.count("prediction sets were fitted under temperature") == 1


@pytest.fixture()
def digits_with_wide_sets(tmp_path: Path) -> Path:
    """The bundled model with 99 % sets: wide enough that the 'no digit' samples get some."""
    import shutil

    from app.core import open_model
    from app.core.calibration import fit_calibration, save_calibration
    from app.core.data import compute_outputs, load_data

    digits = Path(__file__).resolve().parents[2] / "resources" / "digits"
    for part in digits.glob("digits.keras*"):
        shutil.copy(part, tmp_path / part.name)
    session = open_model(tmp_path / "digits.keras")
    outputs = compute_outputs(session, load_data(digits / "calibration.npz", session.classes,
                                                 labelled=True))
    save_calibration(session, fit_calibration(outputs, "calibration.npz", alpha=0.01), force=True)
    session.close()
    return tmp_path / "digits.keras"


def test_table_aligns_its_columns_and_brackets_the_sets_of_rejected_images(
        capsys, digits_with_wide_sets: Path) -> None:
    samples = Path(__file__).resolve().parents[2] / "resources" / "digits" / "samples"
    code, out, err = _run(capsys, "classify", str(samples), "--model", str(digits_with_wide_sets))
    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split() == ["label", "prob", "check", "99%", "set", "path"]
    for row in rows:  # the path starts under "path" whatever the check says
        assert row.index(str(samples)) == header.index("path"), row
    rejected = [r for r in rows if "No digit" in r]
    assert rejected and all("nodigit_" in r for r in rejected)
    with_sets = [r for r in rejected if "({" in r]
    assert with_sets and all(")" in r.split("}")[1][:2] for r in with_sets)
    assert not any("({" in r for r in rows if "No digit" not in r)
    assert "a set in parentheses" in err and "'No digit'" in err


def test_table_columns_fit_long_class_names(capsys, overlap, tmp_path):
    import shutil

    model, fit, held_out = overlap
    copy = tmp_path / "long.keras"
    shutil.copy(model, copy)
    shutil.copy(card_path_for(model), card_path_for(copy))
    code, _, err = _run(capsys, "calibrate", "--model", str(copy), "--data", str(fit), "--save")
    assert code == 0, err
    card = json.loads(card_path_for(copy).read_text())
    card["classes"] = [f"{name}_with_a_long_name" for name in CLASSES]
    card_path_for(copy).write_text(json.dumps(card))
    folder = held_out / CLASSES[0]
    code, out, err = _run(capsys, "classify", str(folder), "--model", str(copy))
    assert code == 0, err
    header, *rows = out.splitlines()
    assert rows and any("_with_a_long_name}" in r for r in rows)
    for row in rows:  # a set too wide for its column is shortened: paths stay under "path"
        assert row.index(str(folder)) == header.index("path"), row


def test_a_set_wider_than_its_column_says_how_many_more() -> None:
    from app.cli.classify_commands import _fitted_set

    assert _fitted_set(["dots", "checker"], 20) == "{dots, checker}"
    assert _fitted_set(["dots", "checker", "stripes"], 20) == "{dots, checker, …+1}"
    assert _fitted_set(["dots", "checker", "stripes", "waves"], 24) == "{dots, checker, …+2}"
    assert _fitted_set(["a_very_long_class_name", "b"], 12) == "{…2}"
    assert all(len(_fitted_set(["x" * n, "y" * n, "z" * n], 16)) <= 16 for n in range(1, 12))
