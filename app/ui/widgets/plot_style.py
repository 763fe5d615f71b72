"""Colours for the panels' pyqtgraph plots that follow the application palette (light or dark)."""

from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget


@dataclass(frozen=True)
class PlotColours:
    background: QColor
    text: QColor
    dark: bool
    current: QColor  # the "now" series: calibrated bars, in-distribution scores
    reference: QColor  # the "before" series: T = 1 outlines
    warning: QColor  # calibration gap, no-class scores
    accent: QColor  # threshold line


def plot_colours(widget: QWidget) -> PlotColours:
    pal = widget.palette()
    base = pal.color(QPalette.ColorRole.Base)
    text = pal.color(QPalette.ColorRole.Text)
    dark = base.lightness() < 128
    return PlotColours(
        background=base,
        text=text,
        dark=dark,
        current=QColor("#5b9bd5") if dark else QColor("#3a78c2"),
        reference=QColor("#bbbbbb") if dark else QColor("#555555"),
        warning=QColor("#ff7f6e") if dark else QColor("#d0402b"),
        accent=QColor("#f0a030") if dark else QColor("#c06a00"),
    )


def with_alpha(colour: QColor, alpha: int) -> QColor:
    c = QColor(colour)
    c.setAlpha(alpha)
    return c


def style_plot(plot: pg.PlotItem, colours: PlotColours) -> None:
    """Readable axes in the palette's text colour; a static view (these plots are not explored)."""
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    plot.setMenuEnabled(False)
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(colours.text))
        axis.setTextPen(pg.mkPen(colours.text))
        # Scores like -0.05 must read as such, not as "-50 (x0.001)".
        axis.enableAutoSIPrefix(False)


def shrinkable(widget: QWidget, minimum_height: int) -> None:
    """Let ``widget`` (a pyqtgraph view, a stack holding them, a table) shrink to ``minimum_height``.

    A pyqtgraph view reports its current size as its size hint, so every layout above it
    treated the height it once got as needed: a tab that grew never fitted again without a
    scroll bar. Its height is set by the minimum instead; any extra room still goes to it.
    """
    widget.setMinimumHeight(minimum_height)
    widget.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Ignored)
