"""Reliability diagram (accuracy per confidence bin vs the diagonal) with a confidence histogram.

Two states are drawn together: "before" (T = 1, outlined bars) and "now" (the slider's T,
filled bars, with the gap to perfect calibration shaded). Items are created once and updated
with ``setOpts``/``setData`` so the slider can redraw at frame rate: the diagram listens to the
view state's ``temperature_changed`` (:meth:`ReliabilityPlot.follow`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget
from superqt.utils import qthrottled

from app.core.calibration import ReliabilityBins
from app.ui.widgets.plot_style import plot_colours, shrinkable, style_plot, with_alpha

if TYPE_CHECKING:
    from app.ui.state import ViewState

# Redraw at most ~60 times a second while the slider is dragged.
REFRESH_MS = 16
BinsAt = Callable[[float], "tuple[ReliabilityBins, ReliabilityBins] | None"]

EXPLANATION = (
    "Images are grouped by the model's confidence in its top class.\n"
    "Each bar is how often the model was right in that group; a calibrated model's bars\n"
    "follow the dashed diagonal (90 % confident → right 90 % of the time).\n"
    "Red shading: the gap between confidence and accuracy at the current temperature.\n"
    "Bars below the diagonal: overconfident; above: underconfident.\n"
    "Bottom: how many images fall in each confidence group."
)


def _bars(bins: ReliabilityBins) -> dict[str, np.ndarray]:
    """Bar geometry for one state; empty bins get zero height instead of NaN."""
    filled = bins.counts > 0
    accuracy = np.where(filled, np.nan_to_num(bins.accuracy), 0.0)
    confidence = np.where(filled, np.nan_to_num(bins.mean_confidence), 0.0)
    total = max(int(bins.counts.sum()), 1)
    return {
        "x0": np.asarray(bins.edges[:-1], dtype=float),
        "x1": np.asarray(bins.edges[1:], dtype=float),
        "accuracy": accuracy,
        "gap_low": np.minimum(accuracy, confidence),
        "gap": np.where(filled, np.abs(accuracy - confidence), 0.0),
        "share": 100.0 * bins.counts / total,
    }


class ReliabilityPlot(QWidget):
    """Reliability diagram on top, confidence histogram underneath; x axes linked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        colours = plot_colours(self)
        self.view = pg.GraphicsLayoutWidget(parent=self)
        self.view.setBackground(colours.background)
        self.view.setAcceptDrops(False)  # drops belong to the panel (data) or the window
        self.view.setToolTip(EXPLANATION)
        # Small enough for the tab at the default 1200x780 window (300 px cut the diagram off).
        shrinkable(self.view, 150)

        self.diagram: pg.PlotItem = self.view.addPlot(row=0, col=0)
        self.histogram: pg.PlotItem = self.view.addPlot(row=1, col=0)
        # The diagram is what matters; the histogram only says how much each bar is worth.
        self.view.ci.layout.setRowStretchFactor(0, 3)
        self.view.ci.layout.setRowStretchFactor(1, 1)
        for plot in (self.diagram, self.histogram):
            style_plot(plot, colours)
            plot.setXRange(0, 1, padding=0.02)
            plot.showGrid(x=True, y=True, alpha=0.15)
        self.histogram.setXLink(self.diagram)
        self.diagram.setYRange(0, 1, padding=0.04)
        self.diagram.setLabel("left", "Accuracy")
        self.diagram.setTitle("Reliability diagram", color=colours.text.name())
        self.histogram.setLabel("left", "% of images")
        self.histogram.setLabel("bottom", "Confidence of the top class")
        percent = [[(v, f"{v:.0%}") for v in (0, 0.2, 0.4, 0.6, 0.8, 1.0)]]
        self.diagram.getAxis("left").setTicks(percent)
        for plot in (self.diagram, self.histogram):
            plot.getAxis("bottom").setTicks(percent)
        # Same left-axis width in both rows so their x axes line up.
        for plot in (self.diagram, self.histogram):
            plot.getAxis("left").setWidth(48)

        reference_pen = pg.mkPen(colours.reference, width=1.5)
        empty = {"x0": [0.0], "x1": [0.0], "height": [0.0]}
        self.after_bars = pg.BarGraphItem(
            **empty, brush=with_alpha(colours.current, 170), pen=pg.mkPen(colours.current)
        )
        self.gap_bars = pg.BarGraphItem(
            **empty, y0=[0.0], brush=with_alpha(colours.warning, 110), pen=pg.mkPen(None)
        )
        self.before_bars = pg.BarGraphItem(**empty, brush=None, pen=reference_pen)
        self.diagonal = pg.PlotDataItem(
            [0, 1], [0, 1], pen=pg.mkPen(colours.text, width=1, style=pg.QtCore.Qt.PenStyle.DashLine)
        )
        for item in (self.after_bars, self.gap_bars, self.before_bars, self.diagonal):
            self.diagram.addItem(item)
        # The legend sits above the plot: inside, it would hide bars wherever it went.
        self._colours = colours
        self.legend = QLabel(self)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.legend.setToolTip(EXPLANATION)
        self._set_legend(1.0)

        self.hist_after = pg.BarGraphItem(
            **empty, brush=with_alpha(colours.current, 170), pen=pg.mkPen(colours.current)
        )
        self.hist_before = pg.BarGraphItem(**empty, brush=None, pen=reference_pen)
        self.histogram.addItem(self.hist_after)
        self.histogram.addItem(self.hist_before)

        # Top left, where the diagonal is far away: centred, the text crossed it.
        self.empty_text = pg.TextItem("", color=colours.text, anchor=(0.0, 0.0))
        self.empty_text.setPos(0.02, 0.98)
        self.empty_text.setTextWidth(260)  # wraps instead of running out of a narrow plot
        self.diagram.addItem(self.empty_text)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.legend)
        layout.addWidget(self.view, 1)
        self.clear()

    def follow(self, state: ViewState, bins_at: BinsAt) -> None:
        """Redraw at the state's temperature whenever it changes (throttled to frame rate).

        ``bins_at(t)`` gives the (T = 1, T = t) bins to draw, or None while there is no data.
        """
        self._state = state
        self._bins_at = bins_at
        # Created per instance so each diagram has its own timer.
        self._redraw_soon = qthrottled(self.redraw, timeout=REFRESH_MS, leading=True)
        state.temperature_changed.connect(self._on_temperature)

    def _on_temperature(self, _t: float) -> None:
        self._redraw_soon()

    def redraw(self) -> None:
        """Draw the followed data at the state's current temperature (nothing without data)."""
        t = self._state.temperature
        bins = self._bins_at(t)
        if bins is not None:
            self.set_bins(*bins, t)

    def clear(self, message: str = "No data yet") -> None:
        """Empty the bars and show ``message`` in the middle of the diagram."""
        for item in (self.after_bars, self.before_bars, self.hist_after, self.hist_before):
            item.setOpts(x0=[0.0], x1=[0.0], height=[0.0])
        self.gap_bars.setOpts(x0=[0.0], x1=[0.0], y0=[0.0], height=[0.0])
        self.histogram.setYRange(0, 100, padding=0.02)
        self.empty_text.setText(message)
        self.empty_text.setVisible(bool(message))
        self.legend.setVisible(False)  # nothing to explain yet

    def set_bins(self, before: ReliabilityBins, after: ReliabilityBins, temperature: float) -> None:
        """Draw T = 1 (``before``) and the current temperature (``after``)."""
        b, a = _bars(before), _bars(after)
        self.empty_text.setVisible(False)
        self.legend.setVisible(True)
        self.before_bars.setOpts(x0=b["x0"], x1=b["x1"], height=b["accuracy"])
        self.after_bars.setOpts(x0=a["x0"], x1=a["x1"], height=a["accuracy"])
        self.gap_bars.setOpts(x0=a["x0"], x1=a["x1"], y0=a["gap_low"], height=a["gap"])
        self.hist_before.setOpts(x0=b["x0"], x1=b["x1"], height=b["share"])
        self.hist_after.setOpts(x0=a["x0"], x1=a["x1"], height=a["share"])
        top = float(max(b["share"].max(), a["share"].max(), 5.0))
        self.histogram.setYRange(0, top, padding=0.05)
        self._set_legend(temperature)

    def _set_legend(self, temperature: float) -> None:
        c = self._colours

        def swatch(colour: QColor, glyph: str = "■") -> str:
            return f"<span style='color:{colour.name()}'>{glyph}</span>"

        def entry(text: str) -> str:  # wrapped by the label, entries broke mid-entry
            return f"<span style='white-space:nowrap'>{text}</span>"

        self.legend.setText(
            f"{entry(f'{swatch(c.current)} Accuracy now (T = {temperature:.3g})')}&nbsp;&nbsp; "
            f"{entry(swatch(c.reference, '□') + ' before (T = 1)')}<br>"
            f"{entry(swatch(c.warning) + ' Gap to confidence')}&nbsp;&nbsp; "
            f"{entry(swatch(c.text, '╌') + ' Perfect calibration')}"
        )
