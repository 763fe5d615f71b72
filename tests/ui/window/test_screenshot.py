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
