"""Ask before loading a model that can run code: name the risky parts, default to No."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget


class TrustDialog(QDialog):
    """Shown with ``open()`` (non-blocking); ``accepted`` means load with trust=True."""

    def __init__(self, path: str, risky: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self.risky = list(risky)
        self.setWindowTitle("Load a model that can run code?")
        items = "".join(f"<li>{html.escape(r)}</li>" for r in self.risky[:12])
        more = f"<li>… and {len(self.risky) - 12} more</li>" if len(self.risky) > 12 else ""
        text = QLabel(
            f"<p><b>{html.escape(Path(path).name)}</b> contains parts that run code when loaded:</p>"
            f"<ul>{items}{more}</ul>"
            "<p>Loading it can execute arbitrary code on this computer. Load it only if you "
            "trust where the file came from.</p>",
            self,
        )
        text.setWordWrap(True)
        buttons = QDialogButtonBox(self)
        self.load_button = buttons.addButton("Trust and load", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = buttons.addButton("Don't load", QDialogButtonBox.ButtonRole.RejectRole)
        self.cancel_button.setDefault(True)  # Enter must not load untrusted code
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(text)
        lay.addWidget(buttons)
