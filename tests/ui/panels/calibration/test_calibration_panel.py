"""CalibrationPanel on a real (tiny) Keras model and real PNG files, offscreen."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json
import math
from pathlib import Path

import numpy as np
import pytest

from app.ui.panels.calibration.panel import NO_MODEL, CalibrationPanel

WAIT_MS = 60_000  # the first model run traces the compiled predictor


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Outputs are cached on disk; keep each test's cache out of the user's cache folder.
    monkeypatch.setenv("PROBSCOPE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def panel(qtbot) -> CalibrationPanel:
    widget = CalibrationPanel()
    qtbot.addWidget(widget)
    widget.resize(600, 800)
    widget.show()
    return widget


def _after_heights(panel: CalibrationPanel) -> np.ndarray:
    """Accuracy bars, gap shading and confidence histogram at the current T, end to end."""
    items = (panel.plot.after_bars, panel.plot.gap_bars, panel.plot.hist_after)
    return np.concatenate([np.asarray(i.opts["height"], dtype=float) for i in items])


def _loaded(qtbot, panel: CalibrationPanel, folder: Path) -> None:
    panel.load_data(str(folder))
    qtbot.waitUntil(lambda: panel.has_data, timeout=WAIT_MS)


def test_without_a_model_the_panel_says_so(panel: CalibrationPanel) -> None:
    assert panel.pages.currentWidget() is panel.no_model
    assert panel.no_model.text() == NO_MODEL
    assert not panel.fit_button.isEnabled()
    assert not panel.save_button.isEnabled()


def test_model_without_data_waits_for_data(panel: CalibrationPanel, session) -> None:
    panel.set_session(session)
    assert panel.pages.currentIndex() == 1
    assert not panel.fit_button.isEnabled()
    assert panel.temperature.value() == pytest.approx(session.temperature)
    assert "labelled" in panel.picker.path_label.text().lower()
    # The empty set plots already stand on the axes a fit will use: the classes, sizes 0-3.
    ticks = panel.sets.coverage_plot.getAxis("bottom")._tickLevels[0]
    assert [name for _x, name in ticks] == session.classes
    assert panel.sets.size_plot.viewRange()[0][0] < 0 < 3 < panel.sets.size_plot.viewRange()[0][1]


def test_fit_slide_save_and_revert(qtbot, panel: CalibrationPanel, session, colour_folder: Path,
                                   model_copy: Path) -> None:
    panel.set_session(session)
    _loaded(qtbot, panel, colour_folder)
    assert panel.fit_button.isEnabled()
    assert "36 labelled images" in panel.messages.status.text()
    assert panel.table.text("accuracy", 0).endswith("%")

    with qtbot.waitSignal(panel.temperature_changed, timeout=5000) as fitted:
        panel.fit_button.click()
    result = panel.fit_result
    assert result is not None
    assert fitted.args[0] == pytest.approx(result.temperature)
    assert panel.temperature.value() == pytest.approx(result.temperature)
    assert f"T = {result.temperature:.3g}" in panel.messages.status.text()
    assert result.conformal is not None  # T saw half the images: said as the CLI says it
    assert (f"on {result.n_temperature} of {result.n} images (the sets on the rest)"
            in panel.messages.status.text().replace("\n", " "))
    # The colour model is almost always right, so the fit hits a bound and says so in words.
    if result.warnings:  # the prediction sets' notes sit beside their plots
        shown = panel.messages.warnings.text() if panel.messages.warnings.isVisible() else ""
        assert shown.startswith("⚠ ") or "⚠" in panel.sets.summary.text()

    nll_before_slide = panel.table.text("nll", 1)
    heights_before_slide = _after_heights(panel)
    with qtbot.waitSignal(panel.temperature_changed, timeout=5000) as moved:
        panel.temperature.slider.setValue(math.log10(3.0))
    assert moved.args[0] == pytest.approx(3.0, rel=1e-6)
    # The table and the plot are redrawn by separate updates: wait for both, not the first.
    qtbot.waitUntil(lambda: panel.table.text("nll", 1) != nll_before_slide
                    and not np.allclose(_after_heights(panel), heights_before_slide),
                    timeout=5000)
    assert "T = 3" in panel.table.horizontalHeaderItem(1).text()
    assert panel.table.text("accuracy", 1) == panel.table.text("accuracy", 0)  # T keeps argmax
    assert panel.revert_button.isEnabled()
    assert "not saved" in panel.card_label.text()

    panel.save_button.click()
    if panel.save_anyway_button.isVisible():
        # T = 3 worsens the NLL of this near-perfect model: refused with the reason, then forced.
        assert panel.messages.is_error and "Save anyway" in panel.messages.status.text()
        with qtbot.waitSignal(panel.calibration_saved, timeout=5000) as saved:
            panel.save_anyway_button.click()
    else:
        saved = None
    assert saved is not None, "the save was neither refused nor written"
    card_path = model_copy.with_name(model_copy.name + ".probscope.json")
    assert Path(saved.args[0]) == card_path
    card = json.loads(card_path.read_text())
    assert card["calibration"]["temperature"] == pytest.approx(3.0, rel=1e-6)
    assert card["calibration"]["fitted"]["n"] == 36
    assert session.temperature == pytest.approx(3.0, rel=1e-6)  # classification uses it now
    assert str(card_path) in panel.saved_label.text()
    assert not panel.revert_button.isEnabled()

    panel.set_temperature(0.5)
    with qtbot.waitSignal(panel.temperature_changed, timeout=5000) as reverted:
        panel.revert_button.click()
    assert reverted.args[0] == pytest.approx(3.0, rel=1e-6)


def test_typed_temperature_moves_the_slider(qtbot, panel: CalibrationPanel, session) -> None:
    panel.set_session(session)
    with qtbot.waitSignal(panel.temperature_changed, timeout=5000) as typed:
        panel.temperature.box.setValue(2.0)
    assert typed.args[0] == pytest.approx(2.0)
    assert panel.temperature.slider.value() == pytest.approx(math.log10(2.0))


def test_wrong_folder_is_a_one_line_error(qtbot, panel: CalibrationPanel, session,
                                          tmp_path: Path) -> None:
    (tmp_path / "cats").mkdir()
    panel.set_session(session)
    panel.load_data(str(tmp_path))
    qtbot.waitUntil(lambda: panel.messages.is_error, timeout=WAIT_MS)
    assert "not classes of this model" in panel.messages.status.text()
    assert "\n" not in panel.messages.status.text()
    assert not panel.fit_button.isEnabled()


def test_cancel_drops_the_run(qtbot, panel: CalibrationPanel, session, colour_folder: Path) -> None:
    panel.set_session(session)
    panel.load_data(str(colour_folder))
    assert panel.progress.isVisible()
    with qtbot.waitSignal(panel.runner.cancelled, timeout=5000):
        panel.progress.cancel_button.click()
    qtbot.wait(200)
    assert not panel.has_data
    assert not panel.progress.isVisible()
    assert panel.messages.status.text() == "Cancelled."


def test_new_session_recomputes_and_none_empties(qtbot, panel: CalibrationPanel, session,
                                                 colour_folder: Path) -> None:
    panel.set_session(session)
    _loaded(qtbot, panel, colour_folder)
    panel.set_session(session)  # e.g. the model reloaded: same data, recomputed (from cache)
    assert not panel.has_data
    qtbot.waitUntil(lambda: panel.has_data, timeout=WAIT_MS)
    panel.set_session(None)
    assert panel.pages.currentWidget() is panel.no_model
    assert not panel.has_data
