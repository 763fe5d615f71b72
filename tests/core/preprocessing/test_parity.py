"""Parity of probscope's preprocessing with the real Keras training pipelines.

A small folder of awkward PNG and JPEG files (odd sizes, grayscale, RGBA, palette, very
wide and very tall) goes through tf_keras ``ImageDataGenerator.flow_from_directory`` and
Keras 3 ``image_dataset_from_directory``; probscope must give the same tensors from a
card written by hand with only the contract keys. PNG must agree to 1e-5 of the value
range; JPEG differences are measured and reported (run with ``-s`` to see them).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.core.cards.card_file import read_card
from app.core.preprocessing.pipeline import prepare_batch
from app.core.preprocessing.spec import PreprocessingSpec

PNG_TOLERANCE = 1e-5  # of the reference's value range
JPEG_TOLERANCE = 0.02
MEASURED: dict[str, tuple[float, float]] = {}


def _smooth_image(rng: np.random.Generator, h: int, w: int, c: int) -> np.ndarray:
    """Low-frequency colour field plus fine noise: every interpolation shows its own result."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    out = np.empty((h, w, c))
    for k in range(c):
        fy, fx, ph = rng.uniform(0.05, 0.4, 3)
        out[..., k] = 127 + 100 * np.sin(fy * yy + ph * 6) * np.cos(fx * xx)
    out += rng.normal(0, 12, out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def make_image_folder(root: Path) -> Path:
    """Two class folders of real files in the formats and shapes Keras users have."""
    rng = np.random.default_rng(7)
    a, b = root / "cat", root / "dog"
    a.mkdir(parents=True)
    b.mkdir()
    Image.fromarray(_smooth_image(rng, 23, 37, 3)).save(a / "a_rgb_odd.png")
    Image.fromarray(_smooth_image(rng, 31, 19, 1)[..., 0], "L").save(a / "b_gray.png")
    Image.fromarray(_smooth_image(rng, 36, 40, 4), "RGBA").save(a / "c_rgba.png")
    Image.fromarray(_smooth_image(rng, 18, 240, 3)).save(a / "d_wide.png")
    Image.fromarray(_smooth_image(rng, 27, 33, 3)).quantize(64).save(a / "e_palette.png")
    Image.fromarray(_smooth_image(rng, 61, 45, 3)).save(a / "f_photo.jpg", quality=90)
    Image.fromarray(_smooth_image(rng, 35, 29, 1)[..., 0], "L").save(b / "g_gray.jpg", quality=85)
    Image.fromarray(_smooth_image(rng, 150, 20, 3)).save(b / "h_tall.png")
    Image.fromarray(_smooth_image(rng, 32, 32, 3)).save(b / "i_exact.png")
    Image.fromarray(_smooth_image(rng, 48, 64, 3)).save(b / "j_photo.jpg", quality=75)
    return root


def spec_from_hand_card(tmp_path: Path, **pre: object) -> PreprocessingSpec:
    """Write a card by hand (contract keys only), read it back as a user's card is read."""
    contract = {
        "color_mode": "rgb", "target_size": None, "interpolation": "bilinear",
        "resize_backend": "opencv", "scale": 1.0, "offset": 0.0, "mean": None, "std": None,
        "per_image_standardization": False, "keras_applications_mode": None,
        "source": "hand-written parity card",
    } | pre
    path = tmp_path / f"m{len(list(tmp_path.glob('*.json')))}.keras.probscope.json"
    path.write_text(json.dumps({
        "format": "probscope.model-card", "version": 1, "classes": ["cat", "dog"],
        "preprocessing": contract, "calibration": {"temperature": 1.0},
        "ood": {"score": "msp", "threshold": 0.0},
    }))
    return PreprocessingSpec.from_dict(read_card(path).preprocessing)


def assert_parity(name: str, files: list[str], reference: np.ndarray, spec: PreprocessingSpec) -> None:
    """Compare probscope with a Keras pipeline, PNG and JPEG separately, and record the numbers."""
    batch = prepare_batch(files, spec)
    assert batch.errors == [None] * len(files)
    ours = batch.inputs
    assert ours.shape == reference.shape and ours.dtype == np.float32
    value_range = float(reference.max() - reference.min()) or 1.0
    diff = np.abs(ours.astype(np.float64) - reference.astype(np.float64))
    per_file = diff.reshape(len(files), -1).max(axis=1) / value_range
    is_jpeg = np.array([f.lower().endswith((".jpg", ".jpeg")) for f in files])
    png_max = float(per_file[~is_jpeg].max()) if (~is_jpeg).any() else 0.0
    jpeg_max = float(per_file[is_jpeg].max()) if is_jpeg.any() else 0.0
    MEASURED[name] = (png_max, jpeg_max)
    worst = files[int(np.argmax(per_file))]
    assert png_max <= PNG_TOLERANCE, f"{name}: PNG differs by {png_max:.3g} of range ({worst})"
    assert jpeg_max <= JPEG_TOLERANCE, f"{name}: JPEG differs by {jpeg_max:.3g} of range ({worst})"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp("parity") / "train")


