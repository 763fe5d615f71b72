"""Folder runs: batched, streamed into the history, cancellable, with accuracy when labelled."""

from __future__ import annotations

import numpy as np

from tests.ui.conftest import wait_idle
from tests.ui.dnd import drag_and_drop, file_mime


def test_labelled_folder_gives_accuracy_and_confusion_matrix(qtbot, window, labelled_folder):
    drag_and_drop(window.drop_area, file_mime([labelled_folder]))
    qtbot.waitUntil(lambda: len(window.history_results()) == 9, timeout=30_000)
    wait_idle(qtbot, window)
    report = window.folder_report
    assert report.matrix is not None and int(report.matrix.sum()) == 9
    # Rows are the true classes 1, 2, 3: three images each.
    assert [int(report.matrix[d].sum()) for d in (1, 2, 3)] == [3, 3, 3]
    expected = np.trace(report.matrix) / 9
    assert report.accuracy == expected
    assert "accuracy" in report.summary.text()
    assert window.tabs.currentWidget() is report
    assert report.table.isVisibleTo(window) and report.table.rowCount() >= 3
    # The last image is shown with what the model saw.
    assert window.current_result is not None and window.current_result.ok
    assert window.result_view.seen.image() is not None
    assert window.status.state == "Ready" and not window.status.progress_box.isVisible()


def test_folder_run_can_be_cancelled(qtbot, window, big_folder):
    progress = []
    window.state.results_added.connect(lambda rs: progress.append(len(rs)))
    window.classify_paths([str(big_folder)])
    qtbot.waitUntil(lambda: len(window.history_results()) >= 64, timeout=30_000)
    assert window.run_in_progress and window.status.progress_box.isVisible()
    assert "/ 600" in window.status.progress_label.text()
    window.cancel_run()
    wait_idle(qtbot, window)
    n = len(window.history_results())
    assert 64 <= n < 600
    assert "Cancelled" in window.message_banner.label.text()
    assert not window.status.progress_box.isVisible()


def test_dropping_a_model_cancels_the_run(qtbot, window, big_folder, tiny_model):
    window.classify_paths([str(big_folder)])
    qtbot.waitUntil(lambda: len(window.history_results()) >= 64, timeout=30_000)
    with qtbot.waitSignal(window.state.session_changed, timeout=60_000):
        drag_and_drop(window.drop_area, file_mime([tiny_model]))
    wait_idle(qtbot, window)
    assert len(window.history_results()) < 600
    assert not window.run_in_progress
    # The new model classifies the next drop.
    window.classify_paths([str(next(big_folder.iterdir()))])
    wait_idle(qtbot, window)
    assert window.current_result.ok


def test_a_folder_of_unreadable_files_says_none_could_be_read(qtbot, window, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "text.png").write_bytes(b"not a picture")
    (bad / "empty.png").write_bytes(b"")
    window.classify_paths([str(bad)])
    qtbot.waitUntil(lambda: len(window.history_results()) == 2, timeout=30_000)
    wait_idle(qtbot, window)
    banner = window.message_banner.label.text()
    assert banner.startswith("None of the 2 images could be read") and "/s" not in banner
    assert window.result_view.top_label.text() == "Not classified"
    assert "Could not classify" in window.result_view.error_label.text()


def test_a_folder_whose_sub_folders_are_not_the_classes_says_why_it_has_no_accuracy(
        qtbot, window, labelled_folder, tmp_path):
    import shutil

    mixed = tmp_path / "mixed"
    shutil.copytree(labelled_folder, mixed)
    (mixed / "3").rename(mixed / "three")  # one sub-folder named unlike any class
    window.classify_paths([str(mixed)])
    qtbot.waitUntil(lambda: len(window.history_results()) == 9, timeout=30_000)
    wait_idle(qtbot, window)
    report = window.folder_report
    assert report.matrix is None and not report.table.isVisibleTo(window)
    text = report.summary.text()
    assert text.startswith("No accuracy for this run") and "sub-folder(s) three" in text
    assert "are not classes of this model" in text
