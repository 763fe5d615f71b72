"""The probability plot (2 to 1000 classes, top-k, order), temperature and the panel hooks."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QLabel

from app.core.numeric import softmax
from app.ui.results.probability_plot import ProbabilityPlot, bar_order
from tests.ui.conftest import wait_idle


def test_bar_order_top_k_sorted_and_fixed():
    p = np.array([0.1, 0.5, 0.05, 0.35])
    assert bar_order(p, 2, sort=True).tolist() == [1, 3]
    assert bar_order(p, 3, sort=False).tolist() == [0, 1, 3]
    assert bar_order(p, 99, sort=True).tolist() == [1, 3, 0, 2]


def test_plot_handles_1000_classes_and_updates_in_place(qtbot):
    plot = ProbabilityPlot(top_k=10)
    qtbot.addWidget(plot)
    plot.set_classes([f"class {i}" for i in range(1000)])
    assert plot.widget is None  # pyqtgraph is not needed before the first paint
    plot.ensure_chart()
    bars = plot.calibrated_bars
    rng = np.random.default_rng(1)
    for _ in range(3):
        p = softmax(rng.normal(size=(1, 1000)))[0]
        plot.set_probabilities(p, p, 1.0)
    assert plot.calibrated_bars is bars  # same item, updated with setOpts
    assert len(plot.order) == 10 and plot.order[0] == int(np.argmax(p))
    assert "990 more classes" in plot.legend.text()
    plot.k_box.setValue(50)
    assert len(plot.order) == 50
    assert len(plot._texts) == 50


def test_plot_two_classes(qtbot):
    plot = ProbabilityPlot(top_k=10)
    qtbot.addWidget(plot)
    plot.set_classes(["cat", "dog"])
    plot.set_probabilities(np.array([0.2, 0.8]), np.array([0.01, 0.99]), 1.5)
    assert plot.order.tolist() == [1, 0]
    assert "T = 1.50" in plot.legend.text()


def test_set_temperature_rerenders_current_result(qtbot, window, images):
    window.classify_paths([str(images[0])])
    wait_idle(qtbot, window)
    result = window.current_result
    shown = []
    window.state.shown_changed.connect(shown.append)
    window.set_temperature(5.0)
    expected = softmax(result.logits[None], 5.0)[0]
    assert np.allclose(shown[-1].probabilities, expected, atol=1e-6)
    assert "T = 5.00" in window.result_view.confidence_label.text()
    assert window.current_result is result  # the stored result keeps the card's T
    window.set_temperature(None)
    assert np.allclose(shown[-1].probabilities, result.probabilities)


def test_add_panel_and_session_accessors(qtbot, window):
    panel = QLabel("calibration goes here")
    index = window.add_panel("Extra", panel)
    # Panels sit in a scroll area so that a tall one cannot squeeze the current result.
    assert window.tabs.tabText(index) == "Extra" and window.tabs.widget(index).widget() is panel
    assert window.session is not None
    assert window.history_results() == []


def test_about_lists_versions():
    from app.ui.window.about import about_text, versions

    v = versions()
    assert set(v) >= {"probscope", "TensorFlow", "Keras", "Qt", "OpenCV"}
    assert "TensorFlow" in about_text()
