"""The calibration metrics of the loaded data at T = 1 and at the T being looked at (cached).

The reliability diagram and the metrics table both ask for the same T while the slider moves;
computing each T once serves both.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from app.core.calibration import ReliabilityBins, calibration_report_and_bins


class MetricsAtT:
    """``before`` (T = 1) once, and the newest other T on demand.

    Raises ``ProbscopeError`` from the constructor when the logits or labels are unusable.
    """

    def __init__(self, logits: np.ndarray, labels: np.ndarray) -> None:
        self._logits, self._labels = logits, labels
        self.before: tuple[dict[str, Any], ReliabilityBins] = calibration_report_and_bins(logits, labels, 1.0)
        self._at: tuple[float, dict[str, Any], ReliabilityBins] | None = None

    def at(self, t: float) -> tuple[dict[str, Any], ReliabilityBins]:
        """The metrics report and bins at temperature ``t``."""
        if self._at is None or self._at[0] != t:
            report, bins = calibration_report_and_bins(self._logits, self._labels, t)
            self._at = (t, report, bins)
        return self._at[1], self._at[2]

    def bins(self, t: float) -> tuple[ReliabilityBins, ReliabilityBins]:
        """What the reliability diagram draws at ``t``: (T = 1, T = t)."""
        return self.before[1], self.at(t)[1]
