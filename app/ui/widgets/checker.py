"""A checkerboard background: what frames a picture so a blank white image stays visible."""

from __future__ import annotations

from PySide6.QtGui import QBrush, QColor, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QWidget

_LIGHT = "#d6d6d6"
_DARK = "#a4a4a4"


def show_checker_behind(widget: QWidget, cell: int = 6) -> None:
    """Fill ``widget``'s background with a grey checkerboard.

    Image panes draw their picture with a margin, so the checker shows around it: a blank
    white image is framed instead of vanishing into a white pane (and a dark one into a dark
    theme).
    """
    tile = QPixmap(2 * cell, 2 * cell)
    tile.fill(QColor(_LIGHT))
    painter = QPainter(tile)
    painter.fillRect(0, 0, cell, cell, QColor(_DARK))
    painter.fillRect(cell, cell, cell, cell, QColor(_DARK))
    painter.end()
    palette = widget.palette()
    palette.setBrush(QPalette.ColorRole.Window, QBrush(tile))
    widget.setPalette(palette)
    widget.setAutoFillBackground(True)
