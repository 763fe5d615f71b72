"""Opening models: safe ones load, code-running ones only after the user trusts them."""

from __future__ import annotations

import pytest

from tests.ui.conftest import wait_idle
from tests.ui.dnd import drag_and_drop, file_mime


def test_lambda_model_is_refused_without_trust(qtbot, window, lambda_model, model_path):
    changes = []
    window.state.session_changed.connect(changes.append)
    drag_and_drop(window.drop_area, file_mime([lambda_model]))
    qtbot.waitUntil(lambda: window.trust_dialog is not None, timeout=30_000)
    dialog = window.trust_dialog
    assert any("Lambda" in r for r in dialog.risky)
    dialog.cancel_button.click()
    wait_idle(qtbot, window)
    assert changes == []
    assert window.session.loaded.path.name == model_path.name
    assert "not to trust" in window.message_banner.label.text()


def test_lambda_model_loads_when_trusted(qtbot, window, lambda_model):
    with qtbot.waitSignal(window.state.session_changed, timeout=60_000):
        window.open_model(str(lambda_model))
        qtbot.waitUntil(lambda: window.trust_dialog is not None, timeout=30_000)
        window.trust_dialog.load_button.click()
    wait_idle(qtbot, window)
    assert window.session.loaded.trusted
    assert window.session.loaded.path.name == "lambda.keras"
    assert window.status.state == "Ready"


def test_non_interactive_window_refuses_risky_model(qtbot, config_dir, lambda_model):
    from app.ui.window.main_window import MainWindow

    win = MainWindow(interactive=False)
    qtbot.addWidget(win)
    win.start(str(lambda_model))
    qtbot.waitUntil(win.is_idle, timeout=60_000)
    assert win.session is None and win.trust_dialog is None
    assert "refused" in (win.model_error or "")


def test_corrupt_model_keeps_the_current_one(qtbot, window, tmp_path, model_path):
    bad = tmp_path / "broken.keras"
    bad.write_bytes(b"not a zip")
    window.open_model(str(bad))
    wait_idle(qtbot, window)
    assert window.session.loaded.path.name == model_path.name
    assert "broken.keras" in window.message_banner.label.text()
    assert window.status.state == "Ready"


def test_model_status_and_recent_models(qtbot, window, model_path):
    assert model_path.name in window.status.model_label.text()
    assert window.status.device_label.text()
    assert window.settings.recent_models[0] == str(model_path.resolve())
    assert window.settings.last_model == str(model_path.resolve())


def test_unrecorded_preprocessing_is_unmistakable(qtbot, window, tmp_path):
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    path = tmp_path / "nocard.keras"
    keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                      keras.layers.Dense(2, activation="softmax")]).save(path)
    with qtbot.waitSignal(window.state.session_changed, timeout=60_000):
        window.open_model(str(path))
    assert "NOT recorded" in window.status.prep_label.text()
    assert window.warnings_banner.isVisible()
    assert "unrecorded" in window.warnings_banner.label.text()


def test_a_tutorial_model_without_a_channel_axis_opens_and_says_so(qtbot, window, tmp_path, images):
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    path = tmp_path / "tutorial.keras"
    # The Keras quickstart's shape: Flatten(input_shape=(28, 28)) and logits, smaller.
    keras.Sequential([keras.Input((8, 8)), keras.layers.Flatten(),
                      keras.layers.Dense(3)]).save(path)
    with qtbot.waitSignal(window.state.session_changed, timeout=60_000):
        window.open_model(str(path))
    lines = window.warnings_banner.label.text().splitlines()
    assert any("no channel axis" in line for line in lines)
    assert any("<keras.applications name>" in line for line in lines)  # shown, not parsed
    assert "<br>" not in window.warnings_banner.label.text()
    window.classify_paths([str(images[0])])
    wait_idle(qtbot, window)
    assert window.session.loaded.input_shape == (8, 8, 1)
    result = window.current_result
    assert result is not None and result.ok and result.probabilities.shape == (3,)
    seen = window.result_view.seen.image()
    assert seen is not None and (seen.height(), seen.width()) == (8, 8)


def test_model_without_a_fitted_check_claims_no_pass(qtbot, window, tiny_model, images):
    window.open_model(str(tiny_model))
    wait_idle(qtbot, window)
    assert window.session.loaded.path.name == tiny_model.name and not window.session.ood.checked
    window.classify_paths([str(images[0])])
    wait_idle(qtbot, window)
    badge = window.result_view.badge.text()
    assert "No 'none of the classes' check" in badge and "✓" not in badge
    assert window.result_view.score_label.text() == ""


def test_bundled_model_shows_its_verdict(qtbot, window, images, model_path):
    if model_path.name != "digits.keras":
        pytest.skip("the bundled model is not in this checkout")
    window.classify_paths([str(images[0])])
    wait_idle(qtbot, window)
    assert window.session.ood.checked
    assert "threshold" in window.result_view.score_label.text()


def test_the_file_menu_goes_back_to_the_bundled_model(qtbot, window, tiny_model, model_path):
    if model_path.name != "digits.keras":
        pytest.skip("the bundled model is not in this checkout")
    window.open_model(str(tiny_model))
    wait_idle(qtbot, window)
    assert window.session.loaded.path.name == tiny_model.name
    file_menu = window.menuBar().actions()[0].menu()
    assert window.menu_actions.open_bundled in file_menu.actions()
    window.menu_actions.open_bundled.trigger()
    wait_idle(qtbot, window)
    assert window.session.loaded.path.resolve() == model_path.resolve()
    assert window.settings.last_model == str(model_path.resolve())


def test_a_bgr_models_picture_says_it_is_shown_as_rgb(qtbot, window, tmp_path, images):
    """The caption said "bgr" over a picture drawn in RGB (turned back for the eye)."""
    import json

    from app.core.tf_runtime import import_keras

    keras = import_keras()
    path = tmp_path / "bgr.keras"
    keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                      keras.layers.Dense(3, activation="softmax")]).save(path)
    path.with_name("bgr.keras.probscope.json").write_text(json.dumps({
        "format": "probscope.model-card", "version": 1, "classes": ["a", "b", "c"],
        "preprocessing": {"target_size": [8, 8], "color_mode": "bgr", "scale": 1 / 255,
                          "source": "test: cv2.imread"}}))
    with qtbot.waitSignal(window.state.session_changed, timeout=60_000):
        window.open_model(str(path))
    window.classify_paths([str(images[0])])
    wait_idle(qtbot, window)
    assert window.result_view.seen_caption.text() == "What the model sees (8×8, bgr, shown as rgb)"
