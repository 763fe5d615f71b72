"""Per kind of no-class image: a few examples, how many the check accepts, seen and unseen.

"Accepted" is the share of that kind the chosen score's threshold lets through. "Accepted
when unseen" is the same with the kind left out of the fit (leave-one-kind-out): the figure
for junk of a sort the check never saw. The two differ only for the learned probe, the one
score fitted on the reference; the logit and feature scores never see it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QBrush, QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from app.ui.widgets.plot_style import shrinkable
from app.ui.widgets.qt_images import rgb_to_qimage

KIND_TITLES = {
    "plain": "Plain colours", "gradient": "Gradients", "clouds": "Clouds, smooth noise",
    "stripes": "Stripes", "checkers": "Checkers", "bricks": "Bricks", "wood": "Wood grain",
    "paper": "Paper", "dots": "Dots", "noise": "Noise", "shapes": "Shapes", "blobs": "Blobs",
    "photo": "Photo crops", "face": "Drawn faces", "glyphs": "Other characters",
    "your no-class images": "Your no-class images",
}
HEADERS = ("Kind of no-class image", "Accepted", "Accepted when unseen")
HEADER_HELP = (
    "Procedural images of no class, drawn at the model's input size (examples shown larger)",
    "Share of this kind the check lets through as one of the classes",
    "The same when this kind was left out of the fit: how the check copes with junk it never\n"
    "saw. Equal to 'Accepted' for scores that are not fitted on the reference.",
)
ICON = QSize(3 * 24 + 4, 24)  # about model-sized examples: rows stay compact
VISIBLE_ROWS = 4  # at least, beside the histogram at the default window size
# Shares at or below these read as good / so-so; above, the check lets too much through.
GOOD, FAIR = 0.02, 0.10


def kind_title(kind: str) -> str:
    return KIND_TITLES.get(kind, kind.replace("_", " ").capitalize())


def share_colour(share: float) -> QColor:
    """A light cell background: green for little accepted, amber, then red."""
    if share <= GOOD:
        return QColor("#dff3e4")
    return QColor("#fff4cc") if share <= FAIR else QColor("#fde2e1")


class PerKindTable(QTableWidget):
    """``set_rows(per_kind, thumbnails)`` for the chosen score; ``clear_rows()``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(HEADERS), parent)
        self.setHorizontalHeaderLabels(list(HEADERS))
        for i, text in enumerate(HEADER_HELP):
            self.horizontalHeaderItem(i).setToolTip(text)
        self.setIconSize(ICON)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(ICON.height() + 6)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for i in (1, 2):
            header.setSectionResizeMode(i, QHeaderView.ResizeMode.ResizeToContents)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setAccessibleName("No-class images accepted, per kind")
        # Its own scroll bar for the rest of the kinds: the tab around it must not need one.
        rows = VISIBLE_ROWS * self.verticalHeader().defaultSectionSize()
        shrinkable(self, self.horizontalHeader().sizeHint().height() + rows + 2 * self.frameWidth() + 2)
        self._icons: dict[str, QIcon] = {}

    def set_thumbnails(self, thumbnails: Mapping[str, np.ndarray]) -> None:
        """Kind → RGB strip; kept until the next fit (switching scores reuses them)."""
        self._icons = {k: QIcon(QPixmap.fromImage(rgb_to_qimage(v))) for k, v in thumbnails.items()}

    def clear_rows(self) -> None:
        self.setRowCount(0)

    def set_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """The mean over kinds in bold, first (the table scrolls; the summary must show), then
        one row per kind."""
        first = 1 if rows else 0
        self.setRowCount(len(rows) + first)
        if rows:
            mean = QTableWidgetItem("Mean over kinds")
            font = mean.font()
            font.setBold(True)
            mean.setFont(font)
            self.setItem(0, 0, mean)
            for c, key in ((1, "accepted"), (2, "held_out_accepted")):
                self._share(0, c, float(np.mean([float(x[key]) for x in rows])), bold=True)
            self.setRowHeight(0, 26)
        for r, row in enumerate(rows, start=first):
            kind = str(row["kind"])
            name = QTableWidgetItem(kind_title(kind))
            name.setToolTip(kind)
            if kind in self._icons:
                name.setIcon(self._icons[kind])
            self.setItem(r, 0, name)
            self._share(r, 1, float(row["accepted"]))
            self._share(r, 2, float(row["held_out_accepted"]))

    def _share(self, r: int, c: int, share: float, bold: bool = False) -> None:
        item = QTableWidgetItem(f"{share:.1%}")
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        item.setBackground(QBrush(share_colour(share)))
        item.setForeground(QBrush(QColor("#1f1f1f")))
        item.setData(Qt.ItemDataRole.UserRole, share)
        if bold:
            font = item.font()
            font.setBold(True)
            item.setFont(font)
        self.setItem(r, c, item)

    def shares(self, column: int = 1) -> dict[str, float]:
        """Kind → share in ``column`` (1 accepted, 2 accepted when unseen), for tests and scripts."""
        out = {}
        for r in range(self.rowCount()):
            name, value = self.item(r, 0), self.item(r, column)
            if name is not None and value is not None and name.toolTip():
                out[name.toolTip()] = float(value.data(Qt.ItemDataRole.UserRole))
        return out
