"""The main window's shell: layout, tabs, drop routing, settings and idleness.

The window owns no ML and little behaviour: :class:`~app.ui.state.ViewState` holds what is
shown, and three controllers do the work: :class:`SessionController` (which model),
:class:`CurrentDisplay` (which result) and :class:`FolderRunController` (batches of images).
TensorFlow is only imported by their jobs, on worker threads, so the window is on screen long
before TensorFlow has finished importing; the probability chart (pyqtgraph) and the analysis
tabs (pyqtgraph, superqt) are built just after the first paint.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QCloseEvent, QIcon, QPaintEvent
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QMainWindow,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QWidget,
)

from app.core.models import looks_like_model
from app.ui.jobs.image_jobs import ImageSource
from app.ui.results.explain_controller import ExplainController
from app.ui.results.folder_report import FolderReport
from app.ui.results.history_table import HistoryTable
from app.ui.results.probability_plot import ProbabilityPlot
from app.ui.results.result_view import ResultView
from app.ui.state import ViewState
from app.ui.widgets.call_when import call_when
from app.ui.widgets.drop_area import DropArea, DropPayload, payload_from_mime
from app.ui.widgets.message_banner import MessageBanner
from app.ui.window.actions import build_menus
from app.ui.window.display import CurrentDisplay
from app.ui.window.folder_runs import FolderRunController
from app.ui.window.session_controller import SessionController
from app.ui.window.settings import SPLITTER_MINIMUMS, AppSettings, TabFitter, restore_splitter
from app.ui.window.status_bar import STATE_LOADING_TF, StatusBar

if TYPE_CHECKING:
    from app.core import Classification, ModelSession
    from app.ui.jobs.model_jobs import SessionHandle
    from app.ui.window.trust_dialog import TrustDialog

# Beyond it the tabs are built even if the model has still not settled. Not sooner: built while
# TensorFlow imports on a worker (a model with no LiteRT conversion), they stalled the event
# loop for 2.5 s (import locks and the GIL); after the load they take half a second.
PANELS_WAIT_S = 30.0

_STYLE = """
#emptyState { border: 2px dashed palette(mid); border-radius: 10px; padding: 24px; }
#dropArea[dragging="true"] { border: 3px dashed palette(highlight); border-radius: 10px; }
"""


def icon_path() -> Path:
    # resources_dir is not exported by app.core (see the house report).
    from app.core.resources import resources_dir

    return resources_dir() / "icons" / "probscope.svg"


class MainWindow(QMainWindow):
    """Drop images, see what the model says; panels bind to :attr:`state`."""

    def __init__(self, settings: AppSettings | None = None, interactive: bool = True,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings if settings is not None else AppSettings()
        self.state = ViewState(self)
        self._names = 0  # numbers "dropped image N"
        self.setWindowTitle("probscope")
        self.setWindowIcon(QIcon(str(icon_path())))
        self.resize(1200, 780)
        self.setMinimumSize(800, 520)
        self._build()
        self.sessions = SessionController(self.state, self.status, self.settings, self.show_message,
                                          self, interactive)
        self.display = CurrentDisplay(self.state, self.result_view, self.history, self.status,
                                      self.show_message, self.sessions.classify_later,
                                      lambda: self.runs.running or self.sessions.loading)
        self.explain = ExplainController(self.state, self.result_view)  # heat maps
        self.runs = FolderRunController(self.state, self.status, self.folder_report, self.tabs,
                                        self.show_message, self.display.show_entry,
                                        lambda: self.sessions.ready, lambda: self.sessions.loading)
        self.sessions.loading_started.connect(self.cancel_run)  # its results were for the old model
        self.sessions.single_ready.connect(self.display.classify)
        self.sessions.run_ready.connect(self.runs.queue)
        self.state.session_changed.connect(self._on_session)
        self.menu_actions = build_menus(self, self)
        self.sort_action = self.menu_actions.sort
        self.sort_action.setChecked(self.plot.sort_box.isChecked())
        self.sort_action.toggled.connect(self.plot.sort_box.setChecked)
        self.plot.sort_box.toggled.connect(self.sort_action.setChecked)
        self.open_images_action, self.paste_action = self.menu_actions.open_images, self.menu_actions.paste
        # The probability chart and the analysis tabs (pyqtgraph, superqt) are built just
        # after the window's first paint: start-up only pays for what the first view shows.
        self.panels: dict[str, Any] = {}
        self.painted = False  # set by the first paint; the deferred parts wait for it
        # Building the tabs blocks the GUI thread for half a second: after the first frame, the
        # model's load and the first answer to an image given at launch.
        call_when(self, self._ready_for_panels, self._install_panels, PANELS_WAIT_S)
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
        self.result_view.follow(self.state)
        self.plot = ProbabilityPlot(self.settings.top_k, self.settings.sort_by_probability, self.drop_area)
        self.plot.follow(self.state)
        self.plot.top_k_changed.connect(self._on_top_k)
        self.plot.sort_changed.connect(self._on_sort)

        self.top_splitter = QSplitter(Qt.Orientation.Horizontal, self.drop_area)
        self.top_splitter.addWidget(self.result_view)
        self.top_splitter.addWidget(self.plot)
        self.top_splitter.setStretchFactor(0, 3)
        self.top_splitter.setStretchFactor(1, 2)

        self.tabs = QTabWidget(self.drop_area)
        self.tabs.setAcceptDrops(False)
        self.history = HistoryTable(self.state.history, self.tabs)
        self.history.message.connect(self.show_message)
        self.history.clear_button.clicked.connect(self.state.history_cleared)
        self.folder_report = FolderReport(self.tabs)
        self.tabs.addTab(self.history, "History")
        self.tabs.addTab(self.folder_report, "Folder run")

        self.splitter = QSplitter(Qt.Orientation.Vertical, self.drop_area)
        self.splitter.addWidget(self.top_splitter)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        # The current result is what people came for; the tabs get the rest (restored later),
        # enough for six history rows and the Calibration tab's plots at 1200x780.
        self.splitter.setSizes([400, 300])
        self.tab_fitter = TabFitter(self.splitter, self.tabs)  # an analysis tab opens unscrolled
        self.tabs.currentChanged.connect(self.tab_fitter.fit)

        body = self.drop_area.body
        body.addWidget(self.warnings_banner)
        body.addWidget(self.message_banner)
        body.addWidget(self.splitter, 1)
        self.setCentralWidget(self.drop_area)

        self.status = StatusBar(self)
        self.status.cancel_requested.connect(self.cancel_run)
        self.setStatusBar(self.status)
        self.status.set_state(STATE_LOADING_TF)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        super().paintEvent(event)
        self.painted = True

    def _install_panels(self) -> None:
        """The Calibration, None of the classes and Diagnostics tabs, bound to the view state."""
        from app.ui.panels.analysis_tabs import build_analysis_panels

        self.plot.ensure_chart()
        for key, title, panel in build_analysis_panels(self.state):
            self.add_panel(title, panel)
            self.panels[key] = panel
            panel.content_changed.connect(self.tab_fitter.fit)  # its data arrived: grow again
            if self.state.session is not None:  # a model that loaded before the tabs were built
                panel.set_session(self.state.session)

    def _ready_for_panels(self) -> bool:
        """Never shown, or on screen with its model (or its failure) and any first answer in."""
        settled = self.state.session is not None or self.sessions.model_error is not None
        waiting = self.sessions.loading or bool(self.sessions.pending) or (
            self.display.jobs_in_flight > 0 and not self.history_results())
        return not self.isVisible() or (self.painted and settled and not waiting)

    def _restore_settings(self) -> None:
        geometry, state, splitter = self.settings.window_state()
        # A screenshot must not depend on how the user last left the window.
        if geometry is not None and self.sessions.interactive:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        if splitter is not None and self.sessions.interactive:
            restore_splitter(self.splitter, splitter, SPLITTER_MINIMUMS)

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

    def _on_session(self, session: ModelSession | None) -> None:
        handle = self.state.handle
        self.status.set_session(session, "" if handle is None else handle.device)
        if session is None:
            return
        warnings = session.warnings
        if warnings:
            self.warnings_banner.show_message("\n".join(f"⚠ {w}" for w in warnings), "warning")
            # A card-less model's next step, one click away.
            self.warnings_banner.set_action(None if session.spec.recorded else "Record preprocessing…",
                                            self.record_preprocessing)
        else:
            self.warnings_banner.clear()
        if self.message_banner.kind == "error":
            self.message_banner.clear()
        self.history.view.clearSelection()  # nothing is on show until the new model answers
        self.setWindowTitle(f"probscope — {session.loaded.name}")

    # -- what panels, scripts and tests ask ------------------------------------------------------
    @property
    def handle(self) -> SessionHandle | None:
        return self.state.handle

    @property
    def session(self) -> ModelSession | None:
        return self.state.session

    @property
    def current_result(self) -> Classification | None:
        return self.state.current

    @property
    def model_error(self) -> str | None:
        return self.sessions.model_error

    @property
    def trust_dialog(self) -> TrustDialog | None:
        return self.sessions.trust_dialog

    @property
    def run_in_progress(self) -> bool:
        return self.runs.running

    def history_results(self) -> list[Classification]:
        return self.history.model.results

    def add_panel(self, title: str, widget: QWidget) -> int:
        """Add a tab (Calibration, None-of-the-classes check, Diagnostics, …); returns its index."""
        # In a scroll area, so a tall panel cannot squeeze the current result above it.
        scroll = QScrollArea(self.tabs)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(widget)
        self.tab_fitter.watch(scroll)  # content grown on the GUI thread (Fit, Save) fits too
        return self.tabs.addTab(scroll, title)

    def set_temperature(self, temperature: float | None) -> None:
        """Show results at ``temperature`` (None: the card's own)."""
        if temperature is None:
            self.state.reset_temperature()
        else:
            self.state.set_temperature(temperature)

    def show_message(self, text: str, kind: str = "info") -> None:
        """A non-modal message above the result; a newer one replaces it."""
        self.message_banner.show_message(text, kind)

    # -- models and input -------------------------------------------------------------------------
    def start(self, model: str | None = None, trust: bool = False) -> None:
        """Load ``model``, else the last one used, else the bundled digit model."""
        self.sessions.start(model, trust)

    def open_model(self, path: str, trust: bool = False) -> None:
        """Load a model in the background; the newest request wins."""
        self.sessions.open_model(path, trust)

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
            self.sessions.enqueue("run", list(paths))

    def classify_image(self, item: ImageSource) -> None:
        self.sessions.classify_later(item)

    def paste(self) -> None:
        payload = payload_from_mime(QApplication.clipboard().mimeData())
        if not payload:
            self.show_message("The clipboard holds no image, image file or folder", "warning")
            return
        self.handle_payload(payload)

    def record_preprocessing(self) -> None:
        """Open the card dialog for the loaded model; saving reloads the model with the card."""
        from app.ui.dialogs.record_preprocessing import dialog_for_session

        if self.session is None:
            self.show_message("Load a model first: the card describes how it was trained", "warning")
            return
        self.record_dialog = dialog_for_session(self.session, self.state.current, self.open_model, self, self.classify_paths)
        self.record_dialog.show()

    def export_history(self, kind: str) -> None:
        self.history.export_dialog(kind)

    def cancel_run(self) -> None:
        """Stop the folder run after the current batch; queued runs are dropped too."""
        self.runs.cancel()

    def clear_history(self) -> None:
        self.history.clear()
        self.state.history_cleared.emit()
    # -- idle and close -----------------------------------------------------------------------------
    def busy_reasons(self) -> list[str]:
        """Why :meth:`is_idle` is False, for logs and test failures."""
        jobs = self.sessions.jobs_in_flight + self.display.jobs_in_flight + self.runs.jobs_in_flight
        jobs += self.explain.jobs_in_flight
        reasons = {
            "loading a model": self.sessions.loading,
            "folder run": self.runs.running or bool(self.runs.queued),
            # Drops waiting for a model that failed don't count.
            "drops waiting": bool(self.sessions.pending) and self.state.handle is not None,
            f"{jobs} jobs": bool(jobs),
            "trust dialog open": self.sessions.trust_dialog is not None,
            "thumbnails": self.history.busy,
            "analysis tabs not built yet": self.isVisible() and not self.panels,
        }
        return [k for k, v in reasons.items() if v]

    def is_idle(self) -> bool:
        """Nothing loading, running or waiting."""
        return not self.busy_reasons()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        self.save_settings()
        self.cancel_run()
        self.sessions.pending.clear()
        super().closeEvent(event)
