"""The "what if" table: the current image's prediction as recorded and under the usual mistakes.

Rows: the model card's preprocessing, the rescale mistake (raw 0–255 pixels, or an extra
``/255`` for a model that takes raw pixels) and reversed channels (BGR for RGB). A row whose
answer differs from the recorded one is marked, so the user sees at a glance how much the
answer depends on getting the preprocessing right.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.ui.widgets.plot_style import plot_colours

if TYPE_CHECKING:
    from app.core.diagnostics import WhatIfPrediction

# Short headers: the table sits beside the activation view, in a third of the tab.
COLUMNS = ("Preprocessing", "Label", "Prob.", "A class?")
# Short, so the column stays readable in a narrow panel; the tooltip has the core's words.
TITLES = {
    "as_recorded": "As recorded",
    "no_rescale": "No rescale (0–255)",
    "extra_rescale": "Extra 1/255 rescale",
    "bgr": "BGR for RGB",
}


class WhatIfTable(QWidget):
    """``set_predictions(preds, note)``; ``clear(message)``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._warning = plot_colours(self).warning
        self.caption = QLabel(self)
        self.caption.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        for col, tip in enumerate(("How the image was prepared for the model", "The model's answer",
                                   "Its calibrated probability",
                                   "Whether the 'none of the classes' check accepts the image")):
            self.table.horizontalHeaderItem(col).setToolTip(tip)
        self.table.setAccessibleName("What if the preprocessing were wrong")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.caption)
        layout.addWidget(self.table)
        self.predictions: list[WhatIfPrediction] = []
        self.clear()

    def clear(self, message: str = "Classify an image to see how much its answer depends on preprocessing") -> None:
        self.predictions = []
        self.table.setRowCount(0)
        self.table.hide()
        self.caption.setText(f"<i>{message}</i>")

    def set_predictions(self, predictions: Sequence[WhatIfPrediction], note: str = "") -> None:
        """Fill one row per variant; the first is the recorded preprocessing."""
        self.predictions = list(predictions)
        self.table.setRowCount(len(self.predictions))
        self.table.setVisible(bool(self.predictions))
        recorded = self.predictions[0] if self.predictions else None
        changed = 0
        for row, p in enumerate(self.predictions):
            differs = recorded is not None and row > 0 and p.index != recorded.index
            changed += differs
            texts = (
                TITLES.get(p.key, p.key),
                p.label + ("  ← changed" if differs else ""),
                f"{p.probability:.1%}",
                "yes" if p.in_distribution else "no class",
            )
            for col, text in enumerate(texts):
                item = QTableWidgetItem(text)
                item.setToolTip(p.description if col == 0 else text)
                if col >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if row == 0:
                    font = QFont(item.font())
                    font.setBold(True)
                    item.setFont(font)
                if differs and col == 1:
                    item.setForeground(QBrush(self._warning))
                self.table.setItem(row, col, item)
        if recorded is None:
            self.caption.setText("<i>No prediction</i>")
        elif changed:
            self.caption.setText(
                f"<b>What if the preprocessing were wrong?</b> {changed} of "
                f"{len(self.predictions) - 1} common mistakes change the answer: getting the "
                f"preprocessing right matters for this image. {note}"
            )
        else:
            self.caption.setText(
                "<b>What if the preprocessing were wrong?</b> The answer stays "
                f"“{recorded.label}” under the common mistakes (only the probability moves). {note}"
            )
        self._fit_height()

    def _fit_height(self) -> None:
        # Three short rows: size the table to them instead of leaving an empty scroll area.
        rows = self.table.rowCount()
        body = (sum(self.table.rowHeight(r) for r in range(rows)) if rows
                else self.table.verticalHeader().defaultSectionSize())
        header = self.table.horizontalHeader().sizeHint().height()
        self.table.setFixedHeight(header + body + 2 * self.table.frameWidth() + 2)
