"""Calibration metrics on predicted probabilities, and the report behind ``probscope calibrate``.

Every metric takes ``probs`` of shape (n_samples, n_classes) and integer ``labels`` of shape
(n_samples,) and computes in float64. Binned metrics use 15 bins by default, as in Guo et al.
(2017), "On Calibration of Modern Neural Networks".

Binning conventions
-------------------
Equal-width ("uniform") bins: edges ``np.linspace(0, 1, n_bins + 1)``; bin ``i`` holds the
confidences with ``edges[i] < conf <= edges[i + 1]``, as in Guo et al. and their reference
implementation. A confidence of exactly 0 (possible only for class-wise probabilities) goes to
bin 0 instead of being dropped, and float32 round-off above 1 goes to the last bin.

Equal-mass ("quantile") bins: samples are sorted by confidence with a stable sort (ties keep
sample order) and the sorted order is cut like ``np.array_split(order, n_bins)``: the first
``n % n_bins`` bins hold one sample more than the others; with fewer samples than bins the
trailing bins are empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from app.core.errors import DataError
from app.core.numeric import log_softmax

DEFAULT_N_BINS = 15

# float32 softmax rows sum to 1 only within ~1e-7 * n_classes; anything further off is not a
# probability vector (most often logits passed where probabilities were expected).
_ROW_SUM_TOLERANCE = 1e-3

# Model outputs fit in float32; bounding logits there also keeps differences of logits, and the
# powers of them that temperature scaling takes, finite in float64.
_LOGIT_LIMIT = float(np.finfo(np.float32).max)

BinStrategy = Literal["uniform", "quantile"]


# --------------------------------------------------------------------------- validation


def _as_float_matrix(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.number):
        raise DataError(f"{name} must be a numeric array; got dtype {array.dtype}")
    if np.iscomplexobj(array):
        raise DataError(f"{name} must be real numbers; got complex values")
    if array.ndim != 2:
        raise DataError(
            f"{name} must be a 2-D array (n_samples, n_classes); got a {array.ndim}-D array "
            f"of shape {array.shape}"
        )
    n_samples, n_classes = array.shape
    if n_samples == 0:
        raise DataError(f"{name} hold no samples")
    if n_classes < 2:
        raise DataError(f"{name} need at least 2 classes; got {n_classes} column(s)")
    return array.astype(np.float64, copy=False)


def _check_labels(labels: np.ndarray, n_samples: int, n_classes: int, rows_of: str) -> np.ndarray:
    array = np.asarray(labels)
    if array.ndim != 1:
        hint = " (one-hot labels? pass labels.argmax(axis=1))" if array.ndim == 2 else ""
        raise DataError(
            f"labels must be a 1-D array of class indices; got shape {array.shape}{hint}"
        )
    if array.shape[0] != n_samples:
        raise DataError(f"{rows_of} have {n_samples} rows but labels have {array.shape[0]} entries")
    if np.issubdtype(array.dtype, np.integer):
        indices = array.astype(np.int64, copy=False)
    elif np.issubdtype(array.dtype, np.floating):
        # Labels read back from .npz/.csv are often floats; accept them only if they are whole.
        whole = np.isfinite(array) & (array == np.round(array))
        if not whole.all():
            bad = array[~whole][0]
            raise DataError(f"labels must be integer class indices; got non-integer value {bad}")
        indices = array.astype(np.int64)
    else:
        raise DataError(f"labels must be integer class indices; got dtype {array.dtype}")
    low, high = int(indices.min()), int(indices.max())
    if low < 0 or high >= n_classes:
        raise DataError(
            f"labels must lie in [0, {n_classes - 1}] for {n_classes} classes; "
            f"got values from {low} to {high}"
        )
    return indices


def validate_logits(logits: np.ndarray) -> np.ndarray:
    """Check logits and return them as a float64 (n, k) array (no copy if already float64).

    Raises
    ------
    DataError
        One-line message for: non-2-D or non-numeric logits, no samples, fewer than 2 classes,
        NaN or inf values, values beyond the float32 range.
    """
    z = _as_float_matrix(logits, "logits")
    low, high = z.min(), z.max()
    # Two reductions instead of an isfinite pass; NaN fails both comparisons.
    if not (low >= -_LOGIT_LIMIT and high <= _LOGIT_LIMIT):
        finite = np.isfinite(z)
        if not finite.all():
            bad = z[~finite]
            message = (
                f"logits contain {bad.size} NaN or inf value(s); calibration needs finite logits"
            )
            if np.all(bad == -np.inf):
                # -inf is what log(p) gives for a probability that underflowed to 0.
                message += " (log of a zero probability? clip probabilities, e.g. to 1e-12, first)"
            raise DataError(message)
        raise DataError(
            f"logits reach {max(-low, high):.3g}, beyond the float32 range; "
            "expected a model's pre-softmax scores"
        )
    return z


def validate_logits_and_labels(
    logits: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Check logits and labels and return them as float64 (n, k) and int64 (n,) arrays.

    Raises
    ------
    DataError
        One-line message for the problems listed in `validate_logits`, and for labels of the
        wrong shape or length, non-integer or out-of-range labels.
    """
    z = validate_logits(logits)
    return z, _check_labels(labels, z.shape[0], z.shape[1], "logits")


