"""Fixtures for the window tests: offscreen Qt, settings in a temp dir, real (tiny) models."""

from __future__ import annotations

import os

# Must be set before anything imports Qt.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PROBSCOPE_TF_THREADS", "2")

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

DIGITS = [str(d) for d in range(10)]
INPUT_SIZE = 16


def _digit_png(path: Path, digit: int, size: int = 40) -> Path:
    im = Image.new("RGB", (size, size), (10, 10, 10))
    ImageDraw.Draw(im).text((size // 3, size // 4), str(digit), fill=(240, 240, 240))
    im.save(path)
    return path


def copy_model(model: Path, folder: Path) -> Path:
    """``model`` and every file beside it named after it (card, statistics, LiteRT conversion),
    copied into ``folder`` so that Save may rewrite the card; returns the copy's path."""
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    for part in model.parent.glob(model.name + "*"):
        shutil.copy2(part, folder / part.name)
    return folder / model.name


def write_digit_card(path: Path) -> None:
    """The card every window test model carries: ten digits, OpenCV area, x/255, no check."""
    from app.core.cards.card_file import card_path_for, new_card, write_card

    card = new_card(
        DIGITS,
        {"color_mode": "rgb", "target_size": [INPUT_SIZE, INPUT_SIZE], "interpolation": "area",
         "resize_backend": "opencv", "scale": 1 / 255, "offset": 0.0, "mean": None, "std": None,
         "per_image_standardization": False, "keras_applications_mode": None,
         "source": "test fixture"},
        ood={"score": "msp", "threshold": 0.0, "label": "No digit"},
    )
    write_card(card, card_path_for(path))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real Keras CNN over 10 digit classes with a recorded-preprocessing card."""
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("model")
    path = folder / "tiny.keras"
    model = keras.Sequential([
        keras.Input((INPUT_SIZE, INPUT_SIZE, 3)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(len(DIGITS)),
        keras.layers.Softmax(),
    ])
    model.save(path)
    write_digit_card(path)
    return path


@pytest.fixture(scope="session")
def model_path(tiny_model: Path) -> Path:
    """The bundled digit model when it exists, else the tiny test model."""
    from app.core.resources import bundled_model_path

    bundled = bundled_model_path()
    return bundled if bundled.exists() else tiny_model


@pytest.fixture(scope="session")
def lambda_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model with a Lambda layer: loading it could run code, so it needs trust."""
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    path = tmp_path_factory.mktemp("lambda") / "lambda.keras"
    model = keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Lambda(lambda x: x * 2.0),
        keras.layers.Flatten(),
        keras.layers.Dense(3, activation="softmax"),
    ])
    model.save(path)
    return path


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("images")
    return [_digit_png(folder / f"digit{d}.png", d) for d in range(4)]


@pytest.fixture(scope="session")
def labelled_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Keras-style labelled folder: one sub-folder per class, 3 images each for 3 classes."""
    root = tmp_path_factory.mktemp("labelled")
    for d in (1, 2, 3):
        (root / str(d)).mkdir()
        for k in range(3):
            _digit_png(root / str(d) / f"img{k}.png", d, size=30 + k)
    return root


@pytest.fixture(scope="session")
def big_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Many small images, enough for several batches, so a run can be cancelled mid-way."""
    root = tmp_path_factory.mktemp("many")
    rng = np.random.default_rng(0)
    for i in range(600):
        Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(root / f"n{i}.png")
    return root


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "config"
    monkeypatch.setenv("PROBSCOPE_CONFIG_DIR", str(folder))
    return folder


@pytest.fixture
def window(qtbot, config_dir: Path, model_path: Path) -> Iterator:  # type: ignore[no-untyped-def]
    """A shown main window with the model loaded and Ready."""
    from app.ui.window.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    win.start(str(model_path))
    qtbot.waitUntil(lambda: win.session is not None and win.is_idle(), timeout=60_000)
    yield win
    win.cancel_run()
    qtbot.waitUntil(win.is_idle, timeout=30_000)


def wait_idle(qtbot, win, timeout: int = 60_000) -> None:  # type: ignore[no-untyped-def]
    try:
        qtbot.waitUntil(win.is_idle, timeout=timeout)
    except Exception:
        print("not idle:", win.busy_reasons())
        raise
