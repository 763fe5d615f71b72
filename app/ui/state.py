"""The one evented view state that widgets bind to and plots subscribe to (napari's idea).

:class:`ViewState` holds what the window is looking at: the loaded model (``handle``, its
``session``), the display temperature, the current result and the history of results. It
never draws anything; it says what changed through signals:

- the temperature control writes :meth:`ViewState.set_temperature`;
- the probability plot and the reliability diagram listen to ``temperature_changed`` and
  redraw; the result view and the diagnostics follow ``shown_changed``.

The display temperature is a view setting: results keep the temperature their model card
gave them, and :attr:`ViewState.shown` is the current result re-scored at the display T
(by :meth:`ModelSession.rescore`, from stored logits: nothing is re-run).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from app.ui.history_model import HistoryModel

if TYPE_CHECKING:
    from PySide6.QtGui import QImage

    from app.core import Classification, ModelSession
    from app.ui.jobs.model_jobs import SessionHandle

DEFAULT_TEMPERATURE = 1.0
DEFAULT_EXPLAIN_OPACITY = 0.5


class ViewState(QObject):
    """Session, display temperature, current result and history, with change signals.

    Signals
    -------
    session_changed(object)
        A new ``ModelSession`` (or None) was installed; the temperature is the card's again.
    temperature_changed(float)
        The display temperature changed (slider, Fit, Revert, a new model, a saved T).
    current_changed(object)
        Another result became the current one (its model's own ``Classification``, or None).
    shown_changed(object)
        What is shown changed (new current result, temperature, re-score): the current
        result at the display temperature.
    results_added(list)
        Results streamed into the history.
    history_cleared()
        The history was emptied.
    rescored()
        The history was re-scored after the card's temperature or check was saved.
    explain_changed()
        The heat map asked for changed: ``explain_method`` or ``explain_class`` (a new
        request for the current image).
    explain_opacity_changed(float)
        Only the heat map's opacity changed: re-blend what is there, no new request.
    """

    session_changed = Signal(object)
    temperature_changed = Signal(float)
    current_changed = Signal(object)
    shown_changed = Signal(object)
    results_added = Signal(list)
    history_cleared = Signal()
    rescored = Signal()
    explain_changed = Signal()
    explain_opacity_changed = Signal(float)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.history = HistoryModel(self)
        self._handle: SessionHandle | None = None
        self._temperature = DEFAULT_TEMPERATURE
        self._current: Classification | None = None
        self._shown: Classification | None = None  # cache: _current at the display T
        self.current_key: int | None = None  # the history row of the current result, if any
        # The heat map over the current image: None (off), "gradcam" or "occlusion"; the
        # class it explains (None: the predicted one); how opaque it is drawn.
        self.explain_method: str | None = None
        self.explain_class: int | None = None
        self.explain_opacity = DEFAULT_EXPLAIN_OPACITY

    # -- the model ---------------------------------------------------------------------------
    @property
    def handle(self) -> SessionHandle | None:
        """The loaded model with its inference lock and generation, or None."""
        return self._handle

    @property
    def session(self) -> ModelSession | None:
        return None if self._handle is None else self._handle.session

    @property
    def generation(self) -> int:
        """Which loaded model this is (0: none yet); history rows carry theirs."""
        return 0 if self._handle is None else self._handle.generation

    def set_session(self, handle: SessionHandle | None) -> None:
        """Install a loaded model: nothing is current, the temperature is the card's."""
        self._handle = handle
        self._current = self._shown = None
        self.current_key = None
        self.explain_class = None
        session = self.session
        if handle is not None:
            self.history.ood_label = handle.session.ood.label
            self.history.generation = handle.generation  # stamped on the rows to come
        old_t = self._temperature
        self._temperature = DEFAULT_TEMPERATURE if session is None else float(session.temperature)
        self.session_changed.emit(session)
        if not math.isclose(old_t, self._temperature, rel_tol=1e-9):
            self.temperature_changed.emit(self._temperature)

    # -- the display temperature ----------------------------------------------------------------
    @property
    def temperature(self) -> float:
        return self._temperature

    def set_temperature(self, temperature: float) -> None:
        """Show results at ``temperature`` (not written to the card; Save does that)."""
        t = float(temperature)
        if math.isclose(t, self._temperature, rel_tol=1e-9):
            return
        self._temperature = t
        self._shown = None
        self.temperature_changed.emit(t)
        if self._current is not None:
            self.shown_changed.emit(self.shown)

    def reset_temperature(self) -> None:
        """Back to the model card's temperature."""
        session = self.session
        self.set_temperature(DEFAULT_TEMPERATURE if session is None else session.temperature)

    # -- the current result ---------------------------------------------------------------------
    @property
    def current(self) -> Classification | None:
        """The current result as its model gave it (at the card's temperature)."""
        return self._current

    @property
    def shown(self) -> Classification | None:
        """The current result at the display temperature."""
        if self._shown is None and self._current is not None:
            self._shown = self._at_display_temperature(self._current)
        return self._shown

    def set_current(self, result: Classification | None, key: int | None = None) -> None:
        """Make ``result`` (history row ``key``, if it has one) the one on show."""
        same = (result is not None and self._current is not None and key == self.current_key
                and result.path == self._current.path)
        if not same:
            self.explain_class = None  # a class chosen for one image is not the next one's
        self._current = result
        self._shown = None
        self.current_key = key
        self.current_changed.emit(result)
        self.shown_changed.emit(self.shown)

    def _at_display_temperature(self, result: Classification) -> Classification:
        session = self.session
        if (session is None or not result.ok or result.logits is None
                or math.isclose(self._temperature, session.temperature, rel_tol=1e-9)):
            return result  # at the card's T the model's own result is what is shown
        return session.rescore([result], self._temperature)[0]

    # -- the history ----------------------------------------------------------------------------
    def add_results(self, results: list[Classification], thumbs: list[QImage | None] | None = None,
                    originals: list[QImage | None] | None = None) -> list[int]:
        """Append results to the history; returns their row keys."""
        keys = self.history.add(results, thumbs, originals)
        self.results_added.emit(results)
        return keys

    def history_file_paths(self) -> list[str]:
        """Image files this model classified this session (for diagnosing them together)."""
        return [e.result.path for e in self.history.entries
                if e.generation == self.history.generation and e.result.ok and e.original is None]

    def rescore(self) -> None:
        """Re-apply the card (after its temperature or check was saved) to this model's results.

        Only the stored logits and features are needed, so nothing is re-run; results of
        earlier models keep the verdicts their own model gave.
        """
        session = self.session
        if session is None:
            return
        history = self.history
        entries = [e for e in history.entries if e.generation == self.generation
                   and e.result.ok and e.result.logits is not None]
        if entries:
            fresh = session.rescore([e.result for e in entries])
            history.replace_results({e.key: r for e, r in zip(entries, fresh, strict=True)})
        row = history.row_of(self.current_key) if self.current_key is not None else None
        if row is not None and history.entries[row].generation == self.generation:
            self.set_current(history.entries[row].result, self.current_key)
        elif self._current is not None:
            self.set_current(self._current, self.current_key)  # the check may judge it anew
        self.rescored.emit()

    # -- the heat map over the current image ---------------------------------------------------
    def set_explain_method(self, method: str | None) -> None:
        """Show Grad-CAM, occlusion or no heat map (None) over the current image."""
        if method == self.explain_method:
            return
        self.explain_method = method
        self.explain_changed.emit()

    def set_explain_class(self, index: int | None) -> None:
        """Explain class ``index`` (None: whichever the model predicts for the image)."""
        if index == self.explain_class:
            return
        self.explain_class = index
        self.explain_changed.emit()

    def set_explain_opacity(self, opacity: float) -> None:
        """How opaque the heat map is drawn (0–1); the map itself is not recomputed."""
        opacity = min(max(float(opacity), 0.0), 1.0)
        if math.isclose(opacity, self.explain_opacity, abs_tol=1e-6):
            return
        self.explain_opacity = opacity
        self.explain_opacity_changed.emit(opacity)
