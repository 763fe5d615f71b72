"""Temperature scaling against scipy's bounded scalar search on the same NLL."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax as scipy_log_softmax
from scipy.special import softmax as scipy_softmax

from app.core.calibration.metrics import calibration_report
from app.core.calibration.temperature import (
    TemperatureScaler,
    fit_temperature,
    logits_are_log_probabilities,
)
from app.core.calibration.temperature_search import _minimise_over_beta, _NllOfInverseTemperature
from app.core.errors import DataError

BOUNDS = (0.05, 20.0)


def make_logits(n: int, k: int, scale: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose softmax is the true posterior at scale 1, so the ideal T is about ``scale``."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, size=n)
    scores = rng.normal(size=(n, k))
    scores[np.arange(n), labels] += 2.0
    return 2.0 * scores * scale, labels


def scipy_nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    log_p = scipy_log_softmax(logits / temperature, axis=1)
    return float(-np.mean(log_p[np.arange(len(labels)), labels]))


def scipy_temperature(
    logits: np.ndarray, labels: np.ndarray, bounds: tuple[float, float] = BOUNDS
) -> float:
    result = minimize_scalar(
        lambda t: scipy_nll(logits, labels, t),
        bounds=bounds,
        method="bounded",
        options={"xatol": 1e-9},
    )
    return float(result.x)


def constant_case() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    labels = rng.choice(4, size=400, p=[0.55, 0.2, 0.15, 0.1])
    return np.tile([1.5, 0.2, -0.4, 0.9], (400, 1)), labels


def one_class_case() -> tuple[np.ndarray, np.ndarray]:
    logits, _ = make_logits(400, 6, scale=2.0, seed=4)
    return logits, np.full(400, 2)


def nearly_separable_case() -> tuple[np.ndarray, np.ndarray]:
    """All right with wide margins but one narrowly wrong: the optimum sits on an exp tail."""
    logits, _ = make_logits(300, 10, scale=3.0, seed=30)
    labels = logits.argmax(axis=1)
    labels[0] = np.argsort(logits[0])[-2]
    return logits, labels


def float32_case() -> tuple[np.ndarray, np.ndarray]:
    logits, labels = make_logits(1000, 10, scale=4.0, seed=8)
    return logits.astype(np.float32), labels


CASES = {
    "overconfident": lambda: make_logits(2000, 10, scale=5.0, seed=1),
    "underconfident": lambda: make_logits(2000, 10, scale=0.2, seed=2),
    "two_classes": lambda: make_logits(1500, 2, scale=3.0, seed=5),
    "thousand_classes": lambda: make_logits(300, 1000, scale=2.0, seed=6),
    "one_class_present": one_class_case,
    "constant_predictions": constant_case,
    # Large enough for the subsample warm start to run.
    "large": lambda: make_logits(20_000, 10, scale=3.0, seed=7),
    "float32": float32_case,
    "nearly_separable": nearly_separable_case,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_temperature_matches_scipy_bounded_search(case: str) -> None:
    logits, labels = CASES[case]()
    scaler = TemperatureScaler().fit(logits, labels)
    logits = logits.astype(np.float64)  # the reference works on the same values in float64
    reference = scipy_temperature(logits, labels)
    assert scaler.temperature_ == pytest.approx(reference, rel=1e-3)
    assert scaler.nll_before_ == pytest.approx(scipy_nll(logits, labels, 1.0), rel=1e-12)
    # nll_after_ is a Taylor estimate at the final step, documented to about 1e-7.
    assert scaler.nll_after_ == pytest.approx(
        scipy_nll(logits, labels, scaler.temperature_), rel=1e-6
    )
    assert scipy_nll(logits, labels, scaler.temperature_) <= (
        scipy_nll(logits, labels, reference) * (1 + 1e-9)
    )
    assert scaler.nll_after_ <= scaler.nll_before_
    # Safeguarded Halley converges in a handful of passes; a crawl would use all 100.
    assert scaler.n_iter_ <= 20


def test_overconfident_logits_get_t_above_one_and_lower_ece() -> None:
    logits, labels = make_logits(3000, 10, scale=5.0, seed=9)
    scaler = TemperatureScaler().fit(logits, labels)
    assert 3.0 < scaler.temperature_ < 8.0
    before = calibration_report(logits, labels)
    after = calibration_report(logits, labels, scaler.temperature_)
    assert after["ece"] < 0.5 * before["ece"]
    assert after["nll"] < before["nll"]
    assert after["accuracy"] == before["accuracy"]  # scaling never changes the argmax
    assert scaler.warnings_ == []


def test_underconfident_logits_get_t_below_one() -> None:
    logits, labels = make_logits(3000, 10, scale=0.2, seed=10)
    scaler = TemperatureScaler().fit(logits, labels)
    assert 0.1 < scaler.temperature_ < 0.4
    assert scaler.nll_after_ < scaler.nll_before_


def test_perfect_predictions_drive_t_to_the_lower_bound() -> None:
    logits, _ = make_logits(500, 10, scale=2.0, seed=11)
    labels = logits.argmax(axis=1)
    scaler = TemperatureScaler().fit(logits, labels)
    assert scaler.temperature_ == BOUNDS[0]
    assert scaler.temperature_ == pytest.approx(scipy_temperature(logits, labels), rel=1e-3)
    assert any("lower bound" in w for w in scaler.warnings_)


def test_saturated_perfect_predictions_pick_the_lower_bound() -> None:
    # Margins of hundreds make the NLL exactly 0.0 in float64 over a range of T; the infimum
    # is still approached as T shrinks.
    logits, _ = make_logits(200, 5, scale=100.0, seed=23)
    labels = logits.argmax(axis=1)
    scaler = TemperatureScaler().fit(logits, labels)
    assert scaler.temperature_ == BOUNDS[0]
    assert any("lower bound" in w for w in scaler.warnings_)


def test_search_does_not_crawl_along_an_exponential_tail() -> None:
    # fit() answers separable sets without searching; the search itself must still reach the
    # bound quickly, where plain Newton moves by a near-constant 1/margin per step.
    logits, _ = make_logits(300, 3, scale=10.0, seed=24)
    labels = logits.argmax(axis=1)
    nll = _NllOfInverseTemperature.from_logits(logits, labels)
    beta, _, _ = _minimise_over_beta(nll, 1 / BOUNDS[1], 1 / BOUNDS[0], 1.0, 2e-2)
    assert beta == 1 / BOUNDS[0]
    assert nll.n_evaluations <= 5


def test_large_sets_need_few_full_passes() -> None:
    # The subsample warm start leaves about one Halley step (plus the pass for NLL at T = 1).
    logits, labels = CASES["large"]()
    assert TemperatureScaler().fit(logits, labels).n_iter_ <= 3


def test_always_wrong_predictions_drive_t_to_the_upper_bound() -> None:
    logits, _ = make_logits(500, 10, scale=2.0, seed=12)
    labels = logits.argmin(axis=1)
    scaler = TemperatureScaler().fit(logits, labels)
    assert scaler.temperature_ == BOUNDS[1]
    assert scaler.temperature_ == pytest.approx(scipy_temperature(logits, labels), rel=1e-3)
    assert any("upper bound" in w for w in scaler.warnings_)


def test_custom_bounds_are_respected() -> None:
    logits, labels = make_logits(1000, 10, scale=0.2, seed=13)  # unbounded optimum near 0.2
    scaler = TemperatureScaler(bounds=(0.5, 10.0)).fit(logits, labels)
    assert scaler.temperature_ == 0.5
    inner = TemperatureScaler(bounds=(0.1, 0.3)).fit(logits, labels)
    assert inner.temperature_ == pytest.approx(
        scipy_temperature(logits, labels, (0.1, 0.3)), rel=1e-3
    )


def test_uniform_logits_leave_t_at_one_with_a_warning() -> None:
    logits = np.zeros((50, 4))
    labels = np.arange(50) % 4
    scaler = TemperatureScaler().fit(logits, labels)
    assert scaler.temperature_ == 1.0
    assert scaler.nll_after_ == pytest.approx(math.log(4))
    assert any("constant" in w for w in scaler.warnings_)


def test_uniform_logits_keep_the_nearest_temperature_to_one() -> None:
    scaler = TemperatureScaler(bounds=(2.0, 5.0)).fit(np.ones((20, 3)), np.arange(20) % 3)
    assert scaler.temperature_ == 2.0
    assert any("constant" in w for w in scaler.warnings_)


def test_one_class_present_warns_but_fits() -> None:
    logits, labels = one_class_case()
    scaler = TemperatureScaler().fit(logits, labels)
    assert BOUNDS[0] <= scaler.temperature_ <= BOUNDS[1]
    assert any("all labels are class 2" in w for w in scaler.warnings_)


def test_few_samples_warn() -> None:
    logits, labels = make_logits(30, 3, scale=2.0, seed=14)
    assert any("only 30 samples" in w for w in TemperatureScaler().fit(logits, labels).warnings_)


@pytest.mark.parametrize("seed", range(8))
def test_temperature_is_always_finite_and_inside_bounds(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n, k = int(rng.integers(10, 400)), int(rng.integers(2, 30))
    labels = rng.integers(0, k, size=n)
    logits = rng.standard_t(df=2, size=(n, k))
    logits[np.arange(n), labels] += rng.uniform(0.0, 3.0)
    logits *= float(np.exp(rng.uniform(-4, 4)))
    scaler = TemperatureScaler().fit(logits, labels)
    assert math.isfinite(scaler.temperature_)
    assert BOUNDS[0] <= scaler.temperature_ <= BOUNDS[1]
    assert scaler.temperature_ == pytest.approx(scipy_temperature(logits, labels), rel=1e-3)


def test_huge_logits_stay_finite() -> None:
    # Any wrong prediction costs ~1e37 / T nats, so the largest T wins; d**3 must not overflow.
    logits, labels = make_logits(200, 5, scale=1.0, seed=15)
    logits = logits * 1e37
    scaler = TemperatureScaler().fit(logits, labels)
    assert scaler.temperature_ == BOUNDS[1]
    assert scaler.nll_after_ == pytest.approx(scipy_nll(logits, labels, BOUNDS[1]), rel=1e-9)


def test_fit_returns_self_and_fit_temperature_agrees() -> None:
    logits, labels = make_logits(500, 5, scale=2.5, seed=16)
    scaler = TemperatureScaler()
    assert scaler.fit(logits, labels) is scaler
    assert fit_temperature(logits, labels) == scaler.temperature_
    assert scaler.n_classes_ == 5 and scaler.n_iter_ >= 1


def test_predict_proba_is_softmax_of_scaled_logits() -> None:
    logits, labels = make_logits(300, 6, scale=3.0, seed=17)
    scaler = TemperatureScaler().fit(logits, labels)
    new_logits, _ = make_logits(40, 6, scale=3.0, seed=18)
    probs = scaler.predict_proba(new_logits)
    np.testing.assert_allclose(probs, scipy_softmax(new_logits / scaler.temperature_, axis=1))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    with pytest.raises(DataError):
        scaler.predict_proba(new_logits[:, :5])


def test_predict_proba_needs_fit() -> None:
    with pytest.raises(RuntimeError):
        TemperatureScaler().predict_proba(np.zeros((3, 2)))


@pytest.mark.parametrize(
    "bounds", [(0.0, 1.0), (2.0, 1.0), (1.0, float("inf")), (float("nan"), 2.0)]
)
def test_bad_bounds_are_refused(bounds: tuple[float, float]) -> None:
    logits, labels = make_logits(50, 3, seed=19)
    with pytest.raises(ValueError):
        TemperatureScaler(bounds=bounds).fit(logits, labels)


GOOD_LOGITS, GOOD_LABELS = make_logits(20, 3, scale=2.0, seed=20)


def with_value(value: float) -> np.ndarray:
    logits = GOOD_LOGITS.copy()
    logits[5, 1] = value
    return logits


@pytest.mark.parametrize(
    ("logits", "labels", "fragment"),
    [
        (with_value(np.nan), GOOD_LABELS, "NaN or inf"),
        (with_value(np.inf), GOOD_LABELS, "NaN or inf"),
        (with_value(-np.inf), GOOD_LABELS, "NaN or inf"),
        (GOOD_LOGITS, np.r_[GOOD_LABELS[:-1], 3], "[0, 2]"),
        (GOOD_LOGITS, np.r_[GOOD_LABELS[:-1], -1], "[0, 2]"),
        (GOOD_LOGITS, np.r_[GOOD_LABELS[:-1], 0.5], "non-integer"),
        (GOOD_LOGITS[:9], GOOD_LABELS[:9], "at least 10"),
        (GOOD_LOGITS[:, 0], GOOD_LABELS, "2-D"),
        (GOOD_LOGITS, GOOD_LABELS[:15], "20 rows but labels have 15"),
        (GOOD_LOGITS[:, :1], np.zeros(20, dtype=int), "at least 2 classes"),
        (with_value(1e300), GOOD_LABELS, "float32 range"),
    ],
)
def test_bad_data_is_refused_with_one_line(logits, labels, fragment: str) -> None:
    with pytest.raises(DataError) as caught:
        TemperatureScaler().fit(logits, labels)
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_ten_samples_are_enough() -> None:
    scaler = TemperatureScaler().fit(GOOD_LOGITS[:10], GOOD_LABELS[:10])
    assert math.isfinite(scaler.temperature_)


def saturated_log_probabilities(logits: np.ndarray) -> np.ndarray:
    """What a model card without logits falls back to: log of float32 softmax, clipped."""
    probs = scipy_softmax(logits.astype(np.float32), axis=1).astype(np.float32)
    return np.log(np.clip(probs, 1e-7, 1.0)).astype(np.float64)


def test_log_probability_inputs_warn() -> None:
    logits, labels = make_logits(1000, 10, scale=8.0, seed=21)
    log_p = saturated_log_probabilities(logits)
    assert logits_are_log_probabilities(log_p)
    assert not logits_are_log_probabilities(logits)
    scaler = TemperatureScaler().fit(log_p, labels)
    warning = [w for w in scaler.warnings_ if "log-probabilities" in w]
    assert len(warning) == 1
    # Saturated: the top probability is above 1 - 1e-6, where float32 has no room for the tail.
    saturated = np.count_nonzero(log_p.max(axis=1) >= math.log(1 - 1e-6))
    assert saturated > 100
    assert f"{saturated} of 1000 rows" in warning[0]
    assert TemperatureScaler().fit(logits, labels).warnings_ == []


def test_exact_log_softmax_gives_the_same_temperature() -> None:
    # softmax is shift-invariant per row, so only saturation (not the log form) loses anything.
    logits, labels = make_logits(1000, 10, scale=3.0, seed=22)
    log_p = scipy_log_softmax(logits, axis=1)
    assert logits_are_log_probabilities(log_p)
    assert fit_temperature(log_p, labels) == pytest.approx(
        fit_temperature(logits, labels), rel=1e-6
    )


@pytest.mark.parametrize(
    "scores",
    [
        np.zeros(5),
        np.array([[np.nan, 0.0], [0.0, 0.0]]),
        np.array([[np.inf, 0.0], [0.0, 0.0]]),
        np.log(np.array([[0.5, 0.5], [0.9, 0.2]])),  # second row sums to 1.1
        np.array([[0.0, 0.0]]),  # logsumexp is log 2, not 0
    ],
)
def test_non_log_probabilities_are_recognised(scores: np.ndarray) -> None:
    assert not logits_are_log_probabilities(scores)


def test_log_of_zero_probability_still_counts_as_log_probabilities() -> None:
    with np.errstate(divide="ignore"):
        log_p = np.log(np.array([[1.0, 0.0], [0.25, 0.75]]))
    assert logits_are_log_probabilities(log_p)
