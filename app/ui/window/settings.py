"""Persistent window settings: an ini file under the user's config dir (or $PROBSCOPE_CONFIG_DIR)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, QTimer
from PySide6.QtWidgets import QScrollArea, QSplitter, QTabWidget

MAX_RECENT_MODELS = 8
DEFAULT_TOP_K = 10


def config_dir() -> Path:
    """Where probscope keeps its settings; tests point ``PROBSCOPE_CONFIG_DIR`` at a temp dir."""
    override = os.environ.get("PROBSCOPE_CONFIG_DIR")
    if override:
        return Path(override)
    from platformdirs import user_config_dir

    return Path(user_config_dir("probscope", appauthor=False))


class AppSettings:
    """Typed access to the few things probscope remembers between sessions."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        folder = Path(directory) if directory is not None else config_dir()
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "probscope.ini"
        self._qs = QSettings(str(self.path), QSettings.Format.IniFormat)

    # -- models ------------------------------------------------------------------------
    @property
    def recent_models(self) -> list[str]:
        # Stored as JSON: QSettings' ini lists turn a one-element list into a plain string.
        raw = self._qs.value("models/recent", "[]")
        try:
            items = json.loads(str(raw))
        except json.JSONDecodeError:
            return []
        return [str(p) for p in items if isinstance(p, str)][:MAX_RECENT_MODELS]

    def add_recent_model(self, path: str | os.PathLike[str]) -> None:
        p = str(Path(path).resolve())
        items = [p] + [q for q in self.recent_models if q != p]
        self._qs.setValue("models/recent", json.dumps(items[:MAX_RECENT_MODELS]))
        self._qs.setValue("models/last", p)

    def clear_recent_models(self) -> None:
        self._qs.setValue("models/recent", "[]")

    @property
    def last_model(self) -> str | None:
        value = self._qs.value("models/last", "")
        return str(value) if value else None

    # -- probability plot ------------------------------------------------------------------
    @property
    def top_k(self) -> int:
        try:
            return max(1, int(self._qs.value("plot/top_k", DEFAULT_TOP_K)))
        except (TypeError, ValueError):
            return DEFAULT_TOP_K

    @top_k.setter
    def top_k(self, value: int) -> None:
        self._qs.setValue("plot/top_k", int(value))

    @property
    def sort_by_probability(self) -> bool:
        return str(self._qs.value("plot/sorted", "true")).lower() in ("true", "1")

    @sort_by_probability.setter
    def sort_by_probability(self, value: bool) -> None:
        self._qs.setValue("plot/sorted", "true" if value else "false")

    # -- window ------------------------------------------------------------------------
    def window_state(self) -> tuple[QByteArray | None, QByteArray | None, QByteArray | None]:
        """Saved (geometry, dock/toolbar state, splitter state), each None if never saved."""

        def get(key: str) -> QByteArray | None:
            v = self._qs.value(key)
            return v if isinstance(v, QByteArray) and not v.isEmpty() else None

        return get("window/geometry"), get("window/state"), get("window/splitter")

    def save_window_state(self, geometry: QByteArray, state: QByteArray, splitter: QByteArray) -> None:
        self._qs.setValue("window/geometry", geometry)
        self._qs.setValue("window/state", state)
        self._qs.setValue("window/splitter", splitter)

    def sync(self) -> None:
        self._qs.sync()


# The smallest share each pane of the main splitter gets back: one careless drag must not
# leave every later session with tiny image panes (or a history of one row).
SPLITTER_MINIMUMS = (260, 160)


def restore_splitter(splitter: QSplitter, state: QByteArray, minimums: tuple[int, ...]) -> None:
    """Restore ``splitter`` from ``state``, then lift every pane to at least its minimum."""
    if not splitter.restoreState(state):
        return
    sizes = splitter.sizes()
    if len(sizes) != len(minimums) or all(s >= m for s, m in zip(sizes, minimums, strict=True)):
        return
    total = sum(sizes)
    fixed = [max(s, m) for s, m in zip(sizes, minimums, strict=True)]
    # Give back what the lifted panes took from the largest one, so the total stays.
    extra = sum(fixed) - total
    biggest = fixed.index(max(fixed))
    fixed[biggest] = max(fixed[biggest] - extra, minimums[biggest])
    splitter.setSizes(fixed)


def content_height(area: QScrollArea) -> int:
    """The height ``area``'s widget needs at the viewport's width before a scroll bar appears.

    A resizable scroll area scrolls below the widget's height for its width (word-wrapped
    labels are taller when narrow), not below its minimum size hint: measure that.
    """
    inner = area.widget()
    if inner is None:
        return 0
    need = inner.minimumSizeHint().height()
    if inner.hasHeightForWidth():
        need = max(need, inner.heightForWidth(area.viewport().width()))
    return need


def show_whole_tab(splitter: QSplitter, tabs: QTabWidget, most: float = 0.6) -> None:
    """Grow the tabs' pane of ``splitter`` to what the current tab needs, up to ``most``.

    The analysis tabs need more height than the History; growing only when opened (or when
    their content grows) keeps the image panes large for what people look at most, and never
    shrinks what the user set.
    """
    page = tabs.currentWidget()
    sizes = splitter.sizes()
    if not isinstance(page, QScrollArea) or page.widget() is None or len(sizes) != 2:
        return
    top, bottom = sizes
    # What the pane holds besides the content: the tab bar and the frames around the page.
    chrome = bottom - page.viewport().height() if page.isVisible() else tabs.tabBar().sizeHint().height() + 8
    want = min(content_height(page) + chrome, int(most * (top + bottom)))
    if bottom < want:
        splitter.setSizes([top + bottom - want, want])


class TabFitter:
    """Keeps the open tab of ``tabs`` readable unscrolled: :func:`show_whole_tab` on demand.

    :meth:`fit` runs when a tab opens or a panel's job result arrived; :meth:`watch` also
    re-fits a tab whose content grew without a job (Fit, Save, new notes). A viewport made
    smaller by the user's drag changes the scroll range too, but not the content's need:
    that drag is respected.
    """

    def __init__(self, splitter: QSplitter, tabs: QTabWidget) -> None:
        self._splitter = splitter
        self._tabs = tabs
        self._fitted: dict[QScrollArea, int] = {}  # per tab, the content height last fitted

    def fit(self, _index: int = -1) -> None:
        show_whole_tab(self._splitter, self._tabs)
        page = self._tabs.currentWidget()
        if isinstance(page, QScrollArea):
            self._fitted[page] = content_height(page)

    def watch(self, page: QScrollArea) -> None:
        page.verticalScrollBar().rangeChanged.connect(lambda *_: self._on_range(page))

    def _on_range(self, page: QScrollArea) -> None:
        if page is self._tabs.currentWidget() and content_height(page) > self._fitted.get(page, 0):
            # After the layout pass that changed the range, not inside it.
            QTimer.singleShot(0, self.fit)
