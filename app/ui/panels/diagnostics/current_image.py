"""The Diagnostics panel's right half: one layer's activations and the what-if table for the
image the window shows.

Its jobs (the model's layer list, the activation, the what-if predictions) run on their own
runners; switching images cancels the old image's jobs, and a hidden tab waits until it is
shown before following a new image.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.ui.jobs.runner import JobRunner
from app.ui.panels.diagnostics.activation_view import ActivationView
from app.ui.panels.diagnostics.jobs import (
    ImageActivation,
    LayerInfo,
    WhatIfRun,
    activation_job,
    layers_job,
    what_if_job,
)
from app.ui.panels.diagnostics.what_if_table import WhatIfTable
from app.ui.panels.panel_messages import PanelMessages

if TYPE_CHECKING:
    from app.core import Classification, ModelSession

NO_IMAGE = "Classify an image to see its activations"
NO_RELU = "This model has no ReLU-family layers: there are no zeros to look at"


def image_key(result: Classification) -> tuple[str, bytes | None]:
    """Identifies an image's result across re-renders (temperature, rescoring): path + logits."""
    logits = None if result.logits is None else np.asarray(result.logits, np.float32).tobytes()
    return result.path, logits


class CurrentImageBox(QGroupBox):
    """"For the current image": layer picker, activation view, what-if table."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("For the current image", parent)
        self._session: ModelSession | None = None
        self._layers: list[LayerInfo] | None = None  # None until the layers job answered
        self._wanted_layer: str | None = None
        self._result: Classification | None = None
        self._result_key: tuple[str, bytes | None] | None = None
        self._input: np.ndarray | None = None  # the current image's model input, once known
        self._what_if: WhatIfRun | None = None
        self._activation: ImageActivation | None = None
        self._pending = False  # the current image's jobs wait for the panel to be shown

        self.layers_runner = JobRunner(self)
        self.layers_runner.finished.connect(self._on_layers)
        self.layers_runner.failed.connect(self._on_image_failed)
        self.activation_runner = JobRunner(self)
        self.activation_runner.finished.connect(self._on_activation)
        self.activation_runner.failed.connect(self._on_image_failed)
        self.what_if_runner = JobRunner(self)
        self.what_if_runner.finished.connect(self._on_what_if)
        self.what_if_runner.failed.connect(self._on_what_if_failed)

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
        activations = QVBoxLayout()
        activations.addWidget(self.image_label)
        activations.addLayout(layer_row)
        activations.addWidget(self.image_messages)
        activations.addWidget(self.activation, 1)
        # The activation beside the what-if table: stacked, they needed a scroll bar at the
        # default window size.
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addLayout(activations, 1)
        layout.addWidget(self.what_if, 1, Qt.AlignmentFlag.AlignTop)
        self.what_if.setMinimumWidth(300)  # its four columns, the variant's name readable

    # -- state for the panel and tests ---------------------------------------------------------
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

    def runners(self) -> tuple[JobRunner, ...]:
        return (self.layers_runner, self.activation_runner, self.what_if_runner)

    # -- the model and the image ----------------------------------------------------------------
    def set_session(self, session: ModelSession | None) -> None:
        """Forget the old model's image and layers; ask the new model for its layers."""
        for runner in self.runners():
            runner.cancel(silent=True)
        self._session = session
        self._layers = None
        self._wanted_layer = None
        self.forget_image()
        with QSignalBlocker(self.layer_box):
            self.layer_box.clear()
        if session is not None:
            self.layers_runner.start(layers_job, session)

    def set_current_result(self, result: Classification | None) -> None:
        """The image the window shows now: its activations and what-if row follow it."""
        if result is None or not result.ok:
            self.forget_image()
            if result is not None:
                self.image_label.setText(f"<b>{Path(result.path).name or result.path}</b>: "
                                         "could not be classified")
            return
        key = image_key(result)
        if key == self._result_key:
            self._result = result  # re-rendered (temperature, rescoring): same image
            self._show_image_label()
            return
        self.forget_image()
        self._result, self._result_key = result, key
        self._input = None if result.model_input is None else np.asarray(result.model_input)
        self._show_image_label()
        self._pending = True
        self.refresh()

    def refresh(self) -> None:
        """Start the current image's jobs, unless the panel is hidden (then: when shown).

        The window shows every image it classifies; a hidden tab need not follow each one.
        """
        session, result = self._session, self._result
        if not self._pending or session is None or result is None or not self.isVisible():
            return
        self._pending = False
        self._start_activation()
        self.what_if.clear("Computing the what-if predictions…")
        self.what_if_runner.start(what_if_job, session, result, self._input)

    def forget_image(self) -> None:
        self.activation_runner.cancel(silent=True)
        self.what_if_runner.cancel(silent=True)
        self._result = None
        self._result_key = None
        self._pending = False
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

    # -- layers and activations -----------------------------------------------------------------
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
        self.layer_box.setEnabled(self.layer_box.count() > 0)
        if not applicable:
            self.activation.clear(NO_RELU)
        elif self._pending:
            self.refresh()
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
