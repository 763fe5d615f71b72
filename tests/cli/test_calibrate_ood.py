"""`probscope calibrate` and `probscope ood` end to end on a real model and real image folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from app.core.cards.card_file import card_path_for
from tests.conftest import write_png


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict | str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    try:
        return code, json.loads(out), err
    except json.JSONDecodeError:
        return code, out, err


@pytest.fixture()
def model_copy(tmp_path: Path, colour_model: Path) -> Path:
    """A private copy of the model and card, so --save does not leak into other tests."""
    dst = tmp_path / colour_model.name
    shutil.copy(colour_model, dst)
    shutil.copy(card_path_for(colour_model), card_path_for(dst))
    return dst


def test_calibrate_json_contract_and_save(capsys, model_copy: Path, colour_folder: Path, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PROBSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    # 36 perfectly separable images: NLL keeps falling as T shrinks, so T lands on the bound;
    # such a fit is refused unless forced (the JSON says why).
    code, res, err = _run(capsys, "calibrate", "--model", str(model_copy), "--data", str(colour_folder),
                          "--json", "--save", "--force")
    assert code == 0, err
    assert res["temperature"] > 0
    assert res["save_problems"] and "bound" in res["save_problems"][0]
    for part in ("before", "after"):
        assert {"accuracy", "nll", "brier", "ece", "adaptive_ece", "mce"} <= set(res[part])
    assert res["after"]["nll"] <= res["before"]["nll"] + 1e-12
    card = json.loads(card_path_for(model_copy).read_text())
    assert card["calibration"]["temperature"] == pytest.approx(res["temperature"])
    assert card["calibration"]["fitted"]["n"] == 36
    assert card["preprocessing"]["source"] == "test: OpenCV area, x/255"  # untouched
    # classification now uses the card's T
    code, out, _ = _run(capsys, "classify", str(colour_folder / "red"), "--model", str(model_copy), "--json")
    first = json.loads(out.splitlines()[0]) if isinstance(out, str) else out
    assert first["temperature"] == pytest.approx(res["temperature"])


def test_calibrate_says_which_images_fitted_t_and_which_the_sets(capsys, model_copy: Path,
                                                                 colour_folder: Path) -> None:
    """With prediction sets, T is fitted on one half and the threshold on the other."""
    code, out, err = _run(capsys, "calibrate", "--model", str(model_copy), "--data",
                          str(colour_folder))
    assert code == 0, err
    header = out.splitlines()[0]
    assert "fitted on 18 of the 36 images" in header and "the other 18 fit the prediction sets" in header
    code, out, err = _run(capsys, "calibrate", "--model", str(model_copy), "--data",
                          str(colour_folder), "--conformal", "none")
    assert code == 0, err
    assert "fitted on 36 images" in out.splitlines()[0]


def test_calibrate_refuses_mismatched_class_folders(capsys, model_copy: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    write_png(bad / "purple" / "a.png", np.zeros((8, 8, 3), np.uint8))
    code, _, err = _run(capsys, "calibrate", "--model", str(model_copy), "--data", str(bad))
    assert code == 1 and "purple" in err and "not classes" in err
    assert "card init" not in err  # the card names its classes: nothing to name


def test_class_folders_of_a_card_less_model_say_how_to_name_the_classes(
        capsys, tmp_path: Path, colour_model: Path, colour_folder: Path) -> None:
    bare = tmp_path / "bare.keras"
    shutil.copy(colour_model, bare)
    code, _, err = _run(capsys, "calibrate", "--model", str(bare), "--data", str(colour_folder))
    assert code == 1 and "not classes" in err
    assert f"probscope card init MODEL --like idg|dataset|arrays --class-dir {colour_folder}" in err


def test_ood_fits_threshold_and_reports_auroc(capsys, model_copy: Path, colour_folder: Path, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PROBSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(5)
    noise = tmp_path / "noise"
    for i in range(20):
        grey = rng.integers(0, 256, (24, 24, 1), dtype=np.uint8).repeat(3, axis=2)
        write_png(noise / f"n{i}.png", grey)
    code, res, err = _run(capsys, "ood", "--model", str(model_copy), "--data", str(colour_folder),
                          "--ood-data", str(noise), "--score", "mahalanobis", "--json", "--save")
    assert code == 0, err
    assert res["score"] == "mahalanobis" and res["tpr"] == 0.95
    assert {"threshold", "auroc", "fpr_at_95_tpr"} <= set(res)
    assert res["auroc"] > 0.9  # grey noise is nothing like the colour classes
    assert any("only 20 no-class image(s)" in w and "±11 points" in w for w in res["warnings"])
    card = json.loads(card_path_for(model_copy).read_text())
    assert card["ood"]["score"] == "mahalanobis" and (model_copy.parent / card["ood"]["stats"]).exists()
    code, out, _ = _run(capsys, "classify", str(noise), "--model", str(model_copy), "--json")
    records = [json.loads(line) for line in out.splitlines()] if isinstance(out, str) else [out]
    rejected = np.mean([not r["ood"]["in_distribution"] for r in records])
    assert rejected >= 0.8


def test_ood_text_lines_up_every_score_in_the_held_out_table(capsys) -> None:
    """"mahalanobis" is longer than the other names; its row must not shift right."""
    from types import SimpleNamespace

    from app.cli.fit_commands import _print_held_out

    by_score = {name: {"held_out": held, "auroc": auroc} for name, held, auroc in (
        ("msp", 0.007, 0.997), ("energy", 0.005, 0.991), ("mahalanobis", 1.0, 0.138),
        ("probe", 0.008, 0.996))}
    result = SimpleNamespace(by_score=by_score, detector=SimpleNamespace(score_name="energy"),
                             reference={"n": 4600, "digit_prior": False},
                             per_kind=[{"kind": "wood", "accepted": 0.04, "held_out_accepted": 0.04}])
    _print_held_out(result)
    rows = [line for line in capsys.readouterr().out.splitlines() if "held out, AUROC" in line]
    assert [line.split()[0] for line in rows] == list(by_score)
    assert len({line.index("held out") for line in rows}) == 1, rows


def test_ood_reports_what_the_saved_threshold_accepts(capsys) -> None:
    from app.core.resources import bundled_model_path

    digits = bundled_model_path().parent
    code = main(["ood", "--data", str(digits / "calibration.npz"), "--ood-data", str(digits / "ood.npz"),
                 "--json"])
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    assert 0.0 <= report["ood_accepted"] < 0.1  # the bundled check rejects most non-digits
    worse_than_chance = [r["score"] for r in report["scores"] if r["auroc"] is not None and r["auroc"] < 0.5]
    assert all(any(s in w for w in report["warnings"]) for s in worse_than_chance)


def test_a_fit_that_cannot_be_trusted_is_not_saved_without_force(capsys, tmp_path, monkeypatch) -> None:
    """An untrained model (near chance): T is refused, --force saves it, and info then warns."""
    from app.core.cards.card_file import new_card, write_card
    from app.core.tf_runtime import import_keras

    monkeypatch.setenv("PROBSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    keras = import_keras()
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    path = tmp_path / "untrained.keras"
    model.save(path)
    write_card(new_card([str(i) for i in range(10)], {"target_size": [8, 8], "source": "test"}),
               card_path_for(path))
    rng = np.random.default_rng(0)
    for i in range(200):
        write_png(tmp_path / "data" / str(i % 10) / f"{i}.png",
                  rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))
    before = card_path_for(path).read_text()
    code, out, err = _run(capsys, "calibrate", "--model", str(path), "--data",
                          str(tmp_path / "data"), "--conformal", "none")
    assert code == 0 and "warning: the model's accuracy on this data is" in out  # a look says it
    code, out, err = _run(capsys, "calibrate", "--model", str(path), "--data", str(tmp_path / "data"),
                          "--save", "--conformal", "none")
    assert code == 1 and "not saved" in err and "--force" in err
    # The report the refusal speaks of is printed first (it was only the error).
    assert "temperature T =" in out and "warning: the model's accuracy on this data is" in out
    assert card_path_for(path).read_text() == before
    code, _, err = _run(capsys, "calibrate", "--model", str(path), "--data", str(tmp_path / "data"),
                        "--save", "--conformal", "none", "--force")
    assert code == 0, err
    code, info, _ = _run(capsys, "info", "--model", str(path), "--json")
    assert any("near chance" in w for w in info["warnings"])


def test_saving_a_probe_check_says_the_model_now_answers_on_tensorflow(capsys, model_copy: Path,
                                                                      tmp_path: Path) -> None:
    from tests.conftest import COLOURS, colour_image

    rng = np.random.default_rng(8)
    colour_folder = tmp_path / "colours"  # the probe needs 50 labelled images or more
    for name, rgb in COLOURS.items():
        for i in range(20):
            write_png(colour_folder / name / f"{i}.png", colour_image(rng, rgb, (24, 24)))
    code, out, err = _run(capsys, "ood", "--model", str(model_copy), "--data", str(colour_folder),
                          "--score", "probe", "--save")
    assert code == 0, err
    assert "saved to" in out and "answers on TensorFlow" in out and "--score energy" in out
    code, out, err = _run(capsys, "ood", "--model", str(model_copy), "--data", str(colour_folder),
                          "--score", "energy", "--save")
    assert code == 0, err
    assert "saved to" in out and "TensorFlow" not in out


def test_a_reference_kind_named_like_a_class_is_left_out_and_said(capsys, model_copy: Path,
                                                                   tmp_path: Path) -> None:
    """Classes that *are* stripes and dots: the reference's stripes and dots would teach the
    check that the model's own classes are none of them."""
    from app.core.ood.probe_fitting import kinds_named_like, resolve_kinds
    from tests.conftest import COLOURS, colour_image

    assert kinds_named_like(["stripes", "checkers", "dots", "wood", "face"],
                            ["striped", "checker", "polka_dots", "cat"]) == ["stripes", "checkers", "dots"]
    assert kinds_named_like(["stripes", "wood", "glyphs"], ["0", "1", "A", "B"]) == []
    assert "stripes" in resolve_kinds("stripes,dots", ["stripes"])  # named by the user: kept
    card = json.loads(card_path_for(model_copy).read_text())
    card["classes"] = ["red", "stripes", "dots"]
    card_path_for(model_copy).write_text(json.dumps(card))
    rng = np.random.default_rng(8)
    folder = tmp_path / "named"
    for name, rgb in zip(card["classes"], COLOURS.values(), strict=True):
        for i in range(20):
            write_png(folder / name / f"{i}.png", colour_image(rng, rgb, (24, 24)))
    code, res, err = _run(capsys, "ood", "--model", str(model_copy), "--data", str(folder), "--json")
    assert code == 0, err
    kinds = {row["kind"] for row in res["per_kind"]}
    assert kinds and not kinds & {"stripes", "dots"} and "wood" in kinds
    said = "reference kind 'stripes' is named like one of your classes: left out"
    assert any(said in w for w in res["warnings"])


