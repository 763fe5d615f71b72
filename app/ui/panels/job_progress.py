"""A progress bar with a Cancel button that follows a :class:`~app.ui.jobs.runner.JobRunner`."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from app.ui.jobs.runner import JobRunner


class JobProgress(QWidget):
    """Visible only while the runner works; shows "what · done / total images"."""

    def __init__(self, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.what = QLabel(self)
        self.bar = QProgressBar(self)
        self.bar.setRange(0, 0)  # busy until the first report gives a total
        self.bar.setFormat("%v / %m images")
        self.bar.setAccessibleName("Progress")
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop computing the model's outputs for this data")
        self.cancel_button.clicked.connect(lambda: runner.cancel())
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.what)
        layout.addWidget(self.bar, 1)
        layout.addWidget(self.cancel_button)
        runner.progress.connect(self._on_progress)
        runner.running_changed.connect(self._on_running)
        self.hide()

    def set_text(self, text: str) -> None:
        self.what.setText(text)

    def _on_running(self, running: bool) -> None:
        if running:
            self.bar.setRange(0, 0)
        self.setVisible(running)

    def _on_progress(self, done: int, total: int) -> None:
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(min(done, total))
