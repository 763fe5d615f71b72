"""A small "which data?" control: a folder or ``.npz`` chosen by button or dropped onto it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDropEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

_FRAME_STYLE = (
    "#dataPicker { border: 1px dashed palette(mid); border-radius: 4px; }"
    '#dataPicker[dragging="true"] { border: 2px solid palette(highlight); }'
)


def usable_path(path: str, allow_npz: bool) -> bool:
    """A folder, or an ``.npz`` file when those are allowed."""
    p = Path(path)
    return p.is_dir() or (allow_npz and p.is_file() and p.suffix.lower() == ".npz")


def dropped_data_path(mime: QMimeData | None, allow_npz: bool = True) -> str | None:
    """The one local folder (or ``.npz``) a drag carries, else None."""
    if mime is None or not mime.hasUrls():
        return None
    paths = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]
    if len(paths) != 1 or not usable_path(paths[0], allow_npz):
        return None
    return paths[0]


def accept_data_drag(event: QDropEvent, enabled: bool) -> str | None:
    """Accept a drag or drop that carries one data path while ``enabled``; return that path."""
    path = dropped_data_path(event.mimeData()) if enabled else None
    if path is None:
        event.ignore()
    else:
        event.acceptProposedAction()
    return path


class DataPicker(QFrame):
    """Title, chosen path, "Folder…" / ".npz…" buttons; a folder or ``.npz`` can be dropped on it.

    Drops are handled here (not by the window's drop area) so that a folder dropped onto a
    panel means "use this as data", never "classify everything in it".

    Parameters
    ----------
    title : str
        What the data is for, e.g. "Labelled held-out data".
    hint : str
        Shown while nothing is chosen, e.g. which folder layout is expected.
    allow_npz : bool
        Offer and accept ``.npz`` files as well as folders.
    optional : bool
        Show a clear button, for data the user may leave out.
    one_line : bool
        The path (or hint) beside the title rather than under it, where the panel is wide
        and its height is short.
    """

    path_chosen = Signal(str)
    cleared = Signal()

    def __init__(
        self,
        title: str,
        hint: str,
        allow_npz: bool = True,
        optional: bool = False,
        parent: QWidget | None = None,
        one_line: bool = False,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("dataPicker")
        self.setAcceptDrops(True)
        self.setProperty("dragging", False)
        self.setStyleSheet(_FRAME_STYLE)
        self._allow_npz = allow_npz
        self._hint = hint
        self._path: str | None = None

        self.title_label = QLabel(f"<b>{title}</b>", self)
        self.path_label = QLabel(self)
        self.path_label.setWordWrap(True)
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.path_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.folder_button = QPushButton("Folder…", self)
        self.folder_button.setToolTip("Choose a folder of images")
        self.folder_button.clicked.connect(self._choose_folder)
        self.npz_button = QPushButton(".npz…", self)
        self.npz_button.setToolTip("Choose an .npz file with 'images' or 'logits' (and 'labels')")
        self.npz_button.clicked.connect(self._choose_npz)
        self.npz_button.setVisible(allow_npz)
        self.clear_button = QToolButton(self)
        self.clear_button.setText("✕")
        self.clear_button.setAutoRaise(True)
        self.clear_button.setToolTip("Do not use this data")
        self.clear_button.setAccessibleName(f"Clear {title}")
        self.clear_button.clicked.connect(self.clear)
        self.clear_button.setVisible(False)
        self._optional = optional

        row = QHBoxLayout()
        row.addWidget(self.title_label, 0 if one_line else 1)
        if one_line:
            row.addSpacing(8)
            row.addWidget(self.path_label, 1)
        row.addWidget(self.folder_button)
        row.addWidget(self.npz_button)
        row.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(2)
        layout.addLayout(row)
        if not one_line:
            layout.addWidget(self.path_label)
        self._show_path()

    @property
    def path(self) -> str | None:
        return self._path

    def set_path(self, path: str, emit: bool = True) -> None:
        """Use ``path`` (a folder or ``.npz``); emits ``path_chosen`` unless told not to."""
        self._path = str(path)
        self._show_path()
        if emit:
            self.path_chosen.emit(self._path)

    def clear(self) -> None:
        had_path = self._path is not None
        self._path = None
        self._show_path()
        if had_path:
            self.cleared.emit()

    def _show_path(self) -> None:
        if self._path is None:
            self.path_label.setText(f"<i>{self._hint}</i>")
            self.path_label.setToolTip("")
        else:
            self.path_label.setText(Path(self._path).name or self._path)
            self.path_label.setToolTip(self._path)
        self.clear_button.setVisible(self._optional and self._path is not None)

    def _start_dir(self) -> str:
        return str(Path(self._path).parent) if self._path else ""

    def _choose_folder(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, self.title_label.text(), self._start_dir())
        if chosen:
            self.set_path(chosen)

    def _choose_npz(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(
            self, "Choose an .npz file", self._start_dir(), "NumPy archives (*.npz)"
        )
        if chosen:
            self.set_path(chosen)

    # -- drag and drop ---------------------------------------------------------------------
    def _dropped_path(self, event: QDragEnterEvent | QDropEvent) -> str | None:
        return dropped_data_path(event.mimeData(), self._allow_npz)

    def _set_dragging(self, on: bool) -> None:
        self.setProperty("dragging", on)
        self.style().unpolish(self)  # re-polish so the [dragging="true"] rule applies
        self.style().polish(self)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if self._dropped_path(event) is not None:
            event.acceptProposedAction()
            self._set_dragging(True)
        else:
            event.ignore()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:  # noqa: N802
        self._set_dragging(False)
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        self._set_dragging(False)
        path = self._dropped_path(event)
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.set_path(path)
