"""Folder runs: many files or folders classified in batches, one run at a time, cancellable.

Results stream into the history as each batch is done; the status bar shows progress and a
Cancel button. A labelled folder (class sub-folders) ends with its accuracy and confusion
matrix in the Folder run tab; the last image is then shown.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QTabWidget

from app.core import Classification
from app.ui.history_model import HistoryEntry
from app.ui.jobs.folder_run import RunBatch, RunFinished, RunStarted, folder_run_job
from app.ui.jobs.model_jobs import SessionHandle
from app.ui.jobs.runner import JobRunner
from app.ui.results.folder_report import FolderReport
from app.ui.state import ViewState
from app.ui.window.status_bar import STATE_NO_MODEL, STATE_READY, StatusBar


class FolderRunController(QObject):
    """Queues runs, runs them one by one and reports each; ``cancel`` stops the current one."""

    def __init__(self, state: ViewState, status: StatusBar, report: FolderReport, tabs: QTabWidget,
                 show_message: Callable[[str, str], None],
                 show_entry: Callable[[HistoryEntry], None],
                 model_ready: Callable[[], bool], model_loading: Callable[[], bool]) -> None:
        super().__init__(tabs)
        self.state = state
        self.status = status
        self.report = report
        self.tabs = tabs
        self.show_message = show_message
        self.show_entry = show_entry
        self.model_ready = model_ready
        self.model_loading = model_loading
        self.queued: deque[list[str]] = deque()
        self._results: list[Classification] = []
        self._root: str | None = None
        self._unlabelled_why: str | None = None
        self._handle: SessionHandle | None = None
        self._runner = JobRunner(self)
        self._runner.yielded.connect(self._on_progress)
        self._runner.finished.connect(self._on_finished)

    @property
    def running(self) -> bool:
        return self._runner.running

    @property
    def jobs_in_flight(self) -> int:
        return self._runner.in_flight

    def queue(self, paths: list[str]) -> None:
        """Run ``paths`` after the runs before them."""
        self.queued.append(list(paths))
        self._start_next()

    def cancel(self) -> None:
        """Stop the run after the current batch; queued runs are dropped too."""
        if self._runner.running:
            self._runner.stop()  # it still reports how far it got
            self.status.set_state("Cancelling…")
        self.queued.clear()

    def _start_next(self) -> None:
        handle = self.state.handle
        if self._runner.running or not self.queued or not self.model_ready() or handle is None:
            return
        paths = self.queued.popleft()
        self._results = []
        self._root = None
        self._unlabelled_why = None
        self._handle = handle
        label = Path(paths[0]).name if len(paths) == 1 else f"{len(paths)} items"
        self.status.set_state(f"Classifying {label}…")
        self.status.show_progress(0, 0, 0.0)
        self._runner.start(folder_run_job, handle, paths)

    def _on_progress(self, event: RunStarted | RunBatch) -> None:
        if isinstance(event, RunStarted):
            self._root = event.labelled_root
            self._unlabelled_why = event.unlabelled_why
            if event.errors:
                self.state.add_results(event.errors)
                self._results.extend(event.errors)
                self.show_message(event.errors[0].error or "", "error")
            self.status.show_progress(0, event.total, 0.0)
            return
        self.state.add_results(event.results)
        self._results.extend(event.results)
        self.status.show_progress(event.done, event.total, event.images_per_s)
        if self.state.session is not None:
            self.status.set_latency(self.state.session.last_latency_ms)

    def _on_finished(self, fin: RunFinished) -> None:
        handle, results = self._handle, self._results
        self.status.hide_progress()
        errors = sum(1 for r in results if not r.ok)
        rate = fin.done / fin.seconds if fin.seconds > 0 else 0.0
        if fin.error:
            self.show_message(f"The folder run stopped: {fin.error}", "error")
        elif fin.cancelled:
            self.show_message(f"Cancelled after {fin.done} of {fin.total} images", "info")
        elif errors == fin.done:
            self.show_message(f"None of the {fin.done} images could be read — see the Flags "
                              "column", "warning")
        elif errors:
            self.show_message(f"Classified {fin.done - errors} of {fin.done} images ({rate:.0f}/s); "
                              f"{errors} could not be read — see the Flags column", "warning")
        elif fin.done > 1:
            self.show_message(f"Classified {fin.done} images in {fin.seconds:.1f} s "
                              f"({rate:.0f} images/s)", "info")
        if self._root is not None and fin.done and handle is not None:
            self.report.show_run(results, self._root, handle.session.classes, fin.cancelled)
            self.tabs.setCurrentWidget(self.report)
        elif self._unlabelled_why and fin.done:
            self.report.show_unlabelled(self._unlabelled_why)
        shown_any = [r for r in results if r.ok] or results
        if shown_any and handle is self.state.handle:
            last = shown_any[-1]
            entry = next((e for e in reversed(self.state.history.entries) if e.result is last), None)
            if entry is not None:
                self.show_entry(entry)
        if not self.model_loading():
            self.status.set_state(STATE_READY if self.state.handle is not None else STATE_NO_MODEL)
        self._start_next()
