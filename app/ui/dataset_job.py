"""Computing a data set's model outputs off the GUI thread, for the calibration and OOD panels.

The jobs are plain module-level functions (Orange3's ``concurrent.py`` pattern): they take
their inputs, a progress callback and a cancel event, and return plain results; they never
touch widgets. :class:`JobRunner` starts them with superqt's ``create_worker``, reports
progress through a queued signal, and makes the newest start win: a new start cancels the
previous job and results of a superseded job are dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from superqt.utils import WorkerBase, create_worker

from app.core.errors import ProbscopeError
from app.ui.workers import one_line

if TYPE_CHECKING:
    from app.core.data.outputs import DataOutputs
    from app.core.session.model_session import ModelSession

ProgressFn = Callable[[int, int], None]


class Cancelled(Exception):
    """The user pressed Cancel (or a newer job replaced this one)."""


@dataclass
class DataRun:
    """A data set's outputs plus what the user should be told about the data."""

    path: str
    name: str
    outputs: DataOutputs
    notes: list[str] = field(default_factory=list)  # about the data set (e.g. missing classes)

    @property
    def warnings(self) -> list[str]:
        """The data notes plus how many images could not be read."""
        skipped = len(self.outputs.skipped)
        return self.notes + ([f"{skipped} unreadable image(s) were skipped"] if skipped else [])


def outputs_for(
    session: ModelSession,
    path: str,
    labelled: bool,
    progress: ProgressFn,
    cancel: threading.Event,
) -> DataRun:
    """Load a folder or ``.npz`` and run the model over it once (cached on disk by the core)."""
    # Imported here so that importing the panels never pulls in the model stack.
    from pathlib import Path

    from app.core.data.labelled import load_data
    from app.core.data.outputs import compute_outputs

    data = load_data(path, session.classes, labelled=labelled)
    if cancel.is_set():
        raise Cancelled
    try:
        outputs = compute_outputs(session, data, progress, cancel.is_set)
    except ProbscopeError:
        if cancel.is_set():  # compute_outputs reports a cancel as a DataError
            raise Cancelled from None
        raise
    return DataRun(path, Path(path).name or str(path), outputs, list(data.notes))


class JobRunner(QObject):
    """Runs one job at a time on the thread pool; the newest start wins.

    Signals
    -------
    progress(done, total)
        From the job's progress callback (queued to the GUI thread).
    finished(object)
        The job's return value.
    failed(str)
        A one-line message; not emitted for cancelled or superseded jobs.
    cancelled()
        The job stopped because the user cancelled it.
    running_changed(bool)
        True when a job starts, False when the latest one ends.
    """

    progress = Signal(int, int)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    running_changed = Signal(bool)

    # Carries (generation, done, total) from the worker thread; queued because the emitting
    # thread is not the one this object lives in.
    _progress_from_worker = Signal(int, int, int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._generation = 0
        self._cancel = threading.Event()
        self._worker: WorkerBase | None = None
        self._running = False
        self._progress_from_worker.connect(self._relay_progress)

    @property
    def running(self) -> bool:
        return self._running

    def start(self, func: Callable[..., Any], *args: Any) -> None:
        """Run ``func(*args, progress, cancel)`` on a worker thread, cancelling any older job."""
        self.cancel(silent=True)
        self._generation += 1
        generation = self._generation
        cancel = threading.Event()
        self._cancel = cancel

        def report(done: int, total: int) -> None:
            self._progress_from_worker.emit(generation, done, total)

        def run() -> tuple[int, str, Any]:
            # Errors become values so that nothing is re-raised on the GUI thread.
            try:
                return generation, "ok", func(*args, report, cancel)
            except Cancelled:
                return generation, "cancelled", None
            except Exception as exc:  # a bad folder or file must never crash the window
                return generation, *(("cancelled", None) if cancel.is_set()
                                      else ("error", one_line(exc)))

        worker = create_worker(run, _start_thread=False)
        # A bound method, not a lambda: Qt drops the connection if this runner (and its
        # panel) is deleted while the job still runs, instead of calling into a dead object.
        worker.returned.connect(self._done)
        self._worker = worker
        self._set_running(True)
        worker.start()

    def cancel(self, silent: bool = False) -> None:
        """Ask the running job to stop; its result, if any, is dropped."""
        if not self._running:
            return
        self._cancel.set()
        self._generation += 1  # whatever the old job still returns is now stale
        self._set_running(False)
        if not silent:
            self.cancelled.emit()

    def _relay_progress(self, generation: int, done: int, total: int) -> None:
        if generation == self._generation:
            self.progress.emit(done, total)

    def _done(self, outcome: tuple[int, str, Any]) -> None:
        generation, kind, value = outcome
        if generation != self._generation:
            return
        self._set_running(False)
        if kind == "ok":
            self.finished.emit(value)
        elif kind == "error":
            self.failed.emit(value)
        else:
            self.cancelled.emit()

    def _set_running(self, running: bool) -> None:
        if running != self._running:
            self._running = running
            self.running_changed.emit(running)
