"""Diagnostics panel: is the model collapsed, are its ReLUs dead, does preprocessing matter?

Left, over a data set (a folder or ``.npz`` chosen or dropped, or the images classified so
far): the verdict with its evidence numbers, the warnings and advice in plain words, and a
bar chart of each ReLU layer's dead and zero fractions. Right, for the image the window
shows: one layer's activations (bars for Dense, feature maps for Conv) and the "what if"
table of the prediction under the common preprocessing mistakes. All model work runs in
workers (:mod:`app.ui.panels.diagnostics.jobs`); the newest request wins and results of a
replaced model are dropped. The right half is :class:`CurrentImageBox`; the image it follows is
the view state's shown result.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QFrame,
    QGroupBox,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.core.diagnostics import MIN_IMAGES
from app.ui.panels.base import PanelBase, column, row
from app.ui.panels.data_picker import DataPicker
from app.ui.panels.diagnostics.current_image import CurrentImageBox
from app.ui.panels.diagnostics.jobs import diagnose_job
from app.ui.panels.diagnostics.layer_stats_plot import LayerStatsPlot
from app.ui.panels.diagnostics.summary import (
    COLLAPSED,
    NEAR_COLLAPSE,
    WARNINGS,
    findings_html,
    verdict_of,
)
from app.ui.panels.job_progress import JobProgress
from app.ui.widgets.plot_style import plot_colours

if TYPE_CHECKING:
    from app.core import Classification, ModelSession
    from app.core.diagnostics import DiagnosisResult
    from app.ui.state import ViewState

NO_MODEL = ("Load a model first: diagnostics check whether it collapsed, which of its ReLU "
            "layers are dead, and how much its answers depend on preprocessing.")
NO_DATA = ("Choose images to diagnose: a folder (labelled by class sub-folders or not) or an "
           ".npz. Drop it here.")


class DiagnosticsPanel(PanelBase):
    """Model diagnostics for the current model, data set and image.

    Signals
    -------
    diagnosed(object)
        The :class:`~app.core.diagnostics.DiagnosisResult` just shown.
    """

    diagnosed = Signal(object)

    def __init__(self, state: ViewState | None = None, parent: QWidget | None = None) -> None:
        super().__init__(NO_MODEL, state, parent)
        self._diagnosis: DiagnosisResult | None = None
        self._history: list[str] = []
        self._data_name = ""
        self.runner = self.new_runner(self._on_diagnosed, self._on_diagnosis_failed,
                                      self._on_cancelled, buttons=True)
        # The image the window shows, and the image files it classified so far.
        self.state.shown_changed.connect(self.set_current_result)
        self.state.results_added.connect(self._on_results_added)
        self.state.history_cleared.connect(self._on_history_cleared)

        # -- data set controls ------------------------------------------------------------
        self.picker = DataPicker("Images to diagnose", NO_DATA, optional=True, parent=self,
                                 one_line=True)
        self.picker.path_chosen.connect(self._start)
        self.picker.cleared.connect(self.update_buttons)
        self.run_button = QPushButton("Run diagnosis", self)
        self.run_button.setToolTip("Look for a collapsed model, dead ReLUs and input mismatch")
        self.run_button.clicked.connect(self.run)
        self.history_button = QPushButton(self)
        self.history_button.setToolTip("Diagnose the image files classified with this model")
        self.history_button.clicked.connect(self.diagnose_history)
        self.history_button.hide()
        self.progress = JobProgress(self.runner, self)
        self.progress.set_text("Diagnosing")
        self.progress.cancel_button.setToolTip("Stop the diagnosis")
        # Said in words beside the greyed-out button: a disabled button shows no tooltip.
        self.run_hint = QLabel(self)
        self.run_hint.setStyleSheet("color: palette(mid);")
        # Run beside the data it runs on, and the hint, progress and status on one line below:
        # every line saved goes to the plots at the default window size.
        top_row = row((self.picker, 1), self.run_button, self.history_button)
        status_row = row(self.run_hint, (self.progress, 1), (self.messages, 2))

        # -- left: over the data set ------------------------------------------------------
        self.verdict_label = QLabel(self)
        self.verdict_label.setWordWrap(True)
        self.verdict_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.verdict_label.setAccessibleName("Verdict")
        self.findings = QLabel(self)
        self.findings.setWordWrap(True)
        self.findings.setTextFormat(Qt.TextFormat.RichText)
        self.findings.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.findings.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.findings.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.findings_scroll = QScrollArea(self)
        self.findings_scroll.setWidget(self.findings)
        self.findings_scroll.setWidgetResizable(True)
        self.findings_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.findings_scroll.setMinimumHeight(60)
        self.chart = LayerStatsPlot(self)
        # The notes beside the layer chart, under the verdict (not above the chart: too tall).
        self.data_splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.data_splitter.setChildrenCollapsible(False)
        self.data_splitter.addWidget(self.findings_scroll)
        self.data_splitter.addWidget(self.chart)
        self.data_splitter.setStretchFactor(0, 1)
        self.data_splitter.setStretchFactor(1, 1)
        self.findings_scroll.setMinimumWidth(180)  # the notes read as lines, not as a column of words
        self.data_splitter.setSizes([230, 370])
        data_box = QGroupBox("Over the data set", self)
        left = QVBoxLayout(data_box)
        left.setContentsMargins(6, 4, 6, 4)
        left.addWidget(self.verdict_label)
        left.addWidget(self.data_splitter, 1)

        # -- right: the current image -----------------------------------------------------
        self.image = CurrentImageBox(self)

        # A box, not a splitter: a splitter hides how tall its word-wrapped labels get at
        # their width, and the tab then scrolled instead of growing to fit.
        halves = row((data_box, 1), (self.image, 1))
        content = column(self, top_row, status_row, halves)
        content.layout().setStretch(2, 1)
        self.set_content(content)
        self.set_session(None)

    # -- state for the window and tests ----------------------------------------------------
    @property
    def diagnosis(self) -> DiagnosisResult | None:
        """The diagnosis on show, or None."""
        return self._diagnosis

    def is_busy(self) -> bool:
        return any(r.running for r in (self.runner, *self.image.runners()))

    # -- public slots ----------------------------------------------------------------------
    @Slot(object)
    def set_session(self, session: ModelSession | None) -> None:
        """Diagnose ``session`` (None: the "load a model first" state).

        Everything about the previous model is dropped, running jobs included; a chosen data
        set is kept, ready to Run again.
        """
        self.runner.cancel(silent=True)
        self._session = session
        self._history = []
        self.image.set_session(session)
        self._clear_diagnosis()
        self.messages.clear()
        self.show_page()
        if session is None:
            self.chart.clear(NO_MODEL)
            self.update_buttons()
            return
        self.chart.clear(NO_DATA if self.picker.path is None else "Press Run to diagnose")
        if self.picker.path:
            self.messages.show_status(
                f"Press Run to diagnose {session.loaded.name} on {self._name_of(self.picker.path)}."
            )
        self.update_buttons()

    @Slot(object)
    def set_current_result(self, result: Classification | None) -> None:
        """The image the window shows now: its activations and what-if row follow it."""
        self.image.set_current_result(result)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        self.image.refresh()

    def _on_results_added(self, _results: list[Classification]) -> None:
        self.set_history_paths(self.state.history_file_paths())

    def _on_history_cleared(self) -> None:
        self.set_history_paths([])

    @Slot(list)
    def set_history_paths(self, paths: list[str]) -> None:
        """The image files classified so far; from MIN_IMAGES on they can be diagnosed together."""
        self._history = [str(p) for p in paths]
        self.update_buttons()

    @Slot(str)
    def load_data(self, path: str) -> None:
        """Diagnose ``path`` (a folder or ``.npz``), as if chosen or dropped."""
        self.picker.set_path(path)

    @Slot()
    def run(self) -> None:
        """Diagnose the chosen data set again (e.g. after a new model)."""
        if self.picker.path is not None:
            self._start(self.picker.path)

    @Slot()
    def diagnose_history(self) -> None:
        """Diagnose the images classified so far together."""
        if len(self._history) >= MIN_IMAGES:
            self._start(list(self._history))

    # -- the diagnosis ---------------------------------------------------------------------
    @staticmethod
    def _name_of(data: str | list[str]) -> str:
        if isinstance(data, str):
            return Path(data).name or data
        return f"the {len(data)} images classified so far"

    def _start(self, data: str | list[str]) -> None:
        if self._session is None:
            return
        self._clear_diagnosis()
        self._data_name = self._name_of(data)
        self.messages.show_status(f"Diagnosing {self._data_name}…")
        self.chart.clear("Running the model over the data…")
        self.runner.start(diagnose_job, self._session, data)

    def _clear_diagnosis(self) -> None:
        self._diagnosis = None
        self.verdict_label.clear()
        self.verdict_label.hide()
        self.findings.clear()
        self.findings_scroll.hide()

    def _on_diagnosed(self, result: DiagnosisResult) -> None:
        if self._session is None:
            return
        self._diagnosis = result
        verdict = verdict_of(result)
        colours = plot_colours(self)
        colour = {COLLAPSED: colours.warning, NEAR_COLLAPSE: colours.accent,
                  WARNINGS: colours.accent}.get(verdict.kind)
        style = f"color:{colour.name()};" if colour is not None else ""
        self.verdict_label.setStyleSheet(f"QLabel {{ font-weight:bold; {style} }}")
        self.verdict_label.setText(verdict.text)
        self.verdict_label.show()
        self.findings.setText(findings_html(result, colours.reference.name()))
        self.findings_scroll.show()
        self.chart.set_layers([r for r in result.layers if r.get("applicable")])
        self.messages.show_status(
            f"Diagnosed {self._data_name}: {result.n} inputs"
            + (", labelled by class" if result.labelled else ", unlabelled") + "."
        )
        self.update_buttons()
        self.diagnosed.emit(result)

    def _on_diagnosis_failed(self, message: str) -> None:
        self.messages.show_error(message)
        self.chart.clear("No usable data")
        self.update_buttons()

    def _on_cancelled(self) -> None:
        self.messages.show_status("Cancelled.")
        self.chart.clear("Cancelled: press Run to diagnose again")
        self.update_buttons()

    # -- state -----------------------------------------------------------------------------
    def update_buttons(self) -> None:
        has_session = self._session is not None
        busy = self.runner.running
        self.picker.setEnabled(has_session)
        self.run_button.setEnabled(has_session and self.picker.path is not None and not busy)
        self.run_button.setToolTip(
            "Look for a collapsed model, dead ReLUs and input mismatch"
            if self.picker.path is not None else "Choose a folder or .npz first"
        )
        n = len(self._history)
        offer = has_session and self.picker.path is None and n >= MIN_IMAGES
        self.history_button.setText(f"Diagnose the {n} images classified so far")
        self.history_button.setVisible(offer)
        self.history_button.setEnabled(offer and not busy)
        needs = has_session and self.picker.path is None and not offer
        self.run_hint.setText(f"Needs a folder or .npz of images, or {MIN_IMAGES} or more classified "
                              f"image files (so far {n})" if needs else "")
        self.run_hint.setVisible(needs)
        self.image.layer_box.setEnabled(has_session and self.image.layer_box.count() > 0)

    def use_dropped(self, path: str) -> None:
        self.picker.set_path(path)
