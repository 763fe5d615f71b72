"""DiagnosticsPanel on real (tiny) Keras models and real PNG files, offscreen."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QThreadPool

from app.core.images.files import collect_image_files
from app.ui.panels.diagnostics.activation_view import mosaic
from app.ui.panels.diagnostics.panel import NO_MODEL, DiagnosticsPanel
from tests.ui.conftest import DIGITS, INPUT_SIZE
from tests.ui.dnd import drag_and_drop, file_mime

WAIT_MS = 60_000  # the first run traces the model's functions


@pytest.fixture(scope="module")
def relu_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small CNN with two ReLU layers (one mostly dead by construction) and a leaky one.

    ``hidden`` gets a bias of -1000 on 9 of its 12 units, which can never fire on 0-1 inputs,
    and +10 on the other 3, which always do: the layer is 75 % dead; ``leaky`` is never exactly zero and must not be charted.
    """
    from app.core.cards.card_file import card_path_for, new_card, write_card
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(3)
    L = keras.layers
    model = keras.Sequential([
        keras.Input((INPUT_SIZE, INPUT_SIZE, 3)),
        L.Conv2D(8, 3, activation="relu", name="conv"),
        L.MaxPooling2D(),
        L.Flatten(),
        L.Dense(12, activation="relu", name="hidden"),
        L.Dense(8, name="pre_leaky"),
        L.LeakyReLU(name="leaky"),
        L.Dense(len(DIGITS), activation="softmax", name="predictions"),
    ])
    kernel, bias = model.get_layer("hidden").get_weights()
    bias[:3] = 10.0
    bias[3:] = -1000.0
    model.get_layer("hidden").set_weights([kernel, bias])
    path = tmp_path_factory.mktemp("relu") / "relu.keras"
    model.save(path)
    write_card(new_card(
        DIGITS,
        {"color_mode": "rgb", "target_size": [INPUT_SIZE, INPUT_SIZE], "interpolation": "area",
         "resize_backend": "opencv", "scale": 1 / 255, "offset": 0.0, "mean": None, "std": None,
         "per_image_standardization": False, "keras_applications_mode": None,
         "source": "test fixture"},
        ood={"score": "msp", "threshold": 0.0, "label": "No digit"},
    ), card_path_for(path))
    return path


@pytest.fixture(scope="module")
def session(relu_model: Path):
    from app.core import open_model

    s = open_model(relu_model)
    yield s
    s.close()


@pytest.fixture(scope="module")
def tiny_session(tiny_model: Path):
    from app.core import open_model

    s = open_model(tiny_model)
    yield s
    s.close()


@pytest.fixture
def panel(qtbot) -> DiagnosticsPanel:
    widget = DiagnosticsPanel()
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    widget.show()
    yield widget
    widget.set_session(None)  # cancel whatever still runs
    qtbot.waitUntil(lambda: QThreadPool.globalInstance().activeThreadCount() == 0, timeout=WAIT_MS)


def _ready(qtbot, panel: DiagnosticsPanel, session) -> None:
    panel.set_session(session)
    qtbot.waitUntil(lambda: panel.image.layer_box.count() > 0, timeout=WAIT_MS)


def _diagnosed(qtbot, panel: DiagnosticsPanel, data: str) -> None:
    panel.load_data(data)
    qtbot.waitUntil(lambda: panel.diagnosis is not None, timeout=WAIT_MS)


def _show(qtbot, panel: DiagnosticsPanel, result) -> None:
    panel.set_current_result(result)
    qtbot.waitUntil(lambda: panel.image.image_activation is not None and panel.image.what_if_run is not None,
                    timeout=WAIT_MS)


def test_without_a_model_the_panel_says_so(panel: DiagnosticsPanel) -> None:
    assert panel.pages.currentWidget() is panel.no_model
    assert panel.no_model.text() == NO_MODEL


