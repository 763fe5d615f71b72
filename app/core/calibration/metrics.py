"""Calibration metrics on predicted probabilities, and the report behind ``probscope calibrate``.

Every metric takes ``probs`` of shape (n_samples, n_classes) and integer ``labels`` of shape
(n_samples,) and computes in float64. Binned metrics use 15 bins by default, as in Guo et al.
(2017), "On Calibration of Modern Neural Networks".

Binning (equal-width and equal-mass) is described in :mod:`app.core.calibration.binning`.
"""

from __future__ import annotations

import numpy as np

from app.core.calibration.binning import (
    DEFAULT_N_BINS,
    BinStrategy,
    ReliabilityBins,
    _bin_sums,
    _brier,
    _classwise_ece,
    _max_gap,
    _quantile_bin_index,
    _reliability_from_top_label,
    _top_label,
    _uniform_bin_index,
    _weighted_gap,
    top_label_bin_sums,
)
from app.core.calibration.validation import (
    _check_n_bins,
    validate_logits_and_labels,
    validate_probabilities_and_labels,
)
from app.core.numeric import check_temperature, log_softmax

__all__ = ["DEFAULT_N_BINS", "ReliabilityBins"]


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of samples whose most probable class is the label.

    Parameters
    ----------
    probs : array-like of shape (n_samples, n_classes)
        Predicted probabilities.
    labels : array-like of shape (n_samples,)
        Integer class indices.

    Returns
    -------
    float
        Accuracy in [0, 1]; ties go to the lowest class index (``argmax``).
    """
    p, y = validate_probabilities_and_labels(probs, labels)
    return float(np.mean(p.argmax(axis=1) == y))


def negative_log_likelihood(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-probability of the true class.

    Parameters
    ----------
    probs : array-like of shape (n_samples, n_classes)
        Predicted probabilities.
    labels : array-like of shape (n_samples,)
        Integer class indices.

    Returns
    -------
    float
        ``-mean(log p[i, labels[i]])`` in nats. Probabilities of exactly 0 are raised to the
        smallest positive float64 so the result stays finite (about 708 nats for such a sample);
        prefer `nll_from_logits`, which is exact.
    """
    p, y = validate_probabilities_and_labels(probs, labels)
    p_true = np.maximum(p[np.arange(p.shape[0]), y], np.finfo(np.float64).tiny)
    # max: a perfect fit is 0, not -0 (or -1e-9 of rounding), as the table prints it.
    return max(0.0, float(-np.mean(np.log(p_true))))


