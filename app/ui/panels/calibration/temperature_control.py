"""The temperature control: a slider on a log scale (≈ 0.05–20) with an editable T box.

A log scale gives T = 0.5 and T = 2 the same travel, which is how temperatures compare
(dividing logits by 2 or multiplying them by 2); a linear slider would crowd everything
below 1 into a few pixels.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtWidgets import QAbstractSpinBox, QDoubleSpinBox, QHBoxLayout, QLabel, QWidget
from superqt import QDoubleSlider

if TYPE_CHECKING:
    from app.ui.state import ViewState

T_MIN = 0.05
T_MAX = 20.0
TOOLTIP = (
    "Temperature T divides the model's logits before the softmax: softmax(logits / T).\n"
    "T > 1 softens an overconfident model; T < 1 sharpens an underconfident one.\n"
    "T = 1 is the model as trained. The predicted class never changes, only how sure it is."
)


class TemperatureControl(QWidget):
    """``T [slider] [1.000]`` bound to the view state's temperature.

    Moving either part writes ``state.set_temperature``; the control shows whatever the
    state's ``temperature_changed`` says (Fit, Revert, a new model), so T lives in one place.
    """

    def __init__(self, state: ViewState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setToolTip(TOOLTIP)
        self.label = QLabel("Temperature T", self)
        self.slider = QDoubleSlider(Qt.Orientation.Horizontal, self)
        self.slider.setRange(math.log10(T_MIN), math.log10(T_MAX))
        self.slider.setValue(0.0)
        self.slider.setSingleStep(0.01)
        self.slider.setPageStep(0.1)
        self.slider.setAccessibleName("Temperature (log scale)")
        self.slider.setToolTip(TOOLTIP)
        self.box = QDoubleSpinBox(self)
        self.box.setRange(T_MIN, T_MAX)
        self.box.setDecimals(3)
        self.box.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
        self.box.setValue(1.0)
        self.box.setKeyboardTracking(False)  # apply a typed value on Enter, not per key
        self.box.setAccessibleName("Temperature")
        self.box.setToolTip(TOOLTIP)
        self.slider.valueChanged.connect(self._on_slider)
        self.box.valueChanged.connect(self._on_box)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.box)
        state.temperature_changed.connect(self._show)
        self._show(state.temperature)

    def value(self) -> float:
        return self.state.temperature

    def set_value(self, temperature: float) -> None:
        """Set the state's temperature to ``temperature``, clamped to the control's range."""
        self.state.set_temperature(min(max(float(temperature), T_MIN), T_MAX))

    def _on_slider(self, log_t: float) -> None:
        self.state.set_temperature(10.0 ** float(log_t))

    def _on_box(self, t: float) -> None:
        self.state.set_temperature(float(t))

    def _show(self, temperature: float) -> None:
        t = min(max(float(temperature), T_MIN), T_MAX)
        with QSignalBlocker(self.slider), QSignalBlocker(self.box):
            self.slider.setValue(math.log10(t))
            self.box.setValue(t)
