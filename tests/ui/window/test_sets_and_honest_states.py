"""The window's prediction sets, honest states and the Record preprocessing dialog (issues 21, 15)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.ui.conftest import wait_idle

DIGITS = Path(__file__).resolve().parents[3] / "resources" / "digits"


@pytest.fixture
def digits_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if not (DIGITS / "digits.keras").exists():
        pytest.skip("the bundled model is not built")
    monkeypatch.setenv("PROBSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "model"
    folder.mkdir()
    for part in DIGITS.glob("digits.keras*"):
        shutil.copy2(part, folder / part.name)
    return folder / "digits.keras"


def _window(qtbot, model: Path):  # type: ignore[no-untyped-def]
    from app.ui.window.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    win.start(str(model))
    qtbot.waitUntil(lambda: win.session is not None and win.is_idle(), timeout=60_000)
    return win


def _fit_sets(model: Path, alpha: float = 0.1) -> None:
    from app.core import open_model
    from app.core.calibration import fit_calibration
    from app.core.data import compute_outputs, load_data

    session = open_model(model)
    outputs = compute_outputs(session, load_data(DIGITS / "calibration.npz", session.classes, labelled=True))
    from app.core.calibration import save_calibration

    save_calibration(session, fit_calibration(outputs, "calibration.npz", alpha=alpha), force=True)
    session.close()


def test_headline_and_history_show_the_prediction_set(qtbot, config_dir, digits_copy: Path) -> None:  # type: ignore[no-untyped-def]
    from app.ui.history_model import COL_SET

    _fit_sets(digits_copy)
    win = _window(qtbot, digits_copy)
    assert win.session.sets is not None
    win.classify_paths([str(DIGITS / "samples" / "digit_7_handwritten.png")])
    wait_idle(qtbot, win)
    result = win.current_result
    assert result.prediction_set is not None
    text = win.result_view.set_label.text()
    assert text.startswith("90 % set: {") and result.prediction_set[0] in text
    assert win.result_view.set_label.isVisible()
    cell = win.history.model.index(0, COL_SET).data()
    assert cell == "{" + ", ".join(result.prediction_set) + "}"


def test_a_rejected_image_shows_its_set_only_as_which_class_it_would_be(qtbot, config_dir, digits_copy: Path) -> None:  # type: ignore[no-untyped-def]
    from app.ui.history_model import COL_SET
    from app.ui.results.result_view import _SET_SURE

    _fit_sets(digits_copy, alpha=0.01)  # 99 % sets: wide enough for a photo to get one
    win = _window(qtbot, digits_copy)
    win.classify_paths([str(DIGITS / "samples" / "nodigit_photo.png")])
    wait_idle(qtbot, win)
    result = win.current_result
    assert not result.ood.in_distribution and result.prediction_set
    text = win.result_view.set_label.text()
    assert text.startswith("99 % set, were it a class: {"), text
    assert win.result_view.set_label.styleSheet() != _SET_SURE
    cell = win.history.model.index(0, COL_SET).data()
    assert cell == "({" + ", ".join(result.prediction_set) + "})"


def test_near_chance_model_never_gets_the_green_verdict(qtbot, config_dir, digits_copy: Path) -> None:  # type: ignore[no-untyped-def]
    card_path = digits_copy.with_name("digits.keras.probscope.json")
    card = json.loads(card_path.read_text())
    card.setdefault("calibration", {})["fitted"] = {"after": {"accuracy": 0.11}}
    card_path.write_text(json.dumps(card))
    win = _window(qtbot, digits_copy)
    assert win.session.untrustworthy
    win.classify_paths([str(DIGITS / "samples" / "digit_7_handwritten.png")])
    wait_idle(qtbot, win)
    badge = win.result_view.badge.text()
    assert "looks like a known class" not in badge
    assert badge.startswith("⚠ Not to be trusted")


def test_no_class_rows_show_the_cards_label_with_the_guess(qtbot) -> None:  # type: ignore[no-untyped-def]
    from app.core.session import Classification, OODVerdict
    from app.ui.history_model import COL_LABEL, HistoryModel

    model = HistoryModel()
    model.ood_label = "No digit"
    verdict = OODVerdict(score=0.1, threshold=0.5, in_distribution=False, score_name="msp")
    model.add([Classification(path="x.png", label="3", index=3, probabilities=np.full(10, 0.1), ood=verdict)])
    assert model.index(0, COL_LABEL).data() == "No digit (guess 3)"


def test_rgba_image_is_flagged_alpha_dropped(qtbot, window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from app.ui.history_model import ALPHA_FLAG, COL_FLAGS

    rgba = np.zeros((24, 24, 4), dtype=np.uint8)
    rgba[..., 3] = 0  # fully transparent: what the user sees is not what the model sees
    path = tmp_path / "transparent.png"
    Image.fromarray(rgba, "RGBA").save(path)
    plain = tmp_path / "plain.png"
    Image.fromarray(rgba[..., :3], "RGB").save(plain)
    window.classify_paths([str(path)])
    wait_idle(qtbot, window)
    assert ALPHA_FLAG in window.history.model.index(0, COL_FLAGS).data()
    assert "transparency was dropped" in window.result_view.badge.text()
    window.classify_paths([str(plain)])
    wait_idle(qtbot, window)
    assert ALPHA_FLAG not in (window.history.model.index(1, COL_FLAGS).data() or "")


def test_record_dialog_previews_the_scale_and_writes_the_card(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from app.ui.dialogs.record_preprocessing import RecordPreprocessingDialog, parse_number

    assert parse_number("1/255") == pytest.approx(1 / 255)
    model = tmp_path / "mine.keras"
    model.write_bytes(b"")  # the dialog never loads the model; the card goes beside it
    sample = tmp_path / "grey.png"
    Image.fromarray(np.full((20, 20, 3), 200, dtype=np.uint8)).save(sample)
    saved: list[str] = []
    dialog = RecordPreprocessingDialog(str(model), ["a", "b"], str(sample), (16, 16), saved.append)
    qtbot.addWidget(dialog)
    dialog.scale.setText("1/255")
    assert dialog.tensor is not None and dialog.tensor.shape == (16, 16, 3)
    assert float(dialog.tensor.max()) == pytest.approx(200 / 255, rel=1e-3)
    dialog.scale.setText("1")
    assert float(dialog.tensor.max()) == pytest.approx(200.0, rel=1e-3)
    assert "200" in dialog.values.text()
    dialog.scale.setText("1/0")
    assert not dialog.save_button.isEnabled() and dialog.error.text()
    dialog.scale.setText("1/127.5")
    dialog.offset.setText("-1")
    dialog.height.setValue(8)
    assert dialog.tensor.shape == (8, 16, 3)
    dialog.save_button.click()
    card = json.loads(Path(saved[0]).read_text())
    assert card["classes"] == ["a", "b"]
    assert card["preprocessing"]["scale"] == pytest.approx(1 / 127.5)
    assert card["preprocessing"]["offset"] == pytest.approx(-1.0)
    assert card["preprocessing"]["target_size"] == [8, 16]


def test_record_dialog_starts_from_scale_1_for_a_model_with_rescaling(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A card-less model with Rescaling(1/255) inside is fed raw pixels: the dialog must not
    offer x/255 on top of it, and warns before saving if the user types it."""
    from app.core import open_model
    from app.core.tf_runtime import import_keras
    from app.ui.dialogs.record_preprocessing import dialog_for_session, scale_text

    assert (scale_text(1 / 255), scale_text(1.0), scale_text(1 / 127.5)) == ("1/255", "1", "0.00784314")
    keras = import_keras()
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Rescaling(1 / 255),
                              keras.layers.Conv2D(2, 3), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2, activation="softmax")])
    path = tmp_path / "rescaling.keras"
    model.save(path)
    session = open_model(path)
    try:
        dialog = dialog_for_session(session, None, lambda _p: None, None)
        qtbot.addWidget(dialog)
        assert dialog.scale.text() == "1" and dialog.error.text() == ""
        dialog.scale.setText("1/255")
        assert "scaled twice" in dialog.error.text() and dialog.save_button.isEnabled()
        dialog.scale.setText("1")
        assert dialog.error.text() == ""
    finally:
        session.close()


