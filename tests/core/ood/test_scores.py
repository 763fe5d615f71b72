"""OOD scores on logits and features against direct computations."""

import numpy as np
import pytest
from sklearn.covariance import ledoit_wolf_shrinkage as sklearn_ledoit_wolf_shrinkage

from app.core.errors import DataError
from app.core.ood import knn as ood_knn
from app.core.ood.knn import KNNScorer
from app.core.ood.mahalanobis import MahalanobisScorer, ledoit_wolf_shrinkage
from app.core.ood.metrics import auroc
from app.core.ood.probe import ProbeScore
from app.core.ood.scores import (
    FEATURE_SCORE_NAMES,
    LAYER_SCORE_NAMES,
    LOGIT_SCORE_NAMES,
    SCORE_NAMES,
    available_scores,
    compute_scores,
    energy_score,
    max_logit,
    max_softmax_probability,
)


def random_logits(seed: int = 0, n: int = 40, k: int = 7, spread: float = 3.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, spread, size=(n, k))


def clusters(
    seed: int, n: int, d: int, n_classes: int, spread: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 5.0, size=(n_classes, d))
    labels = np.arange(n) % n_classes
    return centres[labels] + rng.normal(0.0, spread, size=(n, d)), labels


def direct_mahalanobis(x: np.ndarray, y: np.ndarray, queries: np.ndarray, alpha: float):
    classes = np.unique(y)
    means = np.stack([x[y == c].mean(axis=0) for c in classes])
    residuals = x - means[np.searchsorted(classes, y)]
    s = residuals.T @ residuals / x.shape[0]
    d = x.shape[1]
    cov = (1 - alpha) * s + alpha * np.trace(s) / d * np.eye(d)
    precision = np.linalg.inv(cov)
    distances = np.stack(
        [np.einsum("ij,jk,ik->i", queries - m, precision, queries - m) for m in means], axis=1
    )
    return -distances.min(axis=1)