@pytest.fixture(scope="module", autouse=True)
def report_measurements() -> object:
    yield
    print("\nparity (max |diff| / value range)      PNG         JPEG")
    for name, (png, jpeg) in MEASURED.items():
        print(f"  {name:<36} {png:<11.3g} {jpeg:.3g}")


@pytest.fixture(scope="module")
def tf_keras_image() -> object:
    from app.core.tf_runtime import import_tensorflow

    import_tensorflow()
    from tf_keras.preprocessing import image

    return image


@pytest.fixture(scope="module")
def keras() -> object:
    from app.core.tf_runtime import import_keras

    return import_keras()


def _flow(tf_keras_image: object, folder: Path, gen_kwargs: dict, **flow_kwargs: object):
    gen = tf_keras_image.ImageDataGenerator(**gen_kwargs)
    it = gen.flow_from_directory(str(folder), shuffle=False, batch_size=64, **flow_kwargs)
    return it, np.concatenate([it[i][0] for i in range(len(it))])


def _dataset(keras: object, folder: Path, **kwargs: object) -> tuple[list[str], np.ndarray]:
    ds = keras.utils.image_dataset_from_directory(
        str(folder), shuffle=False, batch_size=None, labels="inferred", **kwargs
    )
    return list(ds.file_paths), np.stack([x.numpy() for x, _ in ds]).astype(np.float32)


# -- ImageDataGenerator.flow_from_directory (tf_keras, Pillow) -------------------------------
def test_idg_rgb_32_nearest_rescale(tf_keras_image, folder, tmp_path):
    it, ref = _flow(tf_keras_image, folder, {"rescale": 1 / 255}, target_size=(32, 32))
    spec = spec_from_hand_card(tmp_path, target_size=[32, 32], interpolation="nearest",
                               resize_backend="pil", scale=1 / 255)
    assert_parity("IDG rgb 32x32 nearest x/255", it.filepaths, ref, spec)


def test_idg_grayscale_28_bilinear(tf_keras_image, folder, tmp_path):
    it, ref = _flow(tf_keras_image, folder, {"rescale": 1 / 255}, target_size=(28, 28),
                    color_mode="grayscale", interpolation="bilinear")
    spec = spec_from_hand_card(tmp_path, color_mode="grayscale", target_size=[28, 28],
                               resize_backend="pil", scale=1 / 255)
    assert_parity("IDG grayscale 28x28 bilinear x/255", it.filepaths, ref, spec)


