"""Every result of this session as a Qt table model (thumbnails load lazily, when visible)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage

from app.core.session import Classification

COLUMNS = ("", "File", "Label", "Probability", "Set", "Flags")
COL_THUMB, COL_FILE, COL_LABEL, COL_PROB, COL_SET, COL_FLAGS = range(6)
ALPHA_FLAG = "alpha dropped"
_keys = itertools.count(1)


@dataclass
class HistoryEntry:
    """One classified image: the result plus a 48 px thumbnail, never the full image."""

    result: Classification
    thumb: QImage | None = None
    original: QImage | None = None  # kept only for pasted/dragged bitmaps that have no file
    key: int = 0
    thumb_requested: bool = False
    generation: int = 0  # which loaded model produced it: only its own model may re-score it

    @property
    def has_file(self) -> bool:
        return self.original is None and Path(self.result.path).is_file()


def label_text(result: Classification, ood_label: str) -> str:
    """The Label column: the card's no-class label for such rows, with the guess beside it."""
    if result.label is None:
        return ""
    return f"{ood_label} (guess {result.label})" if result.no_class else str(result.label)


def set_text(result: Classification) -> str:
    """A prediction set as ``{3, 8}`` (``{}`` when empty); blank while the card has none;
    ``({3})`` beside "none of the classes": only which class it would be, were it one."""
    members = result.prediction_set
    if members is None or not result.ok:
        return ""
    shown = "{" + ", ".join(members) + "}"
    return f"({shown})" if members and result.no_class else shown


def flags_text(result: Classification, ood_label: str) -> str:
    if not result.ok:
        return f"error: {result.error}"
    flags = []
    if result.no_class:
        flags.append(f"OOD ({ood_label})")
    if result.transparency_dropped:
        flags.append(ALPHA_FLAG)
    return " · ".join(flags)


class HistoryModel(QAbstractTableModel):
    thumbnail_needed = Signal(int, str)  # key, path

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.entries: list[HistoryEntry] = []
        self._row_of: dict[int, int] = {}
        self.ood_label = "None of the classes"
        self.generation = 0  # stamped on new entries; the window bumps it per loaded model

    # -- Qt model ----------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.entries)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            if section == COL_PROB:
                return "Calibrated probability of the top label"
            if section == COL_SET:
                return ("The prediction set: classes that hold the true one with the card's "
                        "coverage (e.g. 90 %), most probable first; in parentheses beside "
                        "'none of the classes': which class it would be, were it one")
            if section == COL_FLAGS:
                return ("OOD: the image looks like none of the classes; alpha dropped: its "
                        "transparency was ignored, as in training; error: it could not be classified")
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        entry = self.entries[index.row()]
        r = entry.result
        col = index.column()
        if role == Qt.ItemDataRole.DecorationRole and col == COL_THUMB:
            if entry.thumb is None and not entry.thumb_requested and entry.original is None and r.path:
                # Asked only for visible rows, so 2,000 dropped files never decode at once.
                entry.thumb_requested = True
                self.thumbnail_needed.emit(entry.key, r.path)
            return entry.thumb
        if role == Qt.ItemDataRole.DisplayRole:
            if col == COL_FILE:
                return Path(r.path).name or r.path
            if col == COL_LABEL:
                return label_text(r, self.ood_label)
            if col == COL_SET:
                return set_text(r)
            if col == COL_PROB:
                c = r.confidence
                return "" if c is None else f"{c:.1%}"
            if col == COL_FLAGS:
                return flags_text(r, self.ood_label)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == COL_FILE:
                return r.path
            if col == COL_FLAGS and flags_text(r, self.ood_label):
                return flags_text(r, self.ood_label)
        if role == Qt.ItemDataRole.ForegroundRole and col == COL_FLAGS:
            if not r.ok:
                return QBrush(QColor("#c0392b"))
            if r.no_class or r.transparency_dropped:
                return QBrush(QColor("#d35400"))
        if role == Qt.ItemDataRole.TextAlignmentRole and col == COL_PROB:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    # -- editing -------------------------------------------------------------------------
    def add(self, results: list[Classification], thumbs: list[QImage | None] | None = None,
            originals: list[QImage | None] | None = None) -> list[int]:
        """Append results (one insert per batch); returns their keys."""
        if not results:
            return []
        first = len(self.entries)
        self.beginInsertRows(QModelIndex(), first, first + len(results) - 1)
        keys = []
        for i, r in enumerate(results):
            key = next(_keys)
            entry = HistoryEntry(
                r,
                thumb=thumbs[i] if thumbs else None,
                original=originals[i] if originals else None,
                key=key,
                generation=self.generation,
            )
            if entry.original is not None and entry.thumb is None:
                from app.ui.widgets.qt_images import THUMBNAIL_SIZE, shrink

                entry.thumb = shrink(entry.original, THUMBNAIL_SIZE)
            self._row_of[key] = first + i
            self.entries.append(entry)
            keys.append(key)
        self.endInsertRows()
        return keys

    def set_thumbnail(self, key: int, image: QImage | None) -> None:
        row = self._row_of.get(key)
        if row is None or image is None:
            return
        self.entries[row].thumb = image
        idx = self.index(row, COL_THUMB)
        self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])

    def replace_results(self, results: dict[int, Classification]) -> None:
        """Swap results by key (re-scored verdicts, new temperature); rows keep their place."""
        rows = [self._row_of[k] for k in results if k in self._row_of]
        for key, result in results.items():
            row = self._row_of.get(key)
            if row is not None:
                self.entries[row].result = result
        if rows:
            self.dataChanged.emit(self.index(min(rows), COL_LABEL), self.index(max(rows), COL_FLAGS))

    def row_of(self, key: int) -> int | None:
        return self._row_of.get(key)

    def entry_of(self, key: int | None) -> HistoryEntry | None:
        """The entry with row key ``key``, or None."""
        row = None if key is None else self._row_of.get(key)
        return None if row is None else self.entries[row]

    def clear(self) -> None:
        self.beginResetModel()
        self.entries.clear()
        self._row_of.clear()
        self.endResetModel()

    @property
    def results(self) -> list[Classification]:
        return [e.result for e in self.entries]