def brute_force_knn(bank: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    b = bank / np.linalg.norm(bank, axis=1, keepdims=True)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    distances = np.sqrt(((q[:, None, :] - b[None, :, :]) ** 2).sum(axis=2))
    return -np.sort(distances, axis=1)[:, k - 1]


# --------------------------------------------------------------------------- logit scores


def test_msp_is_the_largest_softmax_probability() -> None:
    z = random_logits()
    e = np.exp(z - z.max(axis=1, keepdims=True))
    expected = (e / e.sum(axis=1, keepdims=True)).max(axis=1)
    np.testing.assert_allclose(max_softmax_probability(z), expected, rtol=1e-12)


def test_msp_flattens_towards_uniform_as_temperature_grows() -> None:
    z = random_logits(1)
    previous = max_softmax_probability(z, 0.5)
    for t in (1.0, 2.0, 10.0, 1e4):
        current = max_softmax_probability(z, t)
        assert np.all(current <= previous + 1e-15)
        previous = current
    np.testing.assert_allclose(previous, 1.0 / z.shape[1], rtol=1e-3)
    top_two = np.sort(z, axis=1)[:, -2:]
    clear_winner = top_two[:, 1] - top_two[:, 0] > 0.01
    assert clear_winner.sum() > 30
    assert np.all(max_softmax_probability(z, 1e-3)[clear_winner] > 0.99)


def test_msp_ignores_a_shift_of_all_logits() -> None:
    z = random_logits(2)
    np.testing.assert_allclose(
        max_softmax_probability(z + 123.0, 1.5), max_softmax_probability(z, 1.5), rtol=1e-12
    )


def test_energy_is_temperature_times_logsumexp() -> None:
    z = random_logits(3)
    for t in (0.5, 1.0, 3.0):
        expected = t * np.log(np.exp(z / t).sum(axis=1))
        np.testing.assert_allclose(energy_score(z, t), expected, rtol=1e-12)


def test_energy_bounds_shift_and_low_temperature_limit() -> None:
    z = random_logits(4)
    k = z.shape[1]
    for t in (0.1, 1.0, 4.0):
        energy = energy_score(z, t)
        assert np.all(energy >= max_logit(z) - 1e-12)
        assert np.all(energy <= max_logit(z) + t * np.log(k) + 1e-12)
    np.testing.assert_allclose(energy_score(z + 7.5), energy_score(z) + 7.5, rtol=1e-12)
    np.testing.assert_allclose(energy_score(z, 1e-4), max_logit(z), atol=1e-4 * np.log(k))


def test_logit_scores_survive_huge_logits() -> None:
    z = np.array([[1e4, 0.0, -1e4], [800.0, 799.0, 0.0]])
    assert np.all(np.isfinite(energy_score(z)))
    assert energy_score(z)[0] == pytest.approx(1e4)
    np.testing.assert_allclose(max_softmax_probability(z), [1.0, 1 / (1 + np.exp(-1))])


def test_max_logit_is_the_row_maximum() -> None:
    z = random_logits(5)
    np.testing.assert_array_equal(max_logit(z), z.max(axis=1))


@pytest.mark.parametrize(
    "logits, match",
    [(np.zeros(5), "2-D"), (np.array([[0.0, np.nan]]), "NaN"), (np.zeros((0, 3)), "empty")],
)
def test_logit_scores_reject_bad_logits(logits: np.ndarray, match: str) -> None:
    with pytest.raises(DataError, match=match):
        energy_score(logits)


@pytest.mark.parametrize("t", [0.0, -1.0, float("nan"), float("inf")])
def test_logit_scores_reject_bad_temperatures(t: float) -> None:
    with pytest.raises(DataError, match="temperature"):
        max_softmax_probability(random_logits(), t)


# --------------------------------------------------------------------------- Mahalanobis


@pytest.mark.parametrize("n, d", [(300, 8), (30, 60)])
def test_ledoit_wolf_shrinkage_matches_sklearn(n: int, d: int) -> None:
    x, y = clusters(6, n, d, 3)
    means = np.stack([x[y == c].mean(axis=0) for c in range(3)])
    residuals = x - means[y]
    expected = sklearn_ledoit_wolf_shrinkage(residuals, assume_centered=True)
    assert ledoit_wolf_shrinkage(residuals) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("shrinkage", [0.0, 0.3, "auto"])
def test_mahalanobis_equals_direct_inverse_on_a_well_conditioned_case(shrinkage) -> None:
    x, y = clusters(7, 400, 6, 3)
    queries = np.random.default_rng(8).normal(0.0, 6.0, size=(50, 6))
    scorer = MahalanobisScorer(shrinkage).fit(x, y)
    alpha = scorer.shrinkage_
    if shrinkage != "auto":
        assert alpha == shrinkage
    expected = direct_mahalanobis(x, y, queries, alpha)
    np.testing.assert_allclose(scorer.score(queries), expected, rtol=1e-9)
    np.testing.assert_allclose(scorer.precision_ @ scorer.covariance_, np.eye(6), atol=1e-9)


def test_mahalanobis_fitted_attributes() -> None:
    x, y = clusters(9, 90, 4, 3)
    labels = np.array(["seven", "eight", "nine"])[y]
    scorer = MahalanobisScorer().fit(x, labels)
    assert list(scorer.classes_) == ["eight", "nine", "seven"]
    np.testing.assert_allclose(scorer.means_[2], x[labels == "seven"].mean(axis=0))
    np.testing.assert_allclose(scorer.precision_, scorer.precision_.T)
    assert 0.0 <= scorer.shrinkage_ <= 1.0


def test_mahalanobis_is_stable_with_more_dimensions_than_samples() -> None:
    x, y = clusters(10, 40, 200, 4)
    scorer = MahalanobisScorer().fit(x, y)
    assert scorer.shrinkage_ > 0.0
    eigenvalues = np.linalg.eigvalsh(scorer.precision_)
    assert eigenvalues.min() > 0.0 and np.isfinite(eigenvalues).all()
    inside, _ = clusters(10, 40, 200, 4)  # same centres, fresh noise
    inside = inside + np.random.default_rng(11).normal(0.0, 1.0, inside.shape)
    far = np.random.default_rng(12).normal(0.0, 30.0, size=(40, 200))
    assert np.isfinite(scorer.score(inside)).all()
    assert auroc(scorer.score(inside), scorer.score(far)) > 0.99


@pytest.mark.parametrize("shrinkage", ["auto", 0.0])
def test_mahalanobis_is_stable_with_dead_dimensions(shrinkage) -> None:
    x, y = clusters(13, 200, 10, 3)
    x = np.hstack([x, np.zeros((200, 6))])  # six dead ReLU units
    scorer = MahalanobisScorer(shrinkage).fit(x, y)
    scores = scorer.score(x)
    assert np.isfinite(scores).all() and np.all(scores <= 0.0)
    np.testing.assert_allclose(scorer.precision_, scorer.precision_.T)
    # A unit that never fired in training firing now is strong evidence of novelty.
    lit = x[:5].copy()
    lit[:, -1] = 1.0
    assert np.all(scorer.score(lit) < scorer.score(x[:5]))


def test_mahalanobis_from_statistics_scores_identically() -> None:
    x, y = clusters(14, 120, 5, 3)
    fitted = MahalanobisScorer().fit(x, y)
    rebuilt = MahalanobisScorer.from_statistics(fitted.means_, fitted.precision_, fitted.classes_)
    queries = np.random.default_rng(15).normal(0.0, 5.0, size=(20, 5))
    np.testing.assert_allclose(rebuilt.score(queries), fitted.score(queries), rtol=1e-12)


def test_mahalanobis_refuses_a_single_class() -> None:
    x, _ = clusters(16, 50, 4, 1)
    with pytest.raises(DataError, match="at least 2 classes"):
        MahalanobisScorer().fit(x, np.zeros(50, dtype=int))


def test_mahalanobis_refuses_unusable_inputs() -> None:
    x, y = clusters(17, 30, 4, 3)
    with pytest.raises(DataError, match="more samples"):
        MahalanobisScorer().fit(x[:3], y[:3])
    with pytest.raises(DataError, match="do not vary"):
        MahalanobisScorer().fit(np.repeat(x[:3], 10, axis=0), np.repeat(y[:3], 10))
    with pytest.raises(DataError, match="one entry per feature row"):
        MahalanobisScorer().fit(x, y[:-1])
    scorer = MahalanobisScorer().fit(x, y)
    with pytest.raises(DataError, match="dimensions"):
        scorer.score(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="shrinkage"):
        MahalanobisScorer(shrinkage=1.5)


# --------------------------------------------------------------------------- k-NN


@pytest.mark.parametrize("k", [1, 5, 17])
def test_knn_equals_brute_force(k: int) -> None:
    rng = np.random.default_rng(18)
    bank, queries = rng.normal(size=(300, 16)), rng.normal(size=(60, 16))
    scorer = KNNScorer(k).fit(bank)
    np.testing.assert_allclose(scorer.score(queries), brute_force_knn(bank, queries, k), rtol=1e-5)


def test_knn_chunked_queries_equal_brute_force(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(19)
    bank, queries = rng.normal(size=(200, 8)), rng.normal(size=(45, 8))
    # A tiny block forces many chunks of 3 queries, with a short last one.
    monkeypatch.setattr(ood_knn, "_SIMILARITY_BLOCK_ELEMENTS", 600)
    scores = KNNScorer(4).fit(bank).score(queries)
    np.testing.assert_allclose(scores, brute_force_knn(bank, queries, 4), rtol=1e-5)


def test_knn_leave_one_out_equals_brute_force_without_self() -> None:
    rng = np.random.default_rng(20)
    bank = rng.normal(size=(80, 6))
    scorer = KNNScorer(3).fit(bank)
    expected = [
        brute_force_knn(np.delete(bank, i, axis=0), bank[i : i + 1], 3)[0] for i in range(80)
    ]
    np.testing.assert_allclose(scorer.leave_one_out_scores(), expected, rtol=1e-5)


def test_knn_bank_is_normalised_float32_and_scale_free() -> None:
    rng = np.random.default_rng(21)
    bank = rng.normal(size=(50, 12)) * 40.0
    scorer = KNNScorer(2).fit(bank)
    assert scorer.bank_.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(scorer.bank_, axis=1), 1.0, rtol=1e-6)
    queries = rng.normal(size=(10, 12))
    np.testing.assert_allclose(scorer.score(queries * 1e3), scorer.score(queries), rtol=1e-5)
    # A stored sample is its own nearest neighbour.
    np.testing.assert_allclose(KNNScorer(1).fit(bank).score(bank[:5]), 0.0, atol=1e-3)


def test_knn_handles_all_zero_feature_vectors() -> None:
    rng = np.random.default_rng(22)
    bank = np.vstack([rng.normal(size=(20, 4)), np.zeros((3, 4))])
    scorer = KNNScorer(2).fit(bank)
    assert scorer.bank_.shape == (20, 4)
    # A zero vector is at distance exactly 1 from every unit vector.
    np.testing.assert_allclose(scorer.score(np.zeros((1, 4))), [-1.0], atol=1e-6)


def test_knn_refuses_too_small_a_bank_and_bad_queries() -> None:
    with pytest.raises(DataError, match="k=5"):
        KNNScorer(5).fit(np.random.default_rng(23).normal(size=(5, 3)))
    scorer = KNNScorer(1).fit(np.eye(3))
    with pytest.raises(DataError, match="dimensions"):
        scorer.score(np.ones((1, 4)))
    with pytest.raises(ValueError, match="positive integer"):
        KNNScorer(0)


# --------------------------------------------------------------------------- both families


def test_feature_scores_separate_clusters_from_far_points() -> None:
    x, y = clusters(24, 300, 16, 4)
    rng = np.random.default_rng(25)
    inside = x + rng.normal(0.0, 0.5, x.shape)
    # Far away and in directions no cluster lies in.
    far = rng.normal(0.0, 1.0, size=(200, 16)) * 25.0
    mahalanobis = MahalanobisScorer().fit(x, y)
    knn = KNNScorer().fit(x)
    assert auroc(mahalanobis.score(inside), mahalanobis.score(far)) > 0.99
    assert auroc(knn.score(inside), knn.score(far)) > 0.97


def test_compute_scores_dispatches_every_name() -> None:
    x, y = clusters(26, 60, 5, 3)
    logits = x @ np.random.default_rng(27).normal(size=(5, 3))
    layer = np.abs(x) + 1.0
    reference = np.random.default_rng(28).normal(-3, 1, size=(60, 5))
    probe = ProbeScore(C=1.0).fit(layer, reference, np.repeat(["far"], 60), labels=y)
    stats = {"mahalanobis": MahalanobisScorer().fit(x, y), "knn": KNNScorer(3).fit(x),
             "probe": probe}
    expected = {
        "msp": max_softmax_probability(logits, 2.0),
        "max_logit": max_logit(logits),
        "energy": energy_score(logits, 2.0),
        "mahalanobis": stats["mahalanobis"].score(x),
        "knn": stats["knn"].score(x),
        "probe": probe.score(layer),
    }
    assert set(expected) == set(SCORE_NAMES) == set(
        LOGIT_SCORE_NAMES + FEATURE_SCORE_NAMES + LAYER_SCORE_NAMES)
    for name in SCORE_NAMES:
        scores = compute_scores(name, logits, x, 2.0, stats, layer)
        assert scores.dtype == np.float64
        np.testing.assert_array_equal(scores, expected[name])
    assert available_scores(x, stats, layer) == SCORE_NAMES
    assert available_scores(x, stats) == LOGIT_SCORE_NAMES + FEATURE_SCORE_NAMES
    assert available_scores(None, stats) == LOGIT_SCORE_NAMES
    assert available_scores(x, {"knn": stats["knn"]}) == (*LOGIT_SCORE_NAMES, "knn")


def test_compute_scores_explains_what_is_missing() -> None:
    logits = random_logits()
    with pytest.raises(DataError, match="penultimate-layer features"):
        compute_scores("knn", logits, None, 1.0, {})
    with pytest.raises(DataError, match="no fitted statistics"):
        compute_scores("mahalanobis", logits, np.ones((40, 3)), 1.0, {})
    with pytest.raises(DataError, match="unknown OOD score"):
        compute_scores("odin", logits, None)
