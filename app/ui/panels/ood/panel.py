"""The "none of the classes" check: set it up from a labelled folder in one action, explore, save.

Flow: choose (or drop) labelled real images → a worker fits the check on them against the
built-in no-class reference (procedural images of no class, drawn at the model's input
size; the user's own no-class folder can be added) with progress and Cancel → the tab
shows, for the chosen score, how many of each kind of no-class image get through (seen in
the fit and left out of it) and the histogram of real against no-class scores → Save
writes the card. Switching the score redraws from the figures the fit already measured;
moving the acceptance slider only re-thresholds stored scores: no model run. After Save
the view state re-scores the history with the card's new check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QSignalBlocker, Signal, Slot
from PySide6.QtWidgets import QLabel, QPushButton, QWidget

from app.core import ProbscopeError
from app.core.ood import acceptance_rate
from app.ui.jobs.ood_jobs import ReferenceFit, fit_reference_job
from app.ui.jobs.runner import one_line
from app.ui.panels.base import PanelBase, column, row
from app.ui.panels.data_picker import DataPicker
from app.ui.panels.job_progress import JobProgress
from app.ui.panels.ood.check_controls import ACCEPT_MAX, ACCEPT_MIN, CheckControls
from app.ui.panels.ood.histogram_plot import OODHistogramPlot
from app.ui.panels.ood.per_kind_table import PerKindTable
from app.ui.panels.ood.score_names import fill_score_box, score_title

if TYPE_CHECKING:
    from app.core import ModelSession, OODDetector
    from app.ui.state import ViewState

NO_MODEL = "Load a model first: this check learns what the model's own classes look like."
NO_DATA = "Choose labelled real images (held out from training) to set up the check"


def classes_phrase(classes: list[str], limit: int = 4) -> str:
    """"red, green, blue" or "0, 1, 2, … 9" for a short label."""
    if len(classes) <= limit:
        return ", ".join(classes)
    return ", ".join(classes[: limit - 1]) + f", … {classes[-1]}"


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
        self._fit: ReferenceFit | None = None
        self._plotted: tuple[int, str] | None = None  # (fit, score) the histogram shows
        self._wanted_score: str | None = None  # the user's choice, kept across refits

        self.runner = self.new_runner(self._on_fitted, self._on_failed, self._on_cancelled,
                                      buttons=True)
        self.in_picker = DataPicker(
            "Real images (labelled)",
            f"{NO_DATA}: a folder with one sub-folder per class, or an .npz. Drop it here; "
            "the check is fitted against probscope's built-in images of no class at once.",
            parent=self,
        )
        self.ood_picker = DataPicker(
            "Your own no-class images (optional)",
            "Not needed: a folder of them joins the built-in reference.",
            optional=True, parent=self,
        )
        self.in_picker.path_chosen.connect(lambda _: self.refit())
        self.ood_picker.path_chosen.connect(lambda _: self.refit())
        self.ood_picker.cleared.connect(self.refit)
        self.progress = JobProgress(self.runner, self)
        self.progress.set_text("Fitting the check: your images, then the built-in reference")
        self.progress.bar.setFormat("%p %")
        self.progress.cancel_button.setToolTip("Stop fitting; the card keeps its current check")

        self.controls = CheckControls(self)
        c = self.controls  # the panel's own names for them, as before the split
        self.score_box, self.accept_slider, self.accept_label = c.score_box, c.accept_slider, c.accept_label
        self.threshold_label = c.threshold_label
        self.accepted_in_label, self.accepted_out_label = c.accepted_in_label, c.accepted_out_label
        self.score_box.currentIndexChanged.connect(self._on_score)
        self.accept_slider.valueChanged.connect(self._on_accept)

        self.kinds_caption = QLabel(self)
        self.kinds_caption.setWordWrap(True)
        self.kinds = PerKindTable(self)
        self.plot = OODHistogramPlot(self)
        self.label_note = QLabel(self)
        self.label_note.setWordWrap(True)
        self.save_button = QPushButton("Save to model card", self)
        self.save_button.setToolTip("Use this score and threshold when classifying, and store them")
        self.save_button.clicked.connect(self.save)
        self.saved_label = QLabel(self)
        self.saved_label.setWordWrap(True)
        # Left: the choices and, per kind, what gets through; right: the histogram with what
        # Save does under it (the left is the taller half: a row below both cost the table
        # its height). Boxes, not a splitter: a splitter hides how tall the wrapped labels
        # get, and the tab then scrolled instead of growing to fit.
        left = column(self, self.controls, self.kinds_caption, (self.kinds, 1))
        right = column(self, (self.plot, 1), row((self.label_note, 1), self.save_button),
                       self.saved_label)
        # The progress beside the messages: a line of its own grew the tab during every fit.
        content = column(self, row((self.in_picker, 3), (self.ood_picker, 2)),
                         row((self.progress, 1), (self.messages, 1)), row((left, 1), (right, 1)))
        content.layout().setStretch(2, 1)  # the halves take the height the tab has to spare
        self.set_content(content)
        self.set_session(None)

    @property
    def detector(self) -> OODDetector | None:
        """The fitted detector being explored (not yet the card's until Save), or None."""
        return None if self._fit is None else self._fit.detector

    @property
    def fit(self) -> ReferenceFit | None:
        return self._fit

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
        ood = session.ood
        self.label_note.setText(
            f"Images below the threshold are shown as “{ood.label}”. The model card now uses "
            f"{score_title(ood.score_name)} ≥ {ood.threshold:.4g}."
        )
        tpr = ood.detector.tpr_target
        if ACCEPT_MIN <= 100 * tpr <= ACCEPT_MAX:
            with QSignalBlocker(self.accept_slider):
                self.accept_slider.setValue(100 * tpr)
        self.refit()

    @Slot()
    def refit(self) -> None:
        """Fit the check with the chosen data (the built-in reference is always used)."""
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
        self.plot.clear("Fitting the check…")
        # "auto" lets the core pick the score that lets the least unseen junk through; the
        # user's earlier choice is re-applied afterwards if the new fit still offers it.
        self.runner.start(fit_reference_job, self._session, in_path, self.ood_picker.path,
                          self.accept_slider.value() / 100.0)

    @Slot(str)
    def load_data(self, in_path: str, ood_path: str | None = None) -> None:
        """Use these data sets, as if chosen in the panel (``ood_path`` is optional)."""
        self.in_picker.set_path(in_path, emit=False)
        if ood_path is None:
            with QSignalBlocker(self.ood_picker):
                self.ood_picker.clear()
        else:
            self.ood_picker.set_path(ood_path, emit=False)
        self.refit()

    @Slot()
    def save(self) -> None:
        """Store the score and threshold in the card; the history is then judged anew."""
        from app.core.ood import save_ood

        session, fit = self._session, self._fit
        if session is None or fit is None:
            return
        result = fit.result
        name = result.detector.score_name
        result.per_kind = list(result.by_score.get(name, {}).get("per_kind", []))
        try:
            path = save_ood(session, result)
        except (ProbscopeError, OSError) as exc:
            self.messages.show_error(f"Could not save the model card: {one_line(exc)}")
            return
        self.saved_label.setText(
            f"Saved {score_title(name)} ≥ {float(result.detector.threshold):.4g} to {path}; "
            "the history was judged again with it."
        )
        self.saved_label.setToolTip(path)
        self.label_note.setText(f"Images below the threshold are shown as “{session.ood.label}”.")
        self.state.rescore()  # the history's verdicts follow the card
        self.ood_changed.emit()

    # -- results ---------------------------------------------------------------------------
    def _clear_fit(self) -> None:
        self._fit = None
        self._plotted = None
        with QSignalBlocker(self.score_box):
            self.score_box.clear()
        self.kinds.clear_rows()
        self.kinds_caption.setText("<b>No-class images accepted, per kind</b>")
        for label in (self.threshold_label, self.accepted_in_label, self.accepted_out_label):
            label.setText("—")
        self.update_buttons()

    def _on_fitted(self, fit: ReferenceFit) -> None:
        if self._session is None:
            return
        self._fit = fit
        detector = fit.detector
        self.kinds.set_thumbnails(fit.thumbnails)
        with QSignalBlocker(self.score_box):
            fill_score_box(self.score_box, fit)
            wanted = self._wanted_score
            if wanted in detector.calibration_scores_ and wanted not in detector.unavailable_:
                detector.use_score(wanted)
            self.score_box.setCurrentIndex(self.score_box.findData(detector.score_name))
        self.messages.set_warnings(fit.result.warnings)
        ref = fit.result.reference
        own = "" if fit.result.ood_data is None else " and your no-class images"
        if ref.get("digit_prior"):
            own += ", with probscope's digit model as a second opinion"
        self.messages.show_status(
            f"Fitted on {fit.n_real} real images against {ref['n']} built-in no-class images "
            f"({len(ref['kinds'])} kinds){own}. probscope picked {score_title(detector.score_name)}: "
            "of the scores, it lets the least unseen junk through. Save to use it."
        )
        self._show_score()
        self.update_buttons()

    def _on_failed(self, message: str) -> None:
        self.messages.show_error(message)
        self.plot.clear("No usable data")
        self.update_buttons()

    def _on_cancelled(self) -> None:
        self.messages.show_status("Cancelled; the model card keeps its check.")
        self.plot.clear(f"{NO_DATA}.")
        self.update_buttons()

    # -- live controls (GUI thread, no model run) -------------------------------------------
    def _on_score(self, _index: int) -> None:
        fit, name = self._fit, self.score_box.currentData()
        if fit is None or not name:
            return
        self._wanted_score = name
        try:
            fit.detector.use_score(name)
        except ProbscopeError as exc:
            self.messages.show_error(exc.message)
            return
        self._show_score()

    def _show_score(self) -> None:
        """The per-kind table for the chosen score (from the fit's figures), then the threshold."""
        fit = self._fit
        if fit is None:
            return
        name = fit.detector.score_name
        rows = fit.result.by_score.get(name, {}).get("per_kind", [])
        self.kinds.set_rows(rows)
        if rows:
            self.kinds_caption.setText(
                f"<b>No-class images accepted, per kind</b> — {score_title(name)}, as fitted "
                f"(at {fit.tpr:.1%} of real images)")
        else:
            self.kinds_caption.setText(f"<b>No-class images accepted, per kind</b> — none measured "
                                       f"for {score_title(name)}")
        self._apply_threshold()

    def _on_accept(self, _value: float) -> None:
        self._apply_threshold()

    def _apply_threshold(self) -> None:
        """Map the acceptance target to thresholds on the real images' calibration scores."""
        fit = self._fit
        if fit is None:
            return
        detector = fit.detector
        # Every score's threshold follows the target, so switching scores keeps its meaning.
        detector.set_acceptance(self.accept_slider.value() / 100.0)
        name = detector.score_name
        threshold = float(detector.threshold)
        in_scores = detector.calibration_scores_[name]
        out_scores = fit.no_class_scores.get(name)
        self.threshold_label.setText(f"{threshold:.6g}  ({score_title(name)} ≥ this)")
        self.accepted_in_label.setText(f"{acceptance_rate(in_scores, threshold):.1%} of real images ·")
        if out_scores is None:
            self.accepted_out_label.setText("— (no no-class images to measure with)")
        else:
            # Short: the line shares the left half with the table (the tooltip says more).
            where = "of your no-class images" if fit.result.ood_data else (
                "of a fresh built-in reference sample")
            self.accepted_out_label.setText(f"{acceptance_rate(out_scores, threshold):.1%} {where}")
        if self._plotted != (id(fit), name):
            self.plot.set_scores(in_scores, out_scores, score_title(name), threshold,
                                 out_name=fit.no_class_name or "No-class images")
            self._plotted = (id(fit), name)
        else:
            self.plot.set_threshold(threshold)

    def update_buttons(self) -> None:
        has_session = self._session is not None
        has_fit = self._fit is not None and not self.runner.running
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
