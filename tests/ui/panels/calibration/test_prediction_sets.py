"""Prediction sets in the Calibration tab on the bundled digit model and its held-out data."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json
from pathlib import Path

import numpy as np
import pytest

from app.ui.panels.calibration.panel import CalibrationPanel
from tests.ui.conftest import copy_model

WAIT_MS = 120_000
DIGITS = Path(__file__).resolve().parents[4] / "resources" / "digits"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROBSCOPE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def digits_copy(tmp_path: Path) -> Path:
    """The bundled model and card, copied so Save may rewrite the card."""
    if not (DIGITS / "digits.keras").exists():
        pytest.skip("the bundled model is not built")
    return copy_model(DIGITS / "digits.keras", tmp_path)


@pytest.fixture
def fitted(qtbot, digits_copy: Path):  # type: ignore[no-untyped-def]
    from app.core import open_model

    session = open_model(digits_copy)
    panel = CalibrationPanel()
    qtbot.addWidget(panel)
    panel.resize(1200, 420)
    panel.show()
    panel.set_session(session)
    panel.load_data(str(DIGITS / "calibration.npz"))
    qtbot.waitUntil(lambda: panel.has_data, timeout=WAIT_MS)
    panel.fit()
    yield panel, session
    session.close()


def _heights(item) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.asarray(item.opts["height"], dtype=float)


def test_alpha_moves_coverage_and_sizes_without_running_the_model(fitted) -> None:  # type: ignore[no-untyped-def]
    panel, session = fitted
    sets = panel.sets
    assert sets.fit is not None and sets.fit.classifier.method == "lac"
    coverage_at_10, sizes_at_10 = _heights(sets.coverage_bars), _heights(sets.size_bars)
    assert coverage_at_10.shape == (10,) and sizes_at_10.shape == (11,)
    # The fit starts from the card's sets (95 %), so Save keeps them unless α is moved.
    assert session.sets is not None and session.sets.alpha == pytest.approx(0.05)
    assert sets.alpha() == pytest.approx(0.05) and sets.promise_line.value() == pytest.approx(0.95)
    before = session.last_latency_ms

    sets.alpha_slider.setValue(0.02)
    sets._on_alpha(0.02)  # the throttled slot, at once
    assert sets.fit.classifier.alpha == pytest.approx(0.02)
    assert sets.promise_line.value() == pytest.approx(0.98)
    # Smaller α: higher coverage, bigger sets — a change in both plots' data.
    assert _heights(sets.coverage_bars).mean() > coverage_at_10.mean()
    assert not np.allclose(_heights(sets.size_bars), sizes_at_10)
    assert "98 %" in sets.summary.text()
    assert session.last_latency_ms == before  # no model run


def test_too_small_alpha_gives_one_line_reason(fitted) -> None:  # type: ignore[no-untyped-def]
    panel, _session = fitted
    sets = panel.sets
    sets.alpha_slider.setValue(0.01)
    shown = sets.fit
    sets._on_alpha(0.0001)  # 99.99 % sets need 9,999 images to fit the threshold on
    assert sets.fit is shown  # refused: the last sets stay on screen
    assert "at least" in sets.summary.text() and "labelled images" in sets.summary.text()


def test_save_writes_the_sets_at_the_alpha_shown(qtbot, fitted, digits_copy: Path) -> None:  # type: ignore[no-untyped-def]
    panel, session = fitted
    panel.sets.alpha_slider.setValue(0.05)
    panel.sets._on_alpha(0.05)
    with qtbot.waitSignal(panel.calibration_saved, timeout=5000):
        panel.save(force=True)
    card = json.loads(digits_copy.with_name("digits.keras.probscope.json").read_text())
    conformal = card["calibration"]["conformal"]
    assert conformal["method"] == "lac"
    assert conformal["alpha"] == pytest.approx(0.05)
    assert session.sets is not None and session.sets.alpha == pytest.approx(0.05)


def test_method_choice_refits(fitted) -> None:  # type: ignore[no-untyped-def]
    panel, _session = fitted
    panel.sets.method_box.setCurrentIndex(panel.sets.method_box.findData("aps"))
    assert panel.sets.fit is not None and panel.sets.fit.classifier.method == "aps"


def test_set_sizes_of_26_classes_are_labelled_without_running_together(qtbot) -> None:  # type: ignore[no-untyped-def]
    """27 possible sizes (0-26) are too many ticks for the plot: every few are labelled."""
    import string

    from app.core.calibration.conformal_split import fit_temperature_and_sets
    from app.ui.panels.calibration.sets_view import PredictionSetsView

    rng = np.random.default_rng(0)
    labels = np.arange(2600) % 26
    logits = rng.normal(0, 1.0, (2600, 26))
    logits[np.arange(2600), labels] += 1.0  # a weak model: sets of many sizes
    view = PredictionSetsView()
    qtbot.addWidget(view)
    view.set_fit(fit_temperature_and_sets(logits, labels, alpha=0.1), list(string.ascii_uppercase))
    (ticks,) = view.size_plot.getAxis("bottom")._tickLevels
    shown = [int(label) for _pos, label in ticks]
    assert shown[0] == 0 and 8 <= len(shown) <= 14 and shown == sorted(shown)
