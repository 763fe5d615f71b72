"""The main window: drop images or a model, see the prediction, its probabilities and history.

The window owns no ML: it asks :mod:`app.core` (through the jobs in :mod:`app.ui.workers`)
and shows what comes back. TensorFlow is only imported by those jobs, on worker threads,
so the window is on screen long before TensorFlow has finished importing.
"""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QIcon, QKeySequence, QPaintEvent
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QFrame,
    QMainWindow,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QWidget,
)

from app.core.models.inspection import looks_like_model
from app.core.session.results import Classification
from app.ui.drop_area import DropArea, DropPayload, payload_from_mime
from app.ui.folder_report import FolderReport
from app.ui.history_model import HistoryEntry
from app.ui.history_table import HistoryTable
from app.ui.message_banner import MessageBanner
from app.ui.probability_plot import ProbabilityPlot
from app.ui.result_view import ResultView
from app.ui.settings import AppSettings
from app.ui.status_bar import StatusBar
from app.ui.trust_dialog import TrustDialog
from app.ui.workers import (
    ImageSource,
    LoadOutcome,
    RunBatch,
    RunFinished,
    RunStarted,
    SessionHandle,
    Shown,
    classify_one_job,
    close_session_job,
    ensure_thread_capacity,
    folder_run_job,
    load_model_job,
    start,
    view_job,
)

if TYPE_CHECKING:
    from app.core.session.model_session import ModelSession

STATE_LOADING_TF = "Loading TensorFlow…"
STATE_READY = "Ready"
STATE_NO_MODEL = "No model: open one with File → Open model (Ctrl+Shift+O)"

_STYLE = """
#emptyState { border: 2px dashed palette(mid); border-radius: 10px; padding: 24px; }
#dropArea[dragging="true"] { border: 3px dashed palette(highlight); border-radius: 10px; }
"""


def icon_path() -> Path:
    from app.core.resources import resources_dir

    return resources_dir() / "icons" / "probscope.svg"


