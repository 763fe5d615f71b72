"""Non-modal messages above the result: model warnings and the latest error or notice."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

_STYLES = {
    "error": "background:#fde2e1; color:#7a1712; border:1px solid #e5908a;",
    "warning": "background:#fff4cc; color:#5c4400; border:1px solid #e6c65c;",
    "info": "background:#e3effd; color:#0f3d6e; border:1px solid #8db5e6;",
}


class MessageBanner(QFrame):
    """A one-or-more-line banner with a dismiss button; hidden when empty."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBanner")
        self.kind = "info"
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        # Messages quote paths, commands and "<keras.applications name>": never markup.
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton(self)
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.setAccessibleName("Dismiss message")
        close.clicked.connect(self.clear)
        # The next step, when the message has one (e.g. "Record preprocessing…").
        self.action_button = QPushButton(self)
        self.action_button.hide()
        self._action: Callable[[], None] | None = None
        self.action_button.clicked.connect(lambda: self._action() if self._action else None)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 4, 4, 4)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.action_button, 0, Qt.AlignmentFlag.AlignTop)
        lay.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    @property
    def text(self) -> str:
        return self.label.text() if self.isVisible() or self.label.text() else ""

    def show_message(self, text: str, kind: str = "info") -> None:
        self.kind = kind
        self.setStyleSheet(f"#messageBanner {{{_STYLES.get(kind, _STYLES['info'])} border-radius:4px;}}"
                           f" QLabel {{ background: transparent; border: none; color: inherit; }}")
        self.label.setText(text)
        self.label.setStyleSheet(f"color:{_STYLES.get(kind, _STYLES['info']).split('color:')[1].split(';')[0]};")
        self.show()

    def set_action(self, text: str | None, slot: Callable[[], None] | None = None) -> None:
        """A button beside the message that does its next step (None: no button)."""
        self._action = slot
        self.action_button.setText(text or "")
        self.action_button.setVisible(bool(text and slot))

    def clear(self) -> None:
        self.label.setText("")
        self.set_action(None)
        self.hide()
