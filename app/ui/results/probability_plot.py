"""Live horizontal bar chart of class probabilities: calibrated (filled) and raw (outlined)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

RAW_VS_CALIBRATED = (
    "Filled bar: calibrated probability, softmax(logits / T) with the model card's temperature T.\n"
    "Thin outlined bar: the raw probability the model itself outputs (T = 1).\n"
    "Uncalibrated networks are usually overconfident: raw bars near 100% even when wrong."
)
MAX_TOP_K = 1000

if TYPE_CHECKING:
    import pyqtgraph as pg

    from app.core import ModelSession
    from app.ui.state import ViewState


def bar_order(probabilities: np.ndarray, k: int, sort: bool) -> np.ndarray:
    """Indices of the classes to draw: the top ``k``, by probability or in class order."""
    k = max(1, min(int(k), len(probabilities)))
    top = np.argsort(-probabilities, kind="stable")[:k]
    return top if sort else np.sort(top)


class ProbabilityPlot(QWidget):
    """Bars are created once and updated in place with ``setOpts``, however often results come."""

    top_k_changed = Signal(int)
    sort_changed = Signal(bool)
    class_clicked = Signal(int)  # a bar (or its class name) was clicked: the class index

    def __init__(self, top_k: int = 10, sort_by_probability: bool = True,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._classes: list[str] = []
        self._calibrated: np.ndarray | None = None
        self._raw: np.ndarray | None = None
        self._predicted: int | None = None
        self._explained: int | None = None  # the class the heat map shows, outlined
        self.order: np.ndarray = np.zeros(0, dtype=int)

        self.title = QLabel("Class probabilities", self)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.title.setToolTip(RAW_VS_CALIBRATED)

        self.sort_box = QCheckBox("Sort by probability", self)
        self.sort_box.setChecked(sort_by_probability)
        self.sort_box.setToolTip("Off: classes in the model's output order")
        self.sort_box.toggled.connect(self._on_sort)
        self.k_box = QSpinBox(self)
        self.k_box.setRange(1, MAX_TOP_K)
        self.k_box.setValue(top_k)
        self.k_box.setPrefix("top ")
        self.k_box.setToolTip("How many classes to show (the most probable ones)")
        self.k_box.setAccessibleName("Number of classes shown")
        self.k_box.valueChanged.connect(self._on_k)

        # pyqtgraph costs a quarter of a second to import: the chart is built just after the
        # window's first paint (ensure_chart), or when the first result arrives.
        self.widget: Any = None
        self._colours()
        self.chart_area = QVBoxLayout()
        self.chart_area.setContentsMargins(0, 0, 0, 0)
        self._texts: list[pg.TextItem] = []
        self.legend = QLabel(self)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        # Wrapped, so a long legend (many classes, some not shown) never widens this side
        # into the pictures' room.
        self.legend.setWordWrap(True)
        self.legend.setToolTip(RAW_VS_CALIBRATED)

        controls = QHBoxLayout()
        controls.addWidget(self.title)
        controls.addStretch(1)
        controls.addWidget(self.sort_box)
        controls.addWidget(self.k_box)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(controls)
        lay.addLayout(self.chart_area, 1)
        lay.addWidget(self.legend)
        self.clear()

    # -- look ---------------------------------------------------------------------------
    def _colours(self) -> None:
        pal = self.palette()
        base = pal.color(QPalette.ColorRole.Base)
        dark = base.lightness() < 128
        self._base_color = base
        self._text_color = pal.color(QPalette.ColorRole.Text)
        self._bar_color = QColor("#5b9bd5") if dark else QColor("#3a78c2")
        self._top_color = QColor("#f0a030") if dark else QColor("#e07b00")
        self._raw_color = QColor("#e6e6e6") if dark else QColor("#222222")

    def ensure_chart(self) -> None:
        """Build the pyqtgraph chart (once); until then the area above the legend is empty."""
        if self.widget is not None:
            return
        import pyqtgraph as pg

        self.widget = pg.PlotWidget(parent=self)
        self.widget.setAcceptDrops(False)  # leave drops to the window's drop area
        self.widget.setToolTip(RAW_VS_CALIBRATED + "\nWith a heat map on (under the pictures), click a bar to see where\n"
                               "the model finds evidence for that class.")
        self.plot = self.widget.getPlotItem()
        self.plot.invertY(True)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=False, alpha=0.25)
        self.plot.disableAutoRange()
        self.plot.setLabel("bottom", "probability")
        self.plot.getAxis("bottom").setStyle(hideOverlappingLabels=False)  # keep the 0% and 100% labels
        self.plot.getAxis("bottom").setTicks([[(v, f"{v:.0%}") for v in (0, 0.25, 0.5, 0.75, 1.0)]])
        self.plot.setXRange(-0.03, 1.06, padding=0)  # 0 % and 100 % visible before any result

        self.calibrated_bars = pg.BarGraphItem(x0=[0], y=[0], width=[0], height=0.72, brush=self._bar_color)
        self.raw_bars = pg.BarGraphItem(
            x0=[0], y=[0], width=[0], height=0.28, brush=None, pen=pg.mkPen(self._raw_color, width=2)
        )
        # A frame around the row of the class the heat map explains (hidden while none is).
        self.explained_bar = pg.BarGraphItem(
            x0=[-0.02], y=[0], width=[1.07], height=0.92, brush=None,
            pen=pg.mkPen(self._top_color, width=2, style=Qt.PenStyle.DashLine),
        )
        self.explained_bar.setVisible(False)
        self.plot.addItem(self.calibrated_bars)
        self.plot.addItem(self.raw_bars)
        self.plot.addItem(self.explained_bar)
        self.widget.scene().sigMouseClicked.connect(self._on_click)
        self.widget.setBackground(self._base_color)
        for name in ("left", "bottom"):
            axis = self.plot.getAxis(name)
            axis.setPen(pg.mkPen(self._text_color))
            axis.setTextPen(pg.mkPen(self._text_color))
        self.chart_area.addWidget(self.widget)
        self._reset_chart()
        self._redraw()

    def _text_item(self, i: int) -> pg.TextItem:
        import pyqtgraph as pg

        # Grow the pool of value labels only when k grows; never recreate them per update.
        while len(self._texts) <= i:
            item = pg.TextItem(color=self._text_color, anchor=(0, 0.5))
            self.plot.addItem(item)
            self._texts.append(item)
        return self._texts[i]

    # -- data ---------------------------------------------------------------------------
    def follow(self, state: ViewState) -> None:
        """Draw the view state's current result, again whenever the display temperature moves."""
        self._state = state
        state.session_changed.connect(self._on_session)
        state.current_changed.connect(self._show_state)
        state.temperature_changed.connect(self._show_state)
        state.explain_changed.connect(self._show_explained)
        self.class_clicked.connect(state.set_explain_class)

    def _on_session(self, session: ModelSession | None) -> None:
        if session is not None:
            self.set_classes(session.classes)

    def _show_state(self, *_: object) -> None:
        shown = self._state.shown  # the current result at the display temperature
        if shown is not None and shown.ok and shown.probabilities is not None:
            self.set_probabilities(shown.probabilities, shown.raw_probabilities,
                                   shown.temperature, shown.index)
            self._show_explained()  # a new image: its own predicted class, unless one was clicked
        else:
            self.clear()

    def _show_explained(self) -> None:
        """Outline the class the heat map explains (the predicted one unless a bar was clicked)."""
        state = self._state
        if state.explain_method is None:
            self.set_explained(None)
        else:
            self.set_explained(state.explain_class if state.explain_class is not None
                               else self._predicted)

    def set_explained(self, index: int | None) -> None:
        self._explained = index
        self._redraw()

    def row_at(self, scene_pos: object) -> int | None:
        """The class index of the bar row under a scene position, or None."""
        if self.widget is None or self._calibrated is None or not len(self.order):
            return None
        view = self.plot.vb.mapSceneToView(scene_pos)
        row = int(round(view.y()))
        inside = self.plot.vb.sceneBoundingRect().contains(scene_pos)
        on_names = self.plot.getAxis("left").sceneBoundingRect().contains(scene_pos)
        if not (inside or on_names) or not 0 <= row < len(self.order):
            return None
        return int(self.order[row])

    def _on_click(self, event: object) -> None:
        if event.button() != Qt.MouseButton.LeftButton:  # type: ignore[attr-defined]
            return
        index = self.row_at(event.scenePos())  # type: ignore[attr-defined]
        if index is not None:
            self.class_clicked.emit(index)

    def set_classes(self, classes: Sequence[str]) -> None:
        self._classes = [str(c) for c in classes]
        self.clear()

    def clear(self) -> None:
        self._calibrated = self._raw = None
        self._predicted = None
        self.order = np.zeros(0, dtype=int)
        self._reset_chart()
        self.legend.setText("<small>No result yet.</small>")

    def _reset_chart(self) -> None:
        if self.widget is None:
            return
        self.calibrated_bars.setOpts(x0=[0], y=[0], width=[0], height=0.72)
        self.raw_bars.setOpts(x0=[0], y=[0], width=[0], height=0.28)
        # A zero-width bar still draws its outline: a stray line at 0 % in the empty chart.
        self.calibrated_bars.setVisible(False)
        self.raw_bars.setVisible(False)
        self.explained_bar.setVisible(False)
        for t in self._texts:
            t.setText("")
        self.plot.getAxis("left").setTicks([[]])

    def set_probabilities(
        self, calibrated: np.ndarray, raw: np.ndarray | None, temperature: float = 1.0,
        predicted: int | None = None,
    ) -> None:
        """Show one result's probabilities (in class order)."""
        self._calibrated = np.asarray(calibrated, dtype=np.float64)
        self._raw = None if raw is None else np.asarray(raw, dtype=np.float64)
        self._predicted = int(np.argmax(self._calibrated)) if predicted is None else predicted
        self._temperature = float(temperature)
        if self.widget is None:
            self.ensure_chart()  # draws too
        else:
            self._redraw()

    def _redraw(self) -> None:
        if self._calibrated is None or self.widget is None:
            return
        import pyqtgraph as pg

        cal = self._calibrated
        order = bar_order(cal, self.k_box.value(), self.sort_box.isChecked())
        self.order = order
        y = np.arange(len(order), dtype=float)
        brushes = [pg.mkBrush(self._top_color if i == self._predicted else self._bar_color) for i in order]
        self.calibrated_bars.setOpts(x0=np.zeros(len(order)), y=y, width=cal[order], height=0.72,
                                     brushes=brushes)
        raw = self._raw[order] if self._raw is not None else np.zeros(len(order))
        self.raw_bars.setOpts(x0=np.zeros(len(order)), y=y, width=raw, height=0.28)
        self.calibrated_bars.setVisible(True)
        self.raw_bars.setVisible(self._raw is not None)
        rows = np.flatnonzero(order == self._explained) if self._explained is not None else []
        if len(rows):
            self.explained_bar.setOpts(x0=[-0.02], y=[float(rows[0])], width=[1.07], height=0.92)
        self.explained_bar.setVisible(bool(len(rows)))
        names = [self._classes[i] if i < len(self._classes) else str(i) for i in order]
        self.plot.getAxis("left").setTicks([list(zip(y.tolist(), names, strict=True))])
        for j, i in enumerate(order):
            text = self._text_item(j)
            text.setText(f"{cal[i]:.1%}")
            end = max(cal[i], raw[j])
            if end > 0.82:  # no room right of a long bar: write inside its end instead
                text.setAnchor((1, 0.5))
                text.setColor(QColor("white"))
                text.setPos(cal[i] - 0.01, float(j))
            else:
                text.setAnchor((0, 0.5))
                text.setColor(self._text_color)
                text.setPos(end + 0.01, float(j))
        for t in self._texts[len(order):]:
            t.setText("")
        # A little room left of 0 and right of 100 % so both end labels are drawn.
        self.plot.setXRange(-0.03, 1.06, padding=0)
        self.plot.setYRange(-0.6, len(order) - 0.4, padding=0)
        hidden = len(cal) - len(order)
        more = f" · {hidden} more classes not shown" if hidden > 0 else ""
        self.legend.setText(
            f"<small><b style='color:{self._bar_color.name()}'>■</b><b style='color:{self._top_color.name()}'>■"
            f"</b> calibrated (T = {self._temperature:.2f}; orange: the predicted class)"
            f" &nbsp; <b>□</b> raw model output (T = 1){more}</small>"
        )

    def _on_k(self, k: int) -> None:
        self._redraw()
        self.top_k_changed.emit(k)

    def _on_sort(self, on: bool) -> None:
        self._redraw()
        self.sort_changed.emit(on)
