"""Diagnostics panel: is the model collapsed, are its ReLUs dead, does preprocessing matter?

Left, over a data set (a folder or ``.npz`` chosen or dropped, or the images classified so
far): the verdict with its evidence numbers, the warnings and advice in plain words, and a
bar chart of each ReLU layer's dead and zero fractions. Right, for the image the window
shows: one layer's activations (bars for Dense, feature maps for Conv) and the "what if"
table of the prediction under the common preprocessing mistakes. All model work runs in
workers (:mod:`app.ui.diagnostics_jobs`); the newest request wins and results of a replaced
model are dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, Signal, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.diagnostics.collapse import MIN_IMAGES
from app.ui.activation_view import ActivationView
from app.ui.data_picker import DataPicker, accept_data_drag
from app.ui.dataset_job import JobRunner
from app.ui.diagnosis_summary import (
    COLLAPSED,
    NEAR_COLLAPSE,
    WARNINGS,
    findings_html,
    verdict_of,
)
from app.ui.diagnostics_jobs import (
    ImageActivation,
    LayerInfo,
    WhatIfRun,
    activation_job,
    diagnose_job,
    layers_job,
    what_if_job,
)
from app.ui.job_progress import JobProgress
from app.ui.layer_stats_plot import LayerStatsPlot
from app.ui.panel_messages import PanelMessages, empty_state
from app.ui.plot_style import plot_colours
from app.ui.what_if_table import WhatIfTable
from app.ui.workers import ensure_thread_capacity

if TYPE_CHECKING:
    from app.core.diagnostics.run import DiagnosisResult
    from app.core.session.model_session import ModelSession
    from app.core.session.results import Classification

NO_MODEL = ("Load a model first: diagnostics check whether it collapsed, which of its ReLU "
            "layers are dead, and how much its answers depend on preprocessing.")
NO_DATA = ("Choose images to diagnose: a folder (labelled by class sub-folders or not) or an "
           ".npz. Drop it here.")
NO_IMAGE = "Classify an image to see its activations"
NO_RELU = "This model has no ReLU-family layers: there are no zeros to look at"


def image_key(result: Classification) -> tuple[str, bytes | None]:
    """Identifies an image's result across re-renders (temperature, rescoring): path + logits."""
    logits = None if result.logits is None else np.asarray(result.logits, np.float32).tobytes()
    return result.path, logits


