"""Accuracy and confusion matrix of a labelled folder run (class sub-folders)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from app.core.session import Classification

MAX_MATRIX_CLASSES = 60
EMPTY_TEXT = ("Drop a labelled folder — one sub-folder per class, named like the model's classes — "
              "to see accuracy and a confusion matrix here.")


def true_label(path: str, root: str) -> str | None:
    try:
        return Path(path).relative_to(root).parts[0]
    except (ValueError, IndexError):
        return None


def confusion(results: Sequence[Classification], root: str, classes: Sequence[str]) -> tuple[np.ndarray, int]:
    """Counts[true, predicted] over classified images, and how many had no usable label."""
    pos = {c: i for i, c in enumerate(classes)}
    m = np.zeros((len(classes), len(classes)), dtype=np.int64)
    skipped = 0
    for r in results:
        t = true_label(r.path, root)
        if not r.ok or r.index is None or t not in pos:
            skipped += 1
            continue
        m[pos[t], r.index] += 1
    return m, skipped


class FolderReport(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel(EMPTY_TEXT, self)
        self.summary.setWordWrap(True)
        font = QFont(self.summary.font())
        font.setPointSizeF(max(font.pointSizeF(), 9.0) * 1.2)
        self.summary.setFont(font)
        self.table = QTableWidget(self)
        self.table.setAcceptDrops(False)
        self.table.setToolTip("Rows: true class (sub-folder). Columns: predicted class.")
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        # Compact rows: ten classes fit the tab at the window's default size.
        row = self.table.fontMetrics().height() + 6
        self.table.verticalHeader().setMinimumSectionSize(row)
        self.table.verticalHeader().setDefaultSectionSize(row)
        self.table.hide()
        lay = QVBoxLayout(self)
        lay.addWidget(self.summary)
        lay.addWidget(self.table, 1)
        self.accuracy: float | None = None
        self.matrix: np.ndarray | None = None

    def show_unlabelled(self, why: str) -> None:
        """A folder run with sub-folders that are not the classes: no accuracy, and why."""
        self.matrix = self.accuracy = None
        self.table.hide()
        self.summary.setText(f"No accuracy for this run — {why}. {EMPTY_TEXT}")

    def show_run(self, results: Sequence[Classification], root: str, classes: Sequence[str],
                 cancelled: bool = False) -> None:
        m, skipped = confusion(results, root, classes)
        n = int(m.sum())
        self.matrix = m
        self.accuracy = float(np.trace(m) / n) if n else None
        acc = f"{self.accuracy:.1%}" if self.accuracy is not None else "n/a"
        note = f" · {skipped} images without a usable label or result" if skipped else ""
        unknown = sum(1 for r in results if r.no_class)
        if unknown:
            note += f" · {unknown} look like none of the classes (counted with their best guess)"
        part = " (cancelled, partial)" if cancelled else ""
        self.summary.setText(f"<b>{Path(root).name}</b>{part}: accuracy <b>{acc}</b> "
                             f"on {n} images{note}")
        used = [i for i in range(len(classes)) if m[i].sum() or m[:, i].sum()]
        if len(used) > MAX_MATRIX_CLASSES:
            self.table.hide()
            self.summary.setText(self.summary.text() + f" · {len(used)} classes: matrix too large to show")
            return
        names = [str(classes[i]) for i in used]
        sub = m[np.ix_(used, used)]
        self.table.clear()
        self.table.setRowCount(len(used))
        self.table.setColumnCount(len(used))
        self.table.setVerticalHeaderLabels([f"true {c}" for c in names])
        self.table.setHorizontalHeaderLabels(names)
        peak = max(int(sub.max()), 1) if sub.size else 1
        for i in range(len(used)):
            for j in range(len(used)):
                v = int(sub[i, j])
                item = QTableWidgetItem(str(v) if v else "")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if v:
                    alpha = int(40 + 180 * v / peak)
                    color = QColor(46, 125, 50, alpha) if i == j else QColor(198, 40, 40, alpha)
                    item.setBackground(QBrush(color))
                self.table.setItem(i, j, item)
        self.table.resizeColumnsToContents()
        self.table.show()