def test_diagnosis_charts_each_relu_layer_with_the_core_numbers(
    qtbot, panel: DiagnosticsPanel, session, labelled_folder: Path
) -> None:
    from app.core.diagnostics.run import diagnose_model

    _ready(qtbot, panel, session)
    assert not panel.run_button.isEnabled()  # nothing chosen yet
    _diagnosed(qtbot, panel, str(labelled_folder))
    result = panel.diagnosis
    direct = diagnose_model(session, labelled_folder)  # the same data, straight from the core

    applicable = [r for r in result.layers if r["applicable"]]
    assert [r["name"] for r in applicable] == ["conv", "hidden"]
    assert "leaky" in [r["name"] for r in result.layers]  # found, but not charted
    assert panel.chart.layer_names == ["conv", "hidden"]
    np.testing.assert_allclose(panel.chart.dead_values,
                               [100 * r["dead_fraction"] for r in applicable])
    np.testing.assert_allclose(panel.chart.zero_values,
                               [100 * r["zero_fraction"] for r in applicable])
    np.testing.assert_allclose(
        panel.chart.dead_values,
        [100 * r["dead_fraction"] for r in direct.layers if r["applicable"]],
    )
    hidden = applicable[1]
    assert hidden["dead_fraction"] == pytest.approx(0.75)  # 9 of 12 units biased to death
    assert panel.chart.verdict_text(hidden) == "⚠ dead"

    assert result.n == 9 and result.labelled
    verdict = panel.verdict_label.text()
    assert verdict and str(result.n) in verdict
    assert f"{result.output_spread['mean_tv']:.2g}" in verdict
    findings = panel.findings.text()
    assert "hidden" in findings and "is dead" in findings
    assert "leaky (leaky_relu)" in findings  # said to be not measured
    assert "\n" not in panel.messages.status.text() and not panel.messages.is_error
    assert panel.run_button.isEnabled()


def test_layer_picker_shows_the_current_image_activations(
    qtbot, panel: DiagnosticsPanel, session, images: list[Path]
) -> None:
    from app.core.diagnostics.activations import activation_summary, layer_activations

    _ready(qtbot, panel, session)
    assert [panel.image.layer_box.itemData(i) for i in range(panel.image.layer_box.count())] == ["conv", "hidden"]
    # As the window keeps history rows: no model input, the panel re-prepares the file.
    result = session.classify([str(images[2])])[0]
    assert result.model_input is None
    _show(qtbot, panel, result)
    x = session.prepare([str(images[2])]).inputs[0]

    act = panel.image.image_activation
    assert act.layer == "conv"
    expected = layer_activations(session.loaded, x, "conv")
    np.testing.assert_allclose(act.activation, expected, rtol=1e-5, atol=1e-6)
    assert panel.image.activation.showing_maps
    assert panel.image.activation.maps_shown == 8
    tiles, _ = mosaic(expected)
    assert panel.image.activation.image.image.shape == tiles.shape
    summary = activation_summary(expected)
    assert f"{summary['zero_fraction']:.0%}</b> zeros" in panel.image.activation.summary.text()

    assert panel.image.select_layer("hidden")
    assert not panel.image.select_layer("leaky")  # not a ReLU layer: not offered
    qtbot.waitUntil(lambda: panel.image.image_activation.layer == "hidden", timeout=WAIT_MS)
    dense = layer_activations(session.loaded, x, "hidden")
    assert panel.image.activation.showing_bars
    np.testing.assert_allclose(np.asarray(panel.image.activation.bars.opts["height"]), dense,
                               rtol=1e-5, atol=1e-6)
    assert np.count_nonzero(dense[3:]) == 0  # the biased units are silent here too
    assert "hidden</b> (12)" in panel.image.activation.summary.text()

    # Re-rendering the same image (e.g. a new temperature) re-runs nothing.
    again = session.classify([str(images[2])])[0]
    before = panel.image.image_activation
    panel.set_current_result(again)
    assert not panel.image.activation_runner.running and panel.image.image_activation is before


def test_what_if_table_compares_the_recorded_prediction_with_the_mistakes(
    qtbot, panel: DiagnosticsPanel, tiny_session, images: list[Path]
) -> None:
    _ready(qtbot, panel, tiny_session)
    result = tiny_session.classify([str(images[0])])[0]
    _show(qtbot, panel, result)
    table = panel.image.what_if.table
    assert table.rowCount() == 3
    assert [table.item(r, 0).text() for r in range(3)] == [
        "As recorded", "No rescale (0–255)", "BGR for RGB",
    ]
    assert table.item(0, 1).text() == result.label
    assert table.item(0, 2).text() == f"{result.confidence:.1%}"
    preds = panel.image.what_if_run.predictions
    for row, p in enumerate(preds):
        assert table.item(row, 2).text() == f"{p.probability:.1%}"
    raw = preds[1].probabilities
    assert not np.allclose(raw, preds[0].probabilities)  # 0-255 input changes the answer's odds
    assert "What if" in panel.image.what_if.caption.text()


