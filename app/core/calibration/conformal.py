"""Split-conformal prediction sets on calibrated probabilities, scikit-learn style.

`ConformalClassifier` turns the conformity scores of labelled held-out images into a threshold
``q`` such that the set ``{y : s(x, y) <= q}`` of a new image holds its true class with
probability at least ``1 - alpha`` (marginally; per class with ``by_class=True``). The images
must not have been used to fit the temperature that produced the probabilities; see
`app.core.calibration.conformal_split` for the split that guarantees it.

Empty sets: LAC sets may be empty (no class reaches ``1 - q``), as in MAPIE and in the
guarantee; an empty set says "none of the classes is plausible at this level". APS and RAPS
sets always hold the top class: their score of the top class is its own probability, so an empty
set would only mean the model is more confident than the threshold needs, and adding the top
class can only raise coverage (MAPIE's ``include_last_label=False`` does the same).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import numpy as np

from app.core.calibration.conformity_scores import (
    RAPS_K_REG,
    RAPS_LAMBDA,
    check_alpha,
    check_method,
    class_scores,
    conformal_quantile,
    coverage_level,
    descending_order,
    prediction_sets,
    quantile_rank,
    required_samples,
    validate_probabilities,
)
from app.core.calibration.validation import validate_probabilities_and_labels
from app.core.errors import DataError

# Beyond this spread (two standard deviations of the coverage of new images, which is
# Beta-distributed around 1 - alpha) the user is told the promised level will wobble.
_COVERAGE_SPREAD_WARNING = 0.04


class ConformalClassifier:
    """Split-conformal prediction sets from calibrated probabilities.

    Parameters
    ----------
    method : {"lac", "aps", "raps"}, default="lac"
        Conformity score. LAC gives the smallest sets on average (Sadinle et al. 2019) and is
        the default; non-randomised APS sets swell on confident models.
    alpha : float, default=0.1
        Miscoverage level in (0, 1): sets hold the true class with probability >= 1 - alpha.
    by_class : bool, default=False
        Mondrian (class-conditional) thresholds: coverage >= 1 - alpha within every class.
    lam, k_reg : float and int, default=0.01 and 1
        RAPS penalty per rank past ``k_reg``.
    class_names : sequence of str, optional
        Names of the classes, for the warnings (else their indices).

    Attributes
    ----------
    threshold_ : float
        Marginal threshold ``q`` on the score.
    class_thresholds_ : ndarray of shape (n_classes,) or None
        Per-class thresholds (``by_class=True``); classes in `uncovered_classes_` carry the
        marginal threshold and no per-class promise.
    uncovered_classes_ : list of int
        Classes with too few images for a per-class threshold (``by_class=True``).
    n_ : int
        Number of calibration images.
    n_classes_ : int
    calibration_scores_ : ndarray of shape (n_,) or None
        Scores of the true classes, sorted ascending, so that `with_alpha` is one lookup;
        None for a classifier read back from a card.
    temperature_ : float or None
        Temperature under which the probabilities were computed (stored in the card).
    warnings_ : list of str
        One-line reasons to be careful with the sets.
    """

    def __init__(
        self,
        method: str = "lac",
        alpha: float = 0.1,
        by_class: bool = False,
        lam: float = RAPS_LAMBDA,
        k_reg: int = RAPS_K_REG,
        class_names: Sequence[str] | None = None,
    ) -> None:
        self.method = method
        self.alpha = alpha
        self.by_class = by_class
        self.lam = lam
        self.k_reg = k_reg
        self.class_names = class_names

    # ------------------------------------------------------------------ fitting

    def fit(
        self, probabilities: np.ndarray, labels: np.ndarray, temperature: float | None = None
    ) -> ConformalClassifier:
        """Fit the threshold(s) on held-out calibrated probabilities.

        Parameters
        ----------
        probabilities : array-like of shape (n_images, n_classes)
            ``softmax(logits / T)`` of images NOT used to fit T.
        labels : array-like of shape (n_images,)
            Integer class indices.
        temperature : float, optional
            T the probabilities were computed under, recorded for the card.

        Returns
        -------
        self : ConformalClassifier

        Raises
        ------
        DataError
            Invalid input, alpha outside (0, 1), fewer images than ``ceil(1/alpha) - 1``, or
            ``by_class=True`` with no class having that many images.
        """
        self._check_params()
        p, y = validate_probabilities_and_labels(probabilities, labels)
        scores = class_scores(p, self.method, self.lam, self.k_reg)[np.arange(p.shape[0]), y]
        self.n_, self.n_classes_ = int(p.shape[0]), int(p.shape[1])
        self.calibration_scores_ = np.sort(scores)
        self.temperature_ = None if temperature is None else _positive(temperature, "T")
        if self.by_class:
            # Scores grouped by class and sorted within each class: per-class quantiles at any
            # alpha are then one vectorised lookup.
            order = np.lexsort((scores, y))
            self._class_scores = scores[order]
            self.class_counts_ = np.bincount(y, minlength=self.n_classes_)
        self._set_thresholds(check_alpha(self.alpha))
        return self

    def _check_params(self) -> None:
        self.method = check_method(self.method)
        check_alpha(self.alpha)
        lam_ok = isinstance(self.lam, (int, float)) and math.isfinite(self.lam) and self.lam >= 0
        if (
            not lam_ok
            or isinstance(self.k_reg, bool)
            or not isinstance(self.k_reg, (int, np.integer))
        ):
            raise DataError(
                f"RAPS needs lam >= 0 and an integer k_reg; got {self.lam}, {self.k_reg}"
            )

    def _set_thresholds(self, alpha: float) -> None:
        self.alpha = alpha
        self.threshold_ = conformal_quantile(self.calibration_scores_, alpha)
        self.warnings_ = []
        spread = 2.0 * math.sqrt(alpha * (1.0 - alpha) / (self.n_ + 2))
        if spread > _COVERAGE_SPREAD_WARNING:
            self.warnings_.append(
                f"only {self.n_} labelled images fit the threshold: coverage of new images will "
                f"vary by about ±{100 * spread:.0f} points around {coverage_level(alpha)}"
            )
        self.class_thresholds_ = None
        self.uncovered_classes_ = []
        if not self.by_class:
            return
        counts = self.class_counts_
        needed = required_samples(alpha)
        enough = counts >= needed
        if not enough.any():
            raise DataError(
                f"per-class {coverage_level(alpha)} sets need at least {needed} labelled images of a "
                f"class; the largest class has {int(counts.max())}"
            )
        starts = np.cumsum(counts) - counts
        ranks = np.array([quantile_rank(int(c), alpha) for c in counts])
        picked = self._class_scores[np.minimum(starts + ranks - 1, self.n_ - 1)]
        self.class_thresholds_ = np.where(enough, picked, self.threshold_)
        self.uncovered_classes_ = [int(k) for k in np.flatnonzero(~enough)]
        if self.uncovered_classes_:
            names = self.class_names
            few = (", ".join(names[k] if k < len(names) else str(k) for k in self.uncovered_classes_)
                   if names else self.uncovered_classes_)
            self.warnings_.append(
                f"class(es) {few} have fewer than {needed} labelled images: "
                f"no per-class {coverage_level(alpha)} coverage is promised for them (the overall "
                "threshold is used)"
            )

    def with_alpha(self, alpha: float) -> ConformalClassifier:
        """A copy re-thresholded at ``alpha`` from the kept sorted scores (no re-scoring).

        Raises
        ------
        DataError
            alpha invalid or too small for ``n_``; or the classifier came from a card (which
            keeps the threshold, not the scores).
        """
        self._check_fitted()
        if self.calibration_scores_ is None:
            raise DataError("the card keeps only the threshold: refit to change alpha")
        other = copy.copy(self)  # shares the read-only score arrays, replaces the thresholds
        other._set_thresholds(check_alpha(alpha))
        return other

    # ------------------------------------------------------------------ prediction

    def _check_fitted(self) -> None:
        if not hasattr(self, "threshold_"):
            raise RuntimeError("this ConformalClassifier is not fitted yet; call fit first")

    def thresholds(self) -> float | np.ndarray:
        """The marginal threshold, or the per-class thresholds with ``by_class=True``."""
        self._check_fitted()
        return self.threshold_ if self.class_thresholds_ is None else self.class_thresholds_

    def predict_sets(self, probabilities: np.ndarray) -> np.ndarray:
        """Prediction sets as a boolean mask.

        Parameters
        ----------
        probabilities : array-like of shape (n_images, n_classes)
            ``softmax(logits / temperature_)``.

        Returns
        -------
        ndarray of bool, shape (n_images, n_classes)
            ``sets[i, y]`` is True when class ``y`` is in the set of image ``i``.
        """
        self._check_fitted()
        p = validate_probabilities(probabilities)
        scores = class_scores(p, self.method, self.lam, self.k_reg)
        if scores.shape[1] != self.n_classes_:
            raise DataError(
                f"probabilities have {scores.shape[1]} classes; the sets were fitted on "
                f"{self.n_classes_}"
            )
        # argmax breaks ties by the lower index, like the score's class order.
        top = None if self.method == "lac" else np.argmax(p, axis=1)
        return prediction_sets(scores, self.thresholds(), top)

    def predict_members(self, probabilities: np.ndarray) -> list[list[int]]:
        """Class indices of every set, most probable first (ties: lower index first)."""
        p = np.asarray(probabilities, dtype=np.float64)
        sets = self.predict_sets(p)
        order = descending_order(p)
        in_order = np.take_along_axis(sets, order, axis=1)
        return [row[keep].tolist() for row, keep in zip(order, in_order, strict=True)]

    def temperature_warning(self, current_temperature: float) -> str | None:
        """A one-line warning when the card's T is not the T the threshold was fitted under."""
        self._check_fitted()
        fitted = self.temperature_
        if fitted is None or math.isclose(float(current_temperature), fitted, rel_tol=1e-6):
            return None
        return (
            f"the {coverage_level(self.alpha)} prediction sets were fitted under temperature "
            f"{fitted:.4g} but the card's temperature is {float(current_temperature):.4g}: "
            "their coverage no longer holds; refit with probscope calibrate --conformal"
        )


def _positive(value: float, name: str) -> float:
    t = float(value)
    if not (math.isfinite(t) and t > 0.0):
        raise DataError(f"{name} must be a positive finite number; got {value!r}")
    return t
