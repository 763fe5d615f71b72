"""What the Calibration panel fits and saves, as plain functions over the cached outputs.

No model run happens here: the outputs were computed once by the panel's job.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

from app.core import DataError
from app.core.calibration import CalibrationResult, fit_calibration, result_at_temperature

if TYPE_CHECKING:
    from app.core.calibration import ConformalFit
    from app.ui.jobs.data_jobs import DataRun


def fit_with_sets(run: DataRun, logits_are_fallback: bool, method: str,
                  alpha: float) -> tuple[CalibrationResult, str]:
    """T and ``method`` sets at ``alpha``; without sets (and the reason) when they cannot be fitted.

    Raises ``ProbscopeError`` when even the temperature cannot be fitted.
    """
    try:
        return fit_calibration(run.outputs, run.path, logits_are_fallback, method, alpha), ""
    except DataError as exc:
        # Too few images for these sets (or α too small): the temperature alone, and why.
        return fit_calibration(run.outputs, run.path, logits_are_fallback, "none"), exc.message


def result_to_save(run: DataRun, fit: CalibrationResult | None, sets: ConformalFit | None,
                   temperature: float, warnings: list[str]) -> CalibrationResult:
    """The fit with the sets at the α shown, or, at a T the user chose, that T without sets."""
    if fit is None or not math.isclose(fit.temperature, temperature, rel_tol=1e-9):
        # Sets fitted under another T would not keep their promise: saved without them.
        return result_at_temperature(run.outputs, temperature, run.path, warnings)
    return fit if sets is None else dataclasses.replace(fit, conformal=sets)


def untrustworthy_reason(result: CalibrationResult) -> str | None:
    """Why no verdict may look good after saving ``result`` (None: nothing to say)."""
    if not result.near_chance:
        return None
    return (f"this model is {result.after['accuracy']:.0%} accurate on its calibration data, "
            "near chance: its answers cannot be trusted")


def fit_status(result: CalibrationResult) -> str:
    """The one-line summary after Fit."""
    on = (f"{result.n} images" if result.n_temperature == result.n else
          f"{result.n_temperature} of {result.n} images (the sets on the rest)")
    return (f"Fitted T = {result.temperature:.3g} on {on}: NLL "
            f"{abs(result.before['nll']):.3f} → {abs(result.after['nll']):.3f}, ECE "
            f"{result.before['ece']:.1%} → {result.after['ece']:.1%}.")


def card_text(card_t: float | None, shown_t: float) -> str:
    """The card's T, and the T on show when it differs (not saved yet)."""
    if card_t is None:
        return ""
    unsaved = "" if math.isclose(card_t, shown_t, rel_tol=1e-6) else f" · showing T = {shown_t:.3g} (not saved)"
    return f"Model card: T = {card_t:.3g}{unsaved}"


def data_notes(notes: list[str], logits_are_fallback: bool, fallback_note: str,
               sets: ConformalFit | None = None) -> list[str]:
    """The warnings to show, with the no-logits note first when the model gives probabilities.

    Notes about ``sets`` are left out: the prediction-set view shows them beside its plots.
    """
    notes = [n for n in notes if sets is None or n not in sets.warnings]
    if logits_are_fallback and not any("log" in n for n in notes):
        return [fallback_note, *notes]
    return list(notes)