class DiagnosticsPanel(QWidget):
    """Model diagnostics for the current model, data set and image.

    Signals
    -------
    diagnosed(object)
        The :class:`~app.core.diagnostics.run.DiagnosisResult` just shown.
    """

    diagnosed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        ensure_thread_capacity()  # a long diagnosis must not starve the image jobs
        self.setAcceptDrops(True)
        self._session: ModelSession | None = None
        self._diagnosis: DiagnosisResult | None = None
        self._history: list[str] = []
        self._data_name = ""
        self._layers: list[LayerInfo] | None = None  # None until the layers job answered
        self._wanted_layer: str | None = None
        self._result: Classification | None = None
        self._result_key: tuple[str, bytes | None] | None = None
        self._input: np.ndarray | None = None  # the current image's model input, once known
        self._what_if: WhatIfRun | None = None
        self._activation: ImageActivation | None = None
        self._image_pending = False  # the current image's jobs wait for the panel to be shown

        # Runners: the diagnosis, the model's layer list, and the two current-image jobs.
        self.runner = JobRunner(self)
        self.runner.finished.connect(self._on_diagnosed)
        self.runner.failed.connect(self._on_diagnosis_failed)
        self.runner.cancelled.connect(self._on_cancelled)
        self.runner.running_changed.connect(lambda _: self._update_buttons())
        self.layers_runner = JobRunner(self)
        self.layers_runner.finished.connect(self._on_layers)
        self.layers_runner.failed.connect(self._on_image_failed)
        self.activation_runner = JobRunner(self)
        self.activation_runner.finished.connect(self._on_activation)
        self.activation_runner.failed.connect(self._on_image_failed)
        self.what_if_runner = JobRunner(self)
        self.what_if_runner.finished.connect(self._on_what_if)
        self.what_if_runner.failed.connect(self._on_what_if_failed)

        # -- data set controls ------------------------------------------------------------
        self.picker = DataPicker("Images to diagnose", NO_DATA, optional=True, parent=self)
        self.picker.path_chosen.connect(self._start)
        self.picker.cleared.connect(self._update_buttons)
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
        self.messages = PanelMessages(self)
        run_row = QHBoxLayout()
        run_row.addWidget(self.run_button)
        run_row.addWidget(self.history_button)
        run_row.addWidget(self.progress, 1)
        run_row.addStretch(0)

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
        self.data_splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.data_splitter.setChildrenCollapsible(False)
        self.data_splitter.addWidget(self.findings_scroll)
        self.data_splitter.addWidget(self.chart)
        self.data_splitter.setStretchFactor(0, 2)
        self.data_splitter.setStretchFactor(1, 3)
        data_box = QGroupBox("Over the data set", self)
        left = QVBoxLayout(data_box)
        left.addWidget(self.verdict_label)
        left.addWidget(self.data_splitter, 1)

        # -- right: the current image -----------------------------------------------------
        self.image_label = QLabel(self)
        self.image_label.setWordWrap(True)
        self.image_label.setTextFormat(Qt.TextFormat.RichText)
        self.layer_box = QComboBox(self)
        self.layer_box.setAccessibleName("Layer")
        self.layer_box.setToolTip("A ReLU-family layer whose output for the current image to show")
        self.layer_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.layer_box.currentIndexChanged.connect(self._on_layer)
        self.image_messages = PanelMessages(self)
        self.activation = ActivationView(self)
        self.what_if = WhatIfTable(self)
        layer_row = QHBoxLayout()
        layer_row.addWidget(QLabel("Layer", self))
        layer_row.addWidget(self.layer_box, 1)
        image_box = QGroupBox("For the current image", self)
        right = QVBoxLayout(image_box)
        right.addWidget(self.image_label)
        right.addLayout(layer_row)
        right.addWidget(self.image_messages)
        right.addWidget(self.activation, 1)
        right.addWidget(self.what_if)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(data_box)
        self.splitter.addWidget(image_box)
        self.splitter.setStretchFactor(0, 11)
        self.splitter.setStretchFactor(1, 9)

        content = QWidget(self)
        body = QVBoxLayout(content)
        body.setContentsMargins(0, 0, 0, 0)
        body.addWidget(self.picker)
        body.addLayout(run_row)
        body.addWidget(self.messages)
        body.addWidget(self.splitter, 1)

        self.no_model = empty_state(NO_MODEL, self)
        self.pages = QStackedWidget(self)
        self.pages.addWidget(self.no_model)
        self.pages.addWidget(content)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.pages)
        self.set_session(None)

    # -- state for the window and tests ----------------------------------------------------
    @property
    def diagnosis(self) -> DiagnosisResult | None:
        """The diagnosis on show, or None."""
        return self._diagnosis

    @property
    def layers(self) -> list[LayerInfo]:
        """The model's activation layers (all; the picker offers the applicable ones)."""
        return list(self._layers or [])

    @property
    def what_if_run(self) -> WhatIfRun | None:
        return self._what_if

    @property
    def image_activation(self) -> ImageActivation | None:
        return self._activation

    def is_busy(self) -> bool:
        return any(r.running for r in self._runners())

    def _runners(self) -> tuple[JobRunner, ...]:
        return (self.runner, self.layers_runner, self.activation_runner, self.what_if_runner)

    # -- public slots ----------------------------------------------------------------------
    @Slot(object)
    def set_session(self, session: ModelSession | None) -> None:
        """Diagnose ``session`` (None: the "load a model first" state).

        Everything about the previous model is dropped, running jobs included; a chosen data
        set is kept, ready to Run again.
        """
        for runner in self._runners():
            runner.cancel(silent=True)
        self._session = session
        self._history = []
        self._layers = None
        self._wanted_layer = None
        self._forget_image()
        self._clear_diagnosis()
        self.messages.clear()
        self.pages.setCurrentIndex(0 if session is None else 1)
        with QSignalBlocker(self.layer_box):
            self.layer_box.clear()
        if session is None:
            self.chart.clear(NO_MODEL)
            self._update_buttons()
            return
        self.chart.clear(NO_DATA if self.picker.path is None else "Press Run to diagnose")
        if self.picker.path:
            self.messages.show_status(
                f"Press Run to diagnose {session.loaded.name} on {self._name_of(self.picker.path)}."
            )
        self.layers_runner.start(layers_job, session)
        self._update_buttons()

    @Slot(object)
    def set_current_result(self, result: Classification | None) -> None:
        """The image the window shows now: its activations and what-if row follow it."""
        if result is None or not result.ok:
            self._forget_image()
            if result is not None:
                self.image_label.setText(f"<b>{Path(result.path).name or result.path}</b>: "
                                         "could not be classified")
            return
        key = image_key(result)
        if key == self._result_key:
            self._result = result  # re-rendered (temperature, rescoring): same image
            self._show_image_label()
            return
        self._forget_image()
        self._result, self._result_key = result, key
        self._input = None if result.model_input is None else np.asarray(result.model_input)
        self._show_image_label()
        self._image_pending = True
        self._refresh_image()

    def _refresh_image(self) -> None:
        """Start the current image's jobs, unless the panel is hidden (then: when shown).

        The window shows every image it classifies; a hidden tab need not follow each one.
        """
        session, result = self._session, self._result
        if not self._image_pending or session is None or result is None or not self.isVisible():
            return
        self._image_pending = False
        self._start_activation()
        self.what_if.clear("Computing the what-if predictions…")
        self.what_if_runner.start(what_if_job, session, result, self._input)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        self._refresh_image()

    @Slot(list)
    def set_history_paths(self, paths: list[str]) -> None:
        """The image files classified so far; from MIN_IMAGES on they can be diagnosed together."""
        self._history = [str(p) for p in paths]
        self._update_buttons()

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
        self._update_buttons()
        self.diagnosed.emit(result)

    def _on_diagnosis_failed(self, message: str) -> None:
        self.messages.show_error(message)
        self.chart.clear("No usable data")
        self._update_buttons()

    def _on_cancelled(self) -> None:
        self.messages.show_status("Cancelled.")
        self.chart.clear("Cancelled: press Run to diagnose again")
        self._update_buttons()

    # -- the current image -----------------------------------------------------------------
    def _forget_image(self) -> None:
        self.activation_runner.cancel(silent=True)
        self.what_if_runner.cancel(silent=True)
        self._result = None
        self._result_key = None
        self._image_pending = False
        self._input = None
        self._activation = None
        self._what_if = None
        self.image_label.setText("<i>No image yet: drop one onto the window to classify it.</i>")
        self.image_messages.clear()
        self.activation.clear(NO_RELU if self._no_relu() else NO_IMAGE)
        self.what_if.clear()

    def _no_relu(self) -> bool:
        return self._layers is not None and not any(e.applicable for e in self._layers)

    def _show_image_label(self) -> None:
        r = self._result
        if r is None:
            return
        name = Path(r.path).name or r.path
        conf = "" if r.confidence is None else f" {r.confidence:.0%}"
        self.image_label.setText(f"<b>{name}</b> — predicted “{r.label}”{conf}")
        self.image_label.setToolTip(r.path)

    def _on_layers(self, layers: list[LayerInfo]) -> None:
        if self._session is None:
            return
        self._layers = list(layers)
        applicable = [e for e in layers if e.applicable]
        with QSignalBlocker(self.layer_box):
            self.layer_box.clear()
            for e in applicable:
                self.layer_box.addItem(f"{e.name} — {e.class_name}, {e.activation}, {e.units} units",
                                       e.name)
            wanted = self.layer_box.findData(self._wanted_layer) if self._wanted_layer else -1
            self.layer_box.setCurrentIndex(wanted if wanted >= 0 else (0 if applicable else -1))
        self._update_buttons()
        if not applicable:
            self.activation.clear(NO_RELU)
        elif self._image_pending:
            self._refresh_image()
        elif self._result is not None:
            self._start_activation()

    def _on_layer(self, _index: int) -> None:
        name = self.layer_box.currentData()
        if name:
            self._wanted_layer = name
            self._start_activation()

    def select_layer(self, name: str) -> bool:
        """Pick a layer by name (as the user would); False if the picker does not offer it."""
        index = self.layer_box.findData(name)
        if index < 0:
            return False
        self.layer_box.setCurrentIndex(index)
        return True

    def _start_activation(self) -> None:
        session, result, layer = self._session, self._result, self.layer_box.currentData()
        if session is None or result is None or not layer:
            return
        self.image_messages.clear()
        self.activation_runner.start(activation_job, session, result, self._input, layer)

    def _on_activation(self, act: ImageActivation) -> None:
        if self._result is None or act.image != self._result.path:
            return
        self._input = act.model_input
        self._activation = act
        self.activation.show_activation(act.layer, act.activation, act.summary)

    def _on_image_failed(self, message: str) -> None:
        self.image_messages.show_error(message)
        self.activation.clear("No activations to show")

    def _on_what_if(self, run: WhatIfRun) -> None:
        if self._result is None or run.image != self._result.path:
            return
        self._what_if = run
        note = ("(Computed from what the model saw: the image file is no longer available.)"
                if run.from_model_input else "")
        self.what_if.set_predictions(run.predictions, note)

    def _on_what_if_failed(self, message: str) -> None:
        self.image_messages.show_error(message)
        self.what_if.clear("No what-if predictions")

    # -- state -----------------------------------------------------------------------------
    def _update_buttons(self) -> None:
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
        self.layer_box.setEnabled(has_session and self.layer_box.count() > 0)

    # -- drops anywhere on the panel mean "diagnose this data" -------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        accept_data_drag(event, self._session is not None)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        path = accept_data_drag(event, self._session is not None)
        if path is not None:
            self.picker.set_path(path)
