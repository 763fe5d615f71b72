"""Settings live in an ini file under PROBSCOPE_CONFIG_DIR and survive a restart."""

from __future__ import annotations

import pytest

from app.ui.window.settings import AppSettings


def test_settings_round_trip(qapp, config_dir, tmp_path):
    s = AppSettings()
    assert s.path.parent == config_dir
    model = tmp_path / "m.keras"
    model.write_bytes(b"x")
    s.add_recent_model(model)
    s.add_recent_model(tmp_path / "other.keras")
    s.add_recent_model(model)  # moves to the front, no duplicate
    s.top_k = 25
    s.sort_by_probability = False
    s.sync()

    again = AppSettings()
    assert again.recent_models == [str(model.resolve()), str((tmp_path / "other.keras").resolve())]
    assert again.last_model == str(model.resolve())
    assert again.top_k == 25
    assert again.sort_by_probability is False


def test_window_remembers_geometry_and_plot_options(qtbot, config_dir, model_path):
    from app.ui.window.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(800, 555)  # the offscreen screen is 800x600-ish; stay near it
    win.plot.k_box.setValue(7)
    win.plot.sort_box.setChecked(False)
    win.close()

    win2 = MainWindow()
    qtbot.addWidget(win2)
    assert win.settings.window_state()[0] is not None
    assert (win2.width(), win2.height()) == (800, 555)
    assert win2.plot.k_box.value() == 7
    assert not win2.plot.sort_box.isChecked()
    assert not win2.sort_action.isChecked()


def test_last_model_is_reopened(qtbot, config_dir, model_path):
    from app.ui.window.main_window import MainWindow

    AppSettings().add_recent_model(model_path)
    win = MainWindow()
    qtbot.addWidget(win)
    win.start()  # no model given: the last one used
    qtbot.waitUntil(lambda: win.session is not None, timeout=60_000)
    assert win.session.loaded.path.resolve() == model_path.resolve()


def test_a_last_model_that_is_gone_is_named_not_silently_replaced(qtbot, config_dir, tmp_path):
    import shutil

    from app.core.resources import bundled_model_path
    from app.ui.window.main_window import MainWindow
    from tests.ui.conftest import wait_idle

    if not bundled_model_path().exists():
        pytest.skip("the bundled digit model is not built")
    gone = tmp_path / "mine.keras"
    shutil.copy(bundled_model_path(), gone)
    AppSettings().add_recent_model(gone)
    gone.unlink()
    win = MainWindow()
    qtbot.addWidget(win)
    win.start()
    qtbot.waitUntil(lambda: win.session is not None, timeout=60_000)
    wait_idle(qtbot, win)
    assert win.session.loaded.path.resolve() == bundled_model_path().resolve()
    assert f"The last model, {gone.resolve()}, is gone" in win.message_banner.label.text()


def test_no_test_reaches_the_users_own_settings(qtbot):
    """A window made without the ``config_dir`` fixture writes to the suite's folder, not to the
    user's: one did, and the next ``make run`` opened a throwaway test model."""
    from pathlib import Path

    from platformdirs import user_config_dir

    from app.ui.window.main_window import MainWindow

    own = Path(user_config_dir("probscope", appauthor=False)) / "probscope.ini"
    before = own.read_bytes() if own.exists() else None
    win = MainWindow()
    qtbot.addWidget(win)
    win.close()
    assert win.settings.path.parent != own.parent
    assert (own.read_bytes() if own.exists() else None) == before
