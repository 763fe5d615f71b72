"""The fitted OOD detector: thresholds, evaluation table, unavailable scores, persistence."""

import json
from pathlib import Path

import numpy as np
import pytest

from app.core.errors import CardError, DataError
from app.core.ood.detector import MIN_FIT_SAMPLES, OODDetector, stats_path_for
from app.core.ood.metrics import acceptance_rate, fpr_at_tpr, threshold_for_tpr
from app.core.ood.scores import FEATURE_SCORE_NAMES, LOGIT_SCORE_NAMES, SCORE_NAMES, energy_score

# What OODDetector.fit fits; the probe is added by a separate fit (add_probe).
FITTED = LOGIT_SCORE_NAMES + FEATURE_SCORE_NAMES


class Task:
    """A linear classifier over Gaussian class clusters in feature space."""

    def __init__(self, seed: int = 0, n_classes: int = 5, dim: int = 24) -> None:
        self.rng = np.random.default_rng(seed)
        self.centres = self.rng.normal(0.0, 4.0, size=(n_classes, dim))
        self.scale = self.rng.uniform(0.5, 2.0, size=dim)
        self.weights = self.rng.normal(0.0, 0.5, size=(dim, n_classes))
        self.n_classes, self.dim = n_classes, dim

    def inside(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        labels = self.rng.integers(0, self.n_classes, n)
        features = self.centres[labels] + self.rng.normal(size=(n, self.dim)) * self.scale
        return features @ self.weights, features, labels

    def outside(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        features = self.rng.normal(size=(n, self.dim)) * 20.0
        return features @ self.weights, features


@pytest.fixture(scope="module")
def task() -> Task:
    return Task()


@pytest.fixture(scope="module")
def fitted(task: Task) -> OODDetector:
    logits, features, labels = task.inside(400)
    return OODDetector(label="no digit").fit(
        logits, features, labels, score="knn", tpr=0.95, temperature=1.5
    )


def test_fit_sets_a_threshold_per_score_by_the_tpr_rule(fitted: OODDetector) -> None:
    assert set(fitted.thresholds_) == set(FITTED)
    assert fitted.unavailable_ == {}
    for name, scores in fitted.calibration_scores_.items():
        assert fitted.thresholds_[name] == threshold_for_tpr(scores, 0.95)
        assert acceptance_rate(scores, fitted.thresholds_[name]) >= 0.95
    assert fitted.score_name == "knn" and fitted.threshold == fitted.thresholds_["knn"]
    assert fitted.temperature == 1.5 and fitted.tpr_target == 0.95
    assert fitted.fit_info_["n"] == 400 and fitted.fit_info_["feature_dim"] == 24


def test_thresholds_accept_the_target_share_of_new_in_distribution_data() -> None:
    # Thresholds come from cross-fitted (Mahalanobis) and leave-one-out (k-NN) scores; scoring
    # the fit data in-sample instead accepts only about 90 % of new images here.
    task = Task(seed=1)  # its own draws, whatever other tests ran
    logits, features, labels = task.inside(500)
    detector = OODDetector().fit(logits, features, labels, tpr=0.95)
    new_logits, new_features, _ = task.inside(4000)
    scores = detector.scores_all(new_logits, new_features)
    for name in FITTED:
        assert acceptance_rate(scores[name], detector.thresholds_[name]) == pytest.approx(
            0.95, abs=0.025
        ), name


def test_score_and_in_distribution_follow_the_chosen_score(task: Task, fitted: OODDetector) -> None:
    logits, features, _ = task.inside(50)
    scores = fitted.score(logits, features)
    np.testing.assert_array_equal(
        fitted.in_distribution(logits, features), scores >= fitted.threshold
    )


def test_use_score_switches_score_and_threshold(task: Task) -> None:
    logits, features, labels = task.inside(200)
    detector = OODDetector().fit(logits, features, labels, score="energy", temperature=2.0)
    np.testing.assert_array_equal(detector.score(logits, features), energy_score(logits, 2.0))
    detector.use_score("mahalanobis")
    assert detector.threshold == detector.thresholds_["mahalanobis"]
    np.testing.assert_array_equal(
        detector.score(logits, features), detector.mahalanobis_.score(features)
    )
    with pytest.raises(DataError, match="unknown OOD score"):
        detector.use_score("odin")


def test_evaluate_table_separates_far_points(task: Task, fitted: OODDetector) -> None:
    in_logits, in_features, _ = task.inside(300)
    out_logits, out_features = task.outside(200)
    rows = fitted.evaluate(in_logits, in_features, out_logits, out_features)
    assert [row["score"] for row in rows] == list(SCORE_NAMES)
    by_name = {row["score"]: row for row in rows}
    assert [row["chosen"] for row in rows].count(True) == 1 and by_name["knn"]["chosen"]
    for name in ("mahalanobis", "knn"):
        assert by_name[name]["auroc"] > 0.99
        assert by_name[name]["fpr_at_95_tpr"] < 0.02
        assert by_name[name]["aupr"] > 0.99
    scores_in = fitted.scores_all(in_logits, in_features)
    scores_out = fitted.scores_all(out_logits, out_features)
    for row in rows:
        name = row["score"]
        if name == "probe":  # fitted separately against the reference (add_probe)
            assert not row["available"] and "probe" in row["reason"]
            continue
        assert row["available"] and row["reason"] is None
        assert row["fpr_at_95_tpr"] == fpr_at_tpr(scores_in[name], scores_out[name], 0.95)
        assert row["threshold"] == fitted.thresholds_[name]
        assert row["tpr"] == acceptance_rate(scores_in[name], row["threshold"])
        assert row["fpr_at_threshold"] == acceptance_rate(scores_out[name], row["threshold"])
    assert json.dumps(rows)


def test_feature_scores_are_unavailable_without_features(task: Task) -> None:
    logits, _, labels = task.inside(100)
    detector = OODDetector().fit(logits, None, labels, score="msp")
    assert set(detector.unavailable_) == {"mahalanobis", "knn"}
    assert set(detector.scores_all(logits, None)) == set(LOGIT_SCORE_NAMES)
    out_logits, _ = task.outside(50)
    rows = {row["score"]: row for row in detector.evaluate(logits, None, out_logits, None)}
    for name in ("mahalanobis", "knn"):
        assert not rows[name]["available"] and "features" in rows[name]["reason"]
        assert rows[name]["auroc"] is None and rows[name]["threshold"] is None
    assert rows["msp"]["available"] and rows["msp"]["auroc"] is not None
    with pytest.raises(DataError, match="features"):
        OODDetector().fit(logits, None, labels, score="knn")


def test_features_of_only_one_side_make_feature_rows_unavailable(
    task: Task, fitted: OODDetector
) -> None:
    in_logits, in_features, _ = task.inside(60)
    out_logits, _ = task.outside(60)
    rows = {r["score"]: r for r in fitted.evaluate(in_logits, in_features, out_logits, None)}
    assert not rows["knn"]["available"] and rows["energy"]["available"]


def test_mahalanobis_needs_labels_of_two_classes(task: Task) -> None:
    logits, features, labels = task.inside(100)
    without_labels = OODDetector().fit(logits, features, None)
    assert "labels" in without_labels.unavailable_["mahalanobis"]
    assert without_labels.knn_ is not None

    one_class = OODDetector().fit(logits, features, np.zeros(100, dtype=int))
    assert "2 classes" in one_class.unavailable_["mahalanobis"]
    with pytest.raises(DataError, match="2 classes"):
        OODDetector().fit(logits, features, np.zeros(100, dtype=int), score="mahalanobis")


def test_too_few_samples_are_refused(task: Task) -> None:
    logits, features, labels = task.inside(MIN_FIT_SAMPLES)
    OODDetector().fit(logits, features, labels, score="mahalanobis")
    with pytest.raises(DataError, match=f"at least {MIN_FIT_SAMPLES}"):
        OODDetector().fit(logits[:-1], features[:-1], labels[:-1])


def test_mismatched_or_broken_inputs_are_refused(task: Task) -> None:
    logits, features, labels = task.inside(40)
    with pytest.raises(DataError, match="rows of features"):
        OODDetector().fit(logits, features[:-1], labels)
    with pytest.raises(DataError, match="labels"):
        OODDetector().fit(logits, features, labels[:-1])
    broken = features.copy()
    broken[3, 2] = np.nan
    with pytest.raises(DataError, match="NaN"):
        OODDetector().fit(logits, broken, labels)
    with pytest.raises(DataError, match="TPR"):
        OODDetector().fit(logits, features, labels, tpr=0.0)


def test_stats_round_trip(tmp_path: Path, task: Task, fitted: OODDetector) -> None:
    path = fitted.save_stats(tmp_path / "digits.keras.probscope.npz")
    assert path.is_file() and fitted.stats_file_ == "digits.keras.probscope.npz"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    loaded = OODDetector.load_stats(path)
    logits, features, _ = task.inside(30)
    original, reloaded = fitted.scores_all(logits, features), loaded.scores_all(logits, features)
    assert set(reloaded) == set(FITTED)
    for name in FITTED:
        np.testing.assert_allclose(reloaded[name], original[name], rtol=1e-12, atol=1e-12)
    assert loaded.thresholds_ == fitted.thresholds_
    assert (loaded.score_name, loaded.threshold) == (fitted.score_name, fitted.threshold)
    assert (loaded.temperature, loaded.tpr_target, loaded.label) == (1.5, 0.95, "no digit")
    assert loaded.mahalanobis_.shrinkage_ == fitted.mahalanobis_.shrinkage_
    assert loaded.fit_info_ == fitted.fit_info_ and loaded.unavailable_ == fitted.unavailable_
    for name, scores in fitted.calibration_scores_.items():
        np.testing.assert_array_equal(loaded.calibration_scores_[name], scores)


def test_card_dict_round_trip(tmp_path: Path, task: Task, fitted: OODDetector) -> None:
    path = fitted.save_stats(stats_path_for(tmp_path / "digits.keras"))
    card = json.loads(json.dumps(fitted.to_card_dict()))
    assert card["score"] == "knn" and card["stats"] == "digits.keras.probscope.npz"
    assert card["threshold"] == fitted.threshold and card["tpr"] == 0.95
    assert card["label"] == "no digit" and card["fitted"]["n"] == 400
    card["threshold"] = -0.5  # the card wins over the file, e.g. after a manual edit
    detector = OODDetector.from_card_dict(card, path, temperature=9.0)
    assert detector.threshold == -0.5 and detector.temperature == 1.5
    logits, features, _ = task.inside(20)
    np.testing.assert_allclose(detector.score(logits, features), fitted.score(logits, features))


def test_minimal_card_needs_no_statistics_for_logit_scores(task: Task) -> None:
    logits, features, _ = task.inside(25)
    detector = OODDetector.from_card_dict({"score": "energy", "threshold": 1.5}, temperature=2.0)
    assert detector.temperature == 2.0 and detector.tpr_target == 0.95
    np.testing.assert_array_equal(detector.score(logits, None), energy_score(logits, 2.0))
    np.testing.assert_array_equal(
        detector.in_distribution(logits, None), energy_score(logits, 2.0) >= 1.5
    )
    assert set(detector.scores_all(logits, features)) == set(LOGIT_SCORE_NAMES)


def test_cards_that_cannot_work_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CardError, match="missing"):
        OODDetector.from_card_dict({"score": "knn", "threshold": -0.3}, tmp_path / "gone.npz")
    with pytest.raises(CardError, match="not one of"):
        OODDetector.from_card_dict({"score": "odin", "threshold": 0.1})
    with pytest.raises(CardError, match="threshold"):
        OODDetector.from_card_dict({"score": "msp", "threshold": "high"})
    with pytest.raises(CardError, match="temperature"):
        OODDetector.from_card_dict({"score": "msp", "threshold": 0.5, "temperature": 0})
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(b"not a zip file")
    with pytest.raises(CardError, match="cannot read"):
        OODDetector.load_stats(damaged)
    foreign = tmp_path / "foreign.npz"
    np.savez_compressed(foreign, weights=np.zeros(3))
    with pytest.raises(CardError, match="not a probscope OOD statistics file"):
        OODDetector.load_stats(foreign)


def test_stats_path_sits_beside_the_model(tmp_path: Path) -> None:
    assert stats_path_for(tmp_path / "digits.keras") == tmp_path / "digits.keras.probscope.npz"
    assert stats_path_for("models/saved_dir").name == "saved_dir.probscope.npz"


def test_set_acceptance_moves_every_threshold_to_the_share():
    from app.core.ood import OODDetector
    from app.core.ood.metrics import acceptance_rate

    rng = np.random.default_rng(3)
    logits = rng.normal(0, 3, size=(200, 4))
    detector = OODDetector().fit(logits, None, None, score="max_logit", tpr=0.95)
    detector.set_acceptance(0.8)
    assert detector.tpr_target == 0.8
    for name, scores in detector.calibration_scores_.items():
        assert abs(acceptance_rate(scores, detector.thresholds_[name]) - 0.8) < 0.02
    assert detector.threshold == detector.thresholds_["max_logit"]
