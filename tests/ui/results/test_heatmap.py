"""Heat maps over the current image in the real window: toggle, opacity, class by bar click."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from app.ui.widgets.qt_images import qimage_to_rgb
from tests.ui.conftest import DIGITS, INPUT_SIZE, wait_idle, write_digit_card

WAIT_MS = 90_000
PHOTO = Path(__file__).resolve().parents[3] / "resources" / "digits" / "samples" / "nodigit_photo.png"


@pytest.fixture(scope="session")
def dense_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A digit model without any convolution: Grad-CAM has nothing to look at."""
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(1)
    path = tmp_path_factory.mktemp("dense") / "dense.keras"
    model = keras.Sequential([
        keras.Input((INPUT_SIZE, INPUT_SIZE, 3)),
        keras.layers.Flatten(),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(len(DIGITS), activation="softmax"),
    ])
    model.save(path)
    write_digit_card(path)
    return path


def _show(qtbot, win, path: Path) -> None:  # type: ignore[no-untyped-def]
    win.classify_paths([str(path)])
    wait_idle(qtbot, win)
    qtbot.waitUntil(lambda: win.result_view.original.image() is not None, timeout=WAIT_MS)


def _heat(qtbot, win, method: str, class_index: int | None = None):  # type: ignore[no-untyped-def]
    """Wait until the map for ``method`` (and ``class_index``, if given) is on show."""
    def ready() -> bool:
        heat = win.explain.heat
        return (heat is not None and heat.request.method == method
                and (class_index is None or heat.class_index == class_index))

    qtbot.waitUntil(ready, timeout=WAIT_MS)
    wait_idle(qtbot, win)
    return win.explain.heat


def _differs(overlay, plain) -> float:  # type: ignore[no-untyped-def]
    a, b = qimage_to_rgb(overlay).astype(int), qimage_to_rgb(plain).astype(int)
    assert a.shape == b.shape
    return float(np.abs(a - b).mean())


def test_the_toggle_paints_both_pictures_and_off_restores_them(qtbot, window) -> None:
    win, view = window, window.result_view
    _show(qtbot, win, PHOTO)
    controls = view.heatmap
    assert view.original.overlay() is None and view.seen.overlay() is None
    assert not controls.legend_bar.isVisible()  # no legend while off

    controls.buttons["gradcam"].click()
    assert win.state.explain_method == "gradcam"
    heat = _heat(qtbot, win, "gradcam")
    predicted = win.state.current.index
    assert heat.class_index == predicted
    # Both panes draw the picture with the map over it, not the plain picture.
    for pane in (view.original, view.seen):
        assert pane.overlay() is not None
        assert pane.shown_image() is pane.overlay()
        assert _differs(pane.overlay(), pane.image()) > 3.0
    assert controls.legend_bar.isVisible() and controls.opacity.isVisible()
    label = win.session.classes[predicted]
    assert f"Grad-CAM for ‘{label}’ (predicted)" in controls.caption.text()
    # The caption says so exactly when no pixel is evidence (a photo may hold none for any
    # digit; the map is then 0 everywhere and no cross marks a peak).
    flat = not (heat.input_map > 0).any()
    assert ("nothing in the image speaks for" in controls.caption.text()) == flat
    assert (heat.peak is None) == flat
    assert "more evidence" in controls.legend_high.text() and controls.legend_low.text() == "none"

    controls.buttons["occlusion"].click()
    heat = _heat(qtbot, win, "occlusion")
    assert _differs(view.seen.overlay(), view.seen.image()) > 3.0
    assert "Occlusion for" in controls.caption.text()

    controls.buttons[None].click()
    assert win.state.explain_method is None
    assert view.original.overlay() is None and view.seen.overlay() is None
    assert view.original.shown_image() is view.original.image()