def test_idg_keep_aspect_ratio_bicubic(tf_keras_image, folder, tmp_path):
    it, ref = _flow(tf_keras_image, folder, {}, target_size=(30, 20), interpolation="bicubic",
                    keep_aspect_ratio=True)
    spec = spec_from_hand_card(tmp_path, target_size=[30, 20], interpolation="bicubic",
                               resize_backend="pil", crop_to_aspect_ratio=True)
    assert_parity("IDG 30x20 bicubic keep_aspect_ratio", it.filepaths, ref, spec)


def test_idg_featurewise_and_samplewise(tf_keras_image, folder, tmp_path):
    from app.core.cards.recording import record_from_flow

    gen_kwargs = {"rescale": 1 / 255, "featurewise_center": True,
                  "featurewise_std_normalization": True, "samplewise_center": True,
                  "samplewise_std_normalization": True}
    gen = tf_keras_image.ImageDataGenerator(**gen_kwargs)
    raw = tf_keras_image.ImageDataGenerator().flow_from_directory(
        str(folder), target_size=(24, 24), shuffle=False, batch_size=64)
    gen.fit(raw[0][0])
    it = gen.flow_from_directory(str(folder), target_size=(24, 24), interpolation="bilinear",
                                 shuffle=False, batch_size=64)
    ref = it[0][0]
    spec = spec_from_hand_card(
        tmp_path, target_size=[24, 24], resize_backend="pil", scale=1 / 255,
        samplewise_center=True, samplewise_std_normalization=True,
        mean=[float(v) for v in gen.mean.ravel()], std=[float(v) for v in gen.std.ravel()],
        std_epsilon=1e-6)
    assert_parity("IDG featurewise+samplewise bilinear", it.filepaths, ref, spec)
    # The recording API reads the same settings off the iterator.
    card = record_from_flow(it, model_path=tmp_path / "m.keras", sample_batches=1)
    recorded = PreprocessingSpec.from_dict(card.preprocessing)
    assert recorded == spec.with_changes(source=recorded.source)
    assert card.classes == ["cat", "dog"]
    assert_parity("IDG featurewise+samplewise (recorded)", it.filepaths, ref, recorded)
    stats = card.data["input_statistics"]
    assert stats["images"] == len(it.filepaths)
    np.testing.assert_allclose(stats["mean"], ref.reshape(-1, 3).mean(0), atol=1e-5)
    np.testing.assert_allclose(stats["max"], ref.reshape(-1, 3).max(0), rtol=1e-6)


# -- keras.utils.image_dataset_from_directory (Keras 3, TensorFlow) ----------------------------
def test_dataset_rgb_32_bilinear(keras, folder, tmp_path):
    files, ref = _dataset(keras, folder, image_size=(32, 32))
    spec = spec_from_hand_card(tmp_path, target_size=[32, 32], resize_backend="tf")
    assert_parity("dataset rgb 32x32 bilinear", files, ref, spec)


def test_dataset_48x40_area_crop(keras, folder, tmp_path):
    files, ref = _dataset(keras, folder, image_size=(48, 40), interpolation="area",
                          crop_to_aspect_ratio=True)
    spec = spec_from_hand_card(tmp_path, target_size=[48, 40], interpolation="area",
                               resize_backend="tf", crop_to_aspect_ratio=True)
    assert_parity("dataset 48x40 area crop_to_aspect", files, ref, spec)


def test_dataset_pad_to_aspect_ratio(keras, folder, tmp_path):
    files, ref = _dataset(keras, folder, image_size=(36, 36), pad_to_aspect_ratio=True)
    spec = spec_from_hand_card(tmp_path, target_size=[36, 36], resize_backend="tf",
                               pad_to_aspect_ratio=True)
    assert_parity("dataset 36x36 bilinear pad_to_aspect", files, ref, spec)


def test_dataset_grayscale_bicubic(keras, folder, tmp_path):
    files, ref = _dataset(keras, folder, image_size=(20, 24), interpolation="bicubic",
                          color_mode="grayscale")
    spec = spec_from_hand_card(tmp_path, color_mode="grayscale", target_size=[20, 24],
                               interpolation="bicubic", resize_backend="tf")
    assert_parity("dataset grayscale 20x24 bicubic", files, ref, spec)