class MainWindow(QMainWindow):
    """Drop images, see what the model says; panels subscribe to :attr:`session_changed`."""

    session_changed = Signal(object)  # ModelSession or None
    results_added = Signal(list)  # list[Classification], as they stream into the history
    history_cleared = Signal()
    result_shown = Signal(object)  # the Classification now shown as the current result

    def __init__(self, settings: AppSettings | None = None, interactive: bool = True,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        ensure_thread_capacity()
        self.settings = settings if settings is not None else AppSettings()
        # In --screenshot mode nothing may wait for a click, so risky models are refused.
        self.interactive = interactive
        self.handle: SessionHandle | None = None
        self.model_error: str | None = None
        self.trust_dialog: TrustDialog | None = None
        self._generation = 0
        self._load_seq = 0
        self._loading = False
        self._fallback_model: str | None = None
        self._pending: deque[tuple[str, Any]] = deque()  # drops waiting for a model
        self._runs: deque[list[str]] = deque()
        self._run_worker: Any = None
        self._run_cancel = threading.Event()
        self._run_results: list[Classification] = []
        self._run_root: str | None = None
        self._display_seq = 0
        self._jobs: set[Any] = set()
        self._names = 0
        self._temperature: float | None = None
        self._selecting = False
        self._shown_key: int | None = None
        self._pictures: tuple[Any, Any] = (None, None)

        self.setWindowTitle("probscope")
        self.setWindowIcon(QIcon(str(icon_path())))
        self.resize(1200, 780)
        self.setMinimumSize(800, 520)
        self._build()
        self._build_menus()
        # The probability chart and the analysis tabs (pyqtgraph, superqt) are built just
        # after the window's first paint: start-up only pays for what the first view shows.
        self.panels: dict[str, Any] = {}
        self.painted = False  # set by the first paint; the deferred parts wait for it
        QTimer.singleShot(0, self._install_panels)
        self._restore_settings()

    # -- construction ---------------------------------------------------------------------
    def _build(self) -> None:
        self.drop_area = DropArea(self)
        self.drop_area.setStyleSheet(_STYLE)
        self.drop_area.dropped.connect(self.handle_payload)
        self.warnings_banner = MessageBanner(self.drop_area)
        self.warnings_banner.setAccessibleName("Model warnings")
        self.message_banner = MessageBanner(self.drop_area)
        self.message_banner.setAccessibleName("Messages")

        self.result_view = ResultView(self.drop_area)
        self.plot = ProbabilityPlot(self.settings.top_k, self.settings.sort_by_probability, self.drop_area)
        self.plot.top_k_changed.connect(self._on_top_k)
        self.plot.sort_changed.connect(self._on_sort)

        self.top_splitter = QSplitter(Qt.Orientation.Horizontal, self.drop_area)
        self.top_splitter.addWidget(self.result_view)
        self.top_splitter.addWidget(self.plot)
        self.top_splitter.setStretchFactor(0, 3)
        self.top_splitter.setStretchFactor(1, 2)

        self.tabs = QTabWidget(self.drop_area)
        self.tabs.setAcceptDrops(False)
        self.history = HistoryTable(self.tabs)
        self.history.entry_selected.connect(self._on_history_selected)
        self.history.message.connect(self.show_message)
        self.history.clear_button.clicked.connect(self.history_cleared)
        self.folder_report = FolderReport(self.tabs)
        self.tabs.addTab(self.history, "History")
        self.tabs.addTab(self.folder_report, "Folder run")

        self.splitter = QSplitter(Qt.Orientation.Vertical, self.drop_area)
        self.splitter.addWidget(self.top_splitter)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        # The current result is what people came for; the tabs get the rest (restored later).
        self.splitter.setSizes([460, 260])

        body = self.drop_area.body
        body.addWidget(self.warnings_banner)
        body.addWidget(self.message_banner)
        body.addWidget(self.splitter, 1)
        self.setCentralWidget(self.drop_area)

        self.status = StatusBar(self)
        self.status.cancel_requested.connect(self.cancel_run)
        self.setStatusBar(self.status)
        self.status.set_state(STATE_LOADING_TF)

    def _action(self, text: str, slot: Any, shortcut: QKeySequence | str | None = None,
                tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        self.painted = True

    def _install_panels(self) -> None:
        if self.isVisible() and not self.painted:
            QTimer.singleShot(10, self._install_panels)  # not yet on screen: wait for the frame
            return
        if not self.panels:
            from app.ui.window_panels import install_panels

            self.plot.ensure_chart()
            self.panels = install_panels(self)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.open_images_action = self._action("Open &images…", self.open_images_dialog,
                                               QKeySequence.StandardKey.Open, "Classify image files")
        file_menu.addAction(self.open_images_action)
        file_menu.addAction(self._action("Open image &folder…", self.open_folder_dialog, "Ctrl+Shift+F",
                                         "Classify every image in a folder, recursively"))
        self.paste_action = self._action("&Paste image", self.paste, QKeySequence.StandardKey.Paste,
                                         "Classify the image or files on the clipboard")
        file_menu.addAction(self.paste_action)
        file_menu.addSeparator()
        file_menu.addAction(self._action("Open &model…", self.open_model_dialog, "Ctrl+Shift+O",
                                         "Load a .keras or .h5 model"))
        file_menu.addAction(self._action("Open &SavedModel folder…", self.open_savedmodel_dialog))
        self.recent_menu = file_menu.addMenu("&Recent models")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        file_menu.addAction(self._action("Export history as &CSV…", lambda: self.history.export_dialog("csv")))
        file_menu.addAction(self._action("Export history as &JSON…", lambda: self.history.export_dialog("json")))
        file_menu.addSeparator()
        file_menu.addAction(self._action("&Quit", self.close, QKeySequence.StandardKey.Quit))

        view_menu = bar.addMenu("&View")
        self.sort_action = QAction("&Sort bars by probability", self, checkable=True)
        self.sort_action.setChecked(self.plot.sort_box.isChecked())
        self.sort_action.toggled.connect(self.plot.sort_box.setChecked)
        self.plot.sort_box.toggled.connect(self.sort_action.setChecked)
        view_menu.addAction(self.sort_action)
        view_menu.addAction(self._action("Clear &history", self._clear_history, None))

        run_menu = bar.addMenu("&Run")
        self.cancel_action = self._action("&Cancel folder run", self.cancel_run, Qt.Key.Key_Escape)
        run_menu.addAction(self.cancel_action)

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self._action("&About probscope", self._about))

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_models
        if not recent:
            action = self.recent_menu.addAction("(none yet)")
            action.setEnabled(False)
            return
        for path in recent:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.open_model(p))
        self.recent_menu.addSeparator()
        self.recent_menu.addAction("Clear list").triggered.connect(self.settings.clear_recent_models)

    def _restore_settings(self) -> None:
        geometry, state, splitter = self.settings.window_state()
        # A screenshot must not depend on how the user last left the window.
        if geometry is not None and self.interactive:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        if splitter is not None and self.interactive:
            self.splitter.restoreState(splitter)

    def save_settings(self) -> None:
        self.settings.save_window_state(self.saveGeometry(), self.saveState(),
                                        QByteArray(self.splitter.saveState()))
        self.settings.top_k = self.plot.k_box.value()
        self.settings.sort_by_probability = self.plot.sort_box.isChecked()
        self.settings.sync()

    def _on_top_k(self, k: int) -> None:
        self.settings.top_k = k

    def _on_sort(self, on: bool) -> None:
        self.settings.sort_by_probability = on

    # -- public API for panels -----------------------------------------------------------------
    @property
    def session(self) -> ModelSession | None:
        return None if self.handle is None else self.handle.session

    def history_results(self) -> list[Classification]:
        return self.history.model.results

    def history_file_paths(self) -> list[str]:
        """Image files this model classified this session (for diagnosing them together)."""
        model = self.history.model
        return [e.result.path for e in model.entries
                if e.generation == model.generation and e.result.ok and e.original is None]

    @property
    def current_result(self) -> Classification | None:
        return self.result_view.result

    def add_panel(self, title: str, widget: QWidget) -> int:
        """Add a tab (Calibration, None-of-the-classes check, Diagnostics, …); returns its index."""
        # In a scroll area, so a tall panel cannot squeeze the current result above it.
        scroll = QScrollArea(self.tabs)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(widget)
        return self.tabs.addTab(scroll, title)

    def set_temperature(self, temperature: float | None) -> None:
        """Re-render the current result at temperature ``t`` (None: the card's own)."""
        self._temperature = None if temperature is None else float(temperature)
        if self.result_view.result is not None:
            self._render_current(self.result_view.result, keep_pictures=True)

    def show_message(self, text: str, kind: str = "info") -> None:
        """A non-modal message above the result; a newer one replaces it."""
        self.message_banner.show_message(text, kind)

    # -- start-up and models -----------------------------------------------------------------
    def start(self, model: str | None = None, trust: bool = False) -> None:
        """Load ``model``, else the last one used, else the bundled digit model."""
        from app.core.resources import bundled_model_path

        bundled = str(bundled_model_path())
        if model:
            self.open_model(model, trust=trust)
            return
        last = self.settings.last_model
        if last and Path(last).exists():
            self._fallback_model = bundled if Path(bundled).exists() and last != bundled else None
            self.open_model(last)
        elif Path(bundled).exists():
            self.open_model(bundled)
        else:
            self.model_error = "the bundled model is missing"
            self.status.set_state(STATE_NO_MODEL)
            self.show_message("No model loaded yet: drop a .keras/.h5 model here or use "
                              "File → Open model.", "warning")

    def open_model(self, path: str, trust: bool = False) -> None:
        """Load a model in the background; the newest request wins."""
        if self._run_worker is not None:
            self.cancel_run()  # its results were for the old model; stop it cleanly
        self._load_seq += 1
        self._loading = True
        seq = self._load_seq
        self.status.set_state(STATE_LOADING_TF if self.handle is None else f"Loading model {Path(path).name}…")
        start(load_model_job, str(path), trust, track=self._jobs,
              yielded=lambda text: self._on_load_progress(seq, text),
              returned=lambda outcome: self._on_loaded(seq, outcome, trust))

    def _on_load_progress(self, seq: int, text: str) -> None:
        if seq == self._load_seq and (text != STATE_LOADING_TF or self.handle is None):
            self.status.set_state(text)

    def _on_loaded(self, seq: int, outcome: LoadOutcome, trusted: bool) -> None:
        if seq != self._load_seq:  # a newer model was asked for meanwhile
            if outcome.session is not None:
                outcome.session.close()
            return
        self._loading = False
        name = Path(outcome.path).name
        if outcome.risky:
            if self.interactive:
                self._ask_trust(outcome.path, outcome.risky)
                return
            self._load_failed(f"{name}: refused to load: it contains {'; '.join(outcome.risky[:4])}. "
                              "Load it only if you trust this file (--trust-model)")
            return
        if outcome.session is None:
            fallback, self._fallback_model = self._fallback_model, None
            if fallback:
                self.show_message(f"Could not reopen the last model ({outcome.error}); "
                                  "using the bundled model instead", "warning")
                self.open_model(fallback)
                return
            self._load_failed(outcome.error or f"{name}: could not be loaded")
            return
        self._fallback_model = None
        self._install_session(outcome.session, outcome.device)

    def _load_failed(self, message: str) -> None:
        if self.handle is None:
            self.model_error = message
            self.status.set_state(STATE_NO_MODEL)
        else:
            self.status.set_state(STATE_READY)
        self.show_message(message, "error")
        self._flush_pending()

    def _ask_trust(self, path: str, risky: list[str]) -> None:
        self.status.set_state("Waiting for your decision about the model…")
        dialog = TrustDialog(path, risky, self)
        self.trust_dialog = dialog
        dialog.accepted.connect(lambda: self.open_model(path, trust=True))
        dialog.rejected.connect(lambda: self._load_failed(
            f"Did not load {Path(path).name}: you chose not to trust code it contains"))
        dialog.finished.connect(lambda _: setattr(self, "trust_dialog", None))
        dialog.open()

    def _install_session(self, session: ModelSession, device: str) -> None:
        old = self.handle
        self._generation += 1
        self.handle = SessionHandle(session, device, self._generation)
        if old is not None:
            start(close_session_job, old, track=self._jobs)
        self.model_error = None
        self.status.set_session(session, device)
        self.status.set_state(STATE_READY)
        self.plot.set_classes(session.classes)
        self.history.model.ood_label = session.ood.label
        self.history.model.generation = self._generation
        self._temperature = None
        self.result_view.clear()
        warnings = session.warnings
        if warnings:
            self.warnings_banner.show_message("<br>".join(f"⚠ {w}" for w in warnings), "warning")
        else:
            self.warnings_banner.clear()
        if self.message_banner.kind == "error":
            self.message_banner.clear()
        self.setWindowTitle(f"probscope — {session.loaded.name}")
        self.settings.add_recent_model(session.loaded.path)
        self.session_changed.emit(session)
        self._flush_pending()

    # -- input ------------------------------------------------------------------------------
    def handle_payload(self, payload: DropPayload) -> None:
        """Route a drop or paste: models load, images and folders are classified."""
        if payload.unsupported and not (payload.paths or payload.images):
            self.show_message(f"Cannot use {payload.unsupported[0]}: only local files and image "
                              "data can be dropped", "error")
            return
        models = [p for p in payload.paths if looks_like_model(p)]
        images = [p for p in payload.paths if p not in models]
        if models:
            if len(models) > 1:
                self.show_message(f"Several models dropped; loading {Path(models[0]).name}", "warning")
            self.open_model(models[0])
        for data in payload.images:
            self._names += 1
            self.classify_image(ImageSource(f"dropped image {self._names}", data=data))
        if images:
            self.classify_paths(images)

    def classify_paths(self, paths: list[str]) -> None:
        """One file is shown at once; many files or folders run in batches with progress."""
        if len(paths) == 1 and Path(paths[0]).is_file():
            self.classify_image(ImageSource(paths[0], path=paths[0]))
        else:
            self._enqueue("run", list(paths))

    def classify_image(self, item: ImageSource) -> None:
        self._enqueue("single", item)

    def _ready(self) -> bool:
        return self.handle is not None and not self._loading

    def _enqueue(self, kind: str, value: Any) -> None:
        self._pending.append((kind, value))
        if self._ready():
            self._flush_pending()
        elif self.handle is None and not self._loading and self.model_error:
            self.show_message("Images are waiting for a model: open one with File → Open model", "warning")

    def _flush_pending(self) -> None:
        if not self._ready():
            return
        while self._pending:
            kind, value = self._pending.popleft()
            if kind == "single":
                self._start_single(value)
            else:
                self._runs.append(value)
        self._start_next_run()

    def paste(self) -> None:
        payload = payload_from_mime(QApplication.clipboard().mimeData())
        if not payload:
            self.show_message("The clipboard holds no image, image file or folder", "warning")
            return
        self.handle_payload(payload)

    def open_images_dialog(self) -> None:
        from app.core.images.decoding import IMAGE_EXTENSIONS

        pattern = " ".join(f"*{e}" for e in sorted(IMAGE_EXTENSIONS))
        paths, _ = QFileDialog.getOpenFileNames(self, "Open images", "",
                                                f"Images ({pattern});;All files (*)")
        if paths:
            self.classify_paths(paths)

    def open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Classify every image in a folder")
        if path:
            self.classify_paths([path])

    def open_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open model", "",
                                              "Keras models (*.keras *.h5 *.hdf5);;All files (*)")
        if path:
            self.open_model(path)

    def open_savedmodel_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a TensorFlow SavedModel folder")
        if path:
            self.open_model(path)

    # -- single images: newest request wins the display -------------------------------------------
    def _start_single(self, item: ImageSource) -> None:
        assert self.handle is not None
        self._display_seq += 1
        self.status.set_state(f"Classifying {Path(item.name).name}…")
        start(classify_one_job, self.handle, item, self._display_seq, track=self._jobs,
              returned=lambda shown: self._on_single(shown, item))

    def _on_single(self, shown: Shown, item: ImageSource) -> None:
        if self.handle is None or shown.generation != self.handle.generation:
            self.classify_image(item)  # classified by a model since replaced: redo with the new one
            return
        originals = [shown.original] if item.path is None else None
        key = self.history.model.add([shown.result], [shown.thumb], originals)[0]
        self.results_added.emit([shown.result])
        self.status.set_latency(self.handle.session.last_latency_ms)
        if shown.request_id == self._display_seq:
            self._show(shown.result, shown.original, shown.seen, key)
            if not shown.result.ok:
                self.show_message(f"Could not classify {shown.result.error}", "error")
        if self._run_worker is None and not self._loading:
            self.status.set_state(STATE_READY)

    def _show(self, result: Classification, original: Any, seen: Any, key: int | None = None) -> None:
        self._shown_key = key
        self._pictures = (original, seen)
        self._render_current(result, keep_pictures=False)
        if key is not None:
            self._selecting = True
            self.history.select_key(key)
            self._selecting = False
            self.history.view.scrollTo(self.history.model.index(self.history.model.row_of(key) or 0, 0))

    def _render_current(self, result: Classification, keep_pictures: bool) -> None:
        session = self.session
        shown = result
        if self._temperature is not None and result.ok and result.logits is not None and session is not None:
            shown = self._at_temperature(result, self._temperature)
        original, seen = self._pictures
        desc = ""
        if session is not None and session.spec.target_size:
            h, w = session.spec.target_size
            desc = f"{w}×{h}, {session.spec.color_mode}"
        if keep_pictures:
            original, seen = self.result_view.original.image(), self.result_view.seen.image()
        self.result_view.show_result(shown, session.ood.label if session else "None of the classes",
                                     original, seen, desc)
        self.result_view.result = result  # keep the model's own result; T is a view setting
        if shown.ok and shown.probabilities is not None:
            self.plot.set_probabilities(shown.probabilities, shown.raw_probabilities,
                                        shown.temperature, shown.index)
        else:
            self.plot.clear()
        self.result_shown.emit(shown)

    def _at_temperature(self, result: Classification, t: float | None) -> Classification:
        return self._recompute([result], t)[0]

    def _recompute(self, results: list[Classification], t: float | None) -> list[Classification]:
        """Results again from their stored logits: temperature ``t`` and the card's OOD check now."""
        import numpy as np

        from app.core.models.predictor import ModelOutputs

        session = self.session
        assert session is not None
        features = [r.features for r in results]
        outputs = ModelOutputs(
            logits=np.stack([np.asarray(r.logits) for r in results]),
            probabilities=np.stack([np.asarray(r.raw_probabilities if r.raw_probabilities is not None
                                               else r.probabilities) for r in results]),
            features=None if any(f is None for f in features) else np.stack(features),
        )
        fresh = session.results_from_outputs([r.path for r in results], outputs, temperature=t)
        for old, new in zip(results, fresh, strict=True):
            new.model_input = old.model_input
        return fresh

    def rescore(self) -> None:
        """Re-apply the card (after its OOD check or temperature was saved) to this model's results.

        Only the stored logits and features are needed, so nothing is re-run; results of
        earlier models keep the verdicts their own model gave.
        """
        if self.session is None:
            return
        entries = [e for e in self.history.model.entries
                   if e.generation == self._generation and e.result.ok and e.result.logits is not None]
        if entries:
            fresh = self._recompute([e.result for e in entries], None)
            self.history.model.replace_results({e.key: r for e, r in zip(entries, fresh, strict=True)})
        shown = self.history.model.row_of(self._shown_key) if self._shown_key is not None else None
        if shown is not None and self.history.model.entries[shown].generation == self._generation:
            self._render_current(self.history.model.entries[shown].result, keep_pictures=True)
        elif self.result_view.result is not None:
            self._render_current(self.result_view.result, keep_pictures=True)

    def _on_history_selected(self, entry: HistoryEntry) -> None:
        if self._selecting or entry.key == self._shown_key:
            return
        self._display_seq += 1
        self._shown_key = entry.key
        self._pictures = (entry.original, None)
        self._render_current(entry.result, keep_pictures=False)
        if self.handle is not None and (entry.has_file or entry.result.model_input is not None):
            seq = self._display_seq
            start(view_job, self.handle, entry.result, seq, track=self._jobs,
                  returned=lambda shown: self._on_view(shown, entry))

    def _on_view(self, shown: Shown, entry: HistoryEntry) -> None:
        if shown.request_id != self._display_seq:
            return  # the user has moved on to another row
        original = shown.original if shown.original is not None else entry.original
        self.result_view.set_pictures(original, shown.seen)
        self._pictures = (original, shown.seen)

    # -- folder runs ------------------------------------------------------------------------------
    def _start_next_run(self) -> None:
        if self._run_worker is not None or not self._runs or not self._ready():
            return
        assert self.handle is not None
        paths = self._runs.popleft()
        self._run_cancel = threading.Event()
        self._run_results = []
        self._run_root = None
        label = Path(paths[0]).name if len(paths) == 1 else f"{len(paths)} items"
        self.status.set_state(f"Classifying {label}…")
        self.status.show_progress(0, 0, 0.0)
        handle = self.handle
        self._run_worker = start(folder_run_job, handle, paths, self._run_cancel, track=self._jobs,
                                 yielded=self._on_run_progress,
                                 returned=lambda fin: self._on_run_finished(fin, handle))

    def _on_run_progress(self, event: RunStarted | RunBatch) -> None:
        if isinstance(event, RunStarted):
            self._run_root = event.labelled_root
            if event.errors:
                self.history.model.add(event.errors)
                self.results_added.emit(event.errors)
                self._run_results.extend(event.errors)
                self.show_message(event.errors[0].error or "", "error")
            self.status.show_progress(0, event.total, 0.0)
            return
        self.history.model.add(event.results)
        self._run_results.extend(event.results)
        self.results_added.emit(event.results)
        self.status.show_progress(event.done, event.total, event.images_per_s)
        if self.handle is not None:
            self.status.set_latency(self.handle.session.last_latency_ms)

    def _on_run_finished(self, fin: RunFinished, handle: SessionHandle) -> None:
        self._run_worker = None
        self.status.hide_progress()
        results = self._run_results
        errors = sum(1 for r in results if not r.ok)
        rate = fin.done / fin.seconds if fin.seconds > 0 else 0.0
        if fin.error:
            self.show_message(f"The folder run stopped: {fin.error}", "error")
        elif fin.cancelled:
            self.show_message(f"Cancelled after {fin.done} of {fin.total} images", "info")
        elif errors:
            self.show_message(f"Classified {fin.done - errors} of {fin.done} images ({rate:.0f}/s); "
                              f"{errors} could not be read — see the Flags column", "warning")
        elif fin.done > 1:
            self.show_message(f"Classified {fin.done} images in {fin.seconds:.1f} s ({rate:.0f} images/s)")
        if self._run_root is not None and fin.done:
            self.folder_report.show_run(results, self._run_root, handle.session.classes, fin.cancelled)
            self.tabs.setCurrentWidget(self.folder_report)
        shown_any = [r for r in results if r.ok] or results
        if shown_any and handle is self.handle:
            last = shown_any[-1]
            model = self.history.model
            entry = next((e for e in reversed(model.entries) if e.result is last), None)
            if entry is not None:
                self._shown_key = None
                self._on_history_selected(entry)
                self._selecting = True
                self.history.select_key(entry.key)
                self._selecting = False
                self.history.scroll_to_end()
        if not self._loading:
            self.status.set_state(STATE_READY if self.handle is not None else STATE_NO_MODEL)
        self._start_next_run()

    def cancel_run(self) -> None:
        """Stop the folder run after the current batch; queued runs are dropped too."""
        if self._run_worker is not None:
            self._run_cancel.set()
            self.status.set_state("Cancelling…")
        self._runs.clear()

    @property
    def run_in_progress(self) -> bool:
        return self._run_worker is not None

    # -- idle, history, about, close --------------------------------------------------------------
    def is_idle(self) -> bool:
        """Nothing loading, running or waiting (drops waiting for a model that failed don't count)."""
        waiting = bool(self._pending) and self.handle is not None
        return (not self._loading and self._run_worker is None and not self._runs and not waiting
                and not self._jobs and self.trust_dialog is None and not self.history.busy)

    def busy_reasons(self) -> list[str]:
        """Why :meth:`is_idle` is False, for logs and test failures."""
        reasons = {
            "loading a model": self._loading,
            "folder run": self._run_worker is not None or bool(self._runs),
            "drops waiting": bool(self._pending) and self.handle is not None,
            f"{len(self._jobs)} jobs": bool(self._jobs),
            "trust dialog open": self.trust_dialog is not None,
            "thumbnails": self.history.busy,
        }
        return [k for k, v in reasons.items() if v]

    def _clear_history(self) -> None:
        self.history.clear()
        self.history_cleared.emit()

    def _about(self) -> None:
        from app.ui.about import show_about

        show_about(self)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        self.save_settings()
        self.cancel_run()
        self._pending.clear()
        super().closeEvent(event)

    def wait_idle_timer(self, callback: Any, interval_ms: int = 100) -> QTimer:
        """Poll until idle, then call ``callback`` once (used by --screenshot)."""
        timer = QTimer(self)
        timer.setInterval(interval_ms)

        def check() -> None:
            if self.is_idle():
                timer.stop()
                callback()

        timer.timeout.connect(check)
        timer.start()
        return timer
