"""Metrics for out-of-distribution detection: AUROC, AUPR, FPR at a TPR, thresholds.

Convention everywhere: a higher score means "more in-distribution", a sample is accepted as
in-distribution when ``score >= threshold``, and in-distribution samples are the positive class.
"""

import math

import numpy as np

from app.core.errors import DataError


def _as_scores(scores: np.ndarray, name: str) -> np.ndarray:
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 1:
        raise DataError(f"{name} must be a 1-D array of scores, got shape {np.shape(scores)}")
    if values.size == 0:
        raise DataError(f"{name} is empty: at least one score is needed")
    if np.isnan(values).any():
        raise DataError(f"{name} contains NaN scores")
    return values


def _average_ranks(values: np.ndarray) -> np.ndarray:
    # 1-based ranks where tied values share the mean of the ranks they span (scipy's "average").
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return (ends - (counts - 1) / 2.0)[inverse]


def acceptance_rate(scores: np.ndarray, threshold: float) -> float:
    """Fraction of samples accepted as in-distribution, i.e. with ``score >= threshold``.

    Parameters
    ----------
    scores : array-like of shape (n_samples,)
        OOD scores, higher meaning more in-distribution.
    threshold : float
        Acceptance threshold.

    Returns
    -------
    float
        ``mean(scores >= threshold)``, in [0, 1].
    """
    values = _as_scores(scores, "scores")
    return float(np.count_nonzero(values >= float(threshold)) / values.size)


def threshold_for_tpr(in_scores: np.ndarray, tpr: float = 0.95) -> float:
    """The largest threshold that accepts at least ``tpr`` of the in-distribution scores.

    Exactly: the largest ``t`` with ``acceptance_rate(in_scores, t) >= tpr``. Such a ``t`` is
    always one of ``in_scores``: with ``s`` sorted in decreasing order and ``k`` the smallest
    integer with ``k / n >= tpr`` (compared in float64, as :func:`acceptance_rate` computes it),
    ``t = s[k - 1]``. When several scores tie at ``t``, all of them are accepted, so the
    achieved rate can exceed ``tpr``; any larger threshold would accept fewer than ``k``.

    Parameters
    ----------
    in_scores : array-like of shape (n_samples,)
        Scores of held-out in-distribution samples.
    tpr : float, default=0.95
        Target true-positive (in-distribution acceptance) rate, in (0, 1].

    Returns
    -------
    float
        The threshold.
    """
    values = _as_scores(in_scores, "in_scores")
    tpr = float(tpr)
    if not 0.0 < tpr <= 1.0:
        raise DataError(f"target TPR must be in (0, 1], got {tpr}")
    n = values.size
    # ceil(tpr * n) can be off by one from float rounding (0.7 * 10 = 7.000000000000001), so
    # settle k against the same k / n >= tpr comparison that acceptance_rate makes.
    k = min(max(math.ceil(tpr * n), 1), n)
    while k > 1 and (k - 1) / n >= tpr:
        k -= 1
    while k < n and k / n < tpr:
        k += 1
    descending = -np.sort(-values)
    return float(descending[k - 1])


def fpr_at_tpr(in_scores: np.ndarray, out_scores: np.ndarray, tpr: float = 0.95) -> float:
    """Fraction of OOD samples accepted at the threshold that accepts ``tpr`` of in-distribution.

    The threshold is :func:`threshold_for_tpr` of ``in_scores``; this equals the false-positive
    rate at the first point of an unthinned ROC curve (``sklearn.metrics.roc_curve`` with
    ``drop_intermediate=False``) whose true-positive rate reaches ``tpr``.

    Parameters
    ----------
    in_scores : array-like of shape (n_in,)
        Scores of in-distribution samples (positives).
    out_scores : array-like of shape (n_out,)
        Scores of out-of-distribution samples (negatives).
    tpr : float, default=0.95
        Target true-positive rate, in (0, 1].

    Returns
    -------
    float
        False-positive rate in [0, 1]; lower is better.
    """
    return acceptance_rate(out_scores, threshold_for_tpr(in_scores, tpr))


def auroc(in_scores: np.ndarray, out_scores: np.ndarray) -> float:
    """Area under the ROC curve with in-distribution as the positive class.

    Computed from ranks as the Mann-Whitney U statistic: the probability that a random
    in-distribution score is higher than a random OOD score, ties counting one half. This is
    what ``sklearn.metrics.roc_auc_score`` returns. Runs in O((n + m) log(n + m)).

    Parameters
    ----------
    in_scores : array-like of shape (n_in,)
        Scores of in-distribution samples (positives).
    out_scores : array-like of shape (n_out,)
        Scores of out-of-distribution samples (negatives).

    Returns
    -------
    float
        AUROC in [0, 1]; 0.5 is chance, 1 a perfect separation.
    """
    positives = _as_scores(in_scores, "in_scores")
    negatives = _as_scores(out_scores, "out_scores")
    ranks = _average_ranks(np.concatenate([positives, negatives]))
    n_pos, n_neg = positives.size, negatives.size
    u_statistic = ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u_statistic / (n_pos * n_neg))


def aupr(in_scores: np.ndarray, out_scores: np.ndarray) -> float:
    """Area under the precision-recall curve, in-distribution positive, as average precision.

    ``AP = sum_t (R_t - R_{t-1}) P_t`` over the distinct score values ``t`` in decreasing order,
    without interpolation, as ``sklearn.metrics.average_precision_score``. Tied scores enter
    the curve together.

    Parameters
    ----------
    in_scores : array-like of shape (n_in,)
        Scores of in-distribution samples (positives).
    out_scores : array-like of shape (n_out,)
        Scores of out-of-distribution samples (negatives).

    Returns
    -------
    float
        Average precision in [0, 1]; chance level is ``n_in / (n_in + n_out)``.
    """
    positives = _as_scores(in_scores, "in_scores")
    negatives = _as_scores(out_scores, "out_scores")
    scores = np.concatenate([positives, negatives])
    is_positive = np.concatenate([np.ones(positives.size), np.zeros(negatives.size)])
    order = np.argsort(-scores, kind="stable")
    scores, is_positive = scores[order], is_positive[order]
    # Last index of each run of equal scores: a threshold there accepts the whole run.
    run_ends = np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1]
    true_pos = np.cumsum(is_positive)[run_ends]
    precision = true_pos / (run_ends + 1)
    recall = true_pos / positives.size
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))
