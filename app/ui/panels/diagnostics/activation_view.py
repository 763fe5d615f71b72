"""One layer's activation for the current image: bars for Dense, a grid of maps for Conv.

A Dense-like (1-D) output is drawn as one bar per unit; a Conv output (height, width,
channels) as a mosaic of its first :data:`MAX_MAPS` channel maps on one shared colour scale
(black = 0), so silent maps look black next to active ones. A 2-D output (e.g. Conv1D) is one
heat map. The summary line gives :func:`~app.core.diagnostics.activation_summary`'s
numbers. Items are created once and updated.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStackedWidget, QVBoxLayout, QWidget

from app.ui.panels.panel_messages import empty_state
from app.ui.widgets.plot_style import plot_colours, shrinkable, style_plot

MAX_MAPS = 64
GAP = 1  # pixels of background between feature maps
MAX_BARS = 4096  # beyond this, a bar per unit is unreadable: show the first ones


def mosaic(activation: np.ndarray, max_maps: int = MAX_MAPS, gap: int = GAP) -> tuple[np.ndarray, int]:
    """Tile the channel maps of an (h, w, c) activation into one 2-D image.

    Parameters
    ----------
    activation : ndarray of shape (h, w, c)
    max_maps : int
        At most this many channels (the first ones) are tiled.
    gap : int
        Pixels of NaN (drawn transparent) between maps.

    Returns
    -------
    (ndarray of shape (rows * (h + gap) - gap, cols * (w + gap) - gap), int)
        The mosaic, row-major, and the number of maps in it. Channel ``k`` sits at grid
        row ``k // cols``, column ``k % cols``, with ``cols = ceil(sqrt(n))``.
    """
    a = np.asarray(activation, dtype=np.float32)
    h, w, c = a.shape
    n = min(c, max_maps)
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan, dtype=np.float32)
    for k in range(n):
        r, q = divmod(k, cols)
        out[r * (h + gap): r * (h + gap) + h, q * (w + gap): q * (w + gap) + w] = a[..., k]
    return out, n


def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in shape)


class ActivationView(QWidget):
    """``show_activation(layer, activation, summary)``; ``clear(message)`` for empty states."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        colours = plot_colours(self)
        self._colours = colours
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        # Page 0: one bar per unit (Dense-like outputs).
        self.bars_widget = pg.PlotWidget(parent=self)
        self.bars_widget.setBackground(colours.background)
        self.bars_widget.setAcceptDrops(False)
        self.bars_plot: pg.PlotItem = self.bars_widget.getPlotItem()
        style_plot(self.bars_plot, colours)
        self.bars_plot.setLabel("bottom", "Unit")
        self.bars_plot.setLabel("left", "Activation")
        self.bars_plot.showGrid(x=False, y=True, alpha=0.15)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.8, brush=colours.current,
                                    pen=pg.mkPen(None))
        self.bars_plot.addItem(self.bars)

        # Page 1: a grid of feature maps (Conv outputs), or one heat map for 2-D outputs.
        self.maps_widget = pg.GraphicsLayoutWidget(parent=self)
        self.maps_widget.setBackground(colours.background)
        self.maps_widget.setAcceptDrops(False)
        self.maps_view: pg.ViewBox = self.maps_widget.addViewBox()
        self.maps_view.setAspectLocked(True)
        self.maps_view.invertY(True)  # row 0 at the top, as images are shown
        self.maps_view.setMouseEnabled(x=False, y=False)
        self.maps_view.setMenuEnabled(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get("inferno"))
        self.maps_view.addItem(self.image)

        self.empty_label = empty_state("", self)
        self.pages = QStackedWidget(self)
        self.pages.addWidget(self.empty_label)
        self.pages.addWidget(self.bars_widget)
        self.pages.addWidget(self.maps_widget)
        shrinkable(self.pages, 120)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.summary)
        layout.addWidget(self.pages, 1)
        self.layer: str | None = None
        self.maps_shown = 0
        self.clear()

    @property
    def showing_maps(self) -> bool:
        return self.pages.currentWidget() is self.maps_widget

    @property
    def showing_bars(self) -> bool:
        return self.pages.currentWidget() is self.bars_widget

    @property
    def message(self) -> str:
        """The empty-state text, or "" while an activation is shown."""
        return self.empty_label.text() if self.pages.currentWidget() is self.empty_label else ""

    def clear(self, message: str = "Classify an image to see its activations") -> None:
        self.layer = None
        self.maps_shown = 0
        self.summary.clear()
        self.summary.hide()
        self.bars.setOpts(x=[], height=[])
        self.image.clear()
        self.empty_label.setText(message)
        self.pages.setCurrentWidget(self.empty_label)

    def show_activation(self, layer: str, activation: np.ndarray, summary: dict[str, Any]) -> None:
        """Draw one layer's output for one image (units on the last axis, no batch axis)."""
        a = np.asarray(activation, dtype=np.float32)
        self.layer = layer
        self.summary.show()
        extra = ""
        if a.ndim == 3:
            tiles, n = mosaic(a)
            self.maps_shown = n
            self._show_image(tiles)
            extra = (f" · showing the first {n} of {a.shape[-1]} channel maps" if n < a.shape[-1]
                     else f" · {n} channel maps")
        elif a.ndim == 2:
            self.maps_shown = 1
            self._show_image(a.T)  # one row per channel, time/position across
            extra = " · rows are channels"
        else:
            self.maps_shown = 0
            flat = a.reshape(-1)
            shown = flat[:MAX_BARS]
            self.bars.setOpts(x=np.arange(shown.size), height=shown, width=0.8)
            lo, hi = float(min(shown.min(initial=0.0), 0.0)), float(max(shown.max(initial=0.0), 0.0))
            self.bars_plot.setXRange(-0.5, shown.size - 0.5, padding=0.01)
            self.bars_plot.setYRange(lo, hi if hi > lo else lo + 1.0, padding=0.05)
            self.pages.setCurrentWidget(self.bars_widget)
            if shown.size < flat.size:
                extra = f" · showing the first {shown.size} of {flat.size} units"
        self.summary.setText(self.summary_text(layer, a.shape, summary) + extra)

    @staticmethod
    def summary_text(layer: str, shape: tuple[int, ...], summary: dict[str, Any]) -> str:
        """``<b>conv</b> (14×14×8): 62% zeros in this image · 1 of 8 units silent · …``."""
        units = shape[-1] if shape else 0
        silent = round(summary["silent_units"] * units)
        return (
            f"<b>{layer}</b> ({_shape_text(tuple(shape))}): "
            f"<b>{summary['zero_fraction']:.0%}</b> zeros in this image · "
            f"{silent} of {units} units silent here · mean {summary['mean']:.3g} · "
            f"max {summary['max']:.3g}"
        )

    def _show_image(self, image: np.ndarray) -> None:
        finite = image[np.isfinite(image)]
        lo = float(min(finite.min(initial=0.0), 0.0)) if finite.size else 0.0
        hi = float(finite.max(initial=0.0)) if finite.size else 1.0
        self.image.setImage(image, levels=(lo, hi if hi > lo else lo + 1.0), autoLevels=False)
        self.maps_view.autoRange(padding=0.02)
        self.pages.setCurrentWidget(self.maps_widget)
