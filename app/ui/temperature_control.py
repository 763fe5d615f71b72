"""The temperature control: a slider on a log scale (≈ 0.05–20) with an editable T box.

A log scale gives T = 0.5 and T = 2 the same travel, which is how temperatures compare
(dividing logits by 2 or multiplying them by 2); a linear slider would crowd everything
below 1 into a few pixels.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import QAbstractSpinBox, QDoubleSpinBox, QHBoxLayout, QLabel, QWidget
from superqt import QDoubleSlider

T_MIN = 0.05
T_MAX = 20.0
TOOLTIP = (
    "Temperature T divides the model's logits before the softmax: softmax(logits / T).\n"
    "T > 1 softens an overconfident model; T < 1 sharpens an underconfident one.\n"
    "T = 1 is the model as trained. The predicted class never changes, only how sure it is."
)


class TemperatureControl(QWidget):
    """``T [slider] [1.000]``; emits ``value_changed(T)`` for moves of either part."""

    value_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
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
        self._value = 1.0

    def value(self) -> float:
        return self._value

    def set_value(self, temperature: float, emit: bool = True) -> None:
        """Show ``temperature`` (clamped to the control's range) and, by default, announce it."""
        t = min(max(float(temperature), T_MIN), T_MAX)
        with QSignalBlocker(self.slider), QSignalBlocker(self.box):
            self.slider.setValue(math.log10(t))
            self.box.setValue(t)
        self._apply(t, emit)

    def _on_slider(self, log_t: float) -> None:
        t = 10.0 ** float(log_t)
        with QSignalBlocker(self.box):
            self.box.setValue(t)
        self._apply(t, True)

    def _on_box(self, t: float) -> None:
        with QSignalBlocker(self.slider):
            self.slider.setValue(math.log10(max(t, T_MIN)))
        self._apply(float(t), True)

    def _apply(self, t: float, emit: bool) -> None:
        changed = not math.isclose(t, self._value, rel_tol=1e-9)
        self._value = t
        if emit and changed:
            self.value_changed.emit(t)
