"""Prediction sets in the Calibration tab: α, the method, and what the sets do on held-out data.

Moving α never re-runs the model, nor refits anything: :meth:`ConformalFit.at_alpha` re-reads
the kept sorted scores (a few ms), and the two plots are updated in place. Changing the method
needs new scores, so the panel refits (on the cached logits, still without the model).

Left plot: held-out coverage per class (how often the set held the true class) with the
promised 1 − α line. Right plot: how many classes the sets name (a set of one is an answer).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget
from superqt import QLabeledDoubleSlider
from superqt.utils import qthrottled

from app.core import ProbscopeError
from app.ui.widgets.plot_style import plot_colours, shrinkable, style_plot, with_alpha

if TYPE_CHECKING:
    from app.core.calibration import ConformalFit

ALPHA_MIN, ALPHA_MAX, ALPHA_DEFAULT = 0.01, 0.5, 0.1
METHODS = (("lac", "LAC (smallest sets)"), ("aps", "APS (adaptive)"), ("raps", "RAPS (regularised)"))
REFRESH_MS = 16
ALPHA_TIP = (
    "α is the share of new images whose set may miss the true class: α = 0.1 gives 90 % sets.\n"
    "A smaller α gives larger sets that are right more often."
)


def level(alpha: float) -> str:
    """``1 - alpha`` as people read it: "90 %"."""
    return f"{100.0 * (1.0 - alpha):.4g} %"


class PredictionSetsView(QWidget):
    """α slider, method choice, held-out coverage per class and set-size histogram.

    Signals
    -------
    method_changed(str)
        Another method was chosen: the owner refits (``fit_calibration(conformal=...)``).
    """

    method_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._base: ConformalFit | None = None
        self.fit: ConformalFit | None = None  # the base fit at the slider's α (what Save writes)
        self.classes: list[str] = []

        self.alpha_slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal, self)
        self.alpha_slider.setRange(ALPHA_MIN, ALPHA_MAX)
        self.alpha_slider.setDecimals(2)
        self.alpha_slider.setSingleStep(0.01)
        self.alpha_slider.setValue(ALPHA_DEFAULT)
        self.alpha_slider.setToolTip(ALPHA_TIP)
        self.alpha_slider.setAccessibleName("Prediction-set alpha")
        self.method_box = QComboBox(self)
        for key, text in METHODS:
            self.method_box.addItem(text, key)
        self.method_box.setToolTip("LAC gives the smallest sets on average; APS and RAPS adapt "
                                   "the set to how hard each image is")
        self.method_box.currentIndexChanged.connect(
            lambda _i: self.method_changed.emit(self.method()))
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)

        colours = plot_colours(self)
        self.view = pg.GraphicsLayoutWidget(parent=self)
        self.view.setBackground(colours.background)
        self.view.setAcceptDrops(False)
        shrinkable(self.view, 140)
        self.coverage_plot: pg.PlotItem = self.view.addPlot(row=0, col=0)
        self.size_plot: pg.PlotItem = self.view.addPlot(row=0, col=1)
        for plot in (self.coverage_plot, self.size_plot):
            style_plot(plot, colours)
            plot.showGrid(y=True, alpha=0.15)
        self.coverage_plot.setTitle("Coverage per class (held out)", color=colours.text.name())
        self.coverage_plot.setYRange(0, 1, padding=0.02)
        self.coverage_plot.getAxis("left").setTicks([[(v, f"{v:.0%}") for v in (0, 0.25, 0.5, 0.75, 1)]])
        self.size_plot.setTitle("Set sizes (% of images)", color=colours.text.name())
        # Items are created once; every α move only updates them.
        empty = {"x": [0.0], "height": [0.0], "width": 0.7}
        self.coverage_bars = pg.BarGraphItem(**empty, brush=with_alpha(colours.current, 170),
                                             pen=pg.mkPen(colours.current))
        self.promise_line = pg.InfiniteLine(pos=1 - ALPHA_DEFAULT, angle=0,
                                            pen=pg.mkPen(colours.accent, width=2, style=Qt.PenStyle.DashLine),
                                            label="promised 90 %",
                                            labelOpts={"position": 0.02, "color": colours.accent.name(),
                                                       "anchors": [(0, 1), (0, 1)]})
        self.size_bars = pg.BarGraphItem(**empty, brush=with_alpha(colours.current, 170),
                                         pen=pg.mkPen(colours.current))
        self.coverage_plot.addItem(self.coverage_bars)
        self.coverage_plot.addItem(self.promise_line)
        self.size_plot.addItem(self.size_bars)
        self.alpha_slider.valueChanged.connect(qthrottled(self._on_alpha, timeout=REFRESH_MS, leading=True))

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Prediction sets α", self))
        controls.addWidget(self.alpha_slider, 1)
        controls.addWidget(self.method_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.summary)
        layout.addWidget(self.view, 1)
        self.clear("Prediction sets appear after Fit.")

    # -- what the panel reads --------------------------------------------------------------
    def alpha(self) -> float:
        return float(self.alpha_slider.value())

    def method(self) -> str:
        return str(self.method_box.currentData())

    # -- what the panel sets ---------------------------------------------------------------
    def clear(self, message: str = "") -> None:
        """No sets: empty plots and ``message`` (e.g. the core's reason there are none)."""
        self._base = self.fit = None
        self.coverage_bars.setOpts(x=[0.0], height=[0.0])
        self.size_bars.setOpts(x=[0.0], height=[0.0])
        # Empty, but on the axes a fit will use, not pyqtgraph's default -0.5..0.5.
        self.coverage_plot.getAxis("bottom").setTicks([[(float(i), c) for i, c in enumerate(self.classes)]])
        self.coverage_plot.setXRange(-0.6, max(len(self.classes), 1) - 0.4, padding=0)
        self.size_plot.getAxis("bottom").setTicks([[(float(i), str(i)) for i in range(4)]])
        self.size_plot.setXRange(-0.6, 3.6, padding=0)
        self.size_plot.setYRange(0, 100, padding=0.05)
        self.summary.setText(message)

    def set_classes(self, classes: list[str], alpha: float | None = None,
                    method: str | None = None) -> None:
        """The model's classes, named on the empty coverage plot until a fit is shown.

        ``alpha`` and ``method`` are the card's sets, when it has some: a fit starts from them,
        so Save keeps what the card promised unless the user moves them.
        """
        self.classes = list(classes)
        if alpha is not None:
            self.alpha_slider.setValue(min(max(float(alpha), ALPHA_MIN), ALPHA_MAX))
        index = self.method_box.findData(method) if method else -1
        if index >= 0:
            self.method_box.setCurrentIndex(index)
        if self._base is None:
            self.clear(self.summary.text())

    def set_fit(self, fit: ConformalFit | None, classes: list[str], message: str = "") -> None:
        """Show ``fit`` (re-thresholded at the slider's α); None shows ``message`` instead."""
        self.classes = list(classes)
        if fit is None:
            self.clear(message)
            return
        self._base, self.classes = fit, list(classes)
        self._on_alpha(self.alpha())

    def note_temperature(self, temperature: float) -> None:
        """The user moved T away from the one the sets were fitted under: say what Save does."""
        base = self._base
        if base is not None and self.fit is not None:
            self._summarise(self.fit, None if math.isclose(base.temperature, temperature, rel_tol=1e-6)
                            else temperature)

    # -- live α ----------------------------------------------------------------------------
    def _on_alpha(self, alpha: float) -> None:
        base = self._base
        if base is None:
            return
        try:
            fit = base.at_alpha(float(alpha)) if not math.isclose(alpha, base.classifier.alpha) else base
        except ProbscopeError as exc:
            # Too small an α for this many images: the one-line reason, the last sets stay.
            self.summary.setText(f"<span style='color:#b42318'>{exc.message}</span>")
            return
        self.fit = fit
        self._draw(fit)
        self._summarise(fit, None)

    def _draw(self, fit: ConformalFit) -> None:
        coverage = np.asarray(fit.class_coverage, dtype=float)
        x = np.arange(coverage.shape[0], dtype=float)
        self.coverage_bars.setOpts(x=x, height=np.nan_to_num(coverage, nan=0.0), width=0.7)
        self.promise_line.setPos(1.0 - fit.classifier.alpha)
        self.promise_line.label.setFormat(f"promised {level(fit.classifier.alpha)}")
        ticks = [(float(i), name) for i, name in enumerate(self.classes[: coverage.shape[0]])]
        self.coverage_plot.getAxis("bottom").setTicks([ticks])
        self.coverage_plot.setXRange(-0.6, coverage.shape[0] - 0.4, padding=0)
        sizes = np.asarray(fit.set_sizes, dtype=float)
        share = 100.0 * sizes / max(sizes.sum(), 1.0)
        self.size_bars.setOpts(x=np.arange(sizes.shape[0], dtype=float), height=share, width=0.7)
        step = max(1, -(-sizes.shape[0] // 12))  # 27 sizes of a 26-class model ran together
        self.size_plot.getAxis("bottom").setTicks([[(float(i), str(i))
                                                    for i in range(0, sizes.shape[0], step)]])
        self.size_plot.setXRange(-0.6, sizes.shape[0] - 0.4, padding=0)
        self.size_plot.setYRange(0, max(float(share.max()), 5.0), padding=0.05)

    def _summarise(self, fit: ConformalFit, other_t: float | None) -> None:
        missing = [self.classes[i] if i < len(self.classes) else str(i)
                   for i in np.flatnonzero(np.isnan(fit.class_coverage))]
        text = (f"{fit.classifier.method.upper()} {level(fit.classifier.alpha)} sets on held-out images: "
                f"coverage <b>{fit.coverage:.1%}</b>, mean size <b>{fit.mean_set_size:.2f}</b> classes")
        notes = list(fit.warnings[:1])
        if missing:
            notes.append(f"no images of {', '.join(missing)}: its coverage cannot be promised")
        if other_t is not None:
            notes.append(f"the sets were fitted at T = {fit.temperature:.3g}; saving T = {other_t:.3g} "
                         "drops them (press Fit to refit)")
        if notes:
            text += "<br><span style='color:#8a5a00'>⚠ " + "; ".join(notes) + "</span>"
        self.summary.setText(text)
