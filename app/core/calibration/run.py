"""Fit a model's temperature on labelled held-out data and record it in the model card."""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.core.calibration.conformal_card import prediction_sets_from_card
from app.core.calibration.conformal_split import ConformalFit, fit_temperature_and_sets
from app.core.calibration.conformity_scores import check_alpha
from app.core.calibration.metrics import calibration_report
from app.core.calibration.temperature import DEFAULT_BOUNDS, TemperatureScaler
from app.core.cards.card_file import write_card
from app.core.data.labelled import load_data
from app.core.data.outputs import CancelFn, DataOutputs, ProgressFn, compute_outputs
from app.core.errors import DataError
from app.core.numeric import near_chance
from app.core.session.model_session import ModelSession

CONFORMAL_METHODS = ("lac", "aps", "raps")
# LAC gives the smallest sets on average; APS without randomisation grows sets of most classes
# on a confident model (see the README), so it is never the default.
DEFAULT_METHOD = "lac"
DEFAULT_ALPHA = 0.1
# A fitted T that raises the NLL by more than this share is refused (without --force).
NLL_WORSE_TOLERANCE = 0.01


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
    # Prediction sets fitted with this T on other images than T's (None: not fitted).
    conformal: ConformalFit | None = None
    n_classes: int = 0

    @property
    def n_temperature(self) -> int:
        """How many of the ``n`` images T was fitted on (the others fit the prediction sets)."""
        return self.n if self.conformal is None else int((self.conformal.halves == 0).sum())

    @property
    def near_chance(self) -> bool:
        """The model is barely better than guessing on this data: no verdict should look good."""
        return near_chance(self.after.get("accuracy"), self.n_classes)

    def save_problems(self) -> list[str]:
        """Why this temperature should not be written into the card (empty: safe to save)."""
        problems = []
        low, high = DEFAULT_BOUNDS
        if not low * 1.001 < self.temperature < high * 0.999:
            problems.append(f"T = {self.temperature:.3g} sits on the search bound [{low:g}, {high:g}]: "
                            "the fit did not converge to a real optimum")
        # Fitted on half the images (the other half fits the prediction sets), T can miss the
        # optimum of all of them by a hair; only a real loss counts.
        if self.after["nll"] > self.before["nll"] * (1 + NLL_WORSE_TOLERANCE) + 1e-9:
            problems.append(f"T = {self.temperature:.3g} makes the NLL worse "
                            f"({self.before['nll']:.4f} -> {self.after['nll']:.4f})")
        if self.near_chance_problem:
            problems.append(self.near_chance_problem)
        return problems

    @property
    def near_chance_problem(self) -> str | None:
        """Why a model near chance cannot be calibrated into trust (None when it is not)."""
        if not self.near_chance:
            return None
        return (f"the model's accuracy on this data is {self.after['accuracy']:.1%}, near "
                "chance: a temperature cannot make it trustworthy")

    def to_json(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "before": self.before,
            "after": self.after,
            "data": self.data,
            "n": self.n,
            "skipped": self.skipped,
            "warnings": self.warnings,
            "conformal": None if self.conformal is None else self.conformal.to_json(),
            "save_problems": self.save_problems(),
        }