def test_a_check_that_lets_the_users_own_junk_through_is_not_saved_without_force(
        capsys, model_copy: Path, colour_folder: Path, tmp_path: Path) -> None:
    """--ood-data of images like the classes: 'still accepted' was a warning, and the check
    was saved and then said 'ok' to every such image."""
    rng = np.random.default_rng(4)
    names = ("red", "green", "blue")
    colours = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}
    for i in range(60):
        rgb = np.clip(np.array(colours[names[i % 3]]) + rng.normal(0, 30, (20, 20, 3)), 0, 255)
        write_png(tmp_path / "val" / names[i % 3] / f"{i}.png", rgb.astype(np.uint8))
        if i < 30:
            write_png(tmp_path / "alike" / f"{i}.png", rgb.astype(np.uint8))
    before = card_path_for(model_copy).read_text()
    argv = ["ood", "--model", str(model_copy), "--data", str(tmp_path / "val"), "--ood-data",
            str(tmp_path / "alike"), "--score", "msp", "--save"]
    code, out, err = _run(capsys, *argv)
    assert code == 1 and "not saved: the check accepts" in err and "--force" in err, (code, err)
    assert "at this threshold" in out  # the report first
    assert card_path_for(model_copy).read_text() == before
    code, out, err = _run(capsys, *argv, "--force")
    assert code == 0 and "saved to" in out, err


