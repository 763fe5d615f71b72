"""The check's controls on the left of the tab: score, share of real images to accept, threshold.

And how many real and no-class images that threshold accepts.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QWidget
from superqt import QLabeledDoubleSlider

from app.ui.panels.base import row

ACCEPT_MIN, ACCEPT_MAX, ACCEPT_DEFAULT = 50.0, 99.9, 95.0


class CheckControls(QWidget):
    """Widgets only: the panel connects them and fills in the figures."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.score_box = QComboBox(self)
        self.score_box.setAccessibleName("OOD score")
        self.score_box.setToolTip(
            "How 'like the training classes' an image is measured. 'Unseen junk accepted': the\n"
            "share of no-class images of kinds the check was not fitted on that still get through."
        )
        self.accept_slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal, self)
        self.accept_slider.setRange(ACCEPT_MIN, ACCEPT_MAX)
        self.accept_slider.setDecimals(1)
        self.accept_slider.setSingleStep(0.1)
        self.accept_slider.setValue(ACCEPT_DEFAULT)
        self.accept_slider.setAccessibleName("Share of real images to accept, in percent")
        self.accept_label = QLabel("% of real images", self)
        self.threshold_label = QLabel(self)
        self.accepted_in_label = QLabel(self)
        self.accepted_out_label = QLabel(self)
        for label in (self.accepted_in_label, self.accepted_out_label):
            font = label.font()
            font.setBold(True)
            label.setFont(font)
        self.accepted_in_label.setToolTip(
            "Share of the real images at or above the threshold (measured on images the\n"
            "threshold was set on; new real images land close to the target)"
        )
        self.accepted_out_label.setToolTip(
            "Share of the no-class images the check would still accept as one of the classes"
        )
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setVerticalSpacing(3)  # four short lines; the per-kind table below wants the height
        accept = row((self.accept_slider, 1), self.accept_label)
        accepted = row(self.accepted_in_label, (self.accepted_out_label, 1))
        for line in (accept, accepted):
            line.setSpacing(6)  # a form with unequal spacings passes none on to its rows
        form.addRow("Score", self.score_box)
        form.addRow("Accept", accept)
        form.addRow("Threshold", self.threshold_label)
        form.addRow("Accepted", accepted)
