"""Run something on the GUI thread once a condition holds, or after a deadline at the latest."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer

POLL_MS = 20


def call_when(owner: QObject, ready: Callable[[], bool], action: Callable[[], None],
              most_s: float) -> None:
    """Call ``action`` once ``ready()`` is true, polled every 20 ms, or after ``most_s``.

    The timer belongs to ``owner``: deleting it (a closed window) stops the polling.
    """
    deadline = time.monotonic() + most_s
    timer = QTimer(owner)
    timer.setInterval(POLL_MS)

    def poll() -> None:
        if ready() or time.monotonic() >= deadline:
            timer.stop()
            timer.deleteLater()
            action()

    timer.timeout.connect(poll)
    timer.start()
