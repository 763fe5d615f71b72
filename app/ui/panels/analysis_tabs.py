"""The analysis tabs the window shows beside the History, built on demand (they import
pyqtgraph and superqt, so the window builds them after its first answer)."""

from __future__ import annotations

from typing import Any


def build_analysis_panels(state: Any) -> list[tuple[str, str, Any]]:
    """``(key, tab title, panel)`` for Calibration, None of the classes and Diagnostics."""
    from app.ui.panels.calibration.panel import CalibrationPanel
    from app.ui.panels.diagnostics.panel import DiagnosticsPanel
    from app.ui.panels.ood.panel import OODPanel

    return [("calibration", "Calibration", CalibrationPanel(state)),
            ("ood", "None of the classes", OODPanel(state)),
            ("diagnostics", "Diagnostics", DiagnosticsPanel(state))]