def fit_calibration(
    outputs: DataOutputs,
    data_name: str,
    logits_are_fallback: bool = False,
    conformal: str | None = None,
    alpha: float = DEFAULT_ALPHA,
    by_class: bool = False,
    classes: list[str] | None = None,
) -> CalibrationResult:
    """Fit T (and, by default, LAC prediction sets) on precomputed outputs.

    Parameters
    ----------
    outputs : DataOutputs
        Labelled held-out outputs (the window reuses this after computing them once).
    data_name : str
        How to name the data in messages and the card.
    logits_are_fallback : bool, default=False
        The model gave no logits: T is fitted on log-probabilities (said in the warnings).
    conformal : {"lac", "aps", "raps", "none"} or None, default=None
        Prediction sets to fit. With a method, T is fitted on one half of the images and the
        set threshold on the other (they must not share images); ``"none"`` fits T on all.
        None means LAC when there are enough images, else none with a warning.
    alpha : float, default=0.1
        The sets miss the true class for at most this share of new images.
    by_class : bool, default=False
        Per-class (Mondrian) thresholds: the coverage holds for every class. A class with no
        labelled image is refused (nothing can be promised for it); one with too few for the
        promise falls back to the overall threshold, with a warning.
    classes : list of str, optional
        Class names, to name classes in messages (else their indices).
    """
    if outputs.labels is None:
        raise DataError(f"{data_name}: calibration needs labels")
    logits = np.asarray(outputs.outputs.logits, dtype=np.float64)
    check_alpha(alpha)
    method = DEFAULT_METHOD if conformal is None else conformal
    if method not in CONFORMAL_METHODS + ("none",):
        raise DataError(f"unknown prediction-set method {method!r}; choose lac, aps, raps or none")
    def name(k: int) -> str:
        return classes[k] if classes and k < len(classes) else str(k)

    if by_class and method != "none":
        missing = np.flatnonzero(np.bincount(outputs.labels, minlength=logits.shape[1]) == 0)
        if missing.size:
            raise DataError(
                f"--by-class: {data_name} has no labelled image of {', '.join(map(name, missing))}: "
                "no per-class coverage can be promised for it; add some, or drop --by-class")
    fit = None
    warnings: list[str] = []
    if method != "none":
        try:
            fit = fit_temperature_and_sets(logits, outputs.labels, alpha, method, by_class,
                                           class_names=classes)
        except DataError as exc:
            message = exc.message
            if by_class and "per-class" in message:
                # The count the user sees in their folders is twice the one that fits.
                message += (" (each class's images are split in half: one half fits T, the "
                            "other the thresholds); give each class twice that, or drop --by-class")
            if conformal is not None or by_class:  # sets asked for by name: no quiet T alone
                raise DataError(message) from None
            warnings.append(f"no prediction sets: {message}")
    if fit is not None:
        t = float(fit.temperature)
        warnings += fit.warnings
    else:
        scaler = TemperatureScaler().fit(logits, outputs.labels)
        t = float(scaler.temperature_)
        warnings += scaler.warnings_
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
        conformal=fit,
        n_classes=int(logits.shape[1]),
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
        n_classes=int(logits.shape[1]),
    )


def run_calibration(
    session: ModelSession,
    data_path: str | os.PathLike[str],
    progress: ProgressFn | None = None,
    cancelled: CancelFn | None = None,
    conformal: str | None = None,
    alpha: float = DEFAULT_ALPHA,
    by_class: bool = False,
) -> CalibrationResult:
    """Compute (or reuse cached) logits for a labelled folder or ``.npz``, fit T and the sets."""
    check_alpha(alpha)
    data = load_data(data_path, session.classes, labelled=True)
    outputs = compute_outputs(session, data, progress, cancelled)
    result = fit_calibration(outputs, str(data_path), session.loaded.logits_are_fallback,
                             conformal, alpha, by_class, session.classes)
    result.warnings = data.notes + result.warnings
    return result


def save_calibration(session: ModelSession, result: CalibrationResult, force: bool = False) -> str:
    """Write T and the fit's provenance into the model card (atomically); return its path.

    Raises
    ------
    DataError
        The fit should not be trusted (T on a search bound, a worse NLL, a model near chance)
        and ``force`` is False; nothing is written.
    """
    problems = result.save_problems()
    if problems and not force:
        raise DataError(f"not saved: {problems[0]} (save anyway with --force)")
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
    # A threshold fitted under another T no longer promises its coverage: replace or drop it.
    card.data["calibration"].pop("conformal", None)
    if result.conformal is not None:
        card.data["calibration"]["conformal"] = result.conformal.to_card_dict()
    path = str(write_card(card, session.card_path))
    session.sets = prediction_sets_from_card(card.data["calibration"], result.temperature)
    return path
