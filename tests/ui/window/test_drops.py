"""Drops, pastes and bad input: everything ends up in the history, nothing crashes."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, Qt, QUrl
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication

from tests.ui.conftest import wait_idle
from tests.ui.dnd import drag_and_drop, file_mime


def test_drop_one_file_shows_result_and_what_the_model_sees(qtbot, window, images):
    assert window.result_view.showing_empty_state
    entered, dropped = drag_and_drop(window.drop_area, file_mime([images[0]]))
    assert entered and dropped
    qtbot.waitUntil(lambda: len(window.history_results()) == 1, timeout=20_000)
    wait_idle(qtbot, window)
    result = window.current_result
    assert result is not None and result.ok and result.path == str(images[0])
    # The headline is the label, or the card's "none of the classes" name when the check fails.
    expected = result.label if result.ood.in_distribution else window.session.ood.label
    assert window.result_view.top_label.text() == expected
    assert window.result_view.original.image() is not None
    seen = window.result_view.seen.image()
    h, w = window.session.spec.target_size
    assert seen is not None and (seen.height(), seen.width()) == (h, w)  # model resolution
    # The plot shows one bar per class (10 classes, top-10).
    assert len(window.plot.order) == len(window.session.classes)
    entry = window.history.model.entries[0]
    assert entry.thumb is not None and max(entry.thumb.width(), entry.thumb.height()) <= 48
    assert entry.result.model_input is None  # file-backed rows keep no pixels


def test_drop_image_data(qtbot, window):
    image = QImage(30, 30, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    mime = QMimeData()
    mime.setImageData(image)
    entered, dropped = drag_and_drop(window.drop_area, mime)
    assert entered and dropped
    qtbot.waitUntil(lambda: len(window.history_results()) == 1, timeout=20_000)
    wait_idle(qtbot, window)
    assert window.current_result.ok
    assert window.current_result.path.startswith("dropped image")
    assert window.result_view.seen.image() is not None


def test_paste_file_from_clipboard(qtbot, window, images):
    QApplication.clipboard().setMimeData(file_mime([images[1]]))
    window.paste_action.trigger()
    qtbot.waitUntil(lambda: len(window.history_results()) == 1, timeout=20_000)
    assert window.history_results()[0].path == str(images[1])


def test_paste_encoded_png_bytes(qtbot, window, images):
    mime = QMimeData()
    mime.setData("image/png", Path(images[2]).read_bytes())
    QApplication.clipboard().setMimeData(mime)
    window.paste()
    qtbot.waitUntil(lambda: len(window.history_results()) == 1, timeout=20_000)
    assert window.history_results()[0].ok


def test_many_files_stream_into_history_with_a_corrupt_one(qtbot, window, images, tmp_path):
    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    paths = [images[0], corrupt, images[1], empty, tmp_path / "missing.png"]
    drag_and_drop(window.drop_area, file_mime(paths))
    qtbot.waitUntil(lambda: len(window.history_results()) == 5, timeout=30_000)
    wait_idle(qtbot, window)
    by_name = {Path(r.path).name: r for r in window.history_results()}
    assert by_name["digit0.png"].ok and by_name["digit1.png"].ok
    for bad in ("broken.png", "empty.jpg", "missing.png"):
        assert not by_name[bad].ok and by_name[bad].error
    model = window.history.model
    row = next(i for i, e in enumerate(model.entries) if e.result.path.endswith("broken.png"))
    flags = next(c for c in range(model.columnCount())
                 if model.headerData(c, Qt.Orientation.Horizontal) == "Flags")
    assert model.data(model.index(row, flags)).startswith("error:")
    assert window.message_banner.isVisible()
    assert window.status.state == "Ready"


def test_remote_url_is_refused_inline(qtbot, window):
    mime = QMimeData()
    mime.setUrls([QUrl("https://example.com/cat.png")])
    drag_and_drop(window.drop_area, mime)
    assert window.message_banner.isVisible() and "local files" in window.message_banner.label.text()
    assert window.history_results() == []


def test_selecting_a_history_row_shows_it_again(qtbot, window, images):
    window.classify_paths([str(images[0])])
    qtbot.waitUntil(lambda: len(window.history_results()) == 1, timeout=20_000)
    window.classify_paths([str(images[1])])
    qtbot.waitUntil(lambda: len(window.history_results()) == 2, timeout=20_000)
    wait_idle(qtbot, window)
    assert window.current_result.path == str(images[1])
    window.history.view.selectRow(0)
    wait_idle(qtbot, window)
    assert window.current_result.path == str(images[0])
    assert window.result_view.seen.image() is not None  # re-derived from the file


def test_newest_single_request_wins_the_display(qtbot, window, images):
    for p in images:
        window.classify_paths([str(p)])
    qtbot.waitUntil(lambda: len(window.history_results()) == len(images), timeout=30_000)
    wait_idle(qtbot, window)
    assert window.current_result.path == str(images[-1])
