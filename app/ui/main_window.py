"""Transitional alias of :mod:`app.ui.window.main_window` for ``docs/make_screenshots.py``.

Delete once it imports ``app.ui.window.main_window`` (see the house report).
"""

from app.ui.window.main_window import MainWindow

__all__ = ["MainWindow"]