def test_a_pasted_image_without_a_file_uses_its_model_input(
    qtbot, panel: DiagnosticsPanel, tiny_session, images: list[Path], tmp_path: Path
) -> None:
    copy = tmp_path / "pasted.png"
    shutil.copy(images[1], copy)
    _ready(qtbot, panel, tiny_session)
    result = tiny_session.classify([str(copy)], keep_inputs=True)[0]
    copy.unlink()
    _show(qtbot, panel, result)
    assert panel.image.what_if_run.from_model_input
    assert panel.image.what_if.table.item(0, 1).text() == result.label
    assert "no longer available" in panel.image.what_if.caption.text()
    assert panel.image.image_activation.activation.shape[-1] == 4


def test_a_gone_file_without_model_input_is_a_one_line_error(
    qtbot, panel: DiagnosticsPanel, tiny_session, images: list[Path], tmp_path: Path
) -> None:
    copy = tmp_path / "gone.png"
    shutil.copy(images[1], copy)
    _ready(qtbot, panel, tiny_session)
    result = tiny_session.classify([str(copy)])[0]
    copy.unlink()
    panel.set_current_result(result)
    qtbot.waitUntil(lambda: panel.image.image_messages.is_error, timeout=WAIT_MS)
    text = panel.image.image_messages.status.text()
    assert "no longer available" in text and "\n" not in text and "Traceback" not in text
    assert panel.image.image_activation is None


@pytest.mark.parametrize("kind", ["missing", "empty folder", "not npz"])
def test_bad_data_is_a_one_line_error(
    qtbot, panel: DiagnosticsPanel, tiny_session, tmp_path: Path, kind: str
) -> None:
    target = {"missing": tmp_path / "nope", "empty folder": tmp_path / "empty",
              "not npz": tmp_path / "data.npz"}[kind]
    if kind == "empty folder":
        target.mkdir()
    if kind == "not npz":
        target.write_bytes(b"not a zip")
    _ready(qtbot, panel, tiny_session)
    panel.load_data(str(target))
    qtbot.waitUntil(lambda: panel.messages.is_error, timeout=WAIT_MS)
    text = panel.messages.status.text()
    assert text and "\n" not in text and "Traceback" not in text
    assert panel.diagnosis is None
    assert panel.chart.message == "No usable data"


def test_cancel_stops_the_run_and_shows_nothing(
    qtbot, panel: DiagnosticsPanel, tiny_session, big_folder: Path
) -> None:
    _ready(qtbot, panel, tiny_session)
    panel.load_data(str(big_folder))
    assert panel.progress.isVisible()
    with qtbot.waitSignal(panel.runner.cancelled, timeout=5000):
        panel.progress.cancel_button.click()
    qtbot.waitUntil(lambda: QThreadPool.globalInstance().activeThreadCount() == 0, timeout=WAIT_MS)
    qtbot.wait(100)
    assert panel.diagnosis is None
    assert panel.messages.status.text() == "Cancelled."
    assert not panel.progress.isVisible()
    assert panel.run_button.isEnabled()


def test_a_new_model_mid_run_drops_the_old_result(
    qtbot, panel: DiagnosticsPanel, session, tiny_session, big_folder: Path
) -> None:
    _ready(qtbot, panel, tiny_session)
    panel.load_data(str(big_folder))
    assert panel.runner.running
    _ready(qtbot, panel, session)  # the window loaded another model
    qtbot.waitUntil(lambda: QThreadPool.globalInstance().activeThreadCount() == 0, timeout=WAIT_MS)
    qtbot.wait(100)
    assert panel.diagnosis is None
    assert not panel.runner.running
    assert "Press Run" in panel.messages.status.text()
    assert [panel.image.layer_box.itemData(i) for i in range(panel.image.layer_box.count())] == ["conv", "hidden"]


