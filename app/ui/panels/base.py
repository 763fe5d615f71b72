"""What every analysis panel shares: the "load a model first" page, messages, jobs and drops.

A panel is bound to a :class:`~app.ui.state.ViewState` (the window's, or its own when used
alone, as the tests do): it follows ``session_changed`` and reads or writes the state rather
than talking to the window, which it never imports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QBoxLayout, QHBoxLayout, QLayout, QStackedWidget, QVBoxLayout, QWidget

from app.ui.jobs.runner import JobRunner
from app.ui.panels.data_picker import accept_data_drag
from app.ui.panels.panel_messages import PanelMessages, empty_state
from app.ui.state import ViewState

if TYPE_CHECKING:
    from app.core import ModelSession


class PanelBase(QWidget):
    """Two pages (no model / the panel's content), a message area, job runners, data drops.

    Subclasses build their content, pass it to :meth:`set_content`, and implement
    ``set_session`` (the state calls it on every new model) and :meth:`use_dropped`.

    Signals
    -------
    content_changed()
        A job's result was shown: the content may need more height than when the tab opened.
    """

    content_changed = Signal()

    def __init__(self, no_model: str, state: ViewState | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        # A panel on its own (tests, scripts) keeps a state of its own.
        self.state = state if state is not None else ViewState(self)
        self._session: ModelSession | None = None
        self.messages = PanelMessages(self)
        self.no_model = empty_state(no_model, self)
        self.pages = QStackedWidget(self)
        self.pages.addWidget(self.no_model)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.pages)
        self.state.session_changed.connect(self.set_session)

    def set_session(self, session: ModelSession | None) -> None:
        raise NotImplementedError

    def set_content(self, content: QWidget) -> None:
        """The page shown while a model is loaded."""
        self.pages.addWidget(content)

    def show_page(self) -> None:
        """The content with a model, the "load a model first" hint without."""
        self.pages.setCurrentIndex(0 if self._session is None else 1)

    def new_runner(self, finished: Callable[[Any], None], failed: Callable[[str], None],
                   cancelled: Callable[[], None] | None = None,
                   buttons: bool = False) -> JobRunner:
        """A job runner of this panel, connected to its handlers (``buttons``: re-enable on run)."""
        runner = JobRunner(self)
        runner.finished.connect(finished)
        # After the handler has filled the widgets and their layouts have settled.
        runner.finished.connect(lambda _: QTimer.singleShot(0, self.content_changed.emit))
        runner.failed.connect(failed)
        if cancelled is not None:
            runner.cancelled.connect(cancelled)
        if buttons:
            runner.running_changed.connect(lambda _: self.update_buttons())
        return runner

    def update_buttons(self) -> None:
        """Enable what the panel's state allows (subclasses)."""

    def use_dropped(self, path: str) -> None:
        """A folder or ``.npz`` was dropped on the panel (subclasses say what it is for)."""

    # -- drops anywhere on the panel mean "use this as data" --------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        accept_data_drag(event, self._session is not None)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        path = accept_data_drag(event, self._session is not None)
        if path is not None:
            self.use_dropped(path)


Part = QWidget | QLayout | tuple[QWidget, int]


def _add(layout: QBoxLayout, parts: tuple[Part, ...]) -> None:
    for part in parts:
        if isinstance(part, tuple):
            layout.addWidget(*part)  # (widget, stretch)
        elif isinstance(part, QLayout):
            layout.addLayout(part)
        else:
            layout.addWidget(part)


def row(*parts: Part) -> QHBoxLayout:
    """A horizontal row of widgets and layouts; ``(widget, stretch)`` gives one a stretch."""
    layout = QHBoxLayout()
    _add(layout, parts)
    return layout


def column(parent: QWidget, *parts: Part) -> QWidget:
    """A widget holding ``parts`` top to bottom, without margins (a panel's content page)."""
    content = QWidget(parent)
    layout = QVBoxLayout(content)
    layout.setContentsMargins(0, 0, 0, 0)
    _add(layout, parts)
    return content
