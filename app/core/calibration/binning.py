"""Binning top-label confidences: the one implementation behind ECE, MCE and the diagram.

Equal-width ("uniform") bins: edges ``np.linspace(0, 1, n_bins + 1)``; bin ``i`` holds the
confidences with ``edges[i] < conf <= edges[i + 1]``, as in Guo et al. (2017) and their
reference implementation. A confidence of exactly 0 (possible only for class-wise
probabilities) goes to bin 0 instead of being dropped, and float32 round-off above 1 goes to
the last bin.

Equal-mass ("quantile") bins: samples are sorted by confidence with a stable sort (ties keep
sample order) and the sorted order is cut like ``np.array_split(order, n_bins)``: the first
``n % n_bins`` bins hold one sample more than the others; with fewer samples than bins the
trailing bins are empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

DEFAULT_N_BINS = 15

BinStrategy = Literal["uniform", "quantile"]


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


def bin_index(confidence: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    """Bin of every confidence under ``strategy`` ("uniform" or "quantile")."""
    if strategy == "uniform":
        return _uniform_bin_index(confidence, n_bins)
    if strategy == "quantile":
        return _quantile_bin_index(confidence, n_bins)[0]
    raise ValueError(f"strategy must be 'uniform' or 'quantile'; got {strategy!r}")


def top_label_bin_sums(
    p: np.ndarray, y: np.ndarray, n_bins: int, strategy: str = "uniform"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-bin (count, summed confidence, summed correctness) of the top-label confidence."""
    confidence, correct = _top_label(p, y)
    return _bin_sums(bin_index(confidence, n_bins, strategy), confidence, correct, n_bins)


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
