"""The status line: state, model facts, preprocessing, device, latency and run progress."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QStatusBar, QWidget

if TYPE_CHECKING:
    from app.core import ModelSession

STATE_LOADING_TF = "Loading TensorFlow…"
STATE_READY = "Ready"
STATE_NO_MODEL = "No model: open one with File → Open model (Ctrl+Shift+O)"

_UNRECORDED_STYLE = "color:white; background:#c0392b; font-weight:700; padding:1px 6px; border-radius:3px;"


def _sep() -> QLabel:
    label = QLabel("│")
    label.setEnabled(False)
    return label


class StatusBar(QStatusBar):
    """State on the left (with a folder run's progress and Cancel), model facts on the right."""

    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state_label = QLabel("Starting…", self)
        self.state_label.setObjectName("stateLabel")
        self.state_label.setAccessibleName("Status")
        self.model_label = QLabel("no model", self)
        self.prep_label = QLabel("", self)
        self.device_label = QLabel("", self)
        self.device_label.setToolTip("Where inference runs")
        self.latency_label = QLabel("", self)
        self.latency_label.setToolTip("Time of the last model call (one batch), in milliseconds")

        self.progress_box = QWidget(self)
        self.progress = QProgressBar(self.progress_box)
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(False)
        self.progress_label = QLabel("", self.progress_box)
        self.cancel_button = QPushButton("Cancel", self.progress_box)
        self.cancel_button.setToolTip("Stop the folder run (results so far are kept); Esc")
        self.cancel_button.clicked.connect(self.cancel_requested)
        box = QHBoxLayout(self.progress_box)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.progress)
        box.addWidget(self.progress_label)
        box.addWidget(self.cancel_button)
        self.progress_box.hide()

        self.addWidget(self.state_label)
        self.addWidget(self.progress_box)
        for w in (_sep(), self.model_label, _sep(), self.prep_label, _sep(), self.device_label,
                  _sep(), self.latency_label):
            self.addPermanentWidget(w)

    def set_state(self, text: str) -> None:
        self.state_label.setText(text)

    @property
    def state(self) -> str:
        return self.state_label.text()

    def set_session(self, session: ModelSession | None, device: str = "") -> None:
        if session is None:
            self.model_label.setText("no model")
            self.prep_label.setText("")
            self.prep_label.setStyleSheet("")
            self.device_label.setText("")
            self.latency_label.setText("")
            return
        loaded = session.loaded
        h, w, c = loaded.input_shape
        self.model_label.setText(
            f"<b>{loaded.name}</b> · {loaded.format} · input {h or '?'}×{w or '?'}×{c} · "
            f"{len(session.classes)} classes"
        )
        self.model_label.setToolTip(str(loaded.path))
        spec = session.spec
        if spec.recorded:
            self.prep_label.setText(f"preprocessing: {spec.summary()}")
            self.prep_label.setStyleSheet("")
            self.prep_label.setToolTip(f"Recorded training preprocessing, reproduced exactly ({spec.source})")
        else:
            self.prep_label.setText(f"⚠ preprocessing NOT recorded, guessed: {spec.summary(False)}")
            self.prep_label.setStyleSheet(_UNRECORDED_STYLE)
            self.prep_label.setToolTip(
                "This model has no model card with its training preprocessing, so probscope guessed it "
                f"({spec.source}). Results may be wrong if the guess differs from training."
            )
        runtime = getattr(session, "runtime_name", "tensorflow")
        self.device_label.setText(f"{runtime} · {device}" if device else runtime)
        self.device_label.setToolTip("The runtime that answers: LiteRT (a verified conversion of "
                                     "the model, no TensorFlow needed) or TensorFlow")
        self.set_latency(session.last_latency_ms)

    def set_latency(self, ms: float) -> None:
        self.latency_label.setText(f"{ms:.1f} ms" if ms > 0 else "")

    def show_progress(self, done: int, total: int, images_per_s: float) -> None:
        self.progress_box.show()
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        rate = f" · {images_per_s:.0f} images/s" if images_per_s > 0 else ""
        self.progress_label.setText(f"{done} / {total}{rate}")

    def hide_progress(self) -> None:
        self.progress_box.hide()
