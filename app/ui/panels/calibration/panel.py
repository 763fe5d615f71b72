"""Calibration panel: fit, explore and save the model's temperature on labelled held-out data.

Flow: choose (or drop) a labelled folder / ``.npz`` → the model's outputs are computed once in
a worker (cached on disk by the core) → Fit finds T → the slider explores other T live → Save
writes T into the model card, Revert goes back to the card's T. Moving the slider never re-runs
the model: it re-applies ``softmax(logits / T)`` to the cached logits (a few ms for 10k images).

The slider writes the view state's temperature; the reliability diagram (and, in the window,
the probability plot) listen to the state and redraw.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal, SignalInstance, Slot
from PySide6.QtWidgets import QLabel, QPushButton, QWidget
from superqt.utils import qthrottled

from app.core import ProbscopeError
from app.core.calibration import (
    CalibrationResult,
    ReliabilityBins,
    calibration_report_and_bins,
    fit_calibration,
    result_at_temperature,
    save_calibration,
)
from app.ui.jobs.data_jobs import DataRun, outputs_for
from app.ui.jobs.runner import one_line
from app.ui.panels.base import PanelBase, column, row
from app.ui.panels.calibration.metrics_table import CalibrationMetricsTable
from app.ui.panels.calibration.reliability_plot import REFRESH_MS, ReliabilityPlot
from app.ui.panels.calibration.temperature_control import TemperatureControl
from app.ui.panels.data_picker import DataPicker
from app.ui.panels.job_progress import JobProgress

if TYPE_CHECKING:
    from app.core import ModelSession
    from app.ui.state import ViewState

NO_MODEL = "Load a model first: calibration fits its temperature on labelled images."
NO_DATA = "Choose labelled images the model did not train on"
FALLBACK_NOTE = (
    "This model outputs probabilities, not logits, so T is applied to log-probabilities. "
    "That works, but images the model is ~100 % sure about carry less information."
)


class CalibrationPanel(PanelBase):
    """Temperature scaling for the current model.

    Signals
    -------
    calibration_saved(str)
        The card path after Save; ``session.card`` already holds the new T and the view
        state has re-scored the history with it.
    """

    calibration_saved = Signal(str)

    def __init__(self, state: ViewState | None = None, parent: QWidget | None = None) -> None:
        super().__init__(NO_MODEL, state, parent)
        self._run: DataRun | None = None
        self._fit: CalibrationResult | None = None
        self._before: tuple[dict[str, Any], ReliabilityBins] | None = None
        # The metrics and bins at one T, shared by the diagram and the table.
        self._at: tuple[float, dict[str, Any], ReliabilityBins] | None = None
        self._fit_warnings: list[str] = []

        self.runner = self.new_runner(self._on_outputs, self._on_failed, self._on_cancelled,
                                      buttons=True)

        self.picker = DataPicker(
            "Labelled held-out data",
            f"{NO_DATA}: a folder with one sub-folder per class, or an .npz with labels. "
            "Drop it here.",
            parent=self,
        )
        self.picker.path_chosen.connect(self._compute)
        self.progress = JobProgress(self.runner, self)
        self.progress.set_text("Computing outputs")

        self.fit_button = QPushButton("Fit", self)
        self.fit_button.setToolTip("Find the T that minimises the negative log-likelihood on this data")
        self.fit_button.clicked.connect(self.fit)
        self.temperature = TemperatureControl(self.state, self)
        self.state.temperature_changed.connect(self._on_temperature)

        self.plot = ReliabilityPlot(self)
        self.plot.follow(self.state, self._bins_at)
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

        self.set_content(column(
            self, self.picker, self.progress, self.messages,
            row(self.fit_button, (self.temperature, 1)), (self.plot, 1), self.table,
            row((self.card_label, 1), self.revert_button, self.save_button), self.saved_label,
        ))

        # Created per instance so each panel has its own timer.
        self._refresh_table_soon = qthrottled(self._refresh_table, timeout=REFRESH_MS, leading=True)
        self.set_session(None)

    @property
    def temperature_changed(self) -> SignalInstance:
        """The view state's temperature signal: the T the user is looking at."""
        return self.state.temperature_changed

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
        self._at = None
        self._fit_warnings = []
        self.saved_label.clear()
        self.messages.clear()
        self.show_page()
        if session is None:
            self.plot.clear(NO_MODEL)
            self.table.clear_values()
            self.update_buttons()
            return
        # The card's T (the window's state already shows it; a panel on its own is told here).
        self.temperature.set_value(session.temperature)
        self._show_card()
        self._show_warnings()
        if self.picker.path:
            self._compute(self.picker.path)
        else:
            self.plot.clear(f"{NO_DATA}, then press Fit")
            self.table.clear_values()
            self.update_buttons()

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
        """Move the slider: the view state's temperature (``temperature_changed`` if T changes)."""
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
        try:
            if result is None or not math.isclose(result.temperature, t, rel_tol=1e-9):
                # The user moved away from the fitted T: save what they chose, with its metrics.
                result = result_at_temperature(run.outputs, t, run.path, self._fit_warnings)
            path = save_calibration(session, result)
        except (ProbscopeError, OSError) as exc:
            self.messages.show_error(f"Could not save the model card: {one_line(exc)}")
            return
        self.saved_label.setText(f"Saved T = {t:.3g} to {path}")
        self.saved_label.setToolTip(path)
        self._show_card()
        self.update_buttons()
        # The card's T is the display T now, and the history follows the card.
        self.state.set_temperature(session.temperature)
        self.state.rescore()
        self.calibration_saved.emit(path)

    # -- data ------------------------------------------------------------------------------
    def _compute(self, path: str) -> None:
        if self._session is None:
            return
        self._run = None
        self._fit = None
        self._before = None
        self._at = None
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
        self.plot.redraw()
        self._refresh_table()
        self.update_buttons()

    def _on_cancelled(self) -> None:
        self.messages.show_status("Cancelled.")
        self.plot.clear(f"{NO_DATA}, then press Fit")
        self.update_buttons()

    def _on_failed(self, message: str) -> None:
        self.messages.show_error(message)
        self.plot.clear("No usable data")
        self.update_buttons()

    # -- live view: the state's temperature, applied to the cached logits -------------------
    def _on_temperature(self, _t: float) -> None:
        self.update_buttons()
        self._refresh_table_soon()

    def _metrics_at(self, t: float) -> tuple[dict[str, Any], ReliabilityBins] | None:
        """The metrics and bins at ``t`` (computed once per T for the diagram and the table)."""
        run = self._run
        if run is None or self._before is None:
            return None
        if self._at is None or self._at[0] != t:
            report, bins = calibration_report_and_bins(run.outputs.outputs.logits,
                                                       run.outputs.labels, t)
            self._at = (t, report, bins)
        return self._at[1], self._at[2]

    def _bins_at(self, t: float) -> tuple[ReliabilityBins, ReliabilityBins] | None:
        """What the reliability diagram draws at ``t``: (T = 1, T = t)."""
        now = self._metrics_at(t)
        return None if now is None or self._before is None else (self._before[1], now[1])

    def _refresh_table(self) -> None:
        t = self.state.temperature
        now = self._metrics_at(t)
        if now is not None and self._before is not None:
            self.table.set_reports(self._before[0], now[0], t)

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

    def update_buttons(self) -> None:
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

    def use_dropped(self, path: str) -> None:
        self.picker.set_path(path)
