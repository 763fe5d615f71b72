"""A compact table of calibration metrics: before (T = 1) against the current temperature."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

# (report key, row title, tooltip, higher is better, shown as a percentage)
METRICS: tuple[tuple[str, str, str, bool, bool], ...] = (
    ("accuracy", "Accuracy", "Share of images whose top class is right (temperature never changes it)", True, True),
    ("nll", "NLL", "Negative log-likelihood of the true class, in nats: what temperature scaling minimises", False, False),
    ("brier", "Brier score", "Mean squared error of the probability vector (0 is perfect, 2 the worst)", False, False),
    ("ece", "ECE", "Expected calibration error: mean |confidence − accuracy| over 15 equal-width bins", False, True),
    ("adaptive_ece", "Adaptive ECE", "ECE over 15 bins holding equally many images (robust when confidences bunch up)", False, True),
    ("mce", "MCE", "Maximum calibration error: the worst bin's |confidence − accuracy|", False, True),
)
BEFORE, NOW = 0, 1
_BETTER = QColor("#2e8b57")
_WORSE = QColor("#c0392b")


def format_metric(value: float, percent: bool) -> str:
    # Every metric is >= 0; round-off can give -1e-17, which must not print as "-0.0000".
    value = max(value, 0.0)
    return f"{value:.1%}" if percent else f"{value:.4f}"


class CalibrationMetricsTable(QTableWidget):
    """Rows: accuracy, NLL, Brier, ECE, adaptive ECE, MCE; columns: before, now.

    The "now" cell turns green when it is better than before and red when worse, so the
    effect of the slider can be read without comparing numbers.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(len(METRICS), 2, parent)
        self.setHorizontalHeaderLabels(["Before (T = 1)", "Now"])
        self.setVerticalHeaderLabels([title for _, title, *_ in METRICS])
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setAlternatingRowColors(True)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        for row, (_, _, tip, _, _) in enumerate(METRICS):
            self.verticalHeaderItem(row).setToolTip(tip)
            for col in (BEFORE, NOW):
                item = QTableWidgetItem("—")
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                item.setToolTip(tip)
                self.setItem(row, col, item)
        # Tall enough for every row without a scroll bar; the table never grows.
        height = self.horizontalHeader().sizeHint().height() + 2 * self.frameWidth()
        height += sum(self.verticalHeader().sectionSizeHint(r) for r in range(len(METRICS)))
        self.setFixedHeight(height + 2)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def text(self, key: str, column: int) -> str:
        """The shown text of a metric (tests and accessibility read it)."""
        row = next(i for i, (k, *_) in enumerate(METRICS) if k == key)
        return self.item(row, column).text()

    def clear_values(self) -> None:
        self.setHorizontalHeaderLabels(["Before (T = 1)", "Now"])
        for row in range(len(METRICS)):
            for col in (BEFORE, NOW):
                self.item(row, col).setText("—")
                self.item(row, col).setData(Qt.ItemDataRole.ForegroundRole, None)

    def set_reports(
        self, before: Mapping[str, float], now: Mapping[str, float], temperature: float
    ) -> None:
        self.horizontalHeaderItem(NOW).setText(f"Now (T = {temperature:.3g})")
        for row, (key, _, _, higher_better, percent) in enumerate(METRICS):
            b, n = float(before[key]), float(now[key])
            self.item(row, BEFORE).setText(format_metric(b, percent))
            cell = self.item(row, NOW)
            cell.setText(format_metric(n, percent))
            # A relative tolerance keeps round-off from colouring unchanged values.
            if abs(n - b) <= 1e-9 * max(1.0, abs(b)):
                cell.setData(Qt.ItemDataRole.ForegroundRole, None)
            else:
                better = (n > b) if higher_better else (n < b)
                cell.setForeground(QBrush(_BETTER if better else _WORSE))
