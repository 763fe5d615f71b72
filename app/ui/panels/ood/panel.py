"""The "none of the classes" check: fit, explore and save the OOD score and its threshold.

Flow: choose (or drop) labelled real images and, optionally, a folder of images of no class →
a worker computes the model's outputs (cached on disk by the core) and fits every score →
the user picks a score and a target acceptance rate ("accept 95 % of real images"), which
maps to a threshold on the detector's in-distribution calibration scores → Save writes the
card. Moving the acceptance slider only re-thresholds stored scores (``set_acceptance``): no
model run. After Save the view state re-scores the history with the card's new check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QSignalBlocker, Qt, Signal, Slot
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QWidget,
)
from superqt import QLabeledDoubleSlider

from app.core import ProbscopeError
from app.core.ood import acceptance_rate
from app.ui.jobs.data_jobs import OODRun, fit_check_job
from app.ui.jobs.runner import one_line
from app.ui.panels.base import PanelBase, column, row
from app.ui.panels.data_picker import DataPicker
from app.ui.panels.job_progress import JobProgress
from app.ui.panels.ood.histogram_plot import OODHistogramPlot
from app.ui.panels.panel_messages import sentence

if TYPE_CHECKING:
    from app.core import ModelSession, OODDetector
    from app.ui.state import ViewState

NO_MODEL = "Load a model first: this check learns what the model's own classes look like."
NO_DATA = "Choose labelled real images (held out from training) to fit the check"
SCORE_TITLES = {
    "msp": "Max softmax probability",
    "max_logit": "Max logit",
    "energy": "Energy",
    "mahalanobis": "Mahalanobis distance",
    "knn": "k-NN distance",
}
SCORE_HELP = {
    "msp": "The top class probability (at the card's temperature).",
    "max_logit": "The largest logit: unbounded, often separates better than probabilities.",
    "energy": "log-sum-exp of the logits: a smooth version of the max logit.",
    "mahalanobis": "Distance of the penultimate-layer features to the nearest class centre.",
    "knn": "Distance of the features to the k-th nearest real image.",
}
ACCEPT_MIN, ACCEPT_MAX, ACCEPT_DEFAULT = 50.0, 99.9, 95.0


def classes_phrase(classes: list[str], limit: int = 4) -> str:
    """"red, green, blue" or "0, 1, 2, … 9" for a short label."""
    if len(classes) <= limit:
        return ", ".join(classes)
    return ", ".join(classes[: limit - 1]) + f", … {classes[-1]}"


def fill_score_box(box: QComboBox, run: OODRun) -> None:
    """One entry per score with its AUROC; scores that could not be fitted are disabled."""
    auroc = {row["score"]: row.get("auroc") for row in run.table}
    box.clear()
    model = box.model()
    for name, title in SCORE_TITLES.items():
        value = auroc.get(name)
        box.addItem(title if value is None else f"{title} — AUROC {value:.3f}", name)
        index = box.count() - 1
        reason = run.detector.unavailable_.get(name)
        if name not in run.detector.calibration_scores_ or reason:
            box.setItemText(index, f"{title} — unavailable")
            if isinstance(model, QStandardItemModel):
                model.item(index).setEnabled(False)
            box.setItemData(index, sentence(reason or "not fitted"), Qt.ItemDataRole.ToolTipRole)
        else:
            box.setItemData(index, SCORE_HELP[name], Qt.ItemDataRole.ToolTipRole)


class OODPanel(PanelBase):
    """The card's "none of the classes" check for the current model.

    Signals
    -------
    ood_changed()
        After Save: ``session.ood`` holds the new score and threshold, and the view state
        has re-scored the history with it.
    """

    ood_changed = Signal()

    def __init__(self, state: ViewState | None = None, parent: QWidget | None = None) -> None:
        super().__init__(NO_MODEL, state, parent)
        self._run: OODRun | None = None
        self._plotted: tuple[int, str] | None = None  # (run, score) the histogram shows
        self._wanted_score: str | None = None  # the user's choice, kept across refits

        self.runner = self.new_runner(self._on_fitted, self._on_failed, self._on_cancelled,
                                      buttons=True)

        self.in_picker = DataPicker(
            "Real images (labelled)",
            f"{NO_DATA}: a folder with one sub-folder per class, or an .npz. Drop it here.",
            parent=self,
        )
        self.ood_picker = DataPicker(
            "No-class images (optional)",
            "A folder of images that belong to none of the classes, to see how many slip through.",
            optional=True,
            parent=self,
        )
        self.in_picker.path_chosen.connect(lambda _: self.refit())
        self.ood_picker.path_chosen.connect(lambda _: self.refit())
        self.ood_picker.cleared.connect(self.refit)
        self.progress = JobProgress(self.runner, self)
        self.progress.set_text("Computing outputs")

        self.score_box = QComboBox(self)
        self.score_box.setAccessibleName("OOD score")
        self.score_box.setToolTip(
            "How 'like the training classes' an image is measured. AUROC (with no-class images):\n"
            "1.0 separates perfectly, 0.5 is chance."
        )
        self.score_box.currentIndexChanged.connect(self._on_score)
        self.accept_slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal, self)
        self.accept_slider.setRange(ACCEPT_MIN, ACCEPT_MAX)
        self.accept_slider.setDecimals(1)
        self.accept_slider.setSingleStep(0.1)
        self.accept_slider.setValue(ACCEPT_DEFAULT)
        self.accept_slider.setAccessibleName("Share of real images to accept, in percent")
        self.accept_slider.valueChanged.connect(self._on_accept)
        self.accept_label = QLabel("% of real images", self)
        self.threshold_label = QLabel(self)
        self.accepted_in_label = QLabel(self)
        self.accepted_out_label = QLabel(self)
        for label in (self.accepted_in_label, self.accepted_out_label):
            font = label.font()
            font.setBold(True)
            label.setFont(font)
        self.accepted_in_label.setToolTip(
            "Share of the real images at or above the threshold (measured on the images the\n"
            "threshold was set on; new real images land close to the target)"
        )
        self.accepted_out_label.setToolTip(
            "Share of the no-class images the check would still accept as one of the classes"
        )
        form = QFormLayout()
        form.addRow("Score", self.score_box)
        form.addRow("Accept", row((self.accept_slider, 1), self.accept_label))
        form.addRow("Threshold", self.threshold_label)
        form.addRow("Accepted real images", self.accepted_in_label)
        form.addRow("Accepted no-class images", self.accepted_out_label)

        self.plot = OODHistogramPlot(self)
        self.label_note = QLabel(self)
        self.label_note.setWordWrap(True)
        self.save_button = QPushButton("Save to model card", self)
        self.save_button.setToolTip("Use this score and threshold when classifying, and store them")
        self.save_button.clicked.connect(self.save)
        self.saved_label = QLabel(self)
        self.saved_label.setWordWrap(True)
        self.set_content(column(
            self, self.in_picker, self.ood_picker, self.progress, self.messages, form,
            (self.plot, 1), row((self.label_note, 1), self.save_button), self.saved_label,
        ))
        self.set_session(None)

    @property
    def detector(self) -> OODDetector | None:
        """The fitted detector being explored (not yet the card's until Save), or None."""
        return None if self._run is None else self._run.detector

    # -- public slots ----------------------------------------------------------------------
    @Slot(object)
    def set_session(self, session: ModelSession | None) -> None:
        """Show the check of ``session`` (None: the "load a model first" state)."""
        self.runner.cancel(silent=True)
        self._session = session
        self._clear_fit()
        self.messages.clear()
        self.saved_label.clear()
        self.show_page()
        if session is None:
            self.plot.clear(NO_MODEL)
            self.update_buttons()
            return
        self.accept_label.setText(f"% of real images ({classes_phrase(session.classes)})")
        self.label_note.setText(
            f"Images below the threshold are shown as “{session.ood.label}”. "
            f"The model card now uses {SCORE_TITLES.get(session.ood.score_name, session.ood.score_name)}"
            f" ≥ {session.ood.threshold:.4g}."
        )
        tpr = session.ood.detector.tpr_target
        if ACCEPT_MIN <= 100 * tpr <= ACCEPT_MAX:
            self._set_accept(100 * tpr)
        self.refit()

    @Slot()
    def refit(self) -> None:
        """(Re)compute outputs and refit with the chosen data (e.g. after a new temperature)."""
        if self._session is None:
            return
        if self.score_box.currentData():
            self._wanted_score = self.score_box.currentData()
        self._clear_fit()
        self.saved_label.clear()
        self.messages.clear()
        in_path = self.in_picker.path
        if in_path is None:
            self.plot.clear(f"{NO_DATA}.")
            self.update_buttons()
            return
        self.plot.clear("Computing the model's outputs…")
        # "auto" lets the core pick the best-separating score; the user's earlier choice is
        # re-applied afterwards if the new fit still offers it.
        self.runner.start(
            fit_check_job, self._session, in_path, self.ood_picker.path, "auto",
            self.accept_slider.value() / 100.0,
        )

    @Slot(str)
    def load_data(self, in_path: str, ood_path: str | None = None) -> None:
        """Use these data sets, as if chosen in the panel."""
        self.in_picker.set_path(in_path, emit=False)
        if ood_path is None:
            self.ood_picker.clear()
        else:
            self.ood_picker.set_path(ood_path, emit=False)
        self.refit()

    @Slot()
    def save(self) -> None:
        """Store the score and threshold in the card; the window then re-evaluates verdicts."""
        from app.core.ood import OODFitResult, save_ood

        session, run = self._session, self._run
        if session is None or run is None:
            return
        result = OODFitResult(
            run.detector, run.table, run.in_run.path,
            None if run.ood_run is None else run.ood_run.path, self._warnings(),
        )
        try:
            path = save_ood(session, result)
        except (ProbscopeError, OSError) as exc:
            self.messages.show_error(f"Could not save the model card: {one_line(exc)}")
            return
        name = SCORE_TITLES.get(run.detector.score_name, run.detector.score_name)
        self.saved_label.setText(
            f"Saved {name} ≥ {float(run.detector.threshold):.4g} to {path}"
        )
        self.saved_label.setToolTip(path)
        self.label_note.setText(f"Images below the threshold are shown as “{session.ood.label}”.")
        self.state.rescore()  # the history's verdicts follow the card
        self.ood_changed.emit()

    # -- results ---------------------------------------------------------------------------
    def _clear_fit(self) -> None:
        self._run = None
        self._plotted = None
        with QSignalBlocker(self.score_box):
            self.score_box.clear()
        self.threshold_label.setText("—")
        self.accepted_in_label.setText("—")
        self.accepted_out_label.setText("—")
        self.update_buttons()

    def _on_fitted(self, run: OODRun) -> None:
        if self._session is None:
            return
        self._run = run
        with QSignalBlocker(self.score_box):
            fill_score_box(self.score_box, run)
            wanted = self._wanted_score
            if wanted in run.detector.calibration_scores_ and wanted not in run.detector.unavailable_:
                run.detector.use_score(wanted)
            self.score_box.setCurrentIndex(self.score_box.findData(run.detector.score_name))
        self.messages.set_warnings(self._warnings())
        n_out = "" if run.ood_run is None else f" and {len(run.ood_run.outputs)} no-class images"
        self.messages.show_status(
            f"Fitted on {len(run.in_run.outputs)} real images{n_out}. "
            "Pick a score and how many real images to accept."
        )
        self._apply_threshold()
        self.update_buttons()

    def _warnings(self) -> list[str]:
        run = self._run
        if run is None:
            return []
        notes = list(run.in_run.warnings)
        if run.ood_run is not None:
            notes += [f"no-class images: {w}" for w in run.ood_run.warnings]
        else:
            notes.append(
                "without no-class images the scores cannot be compared; "
                "add a folder of such images to see how many would slip through"
            )
        return notes

    def _on_failed(self, message: str) -> None:
        self.messages.show_error(message)
        self.plot.clear("No usable data")
        self.update_buttons()

    def _on_cancelled(self) -> None:
        self.messages.show_status("Cancelled.")
        self.plot.clear(f"{NO_DATA}.")
        self.update_buttons()

    # -- live controls (GUI thread, no model run) -------------------------------------------
    def _on_score(self, _index: int) -> None:
        run, name = self._run, self.score_box.currentData()
        if run is None or not name:
            return
        self._wanted_score = name
        try:
            run.detector.use_score(name)
        except ProbscopeError as exc:
            self.messages.show_error(exc.message)
            return
        self._apply_threshold()

    def _on_accept(self, _value: float) -> None:
        self._apply_threshold()

    def _set_accept(self, percent: float) -> None:
        with QSignalBlocker(self.accept_slider):
            self.accept_slider.setValue(percent)

    def _apply_threshold(self) -> None:
        """Map the acceptance target to thresholds on the in-distribution calibration scores."""
        run = self._run
        if run is None:
            return
        detector = run.detector
        # Every score's threshold follows the target, so switching scores keeps its meaning.
        detector.set_acceptance(self.accept_slider.value() / 100.0)
        name = detector.score_name
        threshold = float(detector.threshold)
        in_scores = detector.calibration_scores_[name]
        out_scores = run.ood_scores.get(name)
        self.threshold_label.setText(f"{threshold:.6g}  ({SCORE_TITLES.get(name, name)} ≥ this)")
        self.accepted_in_label.setText(f"{acceptance_rate(in_scores, threshold):.1%}")
        if out_scores is None:
            self.accepted_out_label.setText("— (no no-class images given)")
        else:
            self.accepted_out_label.setText(f"{acceptance_rate(out_scores, threshold):.1%}")
        if self._plotted != (id(run), name):
            self.plot.set_scores(in_scores, out_scores, SCORE_TITLES.get(name, name), threshold)
            self._plotted = (id(run), name)
        else:
            self.plot.set_threshold(threshold)

    def update_buttons(self) -> None:
        has_session = self._session is not None
        has_fit = self._run is not None and not self.runner.running
        self.in_picker.setEnabled(has_session)
        self.ood_picker.setEnabled(has_session)
        self.score_box.setEnabled(has_fit)
        self.accept_slider.setEnabled(has_fit)
        self.save_button.setEnabled(has_fit)

    # -- drops: a labelled folder or .npz is real data, any other folder no-class images ---
    def _drop_target(self, path: str) -> DataPicker:
        from pathlib import Path

        from app.core.images import is_labelled_folder

        if self._session is None or Path(path).is_file():
            return self.in_picker
        labelled = is_labelled_folder(path, self._session.classes)
        return self.in_picker if labelled else self.ood_picker

    def use_dropped(self, path: str) -> None:
        self._drop_target(path).set_path(path)
