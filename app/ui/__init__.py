"""PySide6 + pyqtgraph widgets and the main window; no ML logic here."""
