"""Fit the temperature and the conformal threshold on disjoint images, and measure honestly.

The coverage guarantee needs the threshold's images to be exchangeable with new images given
the probabilities' map, so T must not see them. `fit_temperature_and_sets` therefore:

1. Final fit: splits the labelled set stratified 50/50 (seeded); T on half A
   (`TemperatureScaler`), the threshold on half B's ``softmax(logits_B / T_A)``. This pair is
   what the card stores. Refitting T on all images afterwards would break the guarantee (the
   threshold would then be fitted on images T has seen), so the saved T is T_A.
2. Measurement: the same two-step procedure is re-run in a stratified 5-fold loop. Each fold is
   held out in turn, the procedure (its own 50/50 split, T, threshold) runs on the other four,
   and the held-out fold's sets are scored. Every image is measured exactly once, by a T and a
   threshold that never saw it, so the pooled coverage and set sizes are what new images get
   (from a procedure fitted on 80 % of the data: if anything slightly conservative). Measuring
   the final pair on half A instead would reuse T's images; on half B, the threshold's.

The folds keep their sorted calibration scores and the held-out score matrices, so moving alpha
(`ConformalFit.at_alpha`) costs a few lookups and one comparison per held-out class score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from app.core.calibration.conformal import ConformalClassifier
from app.core.calibration.conformal_card import to_card_dict
from app.core.calibration.conformity_scores import (
    RAPS_K_REG,
    RAPS_LAMBDA,
    check_alpha,
    class_coverage,
    class_scores,
    coverage,
    coverage_level,
    mean_set_size,
    prediction_sets,
    required_samples,
    set_size_histogram,
)
from app.core.calibration.temperature import MIN_FIT_SAMPLES, TemperatureScaler
from app.core.calibration.validation import validate_logits_and_labels
from app.core.errors import DataError
from app.core.numeric import softmax

N_FOLDS = 5


def stratified_parts(labels: np.ndarray, n_parts: int, rng: np.random.Generator) -> np.ndarray:
    """Assign every image to one of ``n_parts`` parts, stratified by class.

    Images are shuffled within each class, the classes are laid end to end and position ``i``
    goes to part ``i % n_parts``: every part gets the same share of every class (to one image)
    and part sizes differ by at most one.

    Returns
    -------
    ndarray of shape (n_images,)
        Part index (int64) of every image.
    """
    y = np.asarray(labels)
    order = np.lexsort((rng.permutation(y.shape[0]), y))  # by class, random within a class
    parts = np.empty(y.shape[0], dtype=np.int64)
    parts[order] = np.arange(y.shape[0]) % n_parts
    return parts


@dataclass
class _Fold:
    classifier: ConformalClassifier
    rows: np.ndarray  # held-out image indices
    scores: np.ndarray  # (rows, C) class scores under the fold's T
    top: np.ndarray | None  # top class of each held-out row (APS/RAPS), else None


@dataclass
class ConformalFit:
    """A conformal threshold fitted under a temperature fitted on other images.

    Attributes
    ----------
    classifier : ConformalClassifier
        The final sets: threshold on half B under ``temperature``.
    temperature : float
        T fitted on half A; the card's ``calibration.temperature`` must be this T.
    halves : ndarray of shape (n_images,)
        0 for the images that fitted T (half A), 1 for those that fitted the threshold (B).
    labels : ndarray of shape (n_images,)
        The labels, validated.
    folds
        Internal: the held-out folds of the measurement.
    sets : ndarray of bool, shape (n_images, n_classes)
        Held-out sets of every labelled image (5-fold, see the module docstring).
    coverage, mean_set_size : float
        Held-out coverage and mean set size.
    class_coverage : ndarray of shape (n_classes,)
        Held-out coverage per class (NaN for a class without images).
    set_sizes : ndarray of shape (n_classes + 1,)
        Held-out number of sets of each size.
    warnings : list of str
        From the temperature fit and the final threshold.
    """

    classifier: ConformalClassifier
    temperature: float
    halves: np.ndarray
    labels: np.ndarray
    folds: list[_Fold]
    temperature_warnings: list[str]
    sets: np.ndarray = field(init=False)
    coverage: float = field(init=False)
    mean_set_size: float = field(init=False)
    class_coverage: np.ndarray = field(init=False)
    set_sizes: np.ndarray = field(init=False)
    warnings: list[str] = field(init=False)

    def __post_init__(self) -> None:
        n_classes = self.classifier.n_classes_
        sets = np.zeros((self.labels.shape[0], n_classes), dtype=bool)
        for fold in self.folds:
            thresholds = fold.classifier.thresholds()
            sets[fold.rows] = prediction_sets(fold.scores, thresholds, fold.top)
        self.sets = sets
        self.coverage = coverage(sets, self.labels)
        self.mean_set_size = mean_set_size(sets)
        self.class_coverage = class_coverage(sets, self.labels, n_classes)
        self.set_sizes = set_size_histogram(sets)
        self.warnings = [*self.temperature_warnings, *self.classifier.warnings_]
        self.warnings += _held_out_warnings(self)

    def at_alpha(self, alpha: float) -> ConformalFit:
        """The same fit re-thresholded at ``alpha`` (no refit of T, no re-scoring)."""
        alpha = check_alpha(alpha)
        folds = [replace(f, classifier=f.classifier.with_alpha(alpha)) for f in self.folds]
        return replace(self, classifier=self.classifier.with_alpha(alpha), folds=folds)

    def to_json(self) -> dict[str, Any]:
        """The ``calibrate --json`` ``conformal`` object (plain Python values)."""
        card = to_card_dict(self.classifier)
        return {
            **{k: card[k] for k in ("method", "alpha", "threshold", "n", "by_class")},
            "coverage": self.coverage,
            "mean_set_size": self.mean_set_size,
            "class_coverage": [None if math.isnan(c) else float(c) for c in self.class_coverage],
            "set_sizes": self.set_sizes.tolist(),
            "n_evaluated": int(self.labels.shape[0]),
        }

    def to_card_dict(self) -> dict[str, Any]:
        """``calibration.conformal`` for the card, with the held-out figures."""
        return {
            **to_card_dict(self.classifier),
            "held_out": {"coverage": self.coverage, "mean_set_size": self.mean_set_size},
        }


def _held_out_warnings(fit: ConformalFit) -> list[str]:
    """What the held-out sets show that the user should hear about (empty or bloated sets)."""
    found = []
    alpha, n = fit.classifier.alpha, fit.labels.shape[0]
    empty = fit.set_sizes[0] / n
    if empty >= 0.05:
        # Exact coverage at 1 - alpha forces empty sets once the model is more accurate.
        found.append(
            f"{empty:.0%} of the held-out sets are empty: the model is more accurate than the "
            f"{coverage_level(alpha)} asked for; a smaller alpha gives sets that name a class"
        )
    if fit.coverage > 1.0 - alpha + 0.05:
        method = fit.classifier.method
        # LAC over-covers only when held-out answers tie at its threshold: nothing to switch to.
        why = ("non-randomised sets over-cover on confident models; prefer lac" if method != "lac"
               else "more than asked, which is safe, but the sets say less than they could")
        found.append(
            f"{method} sets cover {fit.coverage:.1%} for {coverage_level(alpha)} asked (mean "
            f"size {fit.mean_set_size:.2g} of {fit.set_sizes.shape[0] - 1} classes): {why}"
        )
    return found


def _fit_once(
    z: np.ndarray, y: np.ndarray, rng: np.random.Generator, params: dict[str, Any]
) -> tuple[ConformalClassifier, TemperatureScaler, np.ndarray]:
    half = stratified_parts(y, 2, rng)
    scaler = TemperatureScaler().fit(z[half == 0], y[half == 0])
    t = scaler.temperature_
    p_b = softmax(z[half == 1], t)
    classifier = ConformalClassifier(**params).fit(p_b, y[half == 1], temperature=t)
    return classifier, scaler, half


def _minimum_images(alpha: float, n_classes: int) -> int:
    """Images that certainly leave >= the needed count in every threshold and T half."""
    need = max(required_samples(alpha), MIN_FIT_SAMPLES)
    n = math.ceil(2 * need * N_FOLDS / (N_FOLDS - 1))
    # Smallest part sizes: fold training sets lose at most ceil(n / K); halves floor.
    while (n - math.ceil(n / N_FOLDS)) // 2 < need:
        n += 1
    return max(n, n_classes)


def fit_temperature_and_sets(
    logits: np.ndarray,
    labels: np.ndarray,
    alpha: float = 0.1,
    method: str = "lac",
    by_class: bool = False,
    seed: int = 0,
    lam: float = RAPS_LAMBDA,
    k_reg: int = RAPS_K_REG,
    class_names: Sequence[str] | None = None,
) -> ConformalFit:
    """Fit T and a conformal threshold on disjoint halves and measure them on unseen images.

    Parameters
    ----------
    logits : array-like of shape (n_images, n_classes)
        Pre-softmax scores of labelled held-out images (not training data).
    labels : array-like of shape (n_images,)
        Integer class indices.
    alpha : float, default=0.1
        Miscoverage level in (0, 1).
    method : {"lac", "aps", "raps"}, default="lac"
        Conformity score.
    by_class : bool, default=False
        Per-class (Mondrian) thresholds.
    seed : int, default=0
        Seed of the stratified splits; the same seed gives the same fit.
    lam, k_reg : float and int
        RAPS penalty (see `ConformalClassifier`).
    class_names : sequence of str, optional
        Names of the classes, for the warnings (else their indices).

    Returns
    -------
    ConformalFit

    Raises
    ------
    DataError
        Invalid logits or labels, alpha outside (0, 1), or too few images for the halves and
        the held-out folds.
    """
    alpha = check_alpha(alpha)
    z, y = validate_logits_and_labels(logits, labels)
    n, n_classes = z.shape
    needed = _minimum_images(alpha, n_classes)
    if n < needed:
        raise DataError(
            f"{coverage_level(alpha)} prediction sets need at least {needed} labelled images (half fit "
            f"the temperature, half the threshold, and each is also held out once); got {n}"
        )
    params = {"method": method, "alpha": alpha, "by_class": by_class, "lam": lam, "k_reg": k_reg,
              "class_names": class_names}
    final_seed, fold_seed = np.random.SeedSequence(seed).spawn(2)
    classifier, scaler, halves = _fit_once(z, y, np.random.default_rng(final_seed), params)

    fold_rng = np.random.default_rng(fold_seed)
    fold_of = stratified_parts(y, N_FOLDS, fold_rng)
    folds = []
    for k in range(N_FOLDS):
        train, rows = np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)
        fold_classifier, fold_scaler, _ = _fit_once(z[train], y[train], fold_rng, params)
        p = softmax(z[rows], fold_scaler.temperature_)
        scores = class_scores(p, classifier.method, lam, k_reg)
        top = None if classifier.method == "lac" else np.argmax(p, axis=1)
        folds.append(_Fold(fold_classifier, rows, scores, top))
    return ConformalFit(classifier, scaler.temperature_, halves, y, folds, list(scaler.warnings_))