@pytest.mark.parametrize(("module", "mode"), [("resnet50", "caffe"), ("mobilenet_v2", "tf"),
                                              ("densenet", "torch")])
def test_keras_applications_modes(keras, folder, tmp_path, module, mode):
    files, raw = _dataset(keras, folder, image_size=(32, 32))
    ref = getattr(keras.applications, module).preprocess_input(raw.copy())
    spec = spec_from_hand_card(tmp_path, target_size=[32, 32], resize_backend="tf",
                               keras_applications_mode=mode)
    assert_parity(f"dataset 32x32 + {module}.preprocess_input", files, ref, spec)


def test_per_image_standardization_matches_tf(keras, folder, tmp_path):
    import tensorflow as tf

    files, raw = _dataset(keras, folder, image_size=(32, 32))
    ref = np.stack([tf.image.per_image_standardization(x).numpy() for x in raw])
    spec = spec_from_hand_card(tmp_path, target_size=[32, 32], resize_backend="tf",
                               per_image_standardization=True)
    assert_parity("dataset 32x32 + per_image_standardization", files, ref, spec)


def test_opencv_backend_against_dataset_bilinear(keras, folder, tmp_path):
    """The fast path is not a parity backend, but bilinear downscaling agrees on PNG."""
    files, ref = _dataset(keras, folder, image_size=(32, 32))
    spec = spec_from_hand_card(tmp_path, target_size=[32, 32], resize_backend="opencv")
    assert_parity("opencv backend vs dataset bilinear", files, ref, spec)


def test_dataset_recording_matches_hand_card(keras, folder, tmp_path):
    from app.core.cards.recording import record_from_dataset_args

    ds = keras.utils.image_dataset_from_directory(
        str(folder), shuffle=False, batch_size=4, image_size=(48, 40), interpolation="area",
        crop_to_aspect_ratio=True)
    card = record_from_dataset_args(ds.class_names, image_size=(48, 40), interpolation="area",
                                    crop_to_aspect_ratio=True, scale=1 / 255, dataset=ds,
                                    sample_batches=2)
    spec = PreprocessingSpec.from_dict(card.preprocessing)
    hand = spec_from_hand_card(tmp_path, target_size=[48, 40], interpolation="area",
                               resize_backend="tf", crop_to_aspect_ratio=True, scale=1 / 255)
    assert spec == hand.with_changes(source=spec.source)
    assert card.classes == ["cat", "dog"]
    assert card.data["input_statistics"]["images"] == 8
    assert min(card.data["input_statistics"]["min"]) >= 0.0
    assert max(card.data["input_statistics"]["max"]) <= 1.0


# -- the naive inference path, measured for the README ----------------------------------------
def test_naive_opencv_path_is_far_off(tf_keras_image, folder):
    """cv2.imread + cv2.resize at inference vs flow_from_directory(rescale=1/255) in training."""
    import cv2

    it, ref = _flow(tf_keras_image, folder, {"rescale": 1 / 255}, target_size=(32, 32))
    i = it.filepaths.index(str(folder / "cat" / "a_rgb_odd.png"))
    naive = cv2.resize(cv2.imread(it.filepaths[i]), (32, 32)).astype(np.float32)
    bgr_255 = float(np.abs(naive - ref[i]).max())
    rgb_255 = cv2.resize(cv2.cvtColor(cv2.imread(it.filepaths[i]), cv2.COLOR_BGR2RGB), (32, 32))
    resize_only = float(np.abs(rgb_255 / 255.0 - ref[i]).max())
    MEASURED["naive cv2 (BGR, 0-255, bilinear)"] = (bgr_255, float("nan"))
    MEASURED["cv2 RGB /255 but bilinear resize"] = (resize_only, float("nan"))
    assert bgr_255 > 100 and resize_only > 0.05
