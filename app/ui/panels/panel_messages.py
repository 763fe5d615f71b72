"""The panels' message area: one status line (info or error) and a box of plain-word warnings."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

_ERROR = "color:#b3261e;"
_WARNINGS = (
    "QLabel { background:#fff4cc; color:#5c4400; border:1px solid #e6c65c;"
    " border-radius:4px; padding:4px 6px; }"
)


def sentence(text: str) -> str:
    """Core messages are lower-case fragments; show them as sentences."""
    text = text.strip()
    if not text:
        return text
    # "shapes_val: no images" names a folder or file: its name is kept as it is spelt.
    if not text.split(" ", 1)[0].endswith(":"):
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def empty_state(text: str, parent: QWidget | None = None) -> QLabel:
    """A large, centred, wrapped hint for a panel that has nothing to show yet."""
    label = QLabel(text, parent)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    label.setMargin(24)
    font = label.font()
    font.setPointSizeF(font.pointSizeF() * 1.15)
    label.setFont(font)
    label.setEnabled(False)  # greyed: a hint, not content
    return label


class PanelMessages(QWidget):
    """``show_status`` / ``show_error`` replace the status line; ``set_warnings`` the box."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warnings = QLabel(self)
        self.warnings.setWordWrap(True)
        self.warnings.setStyleSheet(_WARNINGS)
        self.warnings.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warnings.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.status)
        layout.addWidget(self.warnings)
        self.is_error = False

    def show_status(self, text: str) -> None:
        self.is_error = False
        self.status.setStyleSheet("")
        self.status.setText(text)

    def show_error(self, text: str) -> None:
        self.is_error = True
        self.status.setStyleSheet(_ERROR)
        self.status.setText(sentence(text))

    def set_warnings(self, warnings: Sequence[str]) -> None:
        shown = [sentence(w) for w in warnings if w.strip()]
        self.warnings.setText("\n".join(f"⚠ {w}" for w in shown))
        self.warnings.setVisible(bool(shown))

    def clear(self) -> None:
        self.show_status("")
        self.set_warnings([])
