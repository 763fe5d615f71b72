"""The model card's ``calibration.conformal`` object: plain dict in, plain dict out.

Keys written (all plain JSON values):

- ``method`` ("lac" | "aps" | "raps"), ``alpha`` (float in (0, 1)), ``threshold`` (float),
  ``n`` (calibration images), ``n_classes``;
- ``by_class``: per-class thresholds (list of ``n_classes`` floats) or null, and with it
  ``uncovered_classes`` (classes without a per-class promise);
- ``temperature``: the T the threshold was fitted under; the sets are only valid under that T,
  so the app compares it with ``calibration.temperature`` (`ConformalClassifier.
  temperature_warning`);
- ``raps`` {``lambda``, ``k_reg``} for RAPS, whose threshold depends on them.

Keys this module does not know are kept and written back, so newer cards survive older apps.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from app.core.calibration.conformal import ConformalClassifier
from app.core.calibration.conformity_scores import (
    RAPS_K_REG,
    RAPS_LAMBDA,
    check_alpha,
    check_method,
    required_samples,
)
from app.core.errors import CardError, DataError

CARD_KEYS = (
    "method",
    "alpha",
    "threshold",
    "n",
    "n_classes",
    "by_class",
    "uncovered_classes",
    "temperature",
    "raps",
)
# float64 cumulative sums of a probability row can exceed 1 by a few ulps.
_SCORE_SLACK = 1e-6


def to_card_dict(classifier: ConformalClassifier) -> dict[str, Any]:
    """The card object of a fitted classifier (unknown keys it was read with included)."""
    classifier.thresholds()  # raises if not fitted
    card: dict[str, Any] = dict(getattr(classifier, "card_extra_", {}))
    per_class = classifier.class_thresholds_
    card.update(
        method=classifier.method,
        alpha=float(classifier.alpha),
        threshold=float(classifier.threshold_),
        n=int(classifier.n_),
        n_classes=int(classifier.n_classes_),
        by_class=None if per_class is None else [float(t) for t in per_class],
        temperature=classifier.temperature_,
    )
    if per_class is not None:
        card["uncovered_classes"] = [int(k) for k in classifier.uncovered_classes_]
    if classifier.method == "raps":
        card["raps"] = {"lambda": float(classifier.lam), "k_reg": int(classifier.k_reg)}
    return card


def from_card_dict(
    data: dict[str, Any], current_temperature: float | None = None
) -> ConformalClassifier:
    """Rebuild a fitted classifier from a card object, validating every number.

    Parameters
    ----------
    data : dict
        The card's ``calibration.conformal`` object.
    current_temperature : float, optional
        The card's current T; a mismatch adds a one-line warning to ``warnings_``.

    Returns
    -------
    ConformalClassifier
        Fitted (it predicts sets) but without calibration scores: changing alpha needs a refit.

    Raises
    ------
    CardError
        One line naming the first missing or invalid key.
    """
    if not isinstance(data, dict):
        raise CardError("calibration.conformal must be a JSON object")
    try:
        method = check_method(_key(data, "method"))
        alpha = check_alpha(_key(data, "alpha"))
    except DataError as error:
        raise CardError(f"calibration.conformal: {error}") from None
    n, n_classes = _integer(data, "n", 1), _integer(data, "n_classes", 2)
    if n < required_samples(alpha):
        raise CardError(
            f"calibration.conformal.n = {n} is too few for alpha = {alpha} "
            f"(needs {required_samples(alpha)})"
        )
    lam, k_reg = RAPS_LAMBDA, RAPS_K_REG
    if method == "raps":
        raps = data.get("raps")
        if not isinstance(raps, dict):
            raise CardError("calibration.conformal.raps must hold lambda and k_reg")
        lam, k_reg = _number(raps, "lambda", 0.0, math.inf), _integer(raps, "k_reg", 0)
    # The largest score possible: 1 for LAC and APS, plus the largest RAPS penalty.
    highest = 1.0 + _SCORE_SLACK + (lam * max(n_classes - k_reg, 0) if method == "raps" else 0.0)

    per_class = data.get("by_class")
    fitted = ConformalClassifier(method, alpha, per_class is not None, lam, k_reg)
    fitted.threshold_ = _number(data, "threshold", 0.0, highest)
    fitted.n_, fitted.n_classes_ = n, n_classes
    fitted.calibration_scores_ = None
    fitted.class_thresholds_, fitted.uncovered_classes_ = None, []
    if per_class is not None:
        if not isinstance(per_class, list) or len(per_class) != n_classes:
            raise CardError(f"calibration.conformal.by_class must list {n_classes} thresholds")
        fitted.class_thresholds_ = np.array(
            [_check_number(v, f"by_class[{k}]", 0.0, highest) for k, v in enumerate(per_class)]
        )
        uncovered = data.get("uncovered_classes", [])
        valid = isinstance(uncovered, list) and all(
            isinstance(k, int) and not isinstance(k, bool) and 0 <= k < n_classes for k in uncovered
        )
        if not valid:
            raise CardError("calibration.conformal.uncovered_classes must list class indices")
        fitted.uncovered_classes_ = list(uncovered)

    fitted.temperature_ = None
    if data.get("temperature") is not None:
        fitted.temperature_ = _number(data, "temperature", 0.0, math.inf)
        if fitted.temperature_ == 0.0:
            raise CardError("calibration.conformal.temperature must be positive; got 0")
    fitted.card_extra_ = {k: v for k, v in data.items() if k not in CARD_KEYS}
    fitted.warnings_ = []
    if current_temperature is not None:
        warning = fitted.temperature_warning(current_temperature)
        if warning:
            fitted.warnings_.append(warning)
    return fitted


def _key(data: dict[str, Any], key: str) -> Any:
    if key not in data:
        raise CardError(f"calibration.conformal has no {key!r}")
    return data[key]


def _check_number(value: Any, name: str, low: float, high: float) -> float:
    # bool is an int in Python, and "0.5" would parse: both are card-writing mistakes.
    real = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (real and math.isfinite(value) and low <= value <= high):
        raise CardError(
            f"calibration.conformal.{name} must be a finite number in [{low:g}, {high:g}]; "
            f"got {value!r}"
        )
    return float(value)


def _number(data: dict[str, Any], key: str, low: float, high: float) -> float:
    return _check_number(_key(data, key), key, low, high)


def _integer(data: dict[str, Any], key: str, low: int) -> int:
    value = _key(data, key)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise CardError(f"calibration.conformal.{key} must be an integer >= {low}; got {value!r}")
    return value


def prediction_sets_from_card(
    calibration: dict[str, Any], temperature: float
) -> ConformalClassifier | None:
    """The card's prediction sets (``calibration.conformal``), or None when it has none.

    ``warnings_`` of the result says when the sets were fitted under another temperature.
    """
    data = calibration.get("conformal") if isinstance(calibration, dict) else None
    if data is None:
        return None
    if not isinstance(data, dict):
        raise CardError("the model card's calibration.conformal must be an object")
    return from_card_dict(data, current_temperature=temperature)
