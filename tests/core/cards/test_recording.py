"""The recording API and ``card init`` presets: cheap import, saving, Keras look-ups."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.cli.card_init_args import add_card_init_arguments, card_from_args
from app.core.cards.card_file import card_path_for, read_card
from app.core.cards.presets import card_from_preset
from app.core.cards.recording import (
    input_statistics,
    record_by_hand,
    record_keras_application,
    save_card_for_model,
)
from app.core.errors import CardError
from app.core.preprocessing.keras_applications import _PRESETS, keras_application_preset
from app.core.preprocessing.pipeline import normalize
from app.core.preprocessing.spec import PreprocessingSpec

ROOT = Path(__file__).resolve().parents[3]


def test_import_starts_nothing_heavy():
    code = (
        "import sys, app.core.cards.recording, app.core.cards.presets\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'tf_keras', 'cv2', 'h5py')]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_record_by_hand_saves_and_merges_existing_card(tmp_path):
    model = tmp_path / "digits.keras"
    card_file = card_path_for(model)
    card_file.write_text(json.dumps({
        "format": "probscope.model-card", "version": 1, "classes": ["old"],
        "preprocessing": {}, "calibration": {"temperature": 1.7},
        "ood": {"score": "msp", "threshold": 0.4}, "team_notes": "keep me",
    }))
    inputs = [np.zeros((2, 4, 4, 3), np.float32), np.ones((1, 4, 4, 3), np.float32)]
    card = record_by_hand(["a", "b"], model_path=model, inputs=inputs, target_size=[4, 4],
                          resize_backend="pil", interpolation="nearest", scale=1 / 255)
    saved = read_card(card_file)
    assert saved.classes == ["a", "b"] and card.path == card_file
    assert saved.temperature == 1.7 and saved.ood["threshold"] == 0.4
    assert saved.data["team_notes"] == "keep me"
    assert saved.preprocessing["resize_backend"] == "pil"
    assert saved.preprocessing["source"] == "recorded by hand"
    stats = saved.data["input_statistics"]
    assert stats["images"] == 3 and stats["shape"] == [4, 4, 3]
    assert stats["mean"] == pytest.approx([1 / 3] * 3) and stats["max"] == [1.0] * 3


def test_save_refuses_to_clobber_a_corrupt_card(tmp_path):
    model = tmp_path / "m.keras"
    card_path_for(model).write_text("{not json")
    card = record_by_hand(["a"], target_size=[4, 4])
    with pytest.raises(CardError, match="not valid JSON"):
        save_card_for_model(card, model)
    assert card_path_for(model).read_text() == "{not json"


def test_record_by_hand_validates_keys():
    with pytest.raises(CardError, match="did you mean 'target_size'"):
        record_by_hand(["a"], target_sise=[4, 4])
    with pytest.raises(CardError, match="no class names"):
        record_by_hand([], target_size=[4, 4])


def test_input_statistics_matches_numpy():
    rng = np.random.default_rng(3)
    batches = [rng.normal(size=(3, 5, 5, 2)), rng.normal(size=(5, 5, 2))]
    stats = input_statistics(batches, "test")
    flat = np.concatenate([batches[0].reshape(-1, 2), batches[1].reshape(-1, 2)])
    np.testing.assert_allclose(stats["mean"], flat.mean(0))
    np.testing.assert_allclose(stats["std"], flat.std(0))
    assert stats["images"] == 4
    with pytest.raises(CardError, match="holds no images"):
        input_statistics([])


@pytest.mark.parametrize(("name", "module", "mode", "size"), [
    ("resnet50", "resnet50", "caffe", 224), ("ResNet101", "resnet", "caffe", 224),
    ("mobilenet_v2", "mobilenet_v2", "tf", 224), ("densenet121", "densenet", "torch", 224),
    ("inception_v3", "inception_v3", "tf", 299), ("NASNetLarge", "nasnet", "tf", 331),
    ("efficientnetb3", "efficientnet", None, 300), ("keras.applications.vgg16", "vgg16", "caffe", 224),
])
def test_keras_application_lookup(name, module, mode, size):
    preset = keras_application_preset(name)
    assert (preset.module, preset.mode, preset.size) == (module, mode, size)


def test_unknown_keras_application():
    with pytest.raises(CardError, match="unknown keras.applications model 'resnet51'"):
        keras_application_preset("resnet51")


@pytest.fixture(scope="module")
def keras():
    from app.core.tf_runtime import import_keras

    return import_keras()


def test_every_preset_mode_matches_keras_preprocess_input(keras):
    x = np.random.default_rng(4).uniform(0, 255, (6, 7, 3)).astype(np.float32)
    for module in sorted({p.module for p in _PRESETS}):
        preset = keras_application_preset(module)
        expected = getattr(keras.applications, module).preprocess_input(x.copy())
        spec = PreprocessingSpec.from_dict({"scale": 1.0,
                                            "keras_applications_mode": preset.mode})
        np.testing.assert_array_equal(normalize(x, spec), np.asarray(expected), err_msg=module)


def test_record_keras_application(tmp_path):
    record_keras_application("densenet121", ["cat", "dog"], model_path=tmp_path / "d.keras")
    pre = read_card(card_path_for(tmp_path / "d.keras")).preprocessing
    assert pre["keras_applications_mode"] == "torch" and pre["target_size"] == [224, 224]
    assert pre["resize_backend"] == "tf" and pre["scale"] == 1.0


@pytest.fixture(scope="module")
def gray_model(keras, tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "gray.keras"
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")])
    model.save(path)
    return path


def _parse(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    add_card_init_arguments(parser)
    return parser.parse_args(argv)


def test_card_init_idg_reads_size_and_channels_from_the_model(gray_model, tmp_path):
    (tmp_path / "data" / "b").mkdir(parents=True)
    (tmp_path / "data" / "a").mkdir()
    (tmp_path / "data" / ".cache").mkdir()
    args = _parse([str(gray_model), "--like", "idg", "--rescale", "0.00392156862745098",
                   "--class-dir", str(tmp_path / "data"), "--samplewise-center"])
    card = card_from_args(args)
    spec = PreprocessingSpec.from_dict(card.preprocessing)
    assert card.classes == ["a", "b"]
    assert spec.target_size == (28, 28) and spec.color_mode == "grayscale"
    assert (spec.resize_backend, spec.interpolation) == ("pil", "nearest")
    assert spec.scale == pytest.approx(1 / 255) and spec.samplewise_center


def test_card_init_dataset_and_featurewise(gray_model):
    card = card_from_preset("dataset", gray_model, classes="x,y,z", target_size=[40, 30],
                            interpolation="area", pad_to_aspect_ratio=True,
                            featurewise_mean=[100.0], featurewise_std=[50.0])
    spec = PreprocessingSpec.from_dict(card.preprocessing)
    assert (spec.resize_backend, spec.interpolation, spec.target_size) == ("tf", "area", (40, 30))
    assert spec.pad_to_aspect_ratio and spec.mean == (100.0,) and spec.std_epsilon == 1e-6


def test_card_init_keras_application(gray_model):
    card = card_from_preset("mobilenet_v2", gray_model, classes=["a"], color_mode="rgb",
                            target_size=[96, 96])
    spec = PreprocessingSpec.from_dict(card.preprocessing)
    assert spec.keras_applications_mode == "tf" and spec.target_size == (96, 96)


@pytest.mark.parametrize(("like", "options", "fragment"), [
    ("resnet51", {"classes": "a"}, "is not idg, dataset, arrays or a keras.applications model"),
    ("idg", {}, "give the class names"),
    ("idg", {"classes": "a", "pad_to_aspect_ratio": True}, "no pad_to_aspect_ratio"),
    ("idg", {"classes": "a,,b"}, "empty class name"),
    ("idg", {"classes": "a", "featurewise_mean": [1.0], "mean": [1.0]}, "or --mean/--std"),
    ("idg", {"classes": "a", "colour": "rgb"}, "unknown option(s) colour"),
])
def test_card_init_errors(gray_model, like, options, fragment):
    with pytest.raises(CardError) as err:
        card_from_preset(like, gray_model, **options)
    assert fragment in err.value.message


def test_record_from_flow_refuses_what_a_card_cannot_describe(tmp_path):
    from tf_keras.preprocessing.image import ImageDataGenerator

    from app.core.cards.recording import record_from_flow, spec_from_flow

    (tmp_path / "a").mkdir()
    for kwargs, fragment in [({"zca_whitening": True}, "zca_whitening"),
                             ({"preprocessing_function": np.sqrt}, "custom code"),
                             ({"featurewise_center": True}, "never fit()")]:
        it = ImageDataGenerator(**kwargs).flow_from_directory(str(tmp_path), target_size=(8, 8))
        with pytest.raises(CardError, match=fragment):
            record_from_flow(it)
    from keras.applications import resnet50
    from tf_keras.applications import mobilenet_v2

    it = ImageDataGenerator(preprocessing_function=resnet50.preprocess_input).flow_from_directory(
        str(tmp_path), target_size=(8, 8))
    assert spec_from_flow(it).keras_applications_mode == "caffe"
    it.image_data_generator.preprocessing_function = mobilenet_v2.preprocess_input
    assert spec_from_flow(it).keras_applications_mode == "tf"
