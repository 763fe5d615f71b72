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
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal, SignalInstance, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget
from superqt.utils import qthrottled

from app.core import DataError, ProbscopeError
from app.core.calibration import CalibrationResult, ReliabilityBins, save_calibration
from app.ui.jobs.data_jobs import DataRun, outputs_for
from app.ui.jobs.runner import one_line
from app.ui.panels.base import PanelBase, column, row
from app.ui.panels.calibration.fitting import (
    card_text,
    data_notes,
    fit_status,
    fit_with_sets,
    result_to_save,
    untrustworthy_reason,
)
from app.ui.panels.calibration.metrics_at import MetricsAtT
from app.ui.panels.calibration.metrics_table import CalibrationMetricsTable
from app.ui.panels.calibration.reliability_plot import REFRESH_MS, ReliabilityPlot
from app.ui.panels.calibration.sets_view import PredictionSetsView
from app.ui.panels.calibration.temperature_control import TemperatureControl
from app.ui.panels.data_picker import DataPicker
from app.ui.panels.job_progress import JobProgress

if TYPE_CHECKING:
    from app.core import ModelSession
    from app.ui.state import ViewState

NO_MODEL = "Load a model first: calibration fits its temperature on labelled images."
NO_DATA = "Choose labelled images the model did not train on"
# The diagram is narrow at the default window size: its hint is broken by hand.
NO_DATA_PLOT = "Choose labelled images\nthe model did not train on,\nthen press Fit"
FIT_TIP = "Find the T that minimises the negative log-likelihood on this data (and fit the sets)"
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
        self._metrics: MetricsAtT | None = None  # of the loaded data, for diagram and table
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
        self.fit_button.setToolTip(FIT_TIP)
        self.fit_button.clicked.connect(self.fit)
        self.temperature = TemperatureControl(self.state, self)
        self.state.temperature_changed.connect(self._on_temperature)

        self.plot = ReliabilityPlot(self)
        self.plot.follow(self.state, self._bins_at)
        self.table = CalibrationMetricsTable(self)
        self.sets = PredictionSetsView(self)
        self.sets.method_changed.connect(self._on_method)

        self.card_label = QLabel(self)
        self.card_label.setToolTip("The temperature stored in the model card, used to classify")
        self.revert_button = QPushButton("Revert", self)
        self.revert_button.setToolTip("Go back to the model card's temperature")
        self.revert_button.clicked.connect(self.revert)
        self.save_button = QPushButton("Save to model card", self)
        self.save_button.setToolTip("Write the current T (and the metrics) into the model card")
        self.save_button.clicked.connect(self.save)
        # Offered only after Save refused a fit that should not be trusted (core's reason shown).
        self.save_anyway_button = QPushButton("Save anyway", self)
        self.save_anyway_button.setToolTip("Write this temperature although the fit looks wrong")
        self.save_anyway_button.clicked.connect(lambda: self.save(force=True))
        self.save_anyway_button.hide()
        self.saved_label = QLabel(self)
        self.saved_label.setWordWrap(True)
        self.card_label.setWordWrap(True)

        # Side by side: controls and numbers, the diagram, the sets. Stacked, they needed a
        # scroll bar at the default window size.
        controls = column(
            self, self.picker, self.progress, self.messages,
            row(self.fit_button, (self.temperature, 1)), self.table,
            row((self.card_label, 1), self.revert_button, self.save_button, self.save_anyway_button),
            self.saved_label,
        )
        controls.layout().addStretch(1)
        controls.setMinimumWidth(360)
        controls.setMaximumWidth(440)
        content = QWidget(self)
        lay = QHBoxLayout(content)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(controls, 0)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.sets, 2)  # two plots side by side need the width
        self.set_content(content)

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
        self._forget_results()
        sets = session.sets if session is not None else None
        self.sets.set_classes(session.classes if session is not None else [],
                              None if sets is None else sets.alpha, None if sets is None else sets.method)
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
            self.plot.clear(NO_DATA_PLOT)
            self.table.clear_values()
            self.update_buttons()

    @Slot()
    def fit(self) -> None:
        """Fit T on the loaded outputs and move the slider to it."""
        if self._session is None or self._run is None:
            return
        try:
            result, sets_problem = fit_with_sets(self._run, self._session.loaded.logits_are_fallback,
                                                 self.sets.method(), self.sets.alpha())
        except ProbscopeError as exc:
            self.messages.show_error(exc.message)
            return
        self._fit = result
        self.save_anyway_button.hide()
        self.sets.set_fit(result.conformal, self._session.classes, f"No prediction sets: {sets_problem}")
        # fit_calibration already counts skipped images; the data notes are the other half.
        self._fit_warnings = self._run.notes + data_notes(result.warnings, False, "", result.conformal)
        self._show_warnings()
        self.messages.show_status(fit_status(result))
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
    def save(self, force: bool = False) -> None:
        """Write the current T (and the sets at the chosen α) into the model card.

        A fit that should not be trusted (T on the search bound, a worse NLL, a model near
        chance) is refused with the core's reason, and "Save anyway" is offered (``force``).
        """
        session, run = self._session, self._run
        if session is None or run is None or self._metrics is None:
            return
        t = self.temperature.value()
        result = None
        try:
            result = result_to_save(run, self._fit, self.sets.fit, t, self._fit_warnings)
            path = save_calibration(session, result, force=force)
        except DataError as exc:
            if result is None or not result.save_problems():
                self.messages.show_error(f"Could not save the model card: {exc.message}")
                return
            self.messages.show_error(exc.message.replace("--force", "Save anyway"))
            self.save_anyway_button.show()
            return
        except (ProbscopeError, OSError) as exc:
            self.messages.show_error(f"Could not save the model card: {one_line(exc)}")
            return
        self.save_anyway_button.hide()
        # Saved on the user's word, a near-chance model must still never look fine.
        session.untrustworthy = untrustworthy_reason(result) or session.untrustworthy
        self.saved_label.setText(f"Saved T = {t:.3g} to {path}")
        self.saved_label.setToolTip(path)
        self._show_card()
        self.update_buttons()
        # The card's T is the display T now, and the history follows the card.
        self.state.set_temperature(session.temperature)
        self.state.rescore()
        self.calibration_saved.emit(path)

    def _forget_results(self) -> None:
        """Drop the outputs, the fit and what they showed (a new model or new data)."""
        self._run = None
        self._fit = None
        self._metrics = None
        self._fit_warnings = []
        self.saved_label.clear()
        self.messages.clear()
        self.save_anyway_button.hide()
        self.sets.clear("Prediction sets appear after Fit.")

    # -- data ------------------------------------------------------------------------------
    def _compute(self, path: str) -> None:
        if self._session is None:
            return
        self._forget_results()
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
            self._metrics = MetricsAtT(run.outputs.outputs.logits, run.outputs.labels)
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
        self.plot.clear(NO_DATA_PLOT)
        self.update_buttons()

    def _on_failed(self, message: str) -> None:
        self.messages.show_error(message)
        self.plot.clear("No usable data")
        self.update_buttons()

    # -- live view: the state's temperature, applied to the cached logits -------------------
    def _on_method(self, _method: str) -> None:
        if self._fit is not None:  # new scores are needed: refit on the cached logits
            self.fit()

    def _on_temperature(self, t: float) -> None:
        self.sets.note_temperature(t)
        self.update_buttons()
        self._refresh_table_soon()

    def _bins_at(self, t: float) -> tuple[ReliabilityBins, ReliabilityBins] | None:
        """What the reliability diagram draws at ``t``: (T = 1, T = t), or None without data."""
        return None if self._metrics is None or self._run is None else self._metrics.bins(t)

    def _refresh_table(self) -> None:
        if self._metrics is not None and self._run is not None:
            t = self.state.temperature
            self.table.set_reports(self._metrics.before[0], self._metrics.at(t)[0], t)

    # -- state -----------------------------------------------------------------------------
    def _card_t(self) -> float | None:
        return None if self._session is None else self._session.temperature

    def _show_card(self) -> None:
        self.card_label.setText(card_text(self._card_t(), self.temperature.value()))

    def _show_warnings(self) -> None:
        fallback = self._session is not None and self._session.loaded.logits_are_fallback
        self.messages.set_warnings(data_notes(self._fit_warnings, fallback, FALLBACK_NOTE))

    def update_buttons(self) -> None:
        has_session = self._session is not None
        busy = self.runner.running
        has_data = self._run is not None and not busy
        card_t = self._card_t()
        differs = card_t is not None and not math.isclose(card_t, self.temperature.value(), rel_tol=1e-6)
        self.picker.setEnabled(has_session)
        self.temperature.setEnabled(has_session)
        self.fit_button.setEnabled(has_data)
        self.sets.method_box.setEnabled(has_data)
        self.fit_button.setToolTip(FIT_TIP if has_data else "Choose labelled data first")
        self.save_button.setEnabled(has_data)
        self.revert_button.setEnabled(differs)
        self._show_card()

    @Slot(str)
    def use_dropped(self, path: str) -> None:
        """Use ``path`` (labelled folder or ``.npz``) as calibration data."""
        self.picker.set_path(path)

    load_data = use_dropped
