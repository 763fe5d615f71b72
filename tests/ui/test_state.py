"""The view state: the display temperature lives there, and setting it once reaches every plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.core.numeric import softmax
from app.ui.state import ViewState
from tests.ui.conftest import wait_idle

WAIT_MS = 60_000


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROBSCOPE_CACHE_DIR", str(tmp_path / "cache"))


def test_temperature_changes_are_announced_once(qapp) -> None:  # type: ignore[no-untyped-def]
    state = ViewState()
    seen: list[float] = []
    state.temperature_changed.connect(seen.append)
    assert state.temperature == 1.0 and state.session is None and state.current is None
    state.set_temperature(2.0)
    state.set_temperature(2.0)  # no change, no signal
    state.reset_temperature()  # no model: back to T = 1
    assert seen == [2.0, 1.0]


def test_without_a_model_the_shown_result_is_the_current_one(qapp) -> None:  # type: ignore[no-untyped-def]
    from app.core import Classification

    state = ViewState()
    shown: list[object] = []
    state.shown_changed.connect(shown.append)
    result = Classification(path="x.png", error="cannot be read")
    keys = state.add_results([result])
    state.set_current(result, keys[0])
    state.set_temperature(3.0)
    assert state.current is result and state.shown is result and shown == [result, result]
    assert state.current_key == keys[0] and state.history_file_paths() == []


def test_one_temperature_reaches_the_slider_and_both_plots(qtbot, window, images,  # type: ignore[no-untyped-def]
                                                           labelled_folder: Path) -> None:
    window.classify_paths([str(images[0])])
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: bool(window.panels), timeout=WAIT_MS)
    calibration = window.panels["calibration"]
    calibration.load_data(str(labelled_folder))
    qtbot.waitUntil(lambda: calibration.has_data, timeout=WAIT_MS)
    result = window.current_result
    before = np.asarray(calibration.plot.after_bars.opts["height"], dtype=float).copy()

    window.state.set_temperature(2.5)  # once, in the state

    assert calibration.temperature.value() == pytest.approx(2.5)  # the slider follows
    assert calibration.temperature.box.value() == pytest.approx(2.5)
    # The probability plot redraws the current result at T = 2.5 …
    assert np.allclose(window.plot._calibrated, softmax(result.logits[None], 2.5)[0], atol=1e-6)
    assert "T = 2.50" in window.plot.legend.text()
    # … and so does the reliability diagram, from the cached outputs of the data.
    assert "T = 2.5" in calibration.plot.legend.text()
    assert not np.allclose(np.asarray(calibration.plot.after_bars.opts["height"], dtype=float), before)
    assert "T = 2.50" in window.result_view.confidence_label.text()
    assert window.current_result is result  # the model's own result keeps the card's T
