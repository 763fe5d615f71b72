"""The real window on a real (virtual) X server: what a fresh desktop needs, not offscreen Qt.

Offscreen Qt starts without any of the X11 libraries the ``xcb`` platform plugin links; this
test starts Xvfb and opens ``probscope gui`` on it with ``QT_QPA_PLATFORM=xcb``, as a desktop
session would. ``make test`` installs Xvfb and the libraries (as root, with apt-get).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("Xvfb") is None,
                                reason="needs Xvfb (make test installs it as root)")


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x1024x24",
                               "-nolisten", "tcp"], pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    try:
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(10)


def test_the_window_opens_on_an_x_server_and_renders(display: str, tmp_path: Path) -> None:
    from app.core.resources import bundled_model_path, bundled_samples_dir

    sample = next(iter(sorted(bundled_samples_dir().glob("digit_7*.png"))))
    shot = tmp_path / "window.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "DISPLAY": display,
           "PROBSCOPE_CONFIG_DIR": str(tmp_path / "config"), "QT_DEBUG_PLUGINS": "0"}
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "gui", "--model", str(bundled_model_path()), str(sample),
         "--screenshot", str(shot)], env=env, capture_output=True, text=True, timeout=240)
    assert "Could not load the Qt platform plugin" not in proc.stderr, (
        "the X11 window cannot start: run `python packaging/linux/qt_system_libs.py` "
        f"for the missing packages\n{proc.stderr[-2000:]}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert shot.stat().st_size > 10_000
