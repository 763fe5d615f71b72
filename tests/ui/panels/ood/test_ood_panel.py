"""OODPanel on a real (tiny) Keras model, real colour PNGs and grey-noise PNGs, offscreen."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.ui.panels.ood.panel import NO_MODEL, OODPanel

WAIT_MS = 60_000  # the first model run traces the compiled predictor


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Outputs are cached on disk; keep each test's cache out of the user's cache folder.
    monkeypatch.setenv("PROBSCOPE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def noise_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Images of none of the colour classes: uniform grey noise of varied sizes."""
    from tests.conftest import write_png

    root = tmp_path_factory.mktemp("grey_noise")
    rng = np.random.default_rng(7)
    for i in range(24):
        h, w = int(rng.integers(12, 40)), int(rng.integers(12, 40))
        grey = rng.integers(0, 256, size=(h, w, 1), dtype=np.uint8).repeat(3, axis=2)
        write_png(root / f"noise_{i}.png", grey)
    return root


@pytest.fixture
def model_copy(colour_model: Path, tmp_path: Path) -> Path:
    """The shared colour model and its card, copied so that Save may rewrite the card."""
    target = tmp_path / "model" / colour_model.name
    target.parent.mkdir()
    shutil.copy(colour_model, target)
    card = colour_model.with_name(colour_model.name + ".probscope.json")
    shutil.copy(card, target.with_name(card.name))
    return target


@pytest.fixture
def session(model_copy: Path):
    from app.core import open_model

    s = open_model(model_copy)
    yield s
    s.close()


@pytest.fixture
def panel(qtbot) -> OODPanel:
    widget = OODPanel()
    qtbot.addWidget(widget)
    widget.resize(600, 800)
    widget.show()
    return widget


def _fitted(qtbot, panel: OODPanel, in_folder: Path, ood_folder: Path | None) -> None:
    panel.load_data(str(in_folder), None if ood_folder is None else str(ood_folder))
    qtbot.waitUntil(lambda: panel.detector is not None, timeout=WAIT_MS)


def _percent(text: str) -> float:
    return float(text.split("%")[0])


def test_without_a_model_the_panel_says_so(panel: OODPanel) -> None:
    assert panel.pages.currentWidget() is panel.no_model
    assert panel.no_model.text() == NO_MODEL
    assert not panel.save_button.isEnabled()
    assert not panel.accept_slider.isEnabled()


def test_histogram_threshold_and_acceptance(qtbot, panel: OODPanel, session, colour_folder: Path,
                                            noise_folder: Path) -> None:
    panel.set_session(session)
    assert "red, green, blue" in panel.accept_label.text()
    _fitted(qtbot, panel, colour_folder, noise_folder)

    # Every available score is offered with its AUROC against the noise images.
    texts = [panel.score_box.itemText(i) for i in range(panel.score_box.count())]
    assert any(t.startswith("Energy — AUROC ") for t in texts)
    panel.score_box.setCurrentIndex(panel.score_box.findData("energy"))
    assert panel.detector.score_name == "energy"

    plot = panel.plot
    x_in, y_in = plot.in_curve.getData()
    x_out, y_out = plot.out_curve.getData()
    assert len(x_in) == len(y_in) + 1 and y_in.sum() == pytest.approx(100.0)
    assert plot.out_curve.isVisible() and y_out.sum() == pytest.approx(100.0)
    assert plot.threshold_line.isVisible()
    assert plot.threshold == pytest.approx(panel.detector.threshold)
    assert "Energy" in plot.plot.getAxis("bottom").labelText

    assert _percent(panel.accepted_in_label.text()) >= 95.0
    out_before = _percent(panel.accepted_out_label.text())
    line_before = plot.threshold

    panel.accept_slider.setValue(70.0)
    assert plot.threshold > line_before  # accepting fewer real images = a higher bar
    assert plot.threshold == pytest.approx(panel.detector.threshold)
    assert panel.detector.tpr_target == pytest.approx(0.70)
    accepted_in = _percent(panel.accepted_in_label.text())
    assert 70.0 <= accepted_in < 95.0
    assert _percent(panel.accepted_out_label.text()) <= out_before
    assert "Energy" in panel.threshold_label.text()


def test_save_writes_the_card_and_announces_it(qtbot, panel: OODPanel, session, model_copy: Path,
                                               colour_folder: Path, noise_folder: Path) -> None:
    panel.set_session(session)
    _fitted(qtbot, panel, colour_folder, noise_folder)
    panel.score_box.setCurrentIndex(panel.score_box.findData("max_logit"))
    panel.accept_slider.setValue(90.0)
    threshold = panel.detector.threshold

    with qtbot.waitSignal(panel.ood_changed, timeout=5000):
        panel.save_button.click()
    card_path = model_copy.with_name(model_copy.name + ".probscope.json")
    card = json.loads(card_path.read_text())
    assert card["ood"]["score"] == "max_logit"
    assert card["ood"]["threshold"] == pytest.approx(threshold)
    assert card["ood"]["tpr"] == pytest.approx(0.90)
    assert card["ood"]["evaluation"]["scores"]  # the AUROC table came along
    assert (model_copy.parent / (model_copy.name + ".probscope.npz")).is_file()
    assert session.ood.score_name == "max_logit"
    assert session.ood.threshold == pytest.approx(threshold)
    assert str(card_path) in panel.saved_label.text()
    assert f"“{session.ood.label}”" in panel.label_note.text()


def test_without_no_class_images(qtbot, panel: OODPanel, session, colour_folder: Path) -> None:
    panel.set_session(session)
    _fitted(qtbot, panel, colour_folder, None)
    assert "no no-class images" in panel.accepted_out_label.text()
    assert not panel.plot.out_curve.isVisible()
    assert "AUROC" not in panel.score_box.currentText()
    assert "without no-class images" in panel.messages.warnings.text().lower()
    assert panel.save_button.isEnabled()


def test_drops_go_to_the_right_picker(panel: OODPanel, session, colour_folder: Path,
                                      noise_folder: Path) -> None:
    panel.set_session(session)
    assert panel._drop_target(str(colour_folder)) is panel.in_picker
    assert panel._drop_target(str(noise_folder)) is panel.ood_picker


def test_too_few_images_is_a_one_line_error(qtbot, panel: OODPanel, session,
                                            colour_folder: Path, tmp_path: Path) -> None:
    small = tmp_path / "small"
    shutil.copytree(colour_folder / "red", small / "red")
    for extra in sorted((small / "red").iterdir())[5:]:
        extra.unlink()
    panel.set_session(session)
    panel.load_data(str(small))
    qtbot.waitUntil(lambda: panel.messages.is_error, timeout=WAIT_MS)
    assert "at least" in panel.messages.status.text()
    assert panel.detector is None
    assert not panel.save_button.isEnabled()