def test_the_images_classified_so_far_can_be_diagnosed_together(
    qtbot, panel: DiagnosticsPanel, session, labelled_folder: Path
) -> None:
    files = [str(f) for f in collect_image_files([labelled_folder])]
    assert len(files) == 9
    _ready(qtbot, panel, session)
    panel.set_history_paths(files[:7])
    assert panel.history_button.isHidden()  # fewer than 8 say nothing about collapse
    panel.set_history_paths(files)
    assert not panel.history_button.isHidden()
    assert panel.history_button.text() == "Diagnose the 9 images classified so far"
    panel.history_button.click()
    qtbot.waitUntil(lambda: panel.diagnosis is not None, timeout=WAIT_MS)
    assert panel.diagnosis.n == 9 and not panel.diagnosis.labelled
    assert "9 images classified so far" in panel.messages.status.text()
    panel.load_data(str(labelled_folder))  # a chosen data set replaces the offer
    assert panel.history_button.isHidden()


def test_a_folder_dropped_on_the_panel_is_diagnosed(
    qtbot, panel: DiagnosticsPanel, tiny_session, labelled_folder: Path
) -> None:
    assert drag_and_drop(panel, file_mime([labelled_folder])) == (False, False)  # no model yet
    _ready(qtbot, panel, tiny_session)
    assert drag_and_drop(panel, file_mime([labelled_folder])) == (True, True)
    qtbot.waitUntil(lambda: panel.diagnosis is not None, timeout=WAIT_MS)
    assert panel.picker.path == str(labelled_folder)
    relu = [e.name for e in panel.image.layers if e.applicable]  # Keras numbers the names per process
    assert len(relu) == 1 and panel.chart.layer_names == relu


def test_set_session_none_resets_everything(
    qtbot, panel: DiagnosticsPanel, tiny_session, labelled_folder: Path, images: list[Path]
) -> None:
    _ready(qtbot, panel, tiny_session)
    _diagnosed(qtbot, panel, str(labelled_folder))
    _show(qtbot, panel, tiny_session.classify([str(images[0])])[0])
    panel.set_session(None)
    assert panel.pages.currentWidget() is panel.no_model
    assert panel.diagnosis is None and panel.image.image_activation is None
    assert panel.image.what_if_run is None and panel.image.what_if.table.rowCount() == 0
    assert panel.chart.rows == [] and panel.image.layer_box.count() == 0
    assert not panel.verdict_label.text()
    # The chosen data is kept: the next model can be diagnosed on it with Run.
    _ready(qtbot, panel, tiny_session)
    assert panel.picker.path == str(labelled_folder) and panel.diagnosis is None
    panel.run_button.click()
    qtbot.waitUntil(lambda: panel.diagnosis is not None, timeout=WAIT_MS)


def test_an_unclassifiable_current_image_clears_the_image_views(
    qtbot, panel: DiagnosticsPanel, tiny_session, images: list[Path]
) -> None:
    from app.core.session.results import Classification

    _ready(qtbot, panel, tiny_session)
    _show(qtbot, panel, tiny_session.classify([str(images[0])])[0])
    panel.set_current_result(Classification(path="/tmp/broken.png", error="cannot decode"))
    assert panel.image.image_activation is None and panel.image.what_if_run is None
    assert "could not be classified" in panel.image.image_label.text()
    assert panel.image.activation.message


def test_a_hidden_panel_follows_the_current_image_once_shown(
    qtbot, panel: DiagnosticsPanel, tiny_session, images: list[Path]
) -> None:
    panel.hide()  # e.g. another tab is open: no model work for every image shown
    _ready(qtbot, panel, tiny_session)
    panel.set_current_result(tiny_session.classify([str(images[0])])[0])
    panel.set_current_result(tiny_session.classify([str(images[3])])[0])
    qtbot.wait(50)
    assert not panel.image.what_if_runner.running and not panel.image.activation_runner.running
    assert panel.image.what_if_run is None
    panel.show()
    qtbot.waitUntil(lambda: panel.image.what_if_run is not None and panel.image.image_activation is not None,
                    timeout=WAIT_MS)
    assert panel.image.what_if_run.image == str(images[3])