def test_energy_is_not_a_check_for_logits_that_are_log_probabilities(tmp_path: Path) -> None:
    """A SavedModel hides its softmax, so its logits are log(p) and their energy is 0 for
    every image: auto chose it (threshold -8e-08) and the check passed everything."""
    from app.core import open_model
    from app.core.errors import DataError
    from app.core.models.loading import LOGITS_FROM_PROBABILITIES
    from app.core.ood.fitting import run_ood
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(3, activation="softmax")])
    model.export(tmp_path / "sm", verbose=False)
    rng = np.random.default_rng(1)
    for i in range(60):
        write_png(tmp_path / "val" / str(i % 3) / f"{i}.png",
                  rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))
    session = open_model(tmp_path / "sm", trust=True)
    try:
        assert session.loaded.logits_source == LOGITS_FROM_PROBABILITIES
        result = run_ood(session, tmp_path / "val", reference="none")
        assert result.detector.score_name != "energy"
        with pytest.raises(DataError, match="energy is 0 for every image"):
            run_ood(session, tmp_path / "val", score="energy", reference="none")
    finally:
        session.close()


def test_a_check_that_lets_the_reference_through_is_not_saved_either() -> None:
    """Without --ood-data the only measure of a weak check is the reference it never saw: a
    binary .tflite's logits-only check accepted 84 % of it and was saved without a word."""
    from types import SimpleNamespace

    from app.core.ood.fitting import OODFitResult

    def result(held: float) -> OODFitResult:
        return OODFitResult(SimpleNamespace(score_name="energy"), in_data="val",
                            by_score={"energy": {"held_out": held, "auroc": 0.68}})

    assert result(0.84).save_problems() == [
        "the check accepts 84% of the built-in no-class reference it was not fitted on"]
    assert result(0.03).save_problems() == []
