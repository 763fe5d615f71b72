"""Which model the window uses: loading it (newest request wins), trust, fallback, queued drops.

A model loads on a worker (TensorFlow is imported there, so the window is up long before it
finishes). A model that could run code waits for the user's trust; a last-used model that no
longer opens falls back to the bundled one. Images dropped while no model is ready wait in a
queue and are handed on (``single_ready`` / ``run_ready``) once one is.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from app.core import bundled_model_path
from app.ui.jobs.image_jobs import ImageSource
from app.ui.jobs.model_jobs import LoadOutcome, SessionHandle, close_session_job, load_model_job
from app.ui.jobs.runner import JobRunner
from app.ui.state import ViewState
from app.ui.window.settings import AppSettings
from app.ui.window.status_bar import STATE_LOADING_TF, STATE_NO_MODEL, STATE_READY, StatusBar
from app.ui.window.trust_dialog import TrustDialog


class SessionController(QObject):
    """Loads models into the view state and holds the drops that wait for one.

    Signals
    -------
    loading_started()
        A model load begins (a folder run for the old model should stop).
    single_ready(object)
        An :class:`ImageSource` that waited for a model can be classified now.
    run_ready(list)
        Files and folders that waited for a model can be run now.
    """

    loading_started = Signal()
    single_ready = Signal(object)
    run_ready = Signal(list)

    def __init__(self, state: ViewState, status: StatusBar, settings: AppSettings,
                 show_message: Callable[[str, str], None], dialog_parent: QWidget,
                 interactive: bool) -> None:
        super().__init__(dialog_parent)
        self.state = state
        self.status = status
        self.settings = settings
        self.show_message = show_message
        self.dialog_parent = dialog_parent
        # In --screenshot mode nothing may wait for a click, so risky models are refused.
        self.interactive = interactive
        self.model_error: str | None = None
        self.trust_dialog: TrustDialog | None = None
        self.loading = False
        self.pending: deque[tuple[str, Any]] = deque()  # drops waiting for a model
        self._fallback_model: str | None = None
        self._generation = 0
        self._loader = JobRunner(self)
        self._loader.yielded.connect(self._on_load_progress)
        self._loader.finished.connect(self._on_loaded)
        self._loader.stale.connect(self._on_stale_load)
        self._closer = JobRunner(self, cancel_previous=False)

    @property
    def ready(self) -> bool:
        """A model is loaded and no other is on its way."""
        return self.state.handle is not None and not self.loading

    @property
    def jobs_in_flight(self) -> int:
        return self._loader.in_flight + self._closer.in_flight

    # -- loading ------------------------------------------------------------------------------
    def start(self, model: str | None = None, trust: bool = False) -> None:
        """Load ``model``, else the last one used, else the bundled digit model."""
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
            if last and last != bundled:  # moved or deleted since: say so, not a silent swap
                self.show_message(f"The last model, {last}, is gone; opened the bundled digit "
                                  "model instead", "info")
        else:
            self.model_error = "the bundled model is missing"
            self.status.set_state(STATE_NO_MODEL)
            self.show_message("No model loaded yet: drop a .keras, .h5 or .tflite model here or use "
                              "File → Open model.", "warning")

    def open_model(self, path: str, trust: bool = False) -> None:
        """Load a model in the background; the newest request wins."""
        self.loading_started.emit()
        self.loading = True
        self.status.set_state(STATE_LOADING_TF if self.state.handle is None
                              else f"Loading model {Path(path).name}…")
        self._loader.start(load_model_job, str(path), trust)

    def _on_load_progress(self, text: str) -> None:
        # With a model on screen, "Loading TensorFlow…" would only confuse.
        if text != STATE_LOADING_TF or self.state.handle is None:
            self.status.set_state(text)

    def _on_stale_load(self, outcome: LoadOutcome) -> None:
        if outcome.session is not None:  # a newer model was asked for meanwhile
            outcome.session.close()

    def _on_loaded(self, outcome: LoadOutcome) -> None:
        self.loading = False
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
        self._install(outcome)

    def _load_failed(self, message: str) -> None:
        if self.state.handle is None:
            self.model_error = message
            self.status.set_state(STATE_NO_MODEL)
        else:
            self.status.set_state(STATE_READY)
        self.show_message(message, "error")
        self.flush()

    def _ask_trust(self, path: str, risky: list[str]) -> None:
        self.status.set_state("Waiting for your decision about the model…")
        dialog = TrustDialog(path, risky, self.dialog_parent)
        self.trust_dialog = dialog
        dialog.accepted.connect(lambda: self.open_model(path, trust=True))
        dialog.rejected.connect(lambda: self._load_failed(
            f"Did not load {Path(path).name}: you chose not to trust code it contains"))
        dialog.finished.connect(lambda _: setattr(self, "trust_dialog", None))
        dialog.open()

    def _install(self, outcome: LoadOutcome) -> None:
        assert outcome.session is not None
        old = self.state.handle
        self._generation += 1
        handle = SessionHandle(outcome.session, outcome.device, self._generation)
        if old is not None:
            self._closer.start(close_session_job, old)
        self.model_error = None
        self.status.set_state(STATE_READY)
        self.settings.add_recent_model(outcome.session.loaded.path)
        self.state.set_session(handle)
        self.flush()

    # -- drops waiting for a model --------------------------------------------------------------
    def enqueue(self, kind: str, value: Any) -> None:
        """Queue a "single" image or a "run" of paths; handed on at once if a model is ready."""
        self.pending.append((kind, value))
        if self.ready:
            self.flush()
        elif self.state.handle is None and not self.loading and self.model_error:
            self.show_message("Images are waiting for a model: open one with File → Open model",
                              "warning")

    def flush(self) -> None:
        if not self.ready:
            return
        while self.pending:
            kind, value = self.pending.popleft()
            if kind == "single":
                self.single_ready.emit(value)
            else:
                self.run_ready.emit(value)

    def classify_later(self, item: ImageSource) -> None:
        """Classify ``item`` with the model that is (or will be) loaded."""
        self.enqueue("single", item)