def nll_from_logits(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``softmax(logits / temperature)``, computed from logits.

    Parameters
    ----------
    logits : array-like of shape (n_samples, n_classes)
        Pre-softmax scores.
    labels : array-like of shape (n_samples,)
        Integer class indices.
    temperature : float, default=1.0
        Positive temperature.

    Returns
    -------
    float
        NLL in nats. Exact even where the softmax saturates to 0 or 1, unlike
        `negative_log_likelihood` on probabilities.
    """
    z, y = validate_logits_and_labels(logits, labels)
    t = check_temperature(temperature)
    return max(0.0, float(-np.mean(log_softmax(z, t)[np.arange(z.shape[0]), y])))


def brier_score(probs: np.ndarray, labels: np.ndarray) -> float:
    """Multiclass Brier score.

    Parameters
    ----------
    probs : array-like of shape (n_samples, n_classes)
        Predicted probabilities.
    labels : array-like of shape (n_samples,)
        Integer class indices.

    Returns
    -------
    float
        ``mean_i sum_c (p[i, c] - 1[labels[i] == c])**2``, in [0, 2] (Brier's original
        multiclass form, not divided by the number of classes).
    """
    p, y = validate_probabilities_and_labels(probs, labels)
    return _brier(p, y)


def expected_calibration_error(
    probs: np.ndarray, labels: np.ndarray, n_bins: int = DEFAULT_N_BINS
) -> float:
    """Expected calibration error of the top-label confidence, equal-width bins.

    Parameters
    ----------
    probs : array-like of shape (n_samples, n_classes)
        Predicted probabilities.
    labels : array-like of shape (n_samples,)
        Integer class indices.
    n_bins : int, default=15
        Number of equal-width bins on [0, 1]; bin ``i`` is ``(i/n_bins, (i+1)/n_bins]``.

    Returns
    -------
    float
        ``sum_b |B_b|/n * |acc(B_b) - conf(B_b)|`` (Guo et al. 2017), in [0, 1].
    """
    p, y = validate_probabilities_and_labels(probs, labels)
    _, sum_conf, sum_correct = top_label_bin_sums(p, y, _check_n_bins(n_bins), "uniform")
    return _weighted_gap(sum_conf, sum_correct, p.shape[0])


def adaptive_calibration_error(
    probs: np.ndarray, labels: np.ndarray, n_bins: int = DEFAULT_N_BINS
) -> float:
    """Expected calibration error of the top-label confidence, equal-mass bins.

    Parameters
    ----------
    probs : array-like of shape (n_samples, n_classes)
        Predicted probabilities.
    labels : array-like of shape (n_samples,)
        Integer class indices.
    n_bins : int, default=15
        Number of equal-mass bins.

    Returns
    -------
    float
        ``sum_b |B_b|/n * |acc(B_b) - conf(B_b)|`` where the bins are the samples sorted by
        confidence (stable sort, ties keep sample order) and cut like ``np.array_split`` into
        ``n_bins`` chunks; empty chunks (fewer samples than bins) are skipped.
    """
    p, y = validate_probabilities_and_labels(probs, labels)
    _, sum_conf, sum_correct = top_label_bin_sums(p, y, _check_n_bins(n_bins), "quantile")
    return _weighted_gap(sum_conf, sum_correct, p.shape[0])


def maximum_calibration_error(
    probs: np.ndarray, labels: np.ndarray, n_bins: int = DEFAULT_N_BINS
) -> float:
    """Largest calibration gap over the non-empty equal-width bins.

    Parameters
    ----------
    probs : array-like of shape (n_samples, n_classes)
        Predicted probabilities.
    labels : array-like of shape (n_samples,)
        Integer class indices.
    n_bins : int, default=15
        Number of equal-width bins, as in `expected_calibration_error`.

    Returns
    -------
    float
        ``max_b |acc(B_b) - conf(B_b)|`` over bins holding at least one sample, in [0, 1].
    """
    p, y = validate_probabilities_and_labels(probs, labels)
    counts, sum_conf, sum_correct = top_label_bin_sums(p, y, _check_n_bins(n_bins), "uniform")
    return _max_gap(counts, sum_conf, sum_correct)


def classwise_calibration_error(
    probs: np.ndarray, labels: np.ndarray, n_bins: int = DEFAULT_N_BINS
) -> float:
    """Class-wise expected calibration error (Kull et al. 2019).

    Parameters
    ----------
    probs : array-like of shape (n_samples, n_classes)
        Predicted probabilities.
    labels : array-like of shape (n_samples,)
        Integer class indices.
    n_bins : int, default=15
        Number of equal-width bins per class, as in `expected_calibration_error`.

    Returns
    -------
    float
        Mean over classes ``c`` of the ECE of ``probs[:, c]`` against ``1[labels == c]``,
        i.e. ``1/k sum_c sum_b |B_cb|/n * |freq_c(B_cb) - mean p_c(B_cb)|``. Every class column
        counts, including classes absent from ``labels``.
    """
    p, y = validate_probabilities_and_labels(probs, labels)
    return _classwise_ece(p, y, _check_n_bins(n_bins))


def reliability_diagram(
    probs: np.ndarray,
    labels: np.ndarray,
    n_bins: int = DEFAULT_N_BINS,
    strategy: BinStrategy = "uniform",
) -> ReliabilityBins:
    """Bin the top-label confidence and report accuracy and mean confidence per bin.

    Parameters
    ----------
    probs : array-like of shape (n_samples, n_classes)
        Predicted probabilities.
    labels : array-like of shape (n_samples,)
        Integer class indices.
    n_bins : int, default=15
        Number of bins.
    strategy : {"uniform", "quantile"}, default="uniform"
        Equal-width bins (the bins of `expected_calibration_error`) or equal-mass bins (the
        bins of `adaptive_calibration_error`).

    Returns
    -------
    ReliabilityBins
        Edges, counts, mean confidence and accuracy per bin (NaN for empty bins).
    """
    p, y = validate_probabilities_and_labels(probs, labels)
    confidence, correct = _top_label(p, y)
    return _reliability_from_top_label(confidence, correct, _check_n_bins(n_bins), strategy)


def ece_bootstrap_interval(
    probs: np.ndarray,
    labels: np.ndarray,
    n_boot: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
    n_bins: int = DEFAULT_N_BINS,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval for `expected_calibration_error`.

    Parameters
    ----------
    probs : array-like of shape (n_samples, n_classes)
        Predicted probabilities.
    labels : array-like of shape (n_samples,)
        Integer class indices.
    n_boot : int, default=200
        Number of bootstrap resamples. Resample ``b`` is
        ``numpy.random.default_rng(seed).integers(0, n, size=n)``, drawn in order.
    alpha : float, default=0.05
        The interval covers ``1 - alpha``.
    seed : int, default=0
        Seed of the generator; the same seed gives the same interval.
    n_bins : int, default=15
        Number of equal-width bins.

    Returns
    -------
    (low, high) : tuple of float
        The ``alpha/2`` and ``1 - alpha/2`` quantiles of the resampled ECEs. ECE is biased
        upwards on small samples, so the interval need not contain the point estimate.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1; got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1); got {alpha}")
    p, y = validate_probabilities_and_labels(probs, labels)
    n_bins = _check_n_bins(n_bins)
    confidence, correct = _top_label(p, y)
    index = _uniform_bin_index(confidence, n_bins)
    gap = correct - confidence
    n_samples = p.shape[0]
    rng = np.random.default_rng(seed)
    eces = np.empty(n_boot)
    for b in range(n_boot):
        draw = rng.integers(0, n_samples, size=n_samples)
        per_bin = np.bincount(index[draw], weights=gap[draw], minlength=n_bins)
        eces[b] = np.abs(per_bin).sum() / n_samples
    low, high = np.quantile(eces, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)


def calibration_report_and_bins(
    logits: np.ndarray,
    labels: np.ndarray,
    temperature: float = 1.0,
    n_bins: int = DEFAULT_N_BINS,
    strategy: BinStrategy = "uniform",
) -> tuple[dict[str, float | int], ReliabilityBins]:
    """`calibration_report` plus the reliability bins, sharing one softmax (the slider path).

    Parameters
    ----------
    logits : array-like of shape (n_samples, n_classes)
        Pre-softmax scores.
    labels : array-like of shape (n_samples,)
        Integer class indices.
    temperature : float, default=1.0
        Positive temperature applied before the softmax.
    n_bins : int, default=15
        Number of bins of the returned reliability diagram (the report always uses 15).
    strategy : {"uniform", "quantile"}, default="uniform"
        Binning of the returned reliability diagram.

    Returns
    -------
    report : dict
        As returned by `calibration_report`.
    bins : ReliabilityBins
        Reliability diagram of ``softmax(logits / temperature)``.
    """
    z, y = validate_logits_and_labels(logits, labels)
    t = check_temperature(temperature)
    n_bins = _check_n_bins(n_bins)
    n_samples = z.shape[0]
    log_p = log_softmax(z, t)
    p = np.exp(log_p)
    confidence, correct = _top_label(p, y)

    counts, sum_conf, sum_correct = _bin_sums(
        _uniform_bin_index(confidence, DEFAULT_N_BINS), confidence, correct, DEFAULT_N_BINS
    )
    adaptive_index, _ = _quantile_bin_index(confidence, DEFAULT_N_BINS)
    _, adaptive_conf, adaptive_correct = _bin_sums(
        adaptive_index, confidence, correct, DEFAULT_N_BINS
    )
    report: dict[str, float | int] = {
        "accuracy": float(correct.mean()),
        "nll": float(-np.mean(log_p[np.arange(n_samples), y])),
        "brier": _brier(p, y),
        "ece": _weighted_gap(sum_conf, sum_correct, n_samples),
        "adaptive_ece": _weighted_gap(adaptive_conf, adaptive_correct, n_samples),
        "mce": _max_gap(counts, sum_conf, sum_correct),
        "classwise_ece": _classwise_ece(p, y, DEFAULT_N_BINS),
        "n": int(n_samples),
    }
    return report, _reliability_from_top_label(confidence, correct, n_bins, strategy)


def calibration_report(
    logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0
) -> dict[str, float | int]:
    """All calibration metrics of ``softmax(logits / temperature)``: the ``--json`` contract.

    Parameters
    ----------
    logits : array-like of shape (n_samples, n_classes)
        Pre-softmax scores.
    labels : array-like of shape (n_samples,)
        Integer class indices.
    temperature : float, default=1.0
        Positive temperature applied before the softmax.

    Returns
    -------
    dict
        Plain Python numbers, ready for ``json.dumps``: ``accuracy``, ``nll`` (exact, from the
        logits), ``brier``, ``ece``, ``adaptive_ece``, ``mce``, ``classwise_ece`` (floats, 15
        bins) and ``n`` (int, the number of samples).
    """
    report, _ = calibration_report_and_bins(logits, labels, temperature)
    return report