def test_opacity_reblends_without_a_new_request(qtbot, window) -> None:
    win, view = window, window.result_view
    _show(qtbot, win, PHOTO)
    view.heatmap.buttons["gradcam"].click()
    heat = _heat(qtbot, win, "gradcam")
    before = qimage_to_rgb(view.original.overlay())
    started = []
    win.explain.runner.running_changed.connect(lambda on: on and started.append(on))
    view.heatmap.opacity.setValue(90)
    assert win.state.explain_opacity == pytest.approx(0.9)
    assert win.explain.heat is heat and not started  # re-blended, not recomputed
    after = qimage_to_rgb(view.original.overlay())
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 1.0
    view.heatmap.opacity.setValue(0)
    # At opacity 0 the overlay is the picture itself ("as given" keeps the peak's cross).
    assert _differs(view.seen.overlay(), view.seen.image()) == 0.0


def _click_bar(qtbot, plot, class_index: int) -> None:  # type: ignore[no-untyped-def]
    """A real left click on the bar of ``class_index`` in the probability plot."""
    row = int(np.flatnonzero(plot.order == class_index)[0])
    scene = plot.plot.vb.mapViewToScene(QPointF(0.5, float(row)))
    pos = plot.widget.mapFromScene(scene)
    qtbot.mouseClick(plot.widget.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(pos.x(), pos.y()))


def test_clicking_a_bar_explains_that_class_newest_request_wins(qtbot, window) -> None:
    win = window
    # A digit the model hesitates over: it has distinct evidence for several classes, where a
    # no-digit image may have next to none for any (two classes' maps could then coincide).
    _show(qtbot, win, PHOTO.with_name("digit_4_scan_hard.png"))
    win.result_view.heatmap.buttons["gradcam"].click()
    first = _heat(qtbot, win, "gradcam")
    predicted = first.class_index
    others = [int(i) for i in win.plot.order if int(i) != predicted]
    a, b = others[0], others[1]

    shown = []
    win.explain.runner.finished.connect(lambda h: shown.append(h.request.class_index))
    _click_bar(qtbot, win.plot, a)
    assert win.state.explain_class == a
    _click_bar(qtbot, win.plot, b)  # at once: the request for ``a`` is stale now
    assert win.state.explain_class == b
    heat = _heat(qtbot, win, "gradcam", b)
    assert shown == [b]  # ``a``'s map, if it was computed at all, was dropped
    assert heat.request.class_index == b and heat is not first
    assert not np.allclose(heat.input_map, first.input_map)  # another class, another map
    caption = win.result_view.heatmap.caption.text()
    assert f"Grad-CAM for ‘{win.session.classes[b]}’ (chosen)" in caption
    # The plot frames the explained class's row.
    assert win.plot.explained_bar.isVisible()
    row = int(np.flatnonzero(win.plot.order == b)[0])
    assert win.plot.explained_bar.opts["y"][0] == pytest.approx(row)

    # Another image: back to its predicted class.
    _show(qtbot, win, PHOTO.with_name("digit_7_handwritten.png"))
    heat = _heat(qtbot, win, "gradcam", win.state.current.index)
    assert win.state.explain_class is None and heat.predicted


def test_a_model_without_convolutions_offers_occlusion(qtbot, config_dir, dense_model) -> None:
    from app.ui.window.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    win.start(str(dense_model))
    qtbot.waitUntil(lambda: win.session is not None and win.is_idle(), timeout=WAIT_MS)
    _show(qtbot, win, PHOTO)
    controls = win.result_view.heatmap
    # Known from the model's config: off before anyone tries, the reason in its tooltip, and
    # no error under every image.
    button = controls.buttons["gradcam"]
    assert not button.isEnabled()
    assert button.toolTip() == "Grad-CAM is not available: the model has no convolutional layer to read"
    assert controls.caption.text() == ""
    button.click()
    wait_idle(qtbot, win)
    assert win.state.explain_method is None and controls.buttons[None].isChecked()
    assert win.result_view.seen.overlay() is None

    controls.buttons["occlusion"].click()
    heat = _heat(qtbot, win, "occlusion")
    assert heat.unavailable is None
    assert _differs(win.result_view.seen.overlay(), win.result_view.seen.image()) > 1.0
    assert not controls.buttons["gradcam"].isEnabled()  # still off for this model
    win.close()
