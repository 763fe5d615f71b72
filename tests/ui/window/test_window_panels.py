"""The analysis tabs inside the real window: temperature and "none of the classes" reach the results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import write_png
from tests.ui.conftest import copy_model, wait_idle

WAIT_MS = 60_000


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROBSCOPE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def colour_window(qtbot, config_dir: Path, colour_model: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The window on a private copy of the colour model (Save may rewrite its card)."""
    from app.ui.window.main_window import MainWindow

    target = copy_model(colour_model, tmp_path / "model")
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    win.start(str(target))
    qtbot.waitUntil(lambda: win.session is not None and win.is_idle(), timeout=WAIT_MS)
    yield win
    win.cancel_run()
    qtbot.waitUntil(win.is_idle, timeout=30_000)


@pytest.fixture(scope="module")
def grey_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("grey")
    rng = np.random.default_rng(3)
    for i in range(16):
        grey = rng.integers(0, 256, size=(20, 20, 1), dtype=np.uint8).repeat(3, axis=2)
        write_png(root / f"grey_{i}.png", grey)
    return root


def _tab_titles(win) -> list[str]:  # type: ignore[no-untyped-def]
    return [win.tabs.tabText(i) for i in range(win.tabs.count())]


def test_the_analysis_tabs_follow_the_loaded_model(colour_window) -> None:  # type: ignore[no-untyped-def]
    win = colour_window
    assert {"Calibration", "None of the classes", "Diagnostics"} <= set(_tab_titles(win))
    assert win.panels["calibration"]._session is win.session
    assert win.panels["ood"]._session is win.session


def test_the_temperature_slider_re_renders_the_current_result(qtbot, colour_window,
                                                              colour_folder: Path) -> None:
    win = colour_window
    image = sorted((colour_folder / "red").glob("*.png"))[0]
    win.classify_paths([str(image)])
    qtbot.waitUntil(lambda: win.current_result is not None, timeout=WAIT_MS)
    wait_idle(qtbot, win)
    card_probs = win.current_result.probabilities.copy()
    win.panels["calibration"].set_temperature(4.0)  # the slider
    shown = win.result_view.confidence_label.text()
    assert "T = 4.00" in shown
    # A hotter temperature flattens the distribution the plot shows.
    assert win.plot._calibrated.max() < card_probs.max()
    # The stored result stays the model's own (card T): the slider is a view setting.
    assert win.current_result.temperature == pytest.approx(win.session.temperature)


def test_saving_the_ood_check_re_scores_the_history(qtbot, colour_window, colour_folder: Path,
                                                    grey_folder: Path) -> None:
    win = colour_window
    win.classify_paths([str(colour_folder)])
    wait_idle(qtbot, win)
    before = {e.key: e.result for e in win.history.model.entries}
    assert before
    old_threshold = win.session.ood.threshold

    panel = win.panels["ood"]
    panel.load_data(str(colour_folder), str(grey_folder))
    qtbot.waitUntil(lambda: panel.detector is not None, timeout=WAIT_MS)
    panel.save()

    new_threshold = win.session.ood.threshold
    assert new_threshold != old_threshold
    for entry in win.history.model.entries:
        assert entry.result is not before[entry.key]
        assert entry.result.ood.threshold == pytest.approx(new_threshold)
        assert entry.result.label == before[entry.key].label
    assert win.current_result.ood.threshold == pytest.approx(new_threshold)
