"""The Qt binding itself: what the window relies on from PySide6 across a long session."""

from __future__ import annotations

import sys
import threading

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    posted = Signal(int, str, object)


def test_emitting_a_signal_leaves_reference_counts_as_they_were(qtbot) -> None:
    """PySide6 6.12.0 returned ``True`` from ``emit`` one reference short: every emit, from any
    thread, lowered True's count until Python aborted (``bool_dealloc``) mid-session."""
    emitter = _Emitter()
    received = []
    emitter.posted.connect(lambda *args: received.append(args))

    def emit_many() -> None:
        for i in range(200):
            emitter.posted.emit(i, "progress", None)

    before = sys.getrefcount(True)
    emit_many()
    worker = threading.Thread(target=emit_many)  # as the job runner's workers do
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: len(received) == 400)
    received.clear()
    # Other code holds and drops True meanwhile: a few references either way are noise; the
    # broken binding loses one per emit, 400 here.
    assert sys.getrefcount(True) > before - 40
