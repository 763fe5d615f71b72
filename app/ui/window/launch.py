"""Start the window: ``probscope gui [MODEL] [IMAGE...] [--screenshot PNG]``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, QEventLoop, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication

import app as app_package

if TYPE_CHECKING:
    from app.ui.window.main_window import MainWindow


def _application() -> QApplication:
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough  # crisp text at 125 % / 150 % scaling
    )
    QCoreApplication.setApplicationName("probscope")
    QCoreApplication.setOrganizationName("probscope")
    qapp = QApplication(sys.argv[:1])
    QGuiApplication.setDesktopFileName("probscope")
    return qapp


def _show_window(qapp: QApplication, interactive: bool) -> tuple[MainWindow, Any]:
    # Imported after QApplication exists; still free of TensorFlow (checked by a test).
    from app.ui.window.excepthook import install_excepthook
    from app.ui.window.main_window import MainWindow, icon_path

    qapp.setWindowIcon(QIcon(str(icon_path())))
    window = MainWindow(interactive=interactive)
    previous_hook = install_excepthook(lambda text: window.show_message(text, "error"))
    window.show()
    return window, previous_hook


def run_gui(
    model: str | None = None,
    images: Sequence[str] | None = None,
    trust: bool = False,
    screenshot: str | None = None,
) -> int:
    """Show the window, load the model in the background and classify ``images``.

    With ``screenshot``, save the window as PNG once every result is shown and return
    0 (1 if the model could not be loaded). Otherwise run until the window closes.
    """
    qapp = _application()
    window, previous_hook = _show_window(qapp, interactive=screenshot is None)
    images = list(images or [])

    def begin() -> None:
        # After the first paint: the window is visible while TensorFlow imports.
        QCoreApplication.setApplicationVersion(app_package.__version__)
        window.start(model, trust=trust)
        if images:
            window.classify_paths(images)

    QTimer.singleShot(0, begin)
    if screenshot:
        from app.ui.window.screenshot import screenshot_when_done

        screenshot_when_done(qapp, window, screenshot)
    try:
        code = qapp.exec()
    finally:
        sys.excepthook = previous_hook
    window.save_settings() if screenshot is None else None
    return int(code)


def measure_startup(images: Sequence[str], t0: float) -> None:
    """Benchmark hook: print JSON ``window_visible_s`` and ``first_result_s`` since ``t0``.

    Runs the real window on the bundled model with settings in a throw-away folder, so
    the measurement neither reads nor changes the user's last model.
    """
    import json
    import os
    import shutil
    import tempfile
    import time

    settings = tempfile.mkdtemp(prefix="probscope-bench-")
    os.environ["PROBSCOPE_CONFIG_DIR"] = settings
    qapp = _application()
    window, _ = _show_window(qapp, interactive=True)
    while not window.painted:  # the first frame is drawn: the window is visible
        qapp.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
    times = {"window_visible_s": time.perf_counter() - t0}
    from app.core import bundled_model_path

    def on_result(result: object) -> None:
        if "first_result_s" not in times and getattr(result, "ok", False):
            times["first_result_s"] = time.perf_counter() - t0
            print(json.dumps(times), flush=True)
            qapp.exit(0)

    window.state.shown_changed.connect(on_result)

    def begin() -> None:
        window.start(str(bundled_model_path()))
        window.classify_paths([str(images[0])])

    QTimer.singleShot(0, begin)
    QTimer.singleShot(120_000, lambda: qapp.exit(1))
    code = qapp.exec()
    # Leave at once, as `probscope gui` does: jobs still running (a background TensorFlow
    # import for the analysis tabs) must not race the interpreter's shutdown. os._exit skips
    # every cleanup, so the throw-away settings go first (each run left a folder in /tmp).
    shutil.rmtree(settings, ignore_errors=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
