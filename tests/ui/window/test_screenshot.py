"""`probscope gui --screenshot` renders the classified window offscreen and exits."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from PySide6.QtGui import QImage

ROOT = Path(__file__).resolve().parents[3]
PROBSCOPE = ROOT / ".venv" / "bin" / "probscope"


def _run(args: list[str], config: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PROBSCOPE_CONFIG_DIR=str(config))
    exe = str(PROBSCOPE) if PROBSCOPE.exists() else "probscope"
    return subprocess.run([exe, "gui", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=240)


def test_screenshot_of_classified_images(tmp_path, model_path, images):
    png = tmp_path / "shot.png"
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"\xff\xd8 not a jpeg")
    proc = _run([str(model_path), str(images[0]), str(bad), str(images[1]),
                 "--screenshot", str(png)], tmp_path / "cfg")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    image = QImage(str(png))
    assert not image.isNull() and image.width() >= 800 and image.height() >= 500


def test_screenshot_with_a_bad_model_still_renders(tmp_path, images):
    png = tmp_path / "bad.png"
    model = tmp_path / "broken.keras"
    model.write_bytes(b"not a model")
    proc = _run([str(model), str(images[0]), "--screenshot", str(png)], tmp_path / "cfg")
    assert proc.returncode == 1
    assert "broken.keras" in proc.stderr and "Traceback" not in proc.stderr
    assert QImage(str(png)).width() >= 800


def test_a_saved_window_has_its_class_names_on_the_plot_axis(qtbot, tmp_path, images) -> None:
    # A banner above the results changes the layout as the first result arrives; the axis then
    # sizes itself to its labels only while painting, which a single grab did not wait for.
    from app.core.tf_runtime import import_keras
    from app.ui.window.main_window import MainWindow
    from app.ui.window.screenshot import save_window
    from tests.ui.conftest import wait_idle

    keras = import_keras()
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Rescaling(1 / 255),
                              keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    path = tmp_path / "raw.keras"
    model.save(path)
    path.with_name("raw.keras.probscope.json").write_text(
        '{"format": "probscope.model-card", "version": 1, "classes": ["circle", "square", '
        '"triangle"], "preprocessing": {"target_size": [16, 16], "scale": 0.00392156862745098, '
        '"source": "test"}}')
    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(1200, 780)
    win.show()
    win.start(str(path))
    qtbot.waitUntil(lambda: win.session is not None and win.is_idle(), timeout=60_000)
    win.classify_paths([str(images[0])])
    qtbot.waitUntil(lambda: bool(win.history_results()), timeout=60_000)
    wait_idle(qtbot, win)
    png = tmp_path / "shot.png"
    assert save_window(win, str(png))
    axis = win.plot.plot.getAxis("left")
    box = axis.mapRectToScene(axis.boundingRect())
    view = win.plot.widget
    top_left = view.mapTo(win, view.mapFromScene(box.topLeft()))
    shot = QImage(str(png))
    dark = sum(1 for x in range(max(top_left.x(), 0), top_left.x() + int(box.width()) - 8)
               for y in range(top_left.y(), top_left.y() + int(box.height()))
               if shot.pixelColor(x, y).lightness() < 100)
    assert axis.width() > 30 and dark > 40, (axis.width(), dark)


def test_a_tflite_whose_card_decodes_with_tensorflow_opens_with_an_image(tmp_path, images):
    """LiteRT answers first and TensorFlow is imported in the background; the image's decode
    (a `--like dataset` card: TensorFlow's decoder) imported TensorFlow on a window worker
    meanwhile and the window segfaulted, 3 starts of 3."""
    import json

    from app.core.tf_runtime import import_keras, import_tensorflow

    keras, tf = import_keras(), import_tensorflow()
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    path = tmp_path / "phone.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    card = {"format": "probscope.model-card", "version": 1, "classes": ["a", "b", "c"],
            "preprocessing": {"target_size": [16, 16], "scale": 1 / 255, "resize_backend": "tf",
                              "interpolation": "bilinear", "source": "test: dataset"}}
    path.with_name("phone.tflite.probscope.json").write_text(json.dumps(card))
    for start in range(2):
        png = tmp_path / f"start{start}.png"
        proc = _run([str(path), str(images[0]), "--screenshot", str(png)], tmp_path / "cfg")
        assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
        assert QImage(str(png)).width() >= 800