def test_run_diagnosis_greyed_out_says_why(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: "diagnostics" in window.panels, timeout=10_000)
    panel = window.panels["diagnostics"]
    panel.update_buttons()
    assert not panel.run_button.isEnabled()
    assert "8" in panel.run_hint.text() and "folder" in panel.run_hint.text()


def test_history_columns_fit_no_digit_rows_and_sets(qtbot, digits_copy, config_dir) -> None:  # type: ignore[no-untyped-def]
    from app.ui.history_model import COL_LABEL, COL_SET

    win = _window(qtbot, digits_copy)
    samples = DIGITS / "samples"
    win.resize(1200, 780)
    win.classify_paths([str(samples / "nodigit_letters.png"), str(samples / "nodigit_photo.png"),
                        str(samples / "digit_8_housenumber.png")])
    wait_idle(qtbot, win)
    qtbot.wait(50)
    view, model = win.history.view, win.history.model
    assert model.rowCount() == 3
    for col in (COL_LABEL, COL_SET):
        need = max(view.fontMetrics().horizontalAdvance(model.index(r, col).data() or "")
                   for r in range(3))
        assert view.columnWidth(col) >= need, (col, view.columnWidth(col), need)


def test_saving_a_card_answers_the_image_on_show_again(qtbot, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """After "Save card and reload" the image on show is answered under the new card: a new
    row, selected and shown, and the old row no longer selected over a blank result."""
    from app.core.tf_runtime import import_keras

    monkeypatch.setenv("PROBSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    keras = import_keras()
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(2, 3),
                              keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2, activation="softmax")])
    path = tmp_path / "plain.keras"
    model.save(path)
    image = tmp_path / "grey.png"
    Image.fromarray(np.full((20, 20, 3), 200, dtype=np.uint8)).save(image)
    win = _window(qtbot, path)
    win.classify_paths([str(image)])
    wait_idle(qtbot, win)
    first = win.state.generation
    assert win.current_result is not None and win.history.model.rowCount() == 1
    win.record_preprocessing()
    dialog = win.record_dialog
    dialog.classes_edit.setText("light,dark")
    dialog.scale.setText("1")
    dialog.save_button.click()
    qtbot.waitUntil(lambda: win.state.generation > first and win.is_idle(), timeout=60_000)
    wait_idle(qtbot, win)
    assert win.session.classes == ["light", "dark"] and win.session.spec.scale == 1.0
    assert win.current_result is not None and win.current_result.path == str(image)
    assert win.current_result.label in ("light", "dark")
    assert win.history.model.rowCount() == 2
    selected = {i.row() for i in win.history.view.selectionModel().selectedRows()}
    assert selected in (set(), {1})  # never the old model's row over the new model's answer


@pytest.mark.parametrize(("label", "badge"), [
    ("No digit", "⚠ No digit: like none of the classes, so the best guess is not to be trusted"),
    ("None of the classes", "⚠ Like none of the classes, so the best guess is not to be trusted"),
])
def test_the_no_class_badge_names_the_label_once(qtbot, label: str, badge: str) -> None:  # type: ignore[no-untyped-def]
    from app.core.session import Classification, OODVerdict
    from app.ui.results.result_view import ResultView

    view = ResultView()
    qtbot.addWidget(view)
    verdict = OODVerdict(score=0.1, threshold=0.5, in_distribution=False, score_name="probe")
    view.show_result(Classification(path="x.png", label="3", index=3,
                                    probabilities=np.full(10, 0.1), ood=verdict), label)
    assert view.badge.text() == badge
