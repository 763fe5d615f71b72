"""Fit a model's temperature on labelled held-out data and record it in the model card."""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.core.calibration.metrics import calibration_report
from app.core.calibration.temperature import TemperatureScaler
from app.core.cards.card_file import write_card
from app.core.data.labelled import load_data
from app.core.data.outputs import CancelFn, DataOutputs, ProgressFn, compute_outputs
from app.core.errors import DataError
from app.core.session.model_session import ModelSession


@dataclass
class CalibrationResult:
    """A fitted temperature with the metrics before (T = 1) and after scaling."""

    temperature: float
    before: dict[str, Any]
    after: dict[str, Any]
    data: str
    n: int
    warnings: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "before": self.before,
            "after": self.after,
            "data": self.data,
            "n": self.n,
            "skipped": self.skipped,
            "warnings": self.warnings,
        }


def fit_calibration(outputs: DataOutputs, data_name: str, logits_are_fallback: bool = False) -> CalibrationResult:
    """Fit T on precomputed outputs (the UI reuses this after computing outputs once)."""
    if outputs.labels is None:
        raise DataError(f"{data_name}: calibration needs labels")
    logits = np.asarray(outputs.outputs.logits, dtype=np.float64)
    scaler = TemperatureScaler().fit(logits, outputs.labels)
    t = float(scaler.temperature_)
    warnings = list(scaler.warnings_)
    if logits_are_fallback and not any("log" in w for w in warnings):
        warnings.append("the model exposes no logits: T was fitted on log(probabilities)")
    if outputs.skipped:
        warnings.append(f"{len(outputs.skipped)} unreadable image(s) skipped")
    return CalibrationResult(
        temperature=t,
        before=calibration_report(logits, outputs.labels, 1.0),
        after=calibration_report(logits, outputs.labels, t),
        data=data_name,
        n=len(outputs),
        warnings=warnings,
        skipped=outputs.skipped,
    )


def result_at_temperature(
    outputs: DataOutputs, temperature: float, data_name: str, warnings: list[str] | None = None
) -> CalibrationResult:
    """The metrics of a temperature the user chose (not fitted), ready to save like a fit."""
    if outputs.labels is None:
        raise DataError(f"{data_name}: calibration needs labels")
    logits = np.asarray(outputs.outputs.logits, dtype=np.float64)
    return CalibrationResult(
        temperature=float(temperature),
        before=calibration_report(logits, outputs.labels, 1.0),
        after=calibration_report(logits, outputs.labels, float(temperature)),
        data=data_name,
        n=len(outputs),
        warnings=list(warnings or []),
        skipped=list(outputs.skipped),
    )


def run_calibration(
    session: ModelSession,
    data_path: str | os.PathLike[str],
    progress: ProgressFn | None = None,
    cancelled: CancelFn | None = None,
) -> CalibrationResult:
    """Compute (or reuse cached) logits for a labelled folder or ``.npz`` and fit T."""
    data = load_data(data_path, session.classes, labelled=True)
    outputs = compute_outputs(session, data, progress, cancelled)
    result = fit_calibration(outputs, str(data_path), session.loaded.logits_are_fallback)
    result.warnings = data.notes + result.warnings
    return result


def save_calibration(session: ModelSession, result: CalibrationResult) -> str:
    """Write T and the fit's provenance into the model card (atomically); return its path."""
    card = session.card
    card.data["calibration"] = {
        **{k: v for k, v in card.data.get("calibration", {}).items() if k not in ("fitted",)},
        "temperature": result.temperature,
        "fitted": {
            "data": result.data,
            "n": result.n,
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "before": result.before,
            "after": result.after,
            "method": "temperature scaling (NLL, log T bounded search)",
        },
    }
    return str(write_card(card, session.card_path))
