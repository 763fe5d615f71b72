"""The export's preprocessing graph against probscope's own backends, on real PNG and JPEG files.

Largest differences measured here (0-255 pixel scale, 32x32 target, images 12-120 px):
``tf`` 0 for every interpolation; ``opencv`` 0 for nearest and bilinear, 6e-5 for area;
``pil`` 0 for nearest, 1 grey level (uint8 rounding) for bilinear, bicubic and lanczos.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.core.errors import CardError
from app.core.export.preprocess_graph import check_exportable, export_problem, image_to_input
from app.core.preprocessing.pipeline import prepare_input
from app.core.preprocessing.spec import PreprocessingSpec
from tests.core.export.image_files import write_image_files

CASES = [("tf", "nearest", 1e-5), ("tf", "bilinear", 1e-5), ("tf", "area", 1e-5),
         ("tf", "bicubic", 1e-5), ("tf", "lanczos", 1e-5),
         ("opencv", "nearest", 1e-4), ("opencv", "bilinear", 1e-4), ("opencv", "area", 1e-4),
         ("pil", "nearest", 1e-4), ("pil", "bilinear", 1.0001), ("pil", "bicubic", 1.0001),
         ("pil", "lanczos", 1.0001)]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("parity")
    return (write_image_files(folder / "big", 16, seed=1)
            + write_image_files(folder / "small", 8, seed=2, sizes=(12, 31))[-4:])


@pytest.mark.parametrize("backend, interpolation, tolerance", CASES)
@pytest.mark.parametrize("color_mode", ["rgb", "grayscale"])
def test_graph_reproduces_the_backend(files, backend, interpolation, tolerance, color_mode) -> None:
    import tensorflow as tf

    spec = PreprocessingSpec(color_mode=color_mode, target_size=(32, 32), scale=1.0,
                             interpolation=interpolation, resize_backend=backend)
    fn = tf.function(lambda b: image_to_input(tf, b, spec),
                     input_signature=[tf.TensorSpec([], tf.string)])
    worst = {".png": 0.0, ".jpg": 0.0}
    for path in files:
        diff = np.abs(fn(tf.constant(path.read_bytes())).numpy() - prepare_input(str(path), spec))
        worst[path.suffix] = max(worst[path.suffix], float(diff.max()))
    assert max(worst.values()) <= tolerance, worst


def test_normalisation_matches_on_the_model_scale(files) -> None:
    import tensorflow as tf

    spec = PreprocessingSpec(target_size=(24, 20), resize_backend="tf", interpolation="bilinear",
                             color_mode="bgr", keras_applications_mode="caffe",
                             per_image_standardization=True, mean=(0.1, 0.2, 0.3), std=(2.0,))
    fn = tf.function(lambda b: image_to_input(tf, b, spec),
                     input_signature=[tf.TensorSpec([], tf.string)])
    for path in files[:6]:
        got = fn(tf.constant(path.read_bytes())).numpy()
        assert np.abs(got - prepare_input(str(path), spec)).max() < 1e-5


@pytest.mark.parametrize("backend, interpolation", [("opencv", "lanczos"), ("opencv", "bicubic"),
                                                    ("pil", "area")])
def test_what_has_no_tensorflow_op_is_refused_with_the_reason(backend, interpolation) -> None:
    spec = PreprocessingSpec(target_size=(32, 32), resize_backend=backend, interpolation=interpolation)
    assert "record the tf" in export_problem(spec)
    with pytest.raises(CardError, match="cannot export"):
        check_exportable(spec)


def test_a_card_without_target_size_is_refused() -> None:
    assert "target_size" in export_problem(PreprocessingSpec(target_size=None))


@pytest.mark.parametrize("shape", [(49, 24), (24, 49), (32, 17), (100, 31), (7, 5)])
def test_graph_reproduces_opencv_area_when_one_side_grows_and_one_shrinks(tmp_path, shape) -> None:
    """With one side shrinking and the other growing (or both growing), OpenCV's INTER_AREA
    interpolates both axes with its linear "area mode" coefficients, not a box filter."""
    import tensorflow as tf
    from PIL import Image

    rng = np.random.default_rng(0)
    path = tmp_path / "tall.png"
    Image.fromarray(rng.integers(0, 256, (*shape, 3), dtype=np.uint8)).save(path)
    spec = PreprocessingSpec(target_size=(32, 32), scale=1.0, interpolation="area",
                             resize_backend="opencv")
    fn = tf.function(lambda b: image_to_input(tf, b, spec),
                     input_signature=[tf.TensorSpec([], tf.string)])
    diff = np.abs(fn(tf.constant(path.read_bytes())).numpy() - prepare_input(str(path), spec))
    assert diff.max() <= 1e-4


@pytest.mark.parametrize("interpolation", ["bicubic", "lanczos"])
@pytest.mark.parametrize("shape", [(64, 40), (100, 50), (35, 33), (40, 64), (41, 35), (12, 20)])
def test_graph_follows_pillows_order_of_passes(tmp_path, interpolation, shape) -> None:
    """Black-and-white noise rings and clips between the two passes, so only the right order
    of rows and columns (Pillow 13 resamples columns first when much more height goes than
    width) keeps the graph within a grey level of Pillow."""
    import tensorflow as tf
    from PIL import Image

    h, w = shape
    noise = np.random.default_rng(h * w).random((h, w, 3)) > 0.5
    path = tmp_path / "noise.png"
    Image.fromarray(noise.astype(np.uint8) * 255).save(path)
    spec = PreprocessingSpec(target_size=(32, 32), scale=1.0, interpolation=interpolation,
                             resize_backend="pil")
    got = image_to_input(tf, tf.constant(path.read_bytes()), spec).numpy()
    assert np.abs(got - prepare_input(str(path), spec)).max() <= 1.0001


# Sizes whose samples fall exactly on pixel edges: 512 -> 28 (3.5 * 512 / 28 = 64), 102 -> 224
# (OpenCV's area mode at 112 * 102 / 224 = 51), a 660 x 550 photo padded into 28 x 28
# (660 / (660 / 28) = 28), 40 -> 28 and 16 -> 7 (where OpenCV 5's own nearest takes the lower
# pixel), and sizes with no edge case as a control.
EDGE_CASES = [("pil", "nearest", False, (512, 512), (28, 28)),
              ("pil", "nearest", False, (400, 328), (28, 28)),
              ("opencv", "nearest", False, (40, 16), (28, 7)),
              ("opencv", "nearest", False, (512, 512), (28, 28)),
              ("opencv", "area", False, (102, 102), (224, 160)),
              ("opencv", "bilinear", True, (660, 550), (28, 28)),
              ("opencv", "nearest", True, (384, 191), (224, 160)),
              ("opencv", "bilinear", False, (301, 203), (32, 32))]


@pytest.mark.parametrize("backend, interpolation, pad, shape, size", EDGE_CASES)
def test_samples_on_pixel_edges_take_the_same_pixel(tmp_path, backend, interpolation, pad,
                                                    shape, size) -> None:
    """A sample on a pixel edge goes to the pixel the backend's own arithmetic picks (Pillow
    adds its step in double; OpenCV rounds its area fraction to float), and a traced division
    by a constant is no longer a multiplication by a reciprocal that moves the edge."""
    import tensorflow as tf
    from PIL import Image

    noise = np.random.default_rng(shape[0]).integers(0, 256, (*shape, 3), dtype=np.uint8)
    path = tmp_path / "edges.png"
    Image.fromarray(noise).save(path)
    spec = PreprocessingSpec(target_size=size, scale=1.0, interpolation=interpolation,
                             resize_backend=backend, pad_to_aspect_ratio=pad)
    fn = tf.function(lambda b: image_to_input(tf, b, spec),
                     input_signature=[tf.TensorSpec([], tf.string)])
    diff = np.abs(fn(tf.constant(path.read_bytes())).numpy() - prepare_input(str(path), spec))
    # OpenCV sums a big shrink in another order than TensorFlow: hundredths of a grey level.
    assert diff.max() <= (1.0001 if backend == "pil" and interpolation != "nearest" else 0.01)


def test_nearest_takes_the_pixel_whose_centre_is_nearest() -> None:
    from fractions import Fraction

    from app.core.preprocessing.backends import nearest_centres

    for n_src, n_dst in [(512, 28), (16, 7), (40, 28), (7, 32), (660, 224), (1, 5), (5, 1)]:
        exact = [int((Fraction(i) + Fraction(1, 2)) * n_src / n_dst) for i in range(n_dst)]
        assert nearest_centres(n_src, n_dst).tolist() == exact
