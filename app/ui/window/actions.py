"""The window's menus and shortcuts, and the file dialogs they open.

:func:`build_menus` only needs what :class:`MenuHost` lists, so this module does not import
the window (which imports it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMenu, QWidget

from app.ui.window.settings import AppSettings


class MenuHost(Protocol):
    """What the menus call: the main window provides these."""

    settings: AppSettings

    def classify_paths(self, paths: list[str]) -> None: ...
    def paste(self) -> None: ...
    def open_model(self, path: str, trust: bool = False) -> None: ...
    def export_history(self, kind: str) -> None: ...
    def clear_history(self) -> None: ...
    def cancel_run(self) -> None: ...
    def record_preprocessing(self) -> None: ...


@dataclass
class WindowActions:
    """The actions tests and the window reach for by name."""

    open_images: QAction
    paste: QAction
    sort: QAction
    cancel: QAction
    recent_menu: QMenu
    open_bundled: QAction


def _action(window: QMainWindow, text: str, slot: Callable[..., Any],
            shortcut: QKeySequence | QKeySequence.StandardKey | str | Qt.Key | None = None,
            tip: str = "") -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setStatusTip(tip)
        action.setToolTip(tip)
    action.triggered.connect(slot)
    window.addAction(action)
    return action


def build_menus(window: QMainWindow, host: MenuHost) -> WindowActions:
    """File, View, Run and Help menus on ``window``'s menu bar, calling into ``host``."""
    def open_images() -> None:
        if paths := choose_images(window):
            host.classify_paths(paths)

    def open_folder() -> None:
        if path := choose_image_folder(window):
            host.classify_paths([path])

    def open_model() -> None:
        if path := choose_model_file(window):
            host.open_model(path)

    def open_savedmodel() -> None:
        if path := choose_savedmodel(window):
            host.open_model(path)

    def open_bundled() -> None:
        from app.core import bundled_model_path

        host.open_model(str(bundled_model_path()))

    def about() -> None:
        from app.ui.window.about import show_about

        show_about(window)

    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    open_images_action = _action(window, "Open &images…", open_images,
                                 QKeySequence.StandardKey.Open, "Classify image files")
    file_menu.addAction(open_images_action)
    file_menu.addAction(_action(window, "Open image &folder…", open_folder,
                                "Ctrl+Shift+F", "Classify every image in a folder, recursively"))
    paste = _action(window, "&Paste image", host.paste, QKeySequence.StandardKey.Paste,
                    "Classify the image or files on the clipboard")
    file_menu.addAction(paste)
    file_menu.addSeparator()
    file_menu.addAction(_action(window, "Open &model…", open_model, "Ctrl+Shift+O",
                                "Load a .keras, .h5 or .tflite model"))
    file_menu.addAction(_action(window, "Open &SavedModel folder…", open_savedmodel))
    # The last model is reopened on start: this is the way back to the digits without a dialog.
    open_bundled_action = _action(window, "Open the bundled &digit model", open_bundled, None,
                                  "Switch back to the digit model probscope ships with")
    file_menu.addAction(open_bundled_action)
    file_menu.addAction(_action(window, "&Record preprocessing…", host.record_preprocessing, None,
                                "Write the model card: how the model's images were fed in training"))
    recent_menu = file_menu.addMenu("&Recent models")
    recent_menu.aboutToShow.connect(lambda: _fill_recent_menu(recent_menu, host))
    file_menu.addSeparator()
    file_menu.addAction(_action(window, "Export history as &CSV…", lambda: host.export_history("csv")))
    file_menu.addAction(_action(window, "Export history as &JSON…", lambda: host.export_history("json")))
    file_menu.addSeparator()
    file_menu.addAction(_action(window, "&Quit", window.close, QKeySequence.StandardKey.Quit))

    view_menu = bar.addMenu("&View")
    sort = QAction("&Sort bars by probability", window, checkable=True)
    view_menu.addAction(sort)
    view_menu.addAction(_action(window, "Clear &history", host.clear_history))

    run_menu = bar.addMenu("&Run")
    cancel = _action(window, "&Cancel folder run", host.cancel_run, Qt.Key.Key_Escape)
    run_menu.addAction(cancel)

    help_menu = bar.addMenu("&Help")
    help_menu.addAction(_action(window, "&About probscope", about))
    return WindowActions(open_images_action, paste, sort, cancel, recent_menu,
                         open_bundled_action)


def _fill_recent_menu(menu: QMenu, host: MenuHost) -> None:
    menu.clear()
    recent = host.settings.recent_models
    if not recent:
        action = menu.addAction("(none yet)")
        action.setEnabled(False)
        return
    for path in recent:
        action = menu.addAction(path)
        action.triggered.connect(lambda _=False, p=path: host.open_model(p))
    menu.addSeparator()
    menu.addAction("Clear list").triggered.connect(host.settings.clear_recent_models)


# -- dialogs ------------------------------------------------------------------------------------
def choose_images(parent: QWidget) -> list[str]:
    from app.core.images import IMAGE_EXTENSIONS

    pattern = " ".join(f"*{e}" for e in sorted(IMAGE_EXTENSIONS))
    paths, _ = QFileDialog.getOpenFileNames(parent, "Open images", "",
                                            f"Images ({pattern});;All files (*)")
    return list(paths)


def choose_image_folder(parent: QWidget) -> str:
    return QFileDialog.getExistingDirectory(parent, "Classify every image in a folder")


def choose_model_file(parent: QWidget) -> str:
    path, _ = QFileDialog.getOpenFileName(parent, "Open model", "",
                                          "Models (*.keras *.h5 *.hdf5 *.tflite);;All files (*)")
    return path


def choose_savedmodel(parent: QWidget) -> str:
    return QFileDialog.getExistingDirectory(parent, "Open a TensorFlow SavedModel folder")
