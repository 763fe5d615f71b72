"""The tabs beside the history: calibration, the "none of the classes" check, diagnostics.

Each panel is a self-contained widget that only knows the current ``ModelSession``; this
module connects them to the window so the window itself stays free of their details.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.ui.calibration_panel import CalibrationPanel
from app.ui.ood_panel import OODPanel

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow


def install_panels(window: MainWindow) -> dict[str, object]:
    """Add the analysis tabs to ``window`` and wire them to its model and results."""
    calibration = CalibrationPanel()
    ood = OODPanel()
    window.add_panel("Calibration", calibration)
    window.add_panel("None of the classes", ood)

    window.session_changed.connect(calibration.set_session)
    window.session_changed.connect(ood.set_session)
    # The slider is a view setting; Save writes T to the card, after which the history
    # follows the card too.
    calibration.temperature_changed.connect(window.set_temperature)
    calibration.calibration_saved.connect(lambda _path: window.rescore())
    ood.ood_changed.connect(window.rescore)
    panels: dict[str, object] = {"calibration": calibration, "ood": ood}

    from app.ui.diagnostics_panel import DiagnosticsPanel

    diagnostics = DiagnosticsPanel()
    window.add_panel("Diagnostics", diagnostics)
    window.session_changed.connect(diagnostics.set_session)
    window.result_shown.connect(diagnostics.set_current_result)
    window.results_added.connect(lambda _r: diagnostics.set_history_paths(window.history_file_paths()))
    window.history_cleared.connect(lambda: diagnostics.set_history_paths([]))
    panels["diagnostics"] = diagnostics
    if window.session is not None:  # a model that loaded before the tabs were built
        for panel in (calibration, ood, diagnostics):
            panel.set_session(window.session)
    return panels
