"""Calibration panel: fit, explore and save the model's temperature on labelled held-out data.

Flow: choose (or drop) a labelled folder / ``.npz`` → the model's outputs are computed once in
a worker (cached on disk by the core) → Fit finds T → the slider explores other T live → Save
writes T into the model card, Revert goes back to the card's T. Moving the slider never re-runs
the model: it re-applies ``softmax(logits / T)`` to the cached logits (a few ms for 10k images).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import qthrottled

from app.core.calibration.metrics import ReliabilityBins, calibration_report_and_bins
from app.core.calibration.run import CalibrationResult, fit_calibration, save_calibration
from app.core.errors import ProbscopeError
from app.ui.calibration_metrics_table import CalibrationMetricsTable
from app.ui.data_picker import DataPicker, accept_data_drag
from app.ui.dataset_job import DataRun, JobRunner, outputs_for
from app.ui.job_progress import JobProgress
from app.ui.panel_messages import PanelMessages, empty_state
from app.ui.reliability_plot import ReliabilityPlot
from app.ui.temperature_control import TemperatureControl
from app.ui.workers import one_line

if TYPE_CHECKING:
    from app.core.session.model_session import ModelSession

NO_MODEL = "Load a model first: calibration fits its temperature on labelled images."
NO_DATA = "Choose labelled images the model did not train on"
FALLBACK_NOTE = (
    "This model outputs probabilities, not logits, so T is applied to log-probabilities. "
    "That works, but images the model is ~100 % sure about carry less information."
)
# Redraw at most ~60 times a second while the slider is dragged.
REFRESH_MS = 16


class CalibrationPanel(QWidget):
    """Temperature scaling for the current model.

    Signals
    -------
    temperature_changed(float)
        The temperature the user is looking at (slider, Fit, Revert, Save). The window
        re-renders its probabilities with it; it is only written to the card on Save.
    calibration_saved(str)
        The card path after Save; ``session.card`` already holds the new T.
    """

    temperature_changed = Signal(float)
    calibration_saved = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self._session: ModelSession | None = None
        self._run: DataRun | None = None
        self._fit: CalibrationResult | None = None
        self._before: tuple[dict[str, Any], ReliabilityBins] | None = None
        self._now_report: dict[str, Any] | None = None
        self._fit_warnings: list[str] = []

        self.runner = JobRunner(self)
        self.runner.finished.connect(self._on_outputs)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(self._on_cancelled)
        self.runner.running_changed.connect(lambda _: self._update_buttons())

        self.picker = DataPicker(
            "Labelled held-out data",
            f"{NO_DATA}: a folder with one sub-folder per class, or an .npz with labels. "
            "Drop it here.",
            parent=self,
        )
        self.picker.path_chosen.connect(self._compute)
        self.progress = JobProgress(self.runner, self)
        self.progress.set_text("Computing outputs")
        self.messages = PanelMessages(self)

        self.fit_button = QPushButton("Fit", self)
        self.fit_button.setToolTip("Find the T that minimises the negative log-likelihood on this data")
        self.fit_button.clicked.connect(self.fit)
        self.temperature = TemperatureControl(self)
        self.temperature.value_changed.connect(self._on_temperature)

        self.plot = ReliabilityPlot(self)
        self.table = CalibrationMetricsTable(self)

        self.card_label = QLabel(self)
        self.card_label.setToolTip("The temperature stored in the model card, used to classify")
        self.revert_button = QPushButton("Revert", self)
        self.revert_button.setToolTip("Go back to the model card's temperature")
        self.revert_button.clicked.connect(self.revert)
        self.save_button = QPushButton("Save to model card", self)
        self.save_button.setToolTip("Write the current T (and the metrics) into the model card")
        self.save_button.clicked.connect(self.save)
        self.saved_label = QLabel(self)
        self.saved_label.setWordWrap(True)

        fit_row = QHBoxLayout()
        fit_row.addWidget(self.fit_button)
        fit_row.addWidget(self.temperature, 1)
        card_row = QHBoxLayout()
        card_row.addWidget(self.card_label, 1)
        card_row.addWidget(self.revert_button)
        card_row.addWidget(self.save_button)

        content = QWidget(self)
        body = QVBoxLayout(content)
        body.setContentsMargins(0, 0, 0, 0)
        body.addWidget(self.picker)
        body.addWidget(self.progress)
        body.addWidget(self.messages)
        body.addLayout(fit_row)
        body.addWidget(self.plot, 1)
        body.addWidget(self.table)
        body.addLayout(card_row)
        body.addWidget(self.saved_label)

        self.no_model = empty_state(NO_MODEL, self)
        self.pages = QStackedWidget(self)
        self.pages.addWidget(self.no_model)
        self.pages.addWidget(content)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.pages)

        # Created per instance so each panel has its own timer.
        self._refresh_soon = qthrottled(self._refresh, timeout=REFRESH_MS, leading=True)
        self.set_session(None)

    @property
    def has_data(self) -> bool:
        """True once the chosen data's outputs are ready (Fit and Save are possible)."""
        return self._run is not None

    @property
    def fit_result(self) -> CalibrationResult | None:
        return self._fit

    # -- public slots ----------------------------------------------------------------------
    @Slot(object)
    def set_session(self, session: ModelSession | None) -> None:
        """Show the calibration of ``session`` (None: the "load a model first" state).

        Outputs of the previous model are dropped; if data was chosen, it is recomputed for
        the new model (from the disk cache when the model and data are unchanged).
        """
        self.runner.cancel(silent=True)
        self._session = session
        self._run = None
        self._fit = None
        self._before = None
        self._now_report = None
        self._fit_warnings = []
        self.saved_label.clear()
        self.messages.clear()
        self.pages.setCurrentIndex(0 if session is None else 1)
        if session is None:
            self.plot.clear(NO_MODEL)
            self.table.clear_values()
            self._update_buttons()
            return
        # The window applies the card's T itself when the model changes: do not echo it.
        self.temperature.set_value(session.temperature, emit=False)
        self._show_card()
        self._show_warnings()
        if self.picker.path:
            self._compute(self.picker.path)
        else:
            self.plot.clear(f"{NO_DATA}, then press Fit")
            self.table.clear_values()
            self._update_buttons()

    @Slot(str)
    def load_data(self, path: str) -> None:
        """Use ``path`` (labelled folder or ``.npz``) as calibration data, as if dropped."""
        self.picker.set_path(path)

    @Slot()
    def fit(self) -> None:
        """Fit T on the loaded outputs and move the slider to it."""
        if self._session is None or self._run is None:
            return
        try:
            result = fit_calibration(
                self._run.outputs, self._run.path, self._session.loaded.logits_are_fallback
            )
        except ProbscopeError as exc:
            self.messages.show_error(exc.message)
            return
        self._fit = result
        # fit_calibration already counts skipped images; the data notes are the other half.
        self._fit_warnings = self._run.notes + result.warnings
        self._show_warnings()
        self.messages.show_status(
            f"Fitted T = {result.temperature:.3g} on {result.n} images: NLL "
            f"{abs(result.before['nll']):.3f} → {abs(result.after['nll']):.3f}, ECE "
            f"{result.before['ece']:.1%} → {result.after['ece']:.1%}."
        )
        self.set_temperature(result.temperature)

    @Slot(float)
    def set_temperature(self, temperature: float) -> None:
        """Move the slider (announces ``temperature_changed`` if T changes)."""
        self.temperature.set_value(temperature)

    @Slot()
    def revert(self) -> None:
        """Back to the temperature in the model card."""
        if self._session is not None:
            self.set_temperature(self._session.temperature)

    @Slot()
    def save(self) -> None:
        """Write the current T into the model card; classification uses it from now on."""
        session, run = self._session, self._run
        if session is None or run is None or self._before is None:
            return
        t = self.temperature.value()
        result = self._fit
        if result is None or not math.isclose(result.temperature, t, rel_tol=1e-9):
            # The user moved away from the fitted T: save what they chose, with its metrics.
            after = self._now_report or calibration_report_and_bins(
                run.outputs.outputs.logits, run.outputs.labels, t
            )[0]
            result = CalibrationResult(
                temperature=t, before=self._before[0], after=after, data=run.path,
                n=len(run.outputs), warnings=list(self._fit_warnings),
                skipped=list(run.outputs.skipped),
            )
        try:
            path = save_calibration(session, result)
        except (ProbscopeError, OSError) as exc:
            self.messages.show_error(f"Could not save the model card: {one_line(exc)}")
            return
        self.saved_label.setText(f"Saved T = {t:.3g} to {path}")
        self.saved_label.setToolTip(path)
        self._show_card()
        self._update_buttons()
        self.calibration_saved.emit(path)
        self.temperature_changed.emit(t)  # the window may have skipped equal values before

    # -- data ------------------------------------------------------------------------------
    def _compute(self, path: str) -> None:
        if self._session is None:
            return
        self._run = None
        self._fit = None
        self._before = None
        self._fit_warnings = []
        self.saved_label.clear()
        self.messages.clear()
        self._show_warnings()
        self.plot.clear("Computing the model's outputs…")
        self.table.clear_values()
        self.runner.start(outputs_for, self._session, path, True)

    def _on_outputs(self, run: DataRun) -> None:
        if self._session is None:
            return
        if run.outputs.labels is None:
            self._on_failed(f"{run.name}: calibration needs labelled images")
            return
        try:
            self._before = calibration_report_and_bins(
                run.outputs.outputs.logits, run.outputs.labels, 1.0
            )
        except ProbscopeError as exc:
            self._on_failed(exc.message)
            return
        self._run = run
        self._fit_warnings = run.warnings
        self._show_warnings()
        self.messages.show_status(
            f"{len(run.outputs)} labelled images from {run.name}. Press Fit, or move the slider."
        )
        self._refresh()
        self._update_buttons()

    def _on_cancelled(self) -> None:
        self.messages.show_status("Cancelled.")
        self.plot.clear(f"{NO_DATA}, then press Fit")
        self._update_buttons()

    def _on_failed(self, message: str) -> None:
        self.messages.show_error(message)
        self.plot.clear("No usable data")
        self._update_buttons()

    # -- live view -------------------------------------------------------------------------
    def _on_temperature(self, t: float) -> None:
        self._update_buttons()
        self.temperature_changed.emit(t)
        self._refresh_soon()

    def _refresh(self) -> None:
        """Recompute the metrics and bins at the slider's T from the cached logits."""
        run, before = self._run, self._before
        if run is None or before is None:
            return
        t = self.temperature.value()
        report, bins = calibration_report_and_bins(run.outputs.outputs.logits, run.outputs.labels, t)
        self._now_report = report
        self.plot.set_bins(before[1], bins, t)
        self.table.set_reports(before[0], report, t)

    # -- state -----------------------------------------------------------------------------
    def _card_t(self) -> float | None:
        return None if self._session is None else self._session.temperature

    def _show_card(self) -> None:
        card_t = self._card_t()
        if card_t is None:
            self.card_label.clear()
            return
        t = self.temperature.value()
        unsaved = "" if math.isclose(card_t, t, rel_tol=1e-6) else f" · showing T = {t:.3g} (not saved)"
        self.card_label.setText(f"Model card: T = {card_t:.3g}{unsaved}")

    def _show_warnings(self) -> None:
        notes = list(self._fit_warnings)
        session = self._session
        if session is not None and session.loaded.logits_are_fallback and not any(
            "log" in n for n in notes
        ):
            notes.insert(0, FALLBACK_NOTE)
        self.messages.set_warnings(notes)

    def _update_buttons(self) -> None:
        has_session = self._session is not None
        busy = self.runner.running
        has_data = self._run is not None and not busy
        card_t = self._card_t()
        differs = card_t is not None and not math.isclose(card_t, self.temperature.value(), rel_tol=1e-6)
        self.picker.setEnabled(has_session)
        self.temperature.setEnabled(has_session)
        self.fit_button.setEnabled(has_data)
        self.fit_button.setToolTip(
            "Find the T that minimises the negative log-likelihood on this data"
            if has_data else "Choose labelled data first"
        )
        self.save_button.setEnabled(has_data)
        self.revert_button.setEnabled(differs)
        self._show_card()

    # -- drops anywhere on the panel mean "use this as data" --------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        accept_data_drag(event, self._session is not None)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        path = accept_data_drag(event, self._session is not None)
        if path is not None:
            self.picker.set_path(path)
