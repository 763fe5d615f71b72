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
from app.ui.panels.ood.score_names import score_title

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


@pytest.fixture(scope="session")
def colour_folder_75(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """75 labelled colour images: enough for the learned probe (it needs 50)."""
    from tests.conftest import COLOURS, colour_image, write_png

    root = tmp_path_factory.mktemp("colours75")
    rng = np.random.default_rng(3)
    for name, rgb in COLOURS.items():
        for i in range(25):
            size = (int(rng.integers(12, 40)), int(rng.integers(12, 40)))
            write_png(root / name / f"{name}_{i}.png", colour_image(rng, rgb, size))
    return root


def test_histogram_threshold_and_acceptance(qtbot, panel: OODPanel, session, colour_folder_75: Path,
                                            noise_folder: Path) -> None:
    panel.set_session(session)
    assert "red, green, blue" in panel.accept_label.text()
    _fitted(qtbot, panel, colour_folder_75, noise_folder)

    # Every available score is offered with its figures against the no-class images.
    texts = [panel.score_box.itemText(i) for i in range(panel.score_box.count())]
    assert any(t.startswith("Energy · ") and "AUROC " in t for t in texts)
    panel.score_box.setCurrentIndex(panel.score_box.findData("energy"))
    assert panel.detector.score_name == "energy"

    plot = panel.plot
    x_in, y_in = plot.in_curve.getData()
    x_out, y_out = plot.out_curve.getData()
    assert len(x_in) == len(y_in) + 1 and y_in.sum() == pytest.approx(100.0)
    assert plot.out_curve.isVisible() and y_out.sum() == pytest.approx(100.0)
    assert "Your no-class images (24)" in plot.legend.text()
    assert plot.threshold_line.isVisible()
    assert plot.threshold == pytest.approx(panel.detector.threshold)
    assert "Energy" in plot.plot.getAxis("bottom").labelText
    # The user's folder is one more row of the per-kind table.
    assert "your no-class images" in panel.kinds.shares()

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


def test_fits_with_the_built_in_reference_alone(qtbot, panel: OODPanel, session,
                                                colour_folder_75: Path) -> None:
    """One action: a labelled folder, no no-class folder → table, thumbnails, histogram."""
    panel.set_session(session)
    panel.use_dropped(str(colour_folder_75))  # dropped, as a user would
    qtbot.waitUntil(lambda: panel.detector is not None, timeout=WAIT_MS)
    fit = panel.fit
    assert fit.result.ood_data is None and fit.result.reference["n"] > 0
    kinds = [str(k) for k in fit.result.reference["kinds"]]
    assert len(kinds) >= 8

    table = panel.kinds
    shown = table.shares(1)
    assert set(kinds) <= set(shown)  # every reference kind has a row
    assert table.rowCount() == len(fit.result.by_score[panel.detector.score_name]["per_kind"]) + 1
    # ... with pictures of the kind, drawn by the generator (not a blank icon).
    from app.ui.panels.ood.per_kind_table import ICON
    from app.ui.widgets.qt_images import qimage_to_rgb

    for r in range(1, table.rowCount()):
        icon = table.item(r, 0).icon()
        assert not icon.isNull(), table.item(r, 0).text()
        strip = qimage_to_rgb(icon.pixmap(ICON).toImage())
        assert strip.shape[1] > 2 * strip.shape[0] and strip.std() > 5.0
    assert table.item(0, 0).text() == "Mean over kinds"  # first: it shows before any scrolling
    held_out = table.shares(2)
    assert all(0.0 <= v <= 1.0 for v in held_out.values())

    # The histogram's no-class side is a fresh reference sample, not nothing.
    plot = panel.plot
    assert plot.out_curve.isVisible()
    assert "Built-in reference, fresh sample" in plot.legend.text()
    assert "built-in reference" in panel.accepted_out_label.text()
    assert panel.save_button.isEnabled()


def test_switching_the_score_updates_the_table(qtbot, panel: OODPanel, session,
                                               colour_folder_75: Path) -> None:
    panel.set_session(session)
    _fitted(qtbot, panel, colour_folder_75, None)
    by_score = panel.fit.result.by_score
    assert "probe" in by_score and "energy" in by_score
    for name in ("probe", "energy", "probe"):
        panel.score_box.setCurrentIndex(panel.score_box.findData(name))
        want = {str(r["kind"]): r["held_out_accepted"] for r in by_score[name]["per_kind"]}
        assert panel.kinds.shares(2) == pytest.approx(want)
        assert score_title(name) in panel.kinds_caption.text()
        assert score_title(name) in panel.plot.plot.getAxis("bottom").labelText
    # The two scores do not let the same junk through, so the table really changed.
    probe = {str(r["kind"]): r["held_out_accepted"] for r in by_score["probe"]["per_kind"]}
    energy = {str(r["kind"]): r["held_out_accepted"] for r in by_score["energy"]["per_kind"]}
    assert probe != energy


def test_save_writes_the_card_and_rejudges_the_history(qtbot, panel: OODPanel, session,
                                                       model_copy: Path, colour_folder_75: Path,
                                                       noise_folder: Path) -> None:
    # Results classified while the card had no check: all unchecked.
    files = sorted(noise_folder.glob("*.png"))[:4] + sorted((colour_folder_75 / "red").glob("*.png"))[:2]
    from app.ui.jobs.model_jobs import SessionHandle

    results = session.classify([str(f) for f in files])
    panel.state.set_session(SessionHandle(session, "cpu", 1))  # as the window installs a model
    panel.state.add_results(results)
    assert not any(e.result.ood.checked for e in panel.state.history.entries)

    _fitted(qtbot, panel, colour_folder_75, None)
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
    assert card["ood"]["reference"]["n"] > 0
    assert {r["kind"] for r in card["ood"]["per_kind"]} == set(panel.kinds.shares())
    assert (model_copy.parent / (model_copy.name + ".probscope.npz")).is_file()
    assert session.ood.score_name == "max_logit"
    assert session.ood.threshold == pytest.approx(threshold)
    assert str(card_path) in panel.saved_label.text()
    assert f"“{session.ood.label}”" in panel.label_note.text()
    # Every history row is judged again by the saved check.
    rows = panel.state.history.entries
    assert all(e.result.ood.checked and e.result.ood.score_name == "max_logit" for e in rows)
    assert all(e.result.ood.threshold == pytest.approx(threshold) for e in rows)


def test_cancel_while_fitting(qtbot, panel: OODPanel, session, colour_folder_75: Path) -> None:
    panel.set_session(session)
    panel.load_data(str(colour_folder_75))
    assert panel.progress.isVisibleTo(panel)
    with qtbot.waitSignal(panel.runner.cancelled, timeout=5000):
        panel.progress.cancel_button.click()
    assert "Cancelled" in panel.messages.status.text()
    assert panel.detector is None and not panel.save_button.isEnabled()
    qtbot.waitUntil(lambda: panel.runner.in_flight == 0, timeout=WAIT_MS)
    assert panel.detector is None  # what the cancelled fit returned was dropped


def test_drops_go_to_the_right_picker(panel: OODPanel, session, colour_folder: Path,
                                      noise_folder: Path) -> None:
    panel.set_session(session)
    assert panel._drop_target(str(colour_folder)) is panel.in_picker
    assert panel._drop_target(str(noise_folder)) is panel.ood_picker


def test_one_class_is_a_one_line_error(qtbot, panel: OODPanel, session,
                                       colour_folder: Path, tmp_path: Path) -> None:
    small = tmp_path / "small"
    shutil.copytree(colour_folder / "red", small / "red")
    panel.set_session(session)
    panel.load_data(str(small))
    qtbot.waitUntil(lambda: panel.messages.is_error, timeout=WAIT_MS)
    assert "one class" in panel.messages.status.text()
    assert "\n" not in panel.messages.status.text()
    assert panel.detector is None
    assert not panel.save_button.isEnabled()


def test_too_few_images_says_how_many_are_needed(qtbot, panel: OODPanel, session,
                                                 colour_folder: Path) -> None:
    # 36 labelled images: the logit scores still work, the learned probe needs 50.
    panel.set_session(session)
    _fitted(qtbot, panel, colour_folder, None)
    assert "at least 50" in panel.messages.warnings.text()
    assert panel.kinds.rowCount() == 0 and "none measured" in panel.kinds_caption.text()
