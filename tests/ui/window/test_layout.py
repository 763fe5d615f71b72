"""At the default 1200x780 every tab reads without scrolling, in each state a user meets.

The real window on the bundled digit model and a slice of its held-out data: each analysis
tab empty, with images classified, after a diagnosis and after the "none of the classes" fit;
the Calibration tab on its own after Fit and Save. A
tab whose content outgrows its pane shows a vertical scroll bar (its maximum above 0); the
pictures above the tabs must keep a usable size meanwhile.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QByteArray, Qt
from PySide6.QtWidgets import QScrollArea, QSplitter, QWidget

from app.core.resources import bundled_model_path
from app.ui.window.settings import SPLITTER_MINIMUMS, restore_splitter
from tests.ui.conftest import copy_model, wait_idle

WAIT_MS = 120_000
# The pictures above the tabs: smaller than this and a digit is a smudge.
MIN_PICTURE = 100


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROBSCOPE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def digits_window(qtbot, config_dir: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The window at its default size on a private copy of the bundled model (Save writes)."""
    from app.ui.window.main_window import MainWindow

    bundled = bundled_model_path()
    if not bundled.exists():
        pytest.skip("the bundled digit model is not built")
    copy = copy_model(bundled, tmp_path / "model")
    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(1200, 780)
    win.show()
    win.start(str(copy))
    qtbot.waitUntil(lambda: win.session is not None and win.is_idle() and bool(win.panels),
                    timeout=WAIT_MS)
    yield win
    win.cancel_run()
    qtbot.waitUntil(win.is_idle, timeout=30_000)


