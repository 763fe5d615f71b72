"""`probscope card init` for a model that has no card: fractions, default classes, arrays."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from app.cli import main
from app.core.cards.card_file import card_path_for


@pytest.fixture()
def bare_model(tmp_path: Path, colour_model: Path) -> Path:
    path = tmp_path / "bare.keras"
    shutil.copy(colour_model, path)
    return path


def _card(model: Path) -> dict:
    return json.loads(card_path_for(model).read_text())


def test_rescale_takes_a_fraction_and_classes_default_to_the_outputs(capsys, bare_model):
    assert main(["card", "init", str(bare_model), "--like", "idg", "--rescale", "1/255"]) == 0
    out = capsys.readouterr().out
    card = _card(bare_model)
    assert card["preprocessing"]["scale"] == pytest.approx(1 / 255)
    assert card["classes"] == ["0", "1", "2"]
    assert "0..2, the model's 3 outputs" in out


def test_like_arrays_records_opencv_area_at_the_model_size(capsys, bare_model):
    assert main(["card", "init", str(bare_model), "--like", "arrays", "--rescale", "1/255",
                 "--classes", "r,g,b"]) == 0
    pre = _card(bare_model)["preprocessing"]
    assert (pre["resize_backend"], pre["interpolation"], pre["target_size"]) == ("opencv", "area", [16, 16])
    assert "NumPy arrays" in pre["source"]
    assert main(["classify", str(bare_model.parent), "--model", str(bare_model)]) == 1  # no images there
    capsys.readouterr()


def test_like_arrays_without_rescale_says_how_to_record_x_over_255(capsys, bare_model):
    """The tutorials divide x_train by 255 before fit(); a card of raw values is said to be so."""
    assert main(["card", "init", str(bare_model), "--like", "arrays"]) == 0
    assert _card(bare_model)["preprocessing"]["scale"] == 1.0
    assert "run this again with --rescale 1/255" in capsys.readouterr().out
    assert main(["card", "init", str(bare_model), "--like", "arrays", "--rescale", "1"]) == 0
    assert "--rescale 1/255" not in capsys.readouterr().out  # the user said so


def test_class_dir_with_arrays_says_the_order_is_the_sorted_folder_names(capsys, bare_model,
                                                                          colour_folder):
    """Folder loaders sort the names; arrays have no such rule, so the order is said."""
    assert main(["card", "init", str(bare_model), "--like", "arrays", "--rescale", "1/255",
                 "--class-dir", str(colour_folder)]) == 0
    out = capsys.readouterr().out
    classes = _card(bare_model)["classes"]
    assert classes == sorted(classes)
    assert f"classes: {', '.join(classes)} — the sub-folder names sorted" in out
    assert "check that it is your labels' order" in out
    assert main(["card", "init", str(bare_model), "--like", "idg", "--rescale", "1/255",
                 "--class-dir", str(colour_folder)]) == 0
    assert "labels' order" not in capsys.readouterr().out  # idg sorts them itself


def test_rewriting_keeps_unknown_keys_inside_preprocessing(capsys, bare_model):
    assert main(["card", "init", str(bare_model), "--like", "idg", "--classes", "r,g,b"]) == 0
    card = _card(bare_model)
    card["preprocessing"]["augmentation_note"] = "flips only"
    card["team"] = "qa"
    card_path_for(bare_model).write_text(json.dumps(card))
    assert main(["card", "init", str(bare_model), "--like", "dataset", "--rescale", "1/255"]) == 0
    card = _card(bare_model)
    assert card["preprocessing"]["augmentation_note"] == "flips only"
    assert card["team"] == "qa" and card["preprocessing"]["resize_backend"] == "tf"


@pytest.mark.parametrize("bad", ["1/0", "a/b", "1/2/3", "inf"])
def test_a_bad_fraction_is_a_usage_error(capsys, bare_model, bad):
    with pytest.raises(SystemExit) as stop:
        main(["card", "init", str(bare_model), "--like", "idg", "--rescale", bad])
    assert stop.value.code == 2


def test_a_card_less_model_names_the_next_step(capsys, bare_model, colour_folder):
    assert main(["info", "--model", str(bare_model)]) == 0
    said = f"next step: record how it was trained: probscope card init {bare_model} --like"
    assert said in capsys.readouterr().out
    code = main(["classify", str(next(colour_folder.rglob("*.png"))), "--model", str(bare_model)])
    err = capsys.readouterr().err
    assert code == 0
    assert err.count("preprocessing is a guess") == 1 and "probscope card init" in err
    assert "'unchecked' means no 'none of the classes' check" in err
    for command in ("calibrate", "ood"):  # fits on a guessed input scale are noted too
        main([command, "--model", str(bare_model), "--data", str(colour_folder)])
        assert capsys.readouterr().err.count("preprocessing is a guess") == 1, command


def test_changing_the_preprocessing_of_a_fitted_card_says_what_to_refit(capsys, bare_model,
                                                                        colour_folder):
    assert main(["card", "init", str(bare_model), "--like", "arrays", "--rescale", "1/255",
                 "--classes", "red,green,blue"]) == 0
    assert main(["calibrate", "--model", str(bare_model), "--data", str(colour_folder),
                 "--save", "--force"]) == 0
    capsys.readouterr()
    # The same preprocessing again: nothing to refit.
    assert main(["card", "init", str(bare_model), "--like", "arrays", "--rescale", "1/255",
                 "--classes", "red,green,blue"]) == 0
    assert "refit" not in capsys.readouterr().out
    assert main(["card", "init", str(bare_model), "--like", "arrays", "--rescale", "1",
                 "--classes", "red,green,blue", "--json"]) == 0
    notes = json.loads(capsys.readouterr().out)["notes"]
    # No check was fitted (the card holds only its placeholder): T and the sets are named.
    assert any(n.startswith("the card's temperature and prediction sets were fitted under the "
                            "previous preprocessing") and "probscope calibrate" in n
               for n in notes), notes
    assert _card(bare_model)["calibration"]["temperature"]  # kept, as documented


def test_a_card_that_scales_what_the_model_rescales_is_warned_where_answers_are_made(
        capsys, tmp_path, colour_folder):
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Rescaling(1 / 255),
                              keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    path = tmp_path / "raw.keras"
    model.save(path)
    assert main(["card", "init", str(path), "--like", "arrays", "--rescale", "1/255",
                 "--classes", "red,green,blue"]) == 0
    assert "scaled twice" in capsys.readouterr().err
    assert main(["classify", str(colour_folder), "--model", str(path)]) == 0
    err = capsys.readouterr().err
    assert err.count("scaled twice") == 1 and "0-0.00392" in err
    assert main(["card", "init", str(path), "--like", "arrays", "--rescale", "1",
                 "--classes", "red,green,blue"]) == 0
    assert "scaled twice" not in capsys.readouterr().err


def test_card_init_takes_the_model_as_every_subcommand_does(capsys, bare_model):
    assert main(["card", "init", "--model", str(bare_model), "--like", "arrays",
                 "--classes", "r,g,b"]) == 0
    assert _card(bare_model)["classes"] == ["r", "g", "b"]
    capsys.readouterr()
    assert main(["card", "init", "--like", "arrays"]) == 2
    assert "MODEL or --model" in capsys.readouterr().err


def test_a_trusted_savedmodel_gives_card_init_its_size(capsys, tmp_path):
    """A SavedModel has no config to read its input from: trusted, it is opened instead."""
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    model = keras.Sequential([keras.Input((12, 12)), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")])
    model.export(tmp_path / "sm", verbose=False)
    argv = ["card", "init", str(tmp_path / "sm"), "--like", "arrays", "--rescale", "1/255",
            "--classes", "a,b,c"]
    assert main(argv) == 1
    assert "--trust-model" in capsys.readouterr().err
    assert main([*argv, "--trust-model"]) == 0
    pre = _card(tmp_path / "sm")["preprocessing"]
    assert (pre["color_mode"], pre["target_size"]) == ("grayscale", [12, 12])


def test_an_untrusted_savedmodel_card_says_its_size_is_a_default(capsys, tmp_path):
    """--like dataset on an untrusted SavedModel wrote Keras' 256x256 for a 64x64 model with
    exit 0 and no word; it still writes (the user may mean it) but says so."""
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    model = keras.Sequential([keras.Input((64, 64, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(2, activation="softmax")])
    model.export(tmp_path / "sm", verbose=False)
    argv = ["card", "init", str(tmp_path / "sm"), "--like", "dataset", "--classes", "a,b"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "target_size 256x256 is the pipeline's default" in err and "--trust-model" in err
    assert main([*argv, "--target-size", "64", "64"]) == 0
    assert "warning" not in capsys.readouterr().err
