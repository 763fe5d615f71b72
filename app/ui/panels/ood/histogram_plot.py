"""Histogram of OOD scores, real images against no-class images, with the threshold line.

Both histograms share bin edges so their bars compare directly; each is normalised to the
share of its own group, because the two groups usually differ in size. Items are created
once; moving the threshold only moves the line.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.ui.widgets.plot_style import plot_colours, shrinkable, style_plot, with_alpha

N_BINS = 40
EXPLANATION = (
    "How the chosen score is spread over real images (blue) and no-class images (red: yours,\n"
    "else a fresh sample of the built-in reference the check was not fitted on).\n"
    "Higher scores look more like the training classes. Images at or right of the\n"
    "orange line are accepted; images left of it are reported as none of the classes."
)


def shared_edges(groups: list[np.ndarray], threshold: float | None, n_bins: int = N_BINS) -> np.ndarray:
    """Common bin edges covering the bulk of every group and the threshold.

    The outer 0.5 % are left out of the range (they are clipped into the end bins) so that one
    extreme no-class score cannot squash every other bar into a single column.
    """
    values = np.concatenate([g[np.isfinite(g)] for g in groups])
    if values.size == 0:
        return np.linspace(0.0, 1.0, n_bins + 1)
    lo, hi = np.percentile(values, [0.5, 99.5])
    if threshold is not None and np.isfinite(threshold):
        lo, hi = min(lo, threshold), max(hi, threshold)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.02 * (hi - lo)
    return np.linspace(lo - pad, hi + pad, n_bins + 1)


def share_histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Percentage of ``values`` per bin, with out-of-range values counted in the end bins."""
    clipped = np.clip(values[np.isfinite(values)], edges[0], edges[-1])
    counts, _ = np.histogram(clipped, bins=edges)
    return 100.0 * counts / max(clipped.size, 1)


def _swatch(colour: QColor) -> str:
    return f"<span style='color:{colour.name()}'>■</span>"


class OODHistogramPlot(QWidget):
    """``set_scores(in, out, title)`` then ``set_threshold(t)`` as often as needed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        colours = plot_colours(self)
        self.widget = pg.PlotWidget(parent=self)
        self.widget.setBackground(colours.background)
        self.widget.setAcceptDrops(False)  # drops belong to the panel (data) or the window
        self.widget.setToolTip(EXPLANATION)
        shrinkable(self.widget, 180)
        self.plot: pg.PlotItem = self.widget.getPlotItem()
        style_plot(self.plot, colours)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.setLabel("left", "% of images")
        self.plot.setLabel("bottom", "Score")
        self.plot.getAxis("left").setWidth(48)

        self.in_curve = pg.PlotDataItem(
            [0.0, 1.0], [0.0], stepMode="center", fillLevel=0,
            brush=with_alpha(colours.current, 110), pen=pg.mkPen(colours.current, width=1.5),
        )
        self.out_curve = pg.PlotDataItem(
            [0.0, 1.0], [0.0], stepMode="center", fillLevel=0,
            brush=with_alpha(colours.warning, 90), pen=pg.mkPen(colours.warning, width=1.5),
        )
        self.threshold_line = pg.InfiniteLine(
            pos=0.0, angle=90, movable=False, pen=pg.mkPen(colours.accent, width=2.5),
            label="threshold {value:.3g}",
            labelOpts={"position": 0.92, "color": colours.accent, "anchors": [(0, 0), (0, 0)]},
        )
        self.plot.addItem(self.in_curve)
        self.plot.addItem(self.out_curve)
        self.plot.addItem(self.threshold_line)
        # The legend sits above the plot: inside, it would hide bars or the threshold,
        # which can be anywhere on the axis.
        self._colours = colours
        self.legend = QLabel(self)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.empty_text = pg.TextItem("", color=colours.text, anchor=(0.5, 0.5))
        self.plot.addItem(self.empty_text)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.legend)
        layout.addWidget(self.widget, 1)
        self._edges: np.ndarray | None = None
        self.clear()

    @property
    def threshold(self) -> float:
        return float(self.threshold_line.value())

    def clear(self, message: str = "No scores yet") -> None:
        self._edges = None
        self.in_curve.setData([0.0, 1.0], [0.0])
        self.out_curve.setData([0.0, 1.0], [0.0])
        self.in_curve.setVisible(False)
        self.out_curve.setVisible(False)
        self.threshold_line.setVisible(False)
        self.plot.setXRange(0, 1, padding=0)
        self.plot.setYRange(0, 1, padding=0)
        self.empty_text.setPos(0.5, 0.5)
        self.empty_text.setText(message)
        self.empty_text.setVisible(True)
        self.legend.clear()

    def set_scores(
        self,
        in_scores: np.ndarray,
        out_scores: np.ndarray | None,
        score_title: str,
        threshold: float,
        in_name: str = "Real images",
        out_name: str = "No-class images",
    ) -> None:
        """Draw both groups on shared bins (``out_scores`` None: real images only)."""
        groups = [np.asarray(in_scores, dtype=float)]
        if out_scores is not None:
            groups.append(np.asarray(out_scores, dtype=float))
        edges = shared_edges(groups, threshold)
        self._edges = edges
        self.empty_text.setVisible(False)
        in_share = share_histogram(groups[0], edges)
        self.in_curve.setData(edges, in_share)
        self.in_curve.setVisible(True)
        top = float(in_share.max())
        if out_scores is not None:
            out_share = share_histogram(groups[1], edges)
            self.out_curve.setData(edges, out_share)
            top = max(top, float(out_share.max()))
        self.out_curve.setVisible(out_scores is not None)
        c = self._colours
        n_out = groups[1].size if out_scores is not None else 0
        self.legend.setText(
            f"{_swatch(c.current)} {in_name} ({groups[0].size})&nbsp;&nbsp; "
            + (f"{_swatch(c.warning)} {out_name} ({n_out})" if n_out
               else "<i>no no-class images given</i>")
            + f"&nbsp;&nbsp; <span style='color:{c.accent.name()}'><b>|</b></span> threshold"
        )
        self.plot.setLabel("bottom", f"{score_title} (higher = more like the classes)")
        self.plot.setXRange(float(edges[0]), float(edges[-1]), padding=0)
        self.plot.setYRange(0, min(max(top, 1.0) * 1.12, 105.0), padding=0)
        self.set_threshold(threshold)

    def set_threshold(self, threshold: float) -> None:
        self.threshold_line.setValue(float(threshold))
        edges = self._edges
        self.threshold_line.setVisible(edges is not None)
        if edges is not None:
            # Keep the label inside the plot: left of the line in the right half, else right.
            right_half = threshold > 0.5 * (edges[0] + edges[-1])
            anchor = (1.0, 0.0) if right_half else (0.0, 0.0)
            self.threshold_line.label.anchors = [anchor, anchor]
            # InfLineLabel skips text updates while hidden, so refresh it once shown.
            self.threshold_line.label.valueChanged()
            self.threshold_line.label.updatePosition()
