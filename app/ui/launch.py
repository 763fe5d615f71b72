"""Transitional alias of :mod:`app.ui.window.launch` for ``app.cli`` and ``benchmarks/measure.py``.

Delete once they import ``app.ui.window.launch`` (see the house report).
"""

from app.ui.window.launch import measure_startup, run_gui

__all__ = ["measure_startup", "run_gui"]
