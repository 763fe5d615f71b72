"""OOD metrics against direct pairwise computations and scikit-learn."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from app.core.errors import DataError
from app.core.ood.metrics import acceptance_rate, aupr, auroc, fpr_at_tpr, threshold_for_tpr


def pairwise_auroc(in_scores: np.ndarray, out_scores: np.ndarray) -> float:
    """O(n*m) definition: P(in > out) + 0.5 * P(in == out)."""
    a = np.asarray(in_scores, dtype=np.float64)[:, None]
    b = np.asarray(out_scores, dtype=np.float64)[None, :]
    return float(np.mean((a > b) + 0.5 * (a == b)))


def brute_force_threshold(in_scores: np.ndarray, tpr: float) -> float:
    """The largest candidate value whose acceptance rate reaches tpr, by trying them all."""
    candidates = np.unique(in_scores)
    ok = [t for t in candidates if np.mean(in_scores >= t) >= tpr]
    return float(max(ok))


def score_pairs(seed: int, ties: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_in, n_out = rng.integers(5, 60, size=2)
    if ties:
        # Few distinct values so that many in/out pairs tie.
        return rng.integers(0, 6, n_in).astype(float), rng.integers(-2, 4, n_out).astype(float)
    return rng.normal(1.0, 1.0, n_in), rng.normal(0.0, 1.0, n_out)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_auroc_matches_pairwise_and_sklearn(seed: int, ties: bool) -> None:
    inside, outside = score_pairs(seed, ties)
    expected = pairwise_auroc(inside, outside)
    labels = np.r_[np.ones(inside.size), np.zeros(outside.size)]
    assert auroc(inside, outside) == pytest.approx(expected, abs=1e-12)
    assert auroc(inside, outside) == pytest.approx(
        roc_auc_score(labels, np.r_[inside, outside]), abs=1e-12
    )


def test_auroc_extremes() -> None:
    assert auroc([3.0, 4.0], [1.0, 2.0]) == 1.0
    assert auroc([1.0, 2.0], [3.0, 4.0]) == 0.0
    assert auroc([5.0, 5.0, 5.0], [5.0, 5.0]) == 0.5


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_aupr_matches_sklearn_average_precision(seed: int, ties: bool) -> None:
    inside, outside = score_pairs(seed, ties)
    labels = np.r_[np.ones(inside.size), np.zeros(outside.size)]
    expected = average_precision_score(labels, np.r_[inside, outside])
    assert aupr(inside, outside) == pytest.approx(expected, abs=1e-12)


def test_aupr_perfect_and_all_tied() -> None:
    assert aupr([2.0, 3.0], [0.0, 1.0]) == pytest.approx(1.0)
    # One run of ties: precision is the positive fraction at recall 1.
    assert aupr([1.0, 1.0], [1.0, 1.0, 1.0]) == pytest.approx(2 / 5)


@pytest.mark.parametrize("tpr", [0.5, 0.8, 0.95, 1.0])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_fpr_at_tpr_matches_direct_and_unthinned_roc_curve(
    seed: int, ties: bool, tpr: float
) -> None:
    inside, outside = score_pairs(seed, ties)
    threshold = brute_force_threshold(inside, tpr)
    direct = float(np.mean(outside >= threshold))
    assert fpr_at_tpr(inside, outside, tpr) == pytest.approx(direct, abs=1e-15)

    labels = np.r_[np.ones(inside.size), np.zeros(outside.size)]
    fpr, tpr_curve, _ = roc_curve(labels, np.r_[inside, outside], drop_intermediate=False)
    first = int(np.argmax(tpr_curve >= tpr))
    assert fpr_at_tpr(inside, outside, tpr) == pytest.approx(fpr[first], abs=1e-15)


def test_threshold_for_tpr_with_ties_worked_example() -> None:
    scores = np.array([1.0, 2.0, 2.0, 2.0, 3.0])
    # Half must be accepted: 3 alone is 1/5, so the threshold drops to 2, which accepts 4/5.
    assert threshold_for_tpr(scores, 0.5) == 2.0
    assert acceptance_rate(scores, 2.0) == pytest.approx(0.8)
    assert threshold_for_tpr(scores, 0.2) == 3.0
    assert threshold_for_tpr(scores, 0.81) == 1.0


def test_threshold_for_tpr_is_not_fooled_by_float_rounding() -> None:
    # 0.7 * 10 == 7.000000000000001: a plain ceil would demand 8 of 10 accepted.
    scores = np.arange(1.0, 11.0)
    assert threshold_for_tpr(scores, 0.7) == 4.0
    assert acceptance_rate(scores, 4.0) >= 0.7


@pytest.mark.parametrize("seed", range(20))
def test_threshold_for_tpr_is_the_largest_threshold_meeting_the_target(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, rng.integers(2, 12), size=rng.integers(1, 80)).astype(float)
    tpr = float(rng.uniform(0.01, 1.0))
    threshold = threshold_for_tpr(scores, tpr)
    assert threshold in scores
    assert acceptance_rate(scores, threshold) >= tpr
    higher = scores[scores > threshold]
    if higher.size:
        assert acceptance_rate(scores, higher.min()) < tpr
    assert threshold == brute_force_threshold(scores, tpr)


def test_threshold_for_full_tpr_is_the_minimum() -> None:
    scores = np.array([0.3, -1.5, 2.0])
    assert threshold_for_tpr(scores, 1.0) == -1.5


def test_acceptance_rate_accepts_scores_equal_to_threshold() -> None:
    assert acceptance_rate([1.0, 2.0, 3.0, 4.0], 2.0) == 0.75
    assert acceptance_rate([1.0, 2.0], 5.0) == 0.0


@pytest.mark.parametrize("tpr", [0.0, -0.1, 1.01])
def test_threshold_for_tpr_rejects_impossible_targets(tpr: float) -> None:
    with pytest.raises(DataError, match="TPR"):
        threshold_for_tpr([1.0, 2.0], tpr)


@pytest.mark.parametrize(
    "bad, match",
    [([], "empty"), ([1.0, np.nan], "NaN"), ([[1.0, 2.0], [3.0, 4.0]], "1-D")],
)
def test_metrics_reject_unusable_scores(bad: list, match: str) -> None:
    with pytest.raises(DataError, match=match):
        auroc(bad, [1.0])
    with pytest.raises(DataError, match=match):
        aupr([1.0], bad)
