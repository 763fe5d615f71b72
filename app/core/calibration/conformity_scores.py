"""Conformity scores, the finite-sample conformal quantile and prediction-set metrics.

Scores (lower = the class fits the image better) on probabilities ``p`` of shape (n, C):

- LAC (Sadinle et al. 2019): ``1 - p_y``.
- APS (Romano et al. 2020), not randomised: the probability mass of every class ranked at or
  above ``y``, classes sorted by probability descending, ties broken by the lower class index
  first (the order of ``argmax``).
- RAPS (Angelopoulos et al. 2021), not randomised: APS plus ``lam * max(0, rank_y - k_reg)``
  with ``rank_y`` 1-based. The penalty makes every class past rank ``k_reg`` cost ``lam`` more
  than the one before, so a confident model no longer drags its long tail of near-zero classes
  into the set.

Every score is read from one (n, C) matrix of the scores of all classes (`class_scores`), so the
calibration scores and the sets of new images come from the very same arithmetic: a
calibration image re-scored later lands exactly on its own score.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from app.core.errors import DataError

Method = Literal["lac", "aps", "raps"]
METHODS: tuple[str, ...] = ("lac", "aps", "raps")

# Angelopoulos et al. tune (lam, k_reg) on a further split; on 10-class models k_reg = 1 and
# lam = 0.01 already remove the tail (rank 2 costs 0.01 more, rank 3 0.02, ...) while a
# genuinely ambiguous second class (p >= 0.01 beyond the threshold's slack) still gets in.
RAPS_LAMBDA = 0.01
RAPS_K_REG = 1

# Scores within this of the threshold count as below it (MAPIE uses the same 1e-8): cumulative
# sums taken in another order or precision must not flip a boundary class out of the set.
SCORE_ATOL = 1e-8

_ROW_SUM_TOLERANCE = 1e-3  # as in calibration_metrics: float32 softmax rows are off by ~1e-7 C


def validate_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """Check probabilities and return them as a float64 (n, C) array.

    Raises
    ------
    DataError
        Not a 2-D numeric array, no rows, fewer than 2 classes, NaN/inf, values outside
        [0, 1] or rows that do not sum to 1 (within 1e-3).
    """
    p = np.asarray(probabilities)
    if p.dtype == np.bool_ or not np.issubdtype(p.dtype, np.number) or np.iscomplexobj(p):
        raise DataError(f"probabilities must be a real numeric array; got dtype {p.dtype}")
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] < 2:
        raise DataError(
            f"probabilities must have shape (n_images, n_classes) with n_classes >= 2; "
            f"got shape {p.shape}"
        )
    p = p.astype(np.float64, copy=False)
    low, high = p.min(), p.max()
    # NaN fails both comparisons, so one test covers NaN, inf and out-of-range values.
    if not (low >= 0.0 and high <= 1.0 + _ROW_SUM_TOLERANCE):
        raise DataError(
            f"probabilities must be finite and lie in [0, 1]; got values from {low:.4g} to "
            f"{high:.4g} (logits? apply the softmax first)"
        )
    row_error = float(np.abs(p.sum(axis=1) - 1.0).max())
    if row_error > _ROW_SUM_TOLERANCE:
        raise DataError(f"probability rows must sum to 1; a row is off by {row_error:.3g}")
    return p


def check_method(method: str) -> str:
    """Return ``method`` lower-cased if it is one of "lac", "aps", "raps"; else DataError."""
    name = str(method).lower()
    if name not in METHODS:
        raise DataError(f"conformal method must be one of lac, aps, raps; got {method!r}")
    return name


def descending_order(p: np.ndarray) -> np.ndarray:
    """Class indices of every row, most probable first, ties by lower class index first."""
    # A stable sort of -p keeps tied classes in index order, i.e. the order argmax breaks ties.
    return np.argsort(-p, axis=1, kind="stable")


def class_scores(
    probabilities: np.ndarray,
    method: Method = "lac",
    lam: float = RAPS_LAMBDA,
    k_reg: int = RAPS_K_REG,
) -> np.ndarray:
    """Conformity score of every class of every image.

    Parameters
    ----------
    probabilities : array-like of shape (n_images, n_classes)
        Calibrated probabilities.
    method : {"lac", "aps", "raps"}, default="lac"
        Score (see the module docstring).
    lam : float, default=0.01
        RAPS penalty per rank beyond ``k_reg``; ignored by the other scores.
    k_reg : int, default=1
        RAPS: number of top ranks without a penalty.

    Returns
    -------
    ndarray of shape (n_images, n_classes)
        float64 scores; lower means the class fits the image better.
    """
    p = validate_probabilities(probabilities)
    method = check_method(method)  # type: ignore[assignment]
    if method == "lac":
        return 1.0 - p
    order = descending_order(p)
    cumulative = np.cumsum(np.take_along_axis(p, order, axis=1), axis=1)
    if method == "raps":
        ranks = np.arange(1, p.shape[1] + 1)
        cumulative += float(lam) * np.maximum(ranks - int(k_reg), 0)
    scores = np.empty_like(p)
    np.put_along_axis(scores, order, cumulative, axis=1)
    return scores


def label_scores(
    probabilities: np.ndarray,
    labels: np.ndarray,
    method: Method = "lac",
    lam: float = RAPS_LAMBDA,
    k_reg: int = RAPS_K_REG,
) -> np.ndarray:
    """Conformity score of the true class of every image (the calibration scores).

    ``labels`` are integer class indices, already validated; the other parameters are those of
    `class_scores`. Returns an (n_images,) float64 array in image order.
    """
    scores = class_scores(probabilities, method, lam, k_reg)
    return scores[np.arange(scores.shape[0]), np.asarray(labels, dtype=np.int64)]


def check_alpha(alpha: float) -> float:
    """Return ``alpha`` as a float if it lies in (0, 1); else DataError."""
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise DataError(f"alpha must be a number in (0, 1); got {alpha!r}") from None
    if not 0.0 < value < 1.0:
        raise DataError(f"alpha must lie in (0, 1), e.g. 0.1 for 90 % sets; got {alpha!r}")
    return value


def coverage_level(alpha: float) -> str:
    """``1 - alpha`` as the user reads it: "90 %", "97.5 %"."""
    return f"{100.0 * (1.0 - alpha):.4g} %"


def quantile_rank(n: int, alpha: float) -> int:
    """The 1-based rank ``ceil((n + 1) * (1 - alpha))`` of the conformal threshold.

    A rank above ``n`` means no calibration score is large enough (the threshold would be +inf).
    """
    # (n + 1) * (1 - alpha) picks up rounding error (1 - 0.7 is 0.30000000000000004); a slack
    # far below one image keeps the integer the user's decimal alpha means.
    return max(1, math.ceil((n + 1) * (1.0 - alpha) - 1e-9 * (n + 1)))


def required_samples(alpha: float) -> int:
    """Fewest calibration images for which the threshold is finite: ``ceil(1/alpha) - 1``."""
    alpha = check_alpha(alpha)
    n = max(1, math.ceil(1.0 / alpha - 1.0 - 1e-9))
    # Pin the answer to quantile_rank itself so the two can never disagree through rounding.
    while n > 1 and quantile_rank(n - 1, alpha) <= n - 1:
        n -= 1
    while quantile_rank(n, alpha) > n:
        n += 1
    return n


def conformal_quantile(sorted_scores: np.ndarray, alpha: float) -> float:
    """The ``ceil((n + 1)(1 - alpha))``-th smallest calibration score (method "higher").

    Parameters
    ----------
    sorted_scores : ndarray of shape (n,)
        Calibration scores sorted ascending.
    alpha : float
        Miscoverage level in (0, 1).

    Returns
    -------
    float
        The threshold ``q``: sets ``{y : s(x, y) <= q}`` contain the true class of a new
        exchangeable image with probability at least ``1 - alpha``.

    Raises
    ------
    DataError
        alpha outside (0, 1), or fewer than ``ceil(1/alpha) - 1`` scores.
    """
    alpha = check_alpha(alpha)
    n = int(sorted_scores.shape[0])
    rank = quantile_rank(n, alpha)
    if rank > n:
        raise DataError(
            f"{coverage_level(alpha)} prediction sets need at least {required_samples(alpha)} labelled "
            f"images to fit the threshold; got {n}"
        )
    return float(sorted_scores[rank - 1])


def prediction_sets(
    scores: np.ndarray, thresholds: float | np.ndarray, always_include: np.ndarray | None = None
) -> np.ndarray:
    """Boolean set membership ``scores <= thresholds`` (+ 1e-8), optionally forcing a class in.

    Parameters
    ----------
    scores : ndarray of shape (n_images, n_classes)
        From `class_scores`.
    thresholds : float or ndarray of shape (n_classes,)
        One threshold, or one per class (Mondrian).
    always_include : ndarray of shape (n_images,), optional
        A class per image that is in its set whatever its score (APS/RAPS: the top class).

    Returns
    -------
    ndarray of bool, shape (n_images, n_classes)
    """
    # Written as a difference, like MAPIE, so boundary cases round the same way.
    sets = np.asarray(scores - np.asarray(thresholds, dtype=np.float64) <= SCORE_ATOL)
    if always_include is not None:
        sets[np.arange(sets.shape[0]), always_include] = True
    return sets


# --------------------------------------------------------------------------- set metrics


def _check_sets(sets: np.ndarray) -> np.ndarray:
    mask = np.asarray(sets)
    if mask.ndim != 2 or mask.dtype != np.bool_:
        raise DataError(f"sets must be a boolean (n_images, n_classes) mask; got {mask.dtype}")
    return mask


def _check_set_labels(sets: np.ndarray, labels: np.ndarray) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim != 1 or y.shape[0] != sets.shape[0] or not np.issubdtype(y.dtype, np.integer):
        raise DataError(
            f"labels must be {sets.shape[0]} integer class indices; got shape {y.shape}, "
            f"dtype {y.dtype}"
        )
    if y.size and (y.min() < 0 or y.max() >= sets.shape[1]):
        raise DataError(f"labels must lie in [0, {sets.shape[1] - 1}]")
    return y.astype(np.int64, copy=False)


def coverage(sets: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of images whose set contains the true class."""
    mask = _check_sets(sets)
    y = _check_set_labels(mask, labels)
    return float(mask[np.arange(y.shape[0]), y].mean())


def mean_set_size(sets: np.ndarray) -> float:
    """Mean number of classes per set (an empty set counts 0)."""
    return float(_check_sets(sets).sum(axis=1).mean())


def class_coverage(sets: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Coverage among the images of each class; NaN for a class with no images.

    Returns an (n_classes,) float64 array.
    """
    mask = _check_sets(sets)
    if mask.shape[1] != n_classes:
        raise DataError(f"sets have {mask.shape[1]} classes; expected {n_classes}")
    y = _check_set_labels(mask, labels)
    hits = mask[np.arange(y.shape[0]), y].astype(np.float64)
    counts = np.bincount(y, minlength=n_classes)
    covered = np.bincount(y, weights=hits, minlength=n_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, covered / np.maximum(counts, 1), np.nan)


def set_size_histogram(sets: np.ndarray) -> np.ndarray:
    """Number of sets of each size 0, 1, ..., n_classes (int64, length n_classes + 1)."""
    mask = _check_sets(sets)
    return np.bincount(mask.sum(axis=1), minlength=mask.shape[1] + 1).astype(np.int64)
