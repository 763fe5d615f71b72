"""The history tab: a table of every result, export to CSV/JSON, and clear."""

from __future__ import annotations

from collections import deque

from PySide6.QtCore import QItemSelection, QModelIndex, QSize, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.ui.history_model import (
    COL_FILE,
    COL_FLAGS,
    COL_LABEL,
    COL_PROB,
    COL_SET,
    COL_THUMB,
    HistoryEntry,
    HistoryModel,
)
from app.ui.jobs.image_jobs import thumbnail_job
from app.ui.jobs.runner import JobRunner
from app.ui.results.history_export import export_csv, export_json
from app.ui.widgets.qt_images import THUMBNAIL_SIZE

FITTED_COLUMNS = (COL_LABEL, COL_PROB, COL_SET)

MAX_THUMBNAIL_JOBS = 2
# Rows a little smaller than the thumbnails: at the default window size the tab shows six
# rows instead of three, and a 36 px digit is still recognisable.
ROW_ICON = 36


class HistoryTable(QWidget):
    """The table over a :class:`HistoryModel` (the view state's history, or its own)."""

    entry_selected = Signal(object)  # HistoryEntry
    message = Signal(str, str)  # text, kind

    def __init__(self, model: HistoryModel | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model if model is not None else HistoryModel(self)
        self.view = QTableView(self)
        self.view.setModel(self.model)
        self.view.setAcceptDrops(False)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAlternatingRowColors(True)
        self.view.setIconSize(QSize(min(ROW_ICON, THUMBNAIL_SIZE), min(ROW_ICON, THUMBNAIL_SIZE)))
        self.view.verticalHeader().setMinimumSectionSize(ROW_ICON + 2)
        self.view.verticalHeader().setDefaultSectionSize(ROW_ICON + 2)
        self.view.verticalHeader().hide()
        self.view.setAccessibleName("Classification history")
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(COL_THUMB, QHeaderView.ResizeMode.Fixed)
        self.view.setColumnWidth(COL_THUMB, ROW_ICON + 8)
        header.setSectionResizeMode(COL_FILE, QHeaderView.ResizeMode.Interactive)
        self.view.setColumnWidth(COL_FILE, 260)
        # Fitted by _fit_columns, not ResizeToContents: the header measures only rows on
        # screen, so rows added while the tab is hidden (a folder run) left "No digi…" cut.
        for col in FITTED_COLUMNS:
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(COL_FLAGS, QHeaderView.ResizeMode.Stretch)
        self.view.selectionModel().selectionChanged.connect(self._on_selection)

        self.count_label = QLabel(self)
        self.csv_button = QPushButton("Export CSV…", self)
        self.csv_button.clicked.connect(lambda: self.export_dialog("csv"))
        self.json_button = QPushButton("Export JSON…", self)
        self.json_button.clicked.connect(lambda: self.export_dialog("json"))
        self.clear_button = QPushButton("Clear", self)
        self.clear_button.setToolTip("Forget every result of this session")
        self.clear_button.clicked.connect(self.clear)
        bar = QHBoxLayout()
        bar.addWidget(self.count_label, 1)
        bar.addWidget(self.csv_button)
        bar.addWidget(self.json_button)
        bar.addWidget(self.clear_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.view, 1)
        lay.addLayout(bar)

        self._thumb_queue: deque[tuple[int, str]] = deque()
        # Every thumbnail asked for is wanted: older jobs are not cancelled by newer ones.
        self._thumbs = JobRunner(self, cancel_previous=False)
        self._thumbs.finished.connect(self._on_thumbnail)
        self._thumbs.stale.connect(self._on_thumbnail)
        self.model.thumbnail_needed.connect(self._queue_thumbnail)
        self.model.rowsInserted.connect(self._update_count)
        self.model.modelReset.connect(self._update_count)
        self.model.rowsInserted.connect(self._fit_columns)
        self.model.modelReset.connect(self._fit_columns)
        self.model.dataChanged.connect(self._on_data_changed)
        self._update_count()

    # -- thumbnails: streamed, a couple at a time -------------------------------------------------
    def _queue_thumbnail(self, key: int, path: str) -> None:
        self._thumb_queue.append((key, path))
        self._pump_thumbnails()

    def _pump_thumbnails(self) -> None:
        while self._thumb_queue and self._thumbs.in_flight < MAX_THUMBNAIL_JOBS:
            key, path = self._thumb_queue.popleft()
            if self.model.row_of(key) is None:
                continue
            self._thumbs.start(thumbnail_job, key, path)

    def _on_thumbnail(self, outcome: tuple[int, object]) -> None:
        key, image = outcome
        self.model.set_thumbnail(key, image)  # type: ignore[arg-type]
        self._pump_thumbnails()

    @property
    def busy(self) -> bool:
        return bool(self._thumbs.in_flight or self._thumb_queue)

    # -- rows ---------------------------------------------------------------------------------
    def _fit_columns(self, *args: object) -> None:
        if self.view.isVisible():
            for col in FITTED_COLUMNS:
                self.view.resizeColumnToContents(col)

    def _on_data_changed(self, top_left: QModelIndex, bottom_right: QModelIndex,
                         *_roles: object) -> None:
        # A thumbnail arriving changes only its own column: nothing to re-measure.
        if top_left.column() <= max(FITTED_COLUMNS) and bottom_right.column() >= min(FITTED_COLUMNS):
            self._fit_columns()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        self._fit_columns()

    def _update_count(self, *args: object) -> None:
        rows = self.model.entries
        errors = sum(1 for e in rows if not e.result.ok)
        ood = sum(1 for e in rows if e.result.no_class)
        n = len(rows) - errors
        text = f"{n} image{'s' if n != 1 else ''} classified" if rows else "Nothing classified yet"
        if errors:
            text += f" · {errors} could not be read"
        if ood:
            text += f" · {ood} look like none of the classes"
        self.count_label.setText(text)
        for b in (self.csv_button, self.json_button, self.clear_button):
            b.setEnabled(bool(rows))

    def _on_selection(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = {i.row() for i in selected.indexes()}
        if len(rows) == 1:
            self.entry_selected.emit(self.model.entries[rows.pop()])

    def select_key(self, key: int) -> None:
        row = self.model.row_of(key)
        if row is not None:
            self.view.selectRow(row)

    def scroll_to_end(self) -> None:
        self.view.scrollToBottom()

    def clear(self) -> None:
        self._thumb_queue.clear()
        self.model.clear()

    def entry(self, row: int) -> HistoryEntry:
        return self.model.entries[row]

    # -- export -------------------------------------------------------------------------------
    def export(self, path: str, kind: str) -> None:
        results = self.model.results
        try:
            out = export_csv(results, path) if kind == "csv" else export_json(results, path)
        except OSError as exc:
            self.message.emit(f"Could not export: {exc.strerror or exc}", "error")
            return
        self.message.emit(f"Exported {len(results)} results to {out}", "info")

    def export_dialog(self, kind: str) -> None:
        filt = "CSV files (*.csv)" if kind == "csv" else "JSON files (*.json)"
        path, _ = QFileDialog.getSaveFileName(self, f"Export history as {kind.upper()}",
                                              f"probscope-results.{kind}", filt)
        if path:
            self.export(path, kind)
