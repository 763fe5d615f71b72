"""Calibration metrics against straightforward Python loops on the same generated data."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.special import log_softmax as scipy_log_softmax
from scipy.special import softmax as scipy_softmax

from app.core.calibration.metrics import (
    ReliabilityBins,
    accuracy,
    adaptive_calibration_error,
    brier_score,
    calibration_report,
    calibration_report_and_bins,
    classwise_calibration_error,
    ece_bootstrap_interval,
    expected_calibration_error,
    maximum_calibration_error,
    negative_log_likelihood,
    nll_from_logits,
    reliability_diagram,
)
from app.core.errors import DataError

N_BINS = 15
REPORT_KEYS = {"accuracy", "nll", "brier", "ece", "adaptive_ece", "mce", "classwise_ece", "n"}


def make_logits(n: int, k: int, scale: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose softmax is the true posterior at scale 1 (two-unit Gaussian mean shift).

    The score of each class is N(0, 1) plus 2 for the true class, so the Bayes logits are
    2 * score; ``scale`` > 1 makes them overconfident, < 1 underconfident.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, size=n)
    scores = rng.normal(size=(n, k))
    scores[np.arange(n), labels] += 2.0
    return 2.0 * scores * scale, labels


# --------------------------------------------------------------------------- reference loops


def ref_top_label(probs: np.ndarray, labels: np.ndarray) -> tuple[list[float], list[float]]:
    confidences, correct = [], []
    for row, label in zip(probs.tolist(), labels.tolist(), strict=True):
        best = max(range(len(row)), key=lambda c: row[c])  # first maximum, like argmax
        confidences.append(row[best])
        correct.append(1.0 if best == label else 0.0)
    return confidences, correct


def ref_equal_width_bins(values: list[float], n_bins: int = N_BINS) -> list[list[int]]:
    """Guo et al.: bin i holds lo < v <= hi with lo = i / n_bins (values of 0 are dropped)."""
    bins: list[list[int]] = [[] for _ in range(n_bins)]
    for j, v in enumerate(values):
        for i in range(n_bins):
            if i / n_bins < v <= (i + 1) / n_bins:
                bins[i].append(j)
                break
    return bins


def ref_gaps(conf: list[float], correct: list[float], bins: list[list[int]]) -> list[tuple]:
    gaps = []
    for members in bins:
        if members:
            acc = sum(correct[j] for j in members) / len(members)
            mean_conf = sum(conf[j] for j in members) / len(members)
            gaps.append((len(members), abs(acc - mean_conf)))
    return gaps


def ref_ece(probs: np.ndarray, labels: np.ndarray) -> float:
    conf, correct = ref_top_label(probs, labels)
    gaps = ref_gaps(conf, correct, ref_equal_width_bins(conf))
    return sum(size / len(conf) * gap for size, gap in gaps)


def ref_mce(probs: np.ndarray, labels: np.ndarray) -> float:
    conf, correct = ref_top_label(probs, labels)
    return max(gap for _, gap in ref_gaps(conf, correct, ref_equal_width_bins(conf)))


def ref_adaptive_ece(probs: np.ndarray, labels: np.ndarray) -> float:
    conf, correct = ref_top_label(probs, labels)
    order = sorted(range(len(conf)), key=lambda j: conf[j])  # Python's sort is stable
    bins = [chunk.tolist() for chunk in np.array_split(np.array(order), N_BINS)]
    return sum(size / len(conf) * gap for size, gap in ref_gaps(conf, correct, bins))


def ref_classwise_ece(probs: np.ndarray, labels: np.ndarray) -> float:
    n, k = probs.shape
    total = 0.0
    for c in range(k):
        p_c = probs[:, c].tolist()
        hit = [1.0 if label == c else 0.0 for label in labels.tolist()]
        gaps = ref_gaps(p_c, hit, ref_equal_width_bins(p_c))
        total += sum(size / n * gap for size, gap in gaps)
    return total / k


def ref_brier(probs: np.ndarray, labels: np.ndarray) -> float:
    total = 0.0
    for row, label in zip(probs.tolist(), labels.tolist(), strict=True):
        total += sum((p - (1.0 if c == label else 0.0)) ** 2 for c, p in enumerate(row))
    return total / len(labels)


def ref_nll(probs: np.ndarray, labels: np.ndarray) -> float:
    rows = zip(probs.tolist(), labels.tolist(), strict=True)
    return -sum(math.log(row[label]) for row, label in rows) / len(labels)


def ref_accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    _, correct = ref_top_label(probs, labels)
    return sum(correct) / len(correct)


# --------------------------------------------------------------------------- cases


def constant_case() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, size=300)
    return np.tile([1.5, 0.2, -0.4, 0.9], (300, 1)), labels


def one_class_case() -> tuple[np.ndarray, np.ndarray]:
    logits, _ = make_logits(400, 6, scale=2.0, seed=4)
    return logits, np.full(400, 2)


def tied_confidence_case() -> tuple[np.ndarray, np.ndarray]:
    # Three distinct rows: equal-mass bins must break the many ties by sample order.
    rng = np.random.default_rng(21)
    prototypes = np.array([[2.0, 0.0, 0.0], [1.0, 0.5, 0.0], [0.0, 0.0, 0.4]])
    return prototypes[rng.integers(0, 3, size=300)], rng.integers(0, 3, size=300)


CASES = {
    "overconfident": lambda: make_logits(600, 10, scale=5.0, seed=1),
    "underconfident": lambda: make_logits(600, 10, scale=0.2, seed=2),
    "two_classes": lambda: make_logits(700, 2, scale=1.5, seed=5),
    "thousand_classes": lambda: make_logits(120, 1000, scale=1.0, seed=6),
    "one_class_present": one_class_case,
    "constant_predictions": constant_case,
    "fewer_samples_than_bins": lambda: make_logits(11, 3, scale=3.0, seed=7),
    "tied_confidences": tied_confidence_case,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_metrics_match_reference_loops(case: str) -> None:
    logits, labels = CASES[case]()
    probs = scipy_softmax(logits, axis=1)
    assert accuracy(probs, labels) == pytest.approx(ref_accuracy(probs, labels), abs=1e-12)
    assert negative_log_likelihood(probs, labels) == pytest.approx(ref_nll(probs, labels), abs=1e-6)
    assert brier_score(probs, labels) == pytest.approx(ref_brier(probs, labels), abs=1e-6)
    assert expected_calibration_error(probs, labels) == pytest.approx(
        ref_ece(probs, labels), abs=1e-6
    )
    assert maximum_calibration_error(probs, labels) == pytest.approx(
        ref_mce(probs, labels), abs=1e-6
    )
    assert adaptive_calibration_error(probs, labels) == pytest.approx(
        ref_adaptive_ece(probs, labels), abs=1e-6
    )
    assert classwise_calibration_error(probs, labels) == pytest.approx(
        ref_classwise_ece(probs, labels), abs=1e-6
    )


@pytest.mark.parametrize("temperature", [0.3, 1.0, 4.0])
@pytest.mark.parametrize("case", ["overconfident", "two_classes", "thousand_classes"])
def test_report_matches_reference_on_scaled_softmax(case: str, temperature: float) -> None:
    logits, labels = CASES[case]()
    probs = scipy_softmax(logits / temperature, axis=1)
    report = calibration_report(logits, labels, temperature)
    assert set(report) == REPORT_KEYS
    exact_nll = -np.mean(
        scipy_log_softmax(logits / temperature, axis=1)[np.arange(len(labels)), labels]
    )
    assert report["nll"] == pytest.approx(exact_nll, rel=1e-12)
    assert report["accuracy"] == pytest.approx(ref_accuracy(probs, labels), abs=1e-12)
    assert report["brier"] == pytest.approx(ref_brier(probs, labels), abs=1e-6)
    assert report["ece"] == pytest.approx(ref_ece(probs, labels), abs=1e-6)
    assert report["adaptive_ece"] == pytest.approx(ref_adaptive_ece(probs, labels), abs=1e-6)
    assert report["mce"] == pytest.approx(ref_mce(probs, labels), abs=1e-6)
    assert report["classwise_ece"] == pytest.approx(ref_classwise_ece(probs, labels), abs=1e-6)
    assert report["n"] == len(labels)


def test_report_is_plain_json() -> None:
    logits, labels = make_logits(200, 5, scale=3.0, seed=8)
    report = calibration_report(logits.astype(np.float32), labels.astype(np.int32), 1.5)
    assert all(type(report[key]) is float for key in REPORT_KEYS - {"n"})
    assert type(report["n"]) is int
    assert json.loads(json.dumps(report)) == report


def test_report_and_bins_agree_with_separate_calls() -> None:
    logits, labels = make_logits(500, 7, scale=4.0, seed=9)
    report, bins = calibration_report_and_bins(logits, labels, 2.0, n_bins=10, strategy="quantile")
    probs = scipy_softmax(logits / 2.0, axis=1)
    expected = reliability_diagram(probs, labels, n_bins=10, strategy="quantile")
    np.testing.assert_allclose(bins.mean_confidence, expected.mean_confidence, rtol=1e-12)
    np.testing.assert_array_equal(bins.counts, expected.counts)
    assert report == calibration_report(logits, labels, 2.0)


def test_overconfidence_shows_in_ece() -> None:
    logits, labels = make_logits(3000, 10, scale=1.0, seed=10)
    calibrated = calibration_report(logits, labels)
    overconfident = calibration_report(logits * 5.0, labels)
    assert overconfident["ece"] > 3 * calibrated["ece"]
    assert overconfident["nll"] > calibrated["nll"]


def test_perfect_predictions() -> None:
    logits, _ = make_logits(500, 10, scale=3.0, seed=11)
    labels = logits.argmax(axis=1)
    probs = scipy_softmax(logits, axis=1)
    confidence = probs.max(axis=1)
    assert accuracy(probs, labels) == 1.0
    # Every prediction is right, so each bin's gap is 1 - its mean confidence.
    assert expected_calibration_error(probs, labels) == pytest.approx(
        1 - confidence.mean(), rel=1e-9
    )
    assert adaptive_calibration_error(probs, labels) == pytest.approx(
        1 - confidence.mean(), rel=1e-9
    )
    expected_brier = np.mean((1 - confidence) ** 2 + (probs**2).sum(axis=1) - confidence**2)
    assert brier_score(probs, labels) == pytest.approx(expected_brier, rel=1e-9)


def test_one_hot_predictions_are_perfectly_calibrated() -> None:
    labels = np.arange(40) % 4
    probs = np.eye(4)[labels]
    assert expected_calibration_error(probs, labels) == 0.0
    assert maximum_calibration_error(probs, labels) == 0.0
    assert classwise_calibration_error(probs, labels) == 0.0
    assert brier_score(probs, labels) == 0.0
    assert negative_log_likelihood(probs, labels) == 0.0
    # Printed as 0.0000, never -0.0000 (a user's calibrate table showed the minus sign).
    assert f"{negative_log_likelihood(probs, labels):.4f}" == "0.0000"
    assert f"{nll_from_logits(np.eye(4)[labels] * 200.0, labels):.4f}" == "0.0000"


def test_constant_predictions_have_one_bin() -> None:
    logits, labels = constant_case()
    probs = scipy_softmax(logits, axis=1)
    top = probs[0].max()
    hit_rate = np.mean(labels == 0)
    assert expected_calibration_error(probs, labels) == pytest.approx(
        abs(hit_rate - top), rel=1e-12
    )
    assert maximum_calibration_error(probs, labels) == pytest.approx(abs(hit_rate - top), rel=1e-12)
    bins = reliability_diagram(probs, labels)
    assert np.count_nonzero(bins.counts) == 1


def test_zero_probability_counts_in_first_class_bin() -> None:
    # p = 0 for the true class is the worst possible class-wise miss; it must not be dropped
    # (Guo's strict lo < p would drop it) nor land in another bin.
    probs = np.array([[1.0, 0.0]] * 10 + [[0.97, 0.03]] * 10)
    labels = np.array([1] * 10 + [0] * 10)
    # Class 0: one bin (14) holding p = 1 and 0.97 with half the targets hit: |0.5 - 0.985|.
    # Class 1: one bin (0) holding p = 0 and 0.03 with half the targets hit: |0.5 - 0.015|.
    assert classwise_calibration_error(probs, labels) == pytest.approx(0.485, abs=1e-12)


def test_bin_edges_are_open_left_closed_right() -> None:
    edges = np.linspace(0.0, 1.0, N_BINS + 1)
    on_edge = edges[8:]  # confidences from 8/15 to 1 in a two-class problem
    just_above = np.nextafter(edges[8:-1], 2.0)
    conf = np.concatenate([on_edge, just_above])
    probs = np.stack([conf, 1.0 - conf], axis=1)
    labels = np.zeros(conf.size, dtype=int)
    bins = reliability_diagram(probs, labels)
    expected = np.zeros(N_BINS, dtype=int)
    np.add.at(expected, np.arange(8, N_BINS + 1) - 1, 1)  # an edge value closes the bin below
    np.add.at(expected, np.arange(8, N_BINS), 1)  # just above an edge opens the next bin
    np.testing.assert_array_equal(bins.counts, expected)


def test_uniform_reliability_bins() -> None:
    logits, labels = make_logits(800, 10, scale=3.0, seed=12)
    probs = scipy_softmax(logits, axis=1)
    bins = reliability_diagram(probs, labels)
    assert isinstance(bins, ReliabilityBins)
    np.testing.assert_array_equal(bins.edges, np.linspace(0, 1, N_BINS + 1))
    assert bins.counts.sum() == 800
    empty = bins.counts == 0
    assert empty.any()  # top-label confidence is never below 1/10
    assert np.isnan(bins.accuracy[empty]).all() and np.isnan(bins.mean_confidence[empty]).all()
    assert not np.isnan(bins.accuracy[~empty]).any()
    filled = ~empty
    ece = np.sum(
        bins.counts[filled] / 800 * np.abs(bins.accuracy[filled] - bins.mean_confidence[filled])
    )
    assert ece == pytest.approx(expected_calibration_error(probs, labels), abs=1e-12)
    lo, hi = bins.edges[:-1][filled], bins.edges[1:][filled]
    assert np.all(bins.mean_confidence[filled] > lo) and np.all(bins.mean_confidence[filled] <= hi)


@pytest.mark.parametrize("n", [1000, 1003, 7])
def test_quantile_reliability_bins(n: int) -> None:
    logits, labels = make_logits(n, 5, scale=2.0, seed=13)
    probs = scipy_softmax(logits, axis=1)
    bins = reliability_diagram(probs, labels, strategy="quantile")
    chunks = [c for c in np.array_split(np.sort(probs.max(axis=1)), N_BINS) if c.size]
    np.testing.assert_array_equal(bins.counts[: len(chunks)], [c.size for c in chunks])
    # Interior edges sit halfway between neighbouring bins' extreme confidences.
    midpoints = [0.5 * (a[-1] + b[0]) for a, b in zip(chunks[:-1], chunks[1:], strict=True)]
    np.testing.assert_allclose(bins.edges[1 : len(chunks)], midpoints, rtol=1e-15)
    assert np.all(bins.edges[len(chunks) :] == 1.0)
    assert bins.edges[0] == 0.0 and bins.edges[-1] == 1.0
    assert np.all(np.diff(bins.edges) >= 0)
    filled = bins.counts > 0
    assert np.isnan(bins.accuracy[~filled]).all()
    # Each non-empty bin's confidences lie between its edges.
    inside = (bins.mean_confidence[filled] >= bins.edges[:-1][filled]) & (
        bins.mean_confidence[filled] <= bins.edges[1:][filled]
    )
    assert inside.all()
    ece = np.sum(
        bins.counts[filled] / n * np.abs(bins.accuracy[filled] - bins.mean_confidence[filled])
    )
    assert ece == pytest.approx(adaptive_calibration_error(probs, labels), abs=1e-12)


def test_reliability_bins_are_frozen() -> None:
    logits, labels = make_logits(50, 3, seed=14)
    bins = reliability_diagram(scipy_softmax(logits, axis=1), labels)
    with pytest.raises(AttributeError):
        bins.counts = np.zeros(N_BINS)  # type: ignore[misc]
    with pytest.raises(ValueError):
        bins.accuracy[0] = 0.5


def test_reliability_rejects_bad_options() -> None:
    logits, labels = make_logits(50, 3, seed=14)
    probs = scipy_softmax(logits, axis=1)
    with pytest.raises(ValueError):
        reliability_diagram(probs, labels, strategy="kmeans")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        reliability_diagram(probs, labels, n_bins=0)


def test_nll_from_logits_is_exact_where_probabilities_saturate() -> None:
    logits = np.array([[0.0, 1000.0]] * 10 + [[3.0, -1.0]] * 10)
    labels = np.array([0] * 10 + [0] * 10)
    expected = (10 * 1000.0 + 10 * math.log1p(math.exp(-4.0))) / 20
    assert nll_from_logits(logits, labels) == pytest.approx(expected, rel=1e-12)
    # The probability form has to raise the zero probability to the smallest float64 (708 nats)
    # and cannot see the 1000.
    clipped = (10 * -math.log(np.finfo(np.float64).tiny) + 10 * math.log1p(math.exp(-4.0))) / 20
    assert negative_log_likelihood(scipy_softmax(logits, axis=1), labels) == pytest.approx(clipped)


@pytest.mark.parametrize("temperature", [0.1, 1.0, 7.0])
def test_nll_from_logits_matches_scipy(temperature: float) -> None:
    logits, labels = make_logits(300, 8, scale=2.0, seed=15)
    expected = -np.mean(scipy_log_softmax(logits / temperature, axis=1)[np.arange(300), labels])
    assert nll_from_logits(logits, labels, temperature) == pytest.approx(expected, rel=1e-12)


def ref_bootstrap(probs: np.ndarray, labels: np.ndarray, n_boot: int, alpha: float, seed: int):
    rng = np.random.default_rng(seed)
    eces = []
    for _ in range(n_boot):
        draw = rng.integers(0, len(labels), size=len(labels))
        eces.append(ref_ece(probs[draw], labels[draw]))
    return tuple(np.quantile(eces, [alpha / 2, 1 - alpha / 2]))


def test_ece_bootstrap_matches_reference_resampling() -> None:
    logits, labels = make_logits(150, 4, scale=3.0, seed=16)
    probs = scipy_softmax(logits, axis=1)
    low, high = ece_bootstrap_interval(probs, labels, n_boot=40, alpha=0.1, seed=3)
    ref_low, ref_high = ref_bootstrap(probs, labels, 40, 0.1, 3)
    assert low == pytest.approx(ref_low, abs=1e-9) and high == pytest.approx(ref_high, abs=1e-9)
    assert 0.0 <= low < high <= 1.0
    assert ece_bootstrap_interval(probs, labels, n_boot=40, alpha=0.1, seed=3) == (low, high)


def test_ece_bootstrap_narrows_with_more_data() -> None:
    small = make_logits(200, 4, scale=3.0, seed=17)
    large = make_logits(5000, 4, scale=3.0, seed=17)
    widths = []
    for logits, labels in (small, large):
        low, high = ece_bootstrap_interval(scipy_softmax(logits, axis=1), labels)
        widths.append(high - low)
    assert widths[1] < 0.5 * widths[0]


def test_ece_bootstrap_rejects_bad_alpha() -> None:
    logits, labels = make_logits(50, 3, seed=18)
    with pytest.raises(ValueError):
        ece_bootstrap_interval(scipy_softmax(logits, axis=1), labels, alpha=1.5)


def test_float_labels_that_are_whole_numbers_are_accepted() -> None:
    logits, labels = make_logits(100, 4, scale=2.0, seed=19)
    assert calibration_report(logits, labels.astype(np.float64)) == calibration_report(
        logits, labels
    )


GOOD_PROBS = np.full((12, 3), 1 / 3)
GOOD_LABELS = np.arange(12) % 3
BAD_INPUTS = {
    "1-D probabilities": (GOOD_PROBS[0], GOOD_LABELS[:1], "2-D"),
    "one class column": (np.ones((12, 1)), np.zeros(12, dtype=int), "at least 2 classes"),
    "no samples": (np.empty((0, 3)), np.empty(0, dtype=int), "no samples"),
    "NaN": (np.where(np.eye(12, 3) == 1, np.nan, 1 / 3), GOOD_LABELS, "NaN"),
    "logits passed": (np.full((12, 3), 4.0), GOOD_LABELS, "[0, 1]"),
    "rows not summing to 1": (np.full((12, 3), 0.2), GOOD_LABELS, "sum to 1"),
    "length mismatch": (GOOD_PROBS, GOOD_LABELS[:10], "12 rows but labels have 10"),
    "label too large": (GOOD_PROBS, np.r_[GOOD_LABELS[:-1], 3], "[0, 2]"),
    "negative label": (GOOD_PROBS, np.r_[GOOD_LABELS[:-1], -1], "[0, 2]"),
    "fractional label": (GOOD_PROBS, np.r_[GOOD_LABELS[:-1], 1.5], "non-integer"),
    "one-hot labels": (GOOD_PROBS, np.eye(3)[GOOD_LABELS], "one-hot"),
    "string labels": (GOOD_PROBS, np.array(["a"] * 12), "integer"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
@pytest.mark.parametrize(
    "metric", [accuracy, brier_score, expected_calibration_error, reliability_diagram]
)
def test_bad_inputs_are_refused_with_one_line(name: str, metric) -> None:
    probs, labels, fragment = BAD_INPUTS[name]
    with pytest.raises(DataError) as caught:
        metric(probs, labels)
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("logits", "fragment"),
    [
        (np.zeros(12), "2-D"),
        (np.r_[np.zeros((11, 3)), [[np.nan, 0, 0]]], "NaN or inf"),
        (np.r_[np.zeros((11, 3)), [[np.inf, 0, 0]]], "NaN or inf"),
        (np.r_[np.zeros((11, 3)), [[-np.inf, 0, 0]]], "log of a zero probability"),
        (np.zeros((12, 3), dtype=bool), "numeric"),
    ],
)
def test_bad_logits_are_refused(logits: np.ndarray, fragment: str) -> None:
    with pytest.raises(DataError) as caught:
        calibration_report(logits, GOOD_LABELS)
    assert fragment in str(caught.value)
    with pytest.raises(DataError):
        nll_from_logits(logits, GOOD_LABELS)


def test_bad_temperature_is_refused() -> None:
    logits, labels = make_logits(20, 3, seed=20)
    for temperature in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            calibration_report(logits, labels, temperature)