def validate_probabilities_and_labels(
    probs: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Check probabilities and labels and return them as float64 (n, k) and int64 (n,) arrays.

    Raises
    ------
    DataError
        One-line message for: non-2-D input, NaN/inf, values outside [0, 1], rows that do not
        sum to 1 (within 1e-3), and the label problems listed in `validate_logits_and_labels`.
    """
    p = _as_float_matrix(probs, "probabilities")
    if not np.isfinite(p).all():
        raise DataError("probabilities contain NaN or inf values")
    if p.min() < 0.0 or p.max() > 1.0 + _ROW_SUM_TOLERANCE:
        raise DataError(
            f"probabilities must lie in [0, 1]; got values from {p.min():.4g} to {p.max():.4g} "
            "(logits? use nll_from_logits or calibration_report)"
        )
    row_error = np.abs(p.sum(axis=1) - 1.0).max()
    if row_error > _ROW_SUM_TOLERANCE:
        raise DataError(f"probability rows must sum to 1; a row is off by {row_error:.3g}")
    return p, _check_labels(labels, p.shape[0], p.shape[1], "probabilities")


def _check_n_bins(n_bins: int) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer; got {n_bins!r}")
    return int(n_bins)


# --------------------------------------------------------------------------- binning internals


def _top_label(p: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Top-label confidence and 0/1 correctness (ties go to the lowest class index)."""
    predicted = p.argmax(axis=1)
    confidence = p[np.arange(p.shape[0]), predicted]
    return confidence, (predicted == y).astype(np.float64)


def _uniform_bin_index(values: np.ndarray, n_bins: int) -> np.ndarray:
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # side="left" returns i with edges[i-1] < v <= edges[i]: exactly the (lo, hi] convention.
    index = np.searchsorted(edges, values, side="left") - 1
    return np.clip(index, 0, n_bins - 1)


def _quantile_bin_sizes(n_samples: int, n_bins: int) -> np.ndarray:
    # Same sizes as np.array_split: the first n % n_bins chunks get one extra sample.
    base, extra = divmod(n_samples, n_bins)
    return base + (np.arange(n_bins) < extra).astype(np.int64)


def _quantile_bin_index(confidence: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin index per sample for equal-mass bins, and the stable sort order used."""
    order = np.argsort(confidence, kind="stable")
    sizes = _quantile_bin_sizes(confidence.shape[0], n_bins)
    index = np.empty(confidence.shape[0], dtype=np.int64)
    index[order] = np.repeat(np.arange(n_bins), sizes)
    return index, order


def _bin_sums(
    index: np.ndarray, confidence: np.ndarray, correct: np.ndarray, n_bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    counts = np.bincount(index, minlength=n_bins)
    sum_confidence = np.bincount(index, weights=confidence, minlength=n_bins)
    sum_correct = np.bincount(index, weights=correct, minlength=n_bins)
    return counts, sum_confidence, sum_correct


def _weighted_gap(sum_confidence: np.ndarray, sum_correct: np.ndarray, n_samples: int) -> float:
    # sum_b |B_b|/n * |acc_b - conf_b| == sum_b |sum_correct_b - sum_conf_b| / n (empty bins add 0).
    return float(np.abs(sum_correct - sum_confidence).sum() / n_samples)


def _max_gap(counts: np.ndarray, sum_confidence: np.ndarray, sum_correct: np.ndarray) -> float:
    filled = counts > 0
    return float((np.abs(sum_correct[filled] - sum_confidence[filled]) / counts[filled]).max())


def _classwise_ece(p: np.ndarray, y: np.ndarray, n_bins: int) -> float:
    n_samples, n_classes = p.shape
    flat = p.ravel()
    target = np.zeros(flat.shape[0])
    target[np.arange(n_samples) * n_classes + y] = 1.0
    # One bincount over (class, bin) pairs instead of a Python loop over classes.
    cell = np.tile(np.arange(n_classes) * n_bins, n_samples) + _uniform_bin_index(flat, n_bins)
    gap = np.bincount(cell, weights=target - flat, minlength=n_classes * n_bins)
    return float(np.abs(gap).sum() / (n_samples * n_classes))


def _brier(p: np.ndarray, y: np.ndarray) -> float:
    # sum_c (p_c - onehot_c)^2 == sum_c p_c^2 - 2 p_y + 1, without building the one-hot matrix.
    p_true = p[np.arange(p.shape[0]), y]
    return float(np.mean(np.einsum("ij,ij->i", p, p) - 2.0 * p_true + 1.0))


# --------------------------------------------------------------------------- metrics


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
    return float(-np.mean(np.log(p_true)))


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
    t = _check_temperature(temperature)
    return float(-np.mean(log_softmax(z, t)[np.arange(z.shape[0]), y]))


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
    n_bins = _check_n_bins(n_bins)
    confidence, correct = _top_label(p, y)
    _, sum_conf, sum_correct = _bin_sums(
        _uniform_bin_index(confidence, n_bins), confidence, correct, n_bins
    )
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
    n_bins = _check_n_bins(n_bins)
    confidence, correct = _top_label(p, y)
    index, _ = _quantile_bin_index(confidence, n_bins)
    _, sum_conf, sum_correct = _bin_sums(index, confidence, correct, n_bins)
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
    n_bins = _check_n_bins(n_bins)
    confidence, correct = _top_label(p, y)
    counts, sum_conf, sum_correct = _bin_sums(
        _uniform_bin_index(confidence, n_bins), confidence, correct, n_bins
    )
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


# --------------------------------------------------------------------------- reliability diagram


@dataclass(frozen=True)
class ReliabilityBins:
    """Per-bin data for a reliability diagram (arrays are read-only).

    Attributes
    ----------
    edges : ndarray of shape (n_bins + 1,)
        Bin edges on the confidence axis. Uniform bins: ``linspace(0, 1, n_bins + 1)``.
        Quantile bins: 0, the midpoints between neighbouring bins' extreme confidences, 1
        (bins made of tied confidences can have zero width; trailing empty bins sit at 1).
    counts : ndarray of shape (n_bins,)
        Samples per bin (int64).
    mean_confidence : ndarray of shape (n_bins,)
        Mean top-label confidence per bin, NaN for empty bins.
    accuracy : ndarray of shape (n_bins,)
        Fraction of correct top-label predictions per bin, NaN for empty bins.
    """

    edges: np.ndarray
    counts: np.ndarray
    mean_confidence: np.ndarray
    accuracy: np.ndarray

    def __post_init__(self) -> None:
        for array in (self.edges, self.counts, self.mean_confidence, self.accuracy):
            array.flags.writeable = False


def _reliability_from_top_label(
    confidence: np.ndarray, correct: np.ndarray, n_bins: int, strategy: str
) -> ReliabilityBins:
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
        index = _uniform_bin_index(confidence, n_bins)
    elif strategy == "quantile":
        index, order = _quantile_bin_index(confidence, n_bins)
        sizes = _quantile_bin_sizes(confidence.shape[0], n_bins)
        starts = np.cumsum(sizes) - sizes
        sorted_conf = confidence[order]
        edges = np.ones(n_bins + 1)
        edges[0] = 0.0
        # Interior edge between bins b-1 and b, when b is non-empty: halfway between them.
        inner = starts[1:] < confidence.shape[0]
        b = np.nonzero(inner)[0] + 1
        edges[b] = 0.5 * (sorted_conf[starts[b] - 1] + sorted_conf[starts[b]])
    else:
        raise ValueError(f"strategy must be 'uniform' or 'quantile'; got {strategy!r}")
    counts, sum_conf, sum_correct = _bin_sums(index, confidence, correct, n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.where(counts > 0, sum_conf / counts, np.nan)
        bin_accuracy = np.where(counts > 0, sum_correct / counts, np.nan)
    return ReliabilityBins(edges, counts.astype(np.int64), mean_confidence, bin_accuracy)


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


# --------------------------------------------------------------------------- report


def _check_temperature(temperature: float) -> float:
    t = float(temperature)
    if not np.isfinite(t) or t <= 0.0:
        raise ValueError(f"temperature must be a positive finite number; got {temperature!r}")
    return t


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
    t = _check_temperature(temperature)
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
