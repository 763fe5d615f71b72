"""Shared fixtures: real images on disk and small real Keras models trained in seconds."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Throwaway test models are not converted to LiteRT in the background (the LiteRT tests turn
# it on), and no test writes into the user's cache.
os.environ.setdefault("PROBSCOPE_CONVERT", "0")
# Removed when the run ends (pytest_unconfigure): a run's LiteRT conversions are ~200 MB.
_OWN_CACHE = None if "PROBSCOPE_CACHE_DIR" in os.environ else tempfile.mkdtemp(
    prefix="probscope-test-cache-")
if _OWN_CACHE is not None:
    os.environ["PROBSCOPE_CACHE_DIR"] = _OWN_CACHE
# A window a test makes without the ``config_dir`` fixture (and every ``probscope gui`` a test
# starts) must not remember its throwaway model as the user's last one: it did, and the next
# real ``make run`` opened a test model instead of the bundled one. Always a fresh folder.
_OWN_SETTINGS = tempfile.mkdtemp(prefix="probscope-test-settings-")
os.environ["PROBSCOPE_CONFIG_DIR"] = _OWN_SETTINGS

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


def colour_image(rng: np.random.Generator, rgb: tuple[int, int, int], size: tuple[int, int]) -> np.ndarray:
    """A noisy image dominated by one colour: easy to learn, varied enough to be real data."""
    h, w = size
    base = np.array(rgb, dtype=np.float64)
    img = base + rng.normal(0, 30, size=(h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def write_png(path: Path, rgb: np.ndarray) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)
    return path


@pytest.fixture(scope="session")
def colour_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A labelled folder (Keras convention) of PNG files of three colour classes."""
    root = tmp_path_factory.mktemp("colours")
    rng = np.random.default_rng(1)
    for name, rgb in COLOURS.items():
        for i in range(12):
            size = (int(rng.integers(12, 40)), int(rng.integers(12, 40)))
            write_png(root / name / f"{name}_{i}.png", colour_image(rng, rgb, size))
    return root


@pytest.fixture(scope="session")
def colour_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small CNN trained for a few seconds to tell red, green and blue images apart.

    Saved as ``colours.keras`` with a card recording its preprocessing (OpenCV, x/255).
    """
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    names = list(COLOURS)
    x = np.stack([colour_image(rng, COLOURS[names[i % 3]], (16, 16)) for i in range(300)])
    y = np.array([i % 3 for i in range(300)])
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            # Named, so tests can find layers whatever else this process built first.
            keras.layers.Conv2D(8, 3, activation="relu", name="conv2d"),
            keras.layers.GlobalAveragePooling2D(name="global_average_pooling2d"),
            keras.layers.Dense(16, activation="relu", name="dense"),
            keras.layers.Dense(3, activation="softmax", name="dense_1"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy")
    model.fit(x.astype("float32") / 255.0, y, epochs=15, batch_size=32, verbose=0)
    root = tmp_path_factory.mktemp("colour_model")
    path = root / "colours.keras"
    model.save(path)
    card = {
        "format": "probscope.model-card",
        "version": 1,
        "classes": names,
        "preprocessing": {
            "color_mode": "rgb", "target_size": [16, 16], "interpolation": "area",
            "resize_backend": "opencv", "scale": 1 / 255, "offset": 0.0, "mean": None,
            "std": None, "per_image_standardization": False, "keras_applications_mode": None,
            "source": "test: OpenCV area, x/255",
        },
        "calibration": {"temperature": 1.0},
        "ood": {"score": "msp", "threshold": 0.0},
    }
    (root / "colours.keras.probscope.json").write_text(json.dumps(card))
    return path


# -- leaving the test process ------------------------------------------------------------------
_exit_status: list[int] = [0]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status[0] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove this run's cache; leave without the final garbage collection once Qt was used.

    Every test has run and been reported by now. PySide6 6.12 can abort while Python
    finalizes its Qt wrappers (``bool_dealloc``), which would replace the real exit
    status with 134; ``probscope gui`` leaves the same way for the same reason.
    """
    import sys

    for folder in (_OWN_CACHE, _OWN_SETTINGS):
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    if "PySide6.QtWidgets" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[0])
