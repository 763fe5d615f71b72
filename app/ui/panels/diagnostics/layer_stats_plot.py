"""Horizontal bars per ReLU layer: the share of dead units and the share of zeros per input.

Two bars per layer, in model order from the top: *dead* (units that are zero for every
input of the data set) and *zeros* (the mean share of zero values per input). A layer can
be mostly zeros and healthy (sparse); only dead units are a problem. Layer names sit on
the left axis, the numbers and verdicts on the right one (axes size themselves in pixels,
so nothing is cut off however narrow the plot). Bars are created once, updated with
``setOpts``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics
from PySide6.QtWidgets import QLabel, QStackedWidget, QVBoxLayout, QWidget

from app.ui.panels.panel_messages import empty_state
from app.ui.widgets.plot_style import plot_colours, shrinkable, style_plot, with_alpha

BAR = 0.36  # thickness of each of a layer's two bars (layers are 1 apart)
NAME_CHARS = 26  # longer layer names are elided in the middle on the axis
AXIS_MAX_PX = 200
MIN_ROWS = 4
EXPLANATION = (
    "Per ReLU layer, over the whole data set:\n"
    "dead = share of units that are zero for every input (they pass nothing on and never learn);\n"
    "zeros = mean share of zero values per input (ReLU features are sparse by design)."
)
VERDICT_MARKS = {"dead": "⚠ ", "partly dead": "⚠ "}


def elide_middle(text: str, limit: int = NAME_CHARS) -> str:
    """``block5_conv3`` stays; ``model/very/long/name`` becomes ``model/ve…ng/name``."""
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head):]


def _swatch(colour: QColor) -> str:
    return f"<span style='color:{colour.name()}'>■</span>"


class LayerStatsPlot(QWidget):
    """``set_layers(rows)`` with the core's report rows (applicable ones); ``clear(message)``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        colours = plot_colours(self)
        self._colours = colours
        self.widget = pg.PlotWidget(parent=self)
        self.widget.setBackground(colours.background)
        self.widget.setAcceptDrops(False)  # drops belong to the panel
        self.widget.setToolTip(EXPLANATION)
        self.plot: pg.PlotItem = self.widget.getPlotItem()
        style_plot(self.plot, colours)
        self.plot.showGrid(x=True, y=False, alpha=0.15)
        self.plot.setLabel("bottom", "% of units (dead) or of values per input (zeros)")
        self.plot.showAxis("right")
        right = self.plot.getAxis("right")
        right.setPen(pg.mkPen(colours.text))
        right.setTextPen(pg.mkPen(colours.text))
        right.setStyle(tickLength=0)
        self.plot.getAxis("left").setStyle(tickLength=0)
        self.plot.getViewBox().invertY(True)  # the first layer at the top
        self.plot.getAxis("bottom").setTicks([[(v, f"{v:g}") for v in (0, 25, 50, 75, 100)]])

        self.dead_bars = pg.BarGraphItem(
            x0=[], y=[], width=[], height=BAR, brush=colours.warning, pen=pg.mkPen(None)
        )
        self.zero_bars = pg.BarGraphItem(
            x0=[], y=[], width=[], height=BAR, brush=with_alpha(colours.current, 170),
            pen=pg.mkPen(None),
        )
        self.plot.addItem(self.zero_bars)
        self.plot.addItem(self.dead_bars)
        self._values: list[pg.TextItem] = []  # the numbers at the bars' ends, pooled
        self._shown_values = 0  # how many of them the rows use
        self.plot.getViewBox().sigResized.connect(lambda _vb: self._fit_values())

        self.legend = QLabel(self)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.legend.setText(
            f"{_swatch(colours.warning)} dead units&nbsp;&nbsp; "
            f"{_swatch(colours.current)} zeros per input "
            "<i>(sparse is normal for ReLU, dead is not)</i>"
        )
        self.empty_label = empty_state("", self)
        self.pages = QStackedWidget(self)
        shrinkable(self.pages, 120)
        self.pages.addWidget(self.empty_label)
        self.pages.addWidget(self.widget)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.legend)
        layout.addWidget(self.pages, 1)
        self.rows: list[dict[str, Any]] = []
        self.clear()

    # -- data --------------------------------------------------------------------------------
    @property
    def dead_values(self) -> np.ndarray:
        """The dead-unit bars' lengths, in percent, one per layer in model order."""
        return np.asarray(self.dead_bars.opts["width"], dtype=float)

    @property
    def zero_values(self) -> np.ndarray:
        """The zeros-per-input bars' lengths, in percent, one per layer in model order."""
        return np.asarray(self.zero_bars.opts["width"], dtype=float)

    @property
    def layer_names(self) -> list[str]:
        return [r["name"] for r in self.rows]

    def clear(self, message: str = "No diagnosis yet") -> None:
        self.rows = []
        self.dead_bars.setOpts(x0=[], y=[], width=[])
        self.zero_bars.setOpts(x0=[], y=[], width=[])
        self._set_axis("left", [])
        self._set_axis("right", [])
        self._shown_values = 0
        for item in self._values:
            item.setVisible(False)
        self.empty_label.setText(message)
        self.pages.setCurrentWidget(self.empty_label)
        self.legend.setVisible(False)

    @property
    def message(self) -> str:
        """The empty-state text, or "" while bars are shown."""
        return self.empty_label.text() if self.pages.currentWidget() is self.empty_label else ""

    def set_layers(self, rows: Sequence[dict[str, Any]]) -> None:
        """One pair of bars per row (``name``, ``dead_fraction``, ``zero_fraction``, ``verdict``)."""
        rows = list(rows)
        if not rows:
            self.clear("No ReLU layers: dead and sparse units cannot be measured")
            return
        self.rows = rows
        self.pages.setCurrentWidget(self.widget)
        self.legend.setVisible(True)
        n = len(rows)
        index = np.arange(n, dtype=float)
        dead = np.array([100.0 * r["dead_fraction"] for r in rows])
        zeros = np.array([100.0 * r["zero_fraction"] for r in rows])
        self.dead_bars.setOpts(x0=np.zeros(n), y=index - BAR / 2, width=dead)
        self.zero_bars.setOpts(x0=np.zeros(n), y=index + BAR / 2, width=zeros)
        self._set_axis("left", [elide_middle(r["name"]) for r in rows])
        self._set_axis("right", [self.verdict_text(r) for r in rows])
        self._set_values(np.concatenate([dead, zeros]), np.concatenate([index - BAR / 2,
                                                                        index + BAR / 2]))
        self.plot.setXRange(0, 104, padding=0)  # 100 % stays on the axis
        # Room for at least MIN_ROWS layers, so one or two layers do not become slabs.
        self.plot.setYRange(-0.6, max(n, MIN_ROWS) - 0.4, padding=0)

    @staticmethod
    def verdict_text(row: dict[str, Any]) -> str:
        """The layer's verdict (``sparse, healthy``; ``⚠ dead`` marked)."""
        verdict = str(row.get("verdict", ""))
        return f"{VERDICT_MARKS.get(verdict, '')}{verdict}"

    # -- drawing -----------------------------------------------------------------------------
    def _set_axis(self, side: str, texts: list[str]) -> None:
        axis = self.plot.getAxis(side)
        axis.setTicks([[(float(i), t) for i, t in enumerate(texts)], []])
        metrics = QFontMetrics(axis.style.get("tickFont") or self.font())
        widest = max((metrics.horizontalAdvance(t) for t in texts), default=20)
        axis.setWidth(min(widest + 16, AXIS_MAX_PX))

    def _set_values(self, values: np.ndarray, ys: np.ndarray) -> None:
        """A percentage at each bar's end: outside short bars, inside long ones.

        Inside from half-way on, so a label never runs past the 100 % edge even when the plot
        is only a few dozen pixels wide.
        """
        while len(self._values) < len(values):
            item = pg.TextItem("", color=self._colours.text)
            self.plot.addItem(item)
            self._values.append(item)
        for item, value, y in zip(self._values, values, ys, strict=False):
            inside = value >= 50.0
            item.setAnchor((1.0, 0.5) if inside else (0.0, 0.5))
            item.setColor(self._colours.background if inside else self._colours.text)
            item.setText(f"{value:.0f}%")
            item.setPos(float(value) + (-1.0 if inside else 1.0), float(y))
        self._shown_values = len(values)
        self._fit_values()

    @property
    def values_shown(self) -> bool:
        """Whether the percentages at the bars' ends are drawn (only when rows have room)."""
        return any(item.isVisible() for item in self._values)

    def _fit_values(self) -> None:
        """Each layer's two numbers need two lines of text; squeezed rows (many layers in a
        short pane) drop them and keep the bars, names and verdicts (the tooltip explains)."""
        rows = max(len(self.rows), MIN_ROWS)
        line = QFontMetrics(self.font()).height()
        pitch = self.plot.getViewBox().height() / rows
        room = pitch >= 2 * line
        for k, item in enumerate(self._values):
            item.setVisible(room and k < self._shown_values)
        # Names and verdicts shrink to the row pitch (not below a readable 7 px) so that
        # neighbouring layers' labels do not print over each other.
        font = QFont(self.font())
        if pitch < line:
            font.setPixelSize(max(7, int(pitch)))
        for side in ("left", "right"):
            axis = self.plot.getAxis(side)
            if (axis.style.get("tickFont") or self.font()) != font:
                axis.setStyle(tickFont=font)
                texts = [elide_middle(r["name"]) for r in self.rows] if side == "left" else [
                    self.verdict_text(r) for r in self.rows]
                self._set_axis(side, texts)
