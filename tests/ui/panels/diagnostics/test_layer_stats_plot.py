"""The layer chart drops its per-bar percentages when rows are too short to hold them."""

from __future__ import annotations

from app.ui.panels.diagnostics.layer_stats_plot import LayerStatsPlot


def _rows(n: int) -> list[dict]:
    return [{"name": f"re_lu_{k}", "dead_fraction": 0.05 * (k % 3), "zero_fraction": 0.4,
             "verdict": "healthy"} for k in range(n)]


def test_percentages_show_only_where_rows_have_room(qtbot) -> None:
    chart = LayerStatsPlot()
    qtbot.addWidget(chart)
    chart.resize(500, 700)
    chart.show()
    chart.set_layers(_rows(14))
    qtbot.waitUntil(lambda: chart.plot.getViewBox().height() > 400, timeout=5000)
    assert chart.values_shown
    chart.resize(500, 180)  # fourteen layers in a short pane: two numbers cannot fit a row
    qtbot.waitUntil(lambda: not chart.values_shown, timeout=5000)
    assert len(chart.dead_values) == 14  # the bars stay
    # The names shrink to the row pitch, so neighbours do not print over each other.
    pitch = chart.plot.getViewBox().height() / 14
    font = chart.plot.getAxis("left").style["tickFont"]
    assert font is not None and 7 <= font.pixelSize() <= max(7, pitch)
    chart.set_layers(_rows(3))  # few layers in the same pane: room again
    qtbot.waitUntil(lambda: chart.values_shown, timeout=5000)
    chart.clear()
    assert not chart.values_shown