@pytest.fixture(scope="module")
def held_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A slice of the bundled held-out digits: the same layouts, a quicker fit."""
    data = np.load(bundled_model_path().parent / "calibration.npz")
    path = tmp_path_factory.mktemp("held_out") / "held_out.npz"
    np.savez(path, images=data["images"][:600], labels=data["labels"][:600])
    return path


def open_tab(qtbot, win, key: str) -> QScrollArea:  # type: ignore[no-untyped-def]
    page = win.panels[key].parentWidget().parentWidget()
    assert isinstance(page, QScrollArea)
    win.tabs.setCurrentWidget(page)
    settle(qtbot)
    return page


def settle(qtbot) -> None:  # type: ignore[no-untyped-def]
    qtbot.wait(120)  # the deferred re-fit and the layout passes after it


def assert_reads_unscrolled(qtbot, win, key: str, when: str) -> None:  # type: ignore[no-untyped-def]
    settle(qtbot)
    page = win.tabs.currentWidget()
    assert page is win.panels[key].parentWidget().parentWidget()
    # The re-fit is deferred to the event loop: on a loaded machine its layout passes may take
    # longer than settle's pause, so wait for them (a real overflow never clears).
    with contextlib.suppress(TimeoutError, qtbot.TimeoutError):
        qtbot.waitUntil(lambda: page.verticalScrollBar().maximum() == 0, timeout=2000)
    hidden = page.verticalScrollBar().maximum()
    assert hidden == 0, f"{key} {when}: {hidden} px need scrolling (pane {win.splitter.sizes()})"
    picture = win.result_view.original
    if not win.result_view.showing_empty_state:
        assert picture.height() >= MIN_PICTURE, f"{key} {when}: pictures {picture.height()} px high"


def test_every_tab_reads_unscrolled_at_the_default_size(qtbot, digits_window, held_out: Path) -> None:
    win = digits_window
    for key in ("calibration", "ood", "diagnostics"):
        open_tab(qtbot, win, key)
        assert_reads_unscrolled(qtbot, win, key, "without data or images")

    samples = sorted(str(p) for p in (bundled_model_path().parent / "samples").glob("*.png"))
    win.classify_paths(samples)
    wait_idle(qtbot, win)
    for key in ("calibration", "ood", "diagnostics"):
        open_tab(qtbot, win, key)
        assert_reads_unscrolled(qtbot, win, key, "with images classified")

    diagnostics = win.panels["diagnostics"]
    open_tab(qtbot, win, "diagnostics")
    diagnostics.load_data(str(held_out))
    qtbot.waitUntil(lambda: diagnostics.diagnosis is not None and not diagnostics.is_busy(),
                    timeout=WAIT_MS)
    assert_reads_unscrolled(qtbot, win, "diagnostics", "after a diagnosis")

    ood = win.panels["ood"]
    open_tab(qtbot, win, "ood")
    ood.load_data(str(held_out))  # against the built-in no-class reference
    qtbot.waitUntil(lambda: ood.detector is not None and win.is_idle(), timeout=WAIT_MS * 3)
    assert_reads_unscrolled(qtbot, win, "ood", "after the fit")
    assert ood.kinds.rowCount() > 4 and ood.kinds.viewport().height() >= 4 * ood.kinds.rowHeight(0)

    # Back on the History, the pane the analysis tabs grew still shows several rows.
    win.tabs.setCurrentWidget(win.history)
    settle(qtbot)
    view = win.history.view
    assert view.viewport().height() >= 5 * view.rowHeight(0)


def _window_splitter() -> QSplitter:
    splitter = QSplitter(Qt.Orientation.Vertical)  # pictures above, tabs below, as in the window
    splitter.addWidget(QWidget())
    splitter.addWidget(QWidget())
    splitter.resize(1200, 700)
    return splitter


def test_calibration_grows_to_fit_after_fit_and_save(qtbot, digits_window, held_out: Path) -> None:
    """Fit and Save add lines without a job running: the tab must still grow to fit them."""
    win = digits_window
    calibration = win.panels["calibration"]
    open_tab(qtbot, win, "calibration")  # the first tab opened: the pane is only as tall as it
    calibration.load_data(str(held_out))
    qtbot.waitUntil(lambda: calibration.has_data and win.is_idle(), timeout=WAIT_MS)
    assert_reads_unscrolled(qtbot, win, "calibration", "with data")
    calibration.fit()
    assert_reads_unscrolled(qtbot, win, "calibration", "after Fit")
    calibration.save(force=True)
    wait_idle(qtbot, win)
    assert_reads_unscrolled(qtbot, win, "calibration", "after Save")
    # Whatever else a fit may say (its data notes), said on the GUI thread, the tab follows.
    calibration.messages.set_warnings(["a note on the held-out data, two lines long in this column",
                                       "and another such note on the held-out data"])
    assert_reads_unscrolled(qtbot, win, "calibration", "with two more notes")


def test_a_dragged_tiny_pane_comes_back_at_its_minimum(qapp) -> None:  # type: ignore[no-untyped-def]
    for sizes in ([690, 10], [10, 690]):  # one careless drag: no history rows, or no pictures
        splitter = _window_splitter()
        splitter.setSizes(sizes)
        total = sum(splitter.sizes())
        again = _window_splitter()
        restore_splitter(again, QByteArray(splitter.saveState()), SPLITTER_MINIMUMS)
        top, bottom = again.sizes()
        assert top >= SPLITTER_MINIMUMS[0] and bottom >= SPLITTER_MINIMUMS[1], sizes
        assert top + bottom == total


def test_a_26_class_model_leaves_the_heat_map_row_readable(qtbot, config_dir: Path,
                                                           tmp_path: Path) -> None:
    """Many classes make the plot's legend long ("16 more classes not shown"): it wraps, the
    pictures keep their share, and no heat-map button is squeezed to a few letters."""
    import string

    from app.core.cards.card_file import card_path_for, new_card, write_card
    from app.core.tf_runtime import import_keras
    from app.ui.window.main_window import MainWindow

    keras = import_keras()
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3),
                              keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(26, activation="softmax")])
    path = tmp_path / "letters.keras"
    model.save(path)
    write_card(new_card(list(string.ascii_uppercase), {
        "color_mode": "grayscale", "target_size": [28, 28], "scale": 1 / 255, "source": "test"}),
        card_path_for(path))
    image = tmp_path / "a.png"
    from PIL import Image

    Image.fromarray(np.full((28, 28), 90, np.uint8)).save(image)
    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(1200, 780)
    win.show()
    win.start(str(path))
    qtbot.waitUntil(lambda: win.session is not None and win.is_idle(), timeout=WAIT_MS)
    win.classify_paths([str(image)])
    wait_idle(qtbot, win)
    controls = win.result_view.heatmap
    controls.set_method("gradcam")
    qtbot.wait(50)
    assert "16 more classes not shown" in win.plot.legend.text()
    for button in controls.buttons.values():
        assert button.width() >= button.sizeHint().width(), button.text()
    assert controls.opacity.isVisible() and controls.opacity.width() > 0
    # The left side keeps at least the half of the window it gets with ten classes.
    assert win.result_view.width() >= 0.55 * win.width()
    controls.set_method(None)
