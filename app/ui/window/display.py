"""What the window shows as the current result: the newest image asked for, or a history row.

Every image dropped is classified and lands in the history, but only the newest request is
shown: a result that arrives after a newer drop (or after the user picked a history row)
goes to the history only. Picking a row shows its result at once and re-renders its pictures
from the file in the background (the history keeps thumbnails only).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject

from app.ui.history_model import HistoryEntry
from app.ui.jobs.image_jobs import ImageSource, Shown, classify_one_job, view_job
from app.ui.jobs.runner import JobRunner
from app.ui.results.history_table import HistoryTable
from app.ui.results.result_view import ResultView
from app.ui.state import ViewState
from app.ui.window.status_bar import STATE_READY, StatusBar


class CurrentDisplay(QObject):
    """Classifies single images and keeps the view state's current result and its pictures."""

    def __init__(self, state: ViewState, result_view: ResultView, history: HistoryTable,
                 status: StatusBar, show_message: Callable[[str, str], None],
                 classify_later: Callable[[ImageSource], None],
                 busy_elsewhere: Callable[[], bool]) -> None:
        super().__init__(result_view)
        self.state = state
        self.result_view = result_view
        self.history = history
        self.status = status
        self.show_message = show_message
        self.classify_later = classify_later
        self.busy_elsewhere = busy_elsewhere
        self._selecting = False  # the window selects a row itself: not a user's pick
        self._viewing: HistoryEntry | None = None
        # Older single images still finish (they belong in the history): not cancelled.
        self._singles = JobRunner(self, cancel_previous=False)
        self._singles.finished.connect(self._on_newest_single)
        self._singles.stale.connect(self._on_older_single)
        self._views = JobRunner(self)
        self._views.finished.connect(self._on_view)
        history.entry_selected.connect(self.on_history_selected)

    @property
    def jobs_in_flight(self) -> int:
        return self._singles.in_flight + self._views.in_flight

    # -- single images: newest request wins the display --------------------------------------
    def classify(self, item: ImageSource) -> None:
        handle = self.state.handle
        assert handle is not None
        self._views.cancel(silent=True)  # the row picked before is no longer what to show
        self.status.set_state(f"Classifying {Path(item.name).name}…")
        self._singles.start(classify_one_job, handle, item)

    def _on_newest_single(self, shown: Shown) -> None:
        self._on_single(shown, newest=True)

    def _on_older_single(self, shown: Shown) -> None:
        self._on_single(shown, newest=False)

    def _on_single(self, shown: Shown, newest: bool) -> None:
        handle, item = self.state.handle, shown.item
        assert item is not None
        if handle is None or shown.generation != handle.generation:
            self.classify_later(item)  # classified by a model since replaced: redo with the new one
            return
        originals = [shown.original] if item.path is None else None
        key = self.state.add_results([shown.result], [shown.thumb], originals)[0]
        self.status.set_latency(handle.session.last_latency_ms)
        if newest:
            self._show(shown, key)
            if not shown.result.ok:
                self.show_message(f"Could not classify {shown.result.error}", "error")
        if not self.busy_elsewhere():
            self.status.set_state(STATE_READY)

    def _show(self, shown: Shown, key: int) -> None:
        self.result_view.set_pictures(shown.original, shown.seen)
        self.state.set_current(shown.result, key)
        self._select(key)
        model = self.history.model
        self.history.view.scrollTo(model.index(model.row_of(key) or 0, 0))

    def _select(self, key: int) -> None:
        self._selecting = True
        self.history.select_key(key)
        self._selecting = False

    # -- history rows ---------------------------------------------------------------------------
    def on_history_selected(self, entry: HistoryEntry) -> None:
        """Show a history row's result now and its full pictures once re-rendered."""
        if self._selecting or entry.key == self.state.current_key:
            return
        self._singles.cancel(silent=True)  # images still classifying go to the history only
        self._views.cancel(silent=True)  # the row picked before is no longer what to show
        self.result_view.set_pictures(entry.original, None)
        self.state.set_current(entry.result, entry.key)
        handle = self.state.handle
        if handle is not None and (entry.has_file or entry.result.model_input is not None):
            self._viewing = entry
            self._views.start(view_job, handle, entry.result)

    def show_entry(self, entry: HistoryEntry) -> None:
        """Show ``entry`` as if picked, select its row and scroll to the end (after a run)."""
        self.state.current_key = None
        self.on_history_selected(entry)
        self._select(entry.key)
        self.history.scroll_to_end()

    def _on_view(self, shown: Shown) -> None:
        entry = self._viewing
        original = shown.original if shown.original is not None or entry is None else entry.original
        self.result_view.set_pictures(original, shown.seen)
