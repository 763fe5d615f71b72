"""The heat-map row under the two pictures: Off / Grad-CAM / Occlusion, legend, opacity.

It only shows and emits: the window's explain controller writes the choices into the view
state, runs the job and hands the blended pictures to the result view.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from app.ui.widgets.qt_images import rgb_to_qimage

CHOICES = (("Off", None), ("Grad-CAM", "gradcam"), ("Occlusion", "occlusion"))
HELP = {
    None: "No heat map: the pictures as they are",
    "gradcam": "Grad-CAM: where the last convolutional block found evidence for the class\n"
               "(weighted by the gradient of its logit). Fast; needs convolutional layers.",
    "occlusion": "Occlusion: hide a patch at every place and measure how much the class's\n"
                 "probability drops. Slower; works for any model, .tflite too.",
}
LEGEND_WIDTH = 90
_ERROR = "color:#b3261e;"
# A segmented toggle: the chosen method must read as chosen at a glance.
_BUTTONS = (
    "QPushButton { padding: 3px 12px; border: 1px solid palette(mid); background: palette(button); }"
    "QPushButton:checked { background: palette(highlight); color: palette(highlighted-text); }"
    "QPushButton:disabled { color: palette(mid); }"
)


class HeatmapControls(QWidget):
    """Signals: ``method_chosen(object)`` (None / "gradcam" / "occlusion"), ``opacity_chosen(float)``."""

    method_chosen = Signal(object)
    opacity_chosen = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.buttons: dict[str | None, QPushButton] = {}
        buttons = QHBoxLayout()
        buttons.setSpacing(0)
        for i, (title, method) in enumerate(CHOICES):
            button = QPushButton(title, self)
            button.setCheckable(True)
            button.setStyleSheet(_BUTTONS)
            button.setToolTip(HELP[method])
            button.setAccessibleName(f"Heat map: {title}")
            self.group.addButton(button, i)
            self.buttons[method] = button
            button.setMinimumWidth(button.sizeHint().width())  # never squeezed to "lus"
            buttons.addWidget(button)
        self.buttons[None].setChecked(True)
        self.group.idClicked.connect(lambda i: self.method_chosen.emit(CHOICES[i][1]))

        self.legend_low = QLabel("none", self)
        self.legend_bar = QLabel(self)
        self.legend_bar.setToolTip("The colour of each pixel: how much evidence for the class it\n"
                                   "holds, from none (blue) to the most in this image (red)")
        self.legend_high = QLabel("more evidence", self)
        self._legend_drawn = False  # drawn when first shown: it needs OpenCV's colour maps

        self.opacity = QSlider(Qt.Orientation.Horizontal, self)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        self.opacity.setFixedWidth(90)
        self.opacity.setToolTip("How strongly the heat map covers the picture")
        self.opacity.setAccessibleName("Heat map opacity, in percent")
        self.opacity.valueChanged.connect(lambda v: self.opacity_chosen.emit(v / 100.0))
        self.opacity_label = QLabel("Opacity", self)

        self.caption = QLabel(self)
        self.caption.setObjectName("heatmapCaption")
        self.caption.setWordWrap(True)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(QLabel("Where the model looks:", self))
        top.addLayout(buttons)
        top.addSpacing(10)
        top.addWidget(self.legend_low)
        top.addWidget(self.legend_bar)
        top.addWidget(self.legend_high)
        top.addSpacing(10)
        top.addWidget(self.opacity_label)
        top.addWidget(self.opacity)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.caption)
        self.set_method(None)

    def set_colormap(self, name: str = "turbo") -> None:
        """Draw the legend bar from the core's colour map (cold left, hot right)."""
        from PySide6.QtGui import QPixmap

        from app.core.explain import legend

        bar = legend(LEGEND_WIDTH, 12, name)  # vertical, hottest on top
        horizontal = bar.transpose(1, 0, 2)[:, ::-1].copy()  # cold left → hot right
        self.legend_bar.setPixmap(QPixmap.fromImage(rgb_to_qimage(horizontal)))
        self._legend_drawn = True

    @property
    def method(self) -> str | None:
        return CHOICES[max(self.group.checkedId(), 0)][1]

    def set_method(self, method: str | None) -> None:
        """Check ``method``'s button (without emitting) and show the legend only when on."""
        self.buttons[method].setChecked(True)
        on = method is not None
        if on and not self._legend_drawn:
            self.set_colormap()
        for widget in (self.legend_low, self.legend_bar, self.legend_high, self.opacity,
                       self.opacity_label):
            widget.setVisible(on)

    def set_opacity(self, opacity: float) -> None:
        self.opacity.blockSignals(True)
        self.opacity.setValue(round(100 * opacity))
        self.opacity.blockSignals(False)

    def set_gradcam_available(self, available: bool, reason: str = "") -> None:
        button = self.buttons["gradcam"]
        button.setEnabled(available)
        button.setToolTip(HELP["gradcam"] if available else f"Grad-CAM is not available: {reason}")

    def show_text(self, text: str, error: bool = False) -> None:
        self.caption.setStyleSheet(_ERROR if error else "")
        self.caption.setText(text)
