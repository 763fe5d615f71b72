"""--screenshot: wait until every result is on screen, save the window as PNG, and quit."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from app.ui.window.main_window import MainWindow
from app.ui.window.status_bar import STATE_READY

# Past this, save whatever is shown rather than hang a script forever.
SCREENSHOT_TIMEOUT_S = 180
_SETTLE_MS = 300


def wait_idle_timer(window: MainWindow, callback: Callable[[], None], interval_ms: int = 100) -> QTimer:
    """Poll until ``window`` is idle, then call ``callback`` once."""
    timer = QTimer(window)
    timer.setInterval(interval_ms)

    def check() -> None:
        if window.is_idle():
            timer.stop()
            callback()

    timer.timeout.connect(check)
    timer.start()
    return timer


def save_window(window: MainWindow, png: str) -> bool:
    """Grab the whole window (menus, status bar) into ``png``; returns success."""
    Path(png).parent.mkdir(parents=True, exist_ok=True)
    # An axis sizes itself to its tick labels while it paints, and the layout follows on the
    # next pass: on screen that is one frame, but a single grab would keep the axis unlabelled.
    window.grab()
    QApplication.processEvents()
    return bool(window.grab().save(png, "PNG"))


def screenshot_when_done(app: QApplication, window: MainWindow, png: str) -> None:
    """Quit ``app`` with 0 (1 if the model failed) once idle and the PNG is saved."""
    done = False

    def finish(timed_out: bool = False) -> None:
        nonlocal done
        if done:
            return
        done = True
        if timed_out:
            print(f"probscope: warning: gave up waiting after {SCREENSHOT_TIMEOUT_S} s; "
                  "saving the window as it is", file=sys.stderr)
        # Let layouts and the plot settle before grabbing.
        QTimer.singleShot(_SETTLE_MS, lambda: _save_and_quit(app, window, png))

    def on_idle() -> None:
        if window.status.state != STATE_READY and window.model_error is None:
            wait_idle_timer(window, on_idle)  # idle but not yet "Ready": keep polling
            return
        finish()

    wait_idle_timer(window, on_idle)
    QTimer.singleShot(SCREENSHOT_TIMEOUT_S * 1000, lambda: finish(True))


def _save_and_quit(app: QApplication, window: MainWindow, png: str) -> None:
    ok = save_window(window, png)
    if not ok:
        print(f"probscope: error: could not write {png}", file=sys.stderr)
    if window.model_error:
        print(f"probscope: error: {window.model_error}", file=sys.stderr)
    app.exit(0 if ok and window.model_error is None else 1)
