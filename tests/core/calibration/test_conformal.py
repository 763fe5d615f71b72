"""Split-conformal prediction sets: coverage, MAPIE parity, card round trip and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.core.calibration.conformal import ConformalClassifier
from app.core.calibration.conformal_card import from_card_dict, to_card_dict
from app.core.calibration.conformal_split import (
    N_FOLDS,
    fit_temperature_and_sets,
    stratified_parts,
)
from app.core.calibration.conformity_scores import (
    class_coverage,
    class_scores,
    conformal_quantile,
    coverage,
    label_scores,
    mean_set_size,
    quantile_rank,
    required_samples,
    set_size_histogram,
)
from app.core.calibration.temperature import TemperatureScaler
from app.core.errors import CardError, DataError
from app.core.numeric import softmax

N_CLASSES = 10


def make_logits(
    n: int, margin: float = 3.2, scale: float = 2.0, seed: int = 0, n_classes: int = N_CLASSES
) -> tuple[np.ndarray, np.ndarray]:
    """Logits of a 10-class model: margin 3.2 gives ~90 % accuracy, 5.2 ~99 %.

    Class difficulty varies (a Dirichlet draw of per-class margins), so per-class coverage is
    not trivially uniform. The Bayes logits are about ``margin * noise``, so ``scale`` = 2
    makes the model underconfident and the fitted T well below 1.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, size=n)
    class_margin = margin * n_classes * rng.dirichlet(np.full(n_classes, 30.0))
    noise = rng.normal(size=(n, n_classes))
    noise[np.arange(n), labels] += class_margin[labels]
    return scale * noise, labels


def make_probabilities(n: int, margin: float = 3.2, seed: int = 0):
    logits, labels = make_logits(n, margin, seed=seed)
    return softmax(logits, 2.0), labels


# --------------------------------------------------------------------------- scores, quantile


def test_aps_and_raps_scores_by_hand_with_ties_broken_by_class_index():
    p = np.array([[0.4, 0.4, 0.2], [0.1, 0.6, 0.3]])
    aps = class_scores(p, "aps")
    # Row 0: classes 0 and 1 tie; class 0 (lower index) ranks first.
    np.testing.assert_allclose(aps, [[0.4, 0.8, 1.0], [1.0, 0.6, 0.9]])
    raps = class_scores(p, "raps", lam=0.1, k_reg=1)
    np.testing.assert_allclose(raps, [[0.4, 0.9, 1.2], [1.2, 0.6, 1.0]])
    np.testing.assert_allclose(class_scores(p, "lac"), 1.0 - p)
    np.testing.assert_allclose(label_scores(p, np.array([1, 2]), "aps"), [0.8, 0.9])


def test_conformal_quantile_is_the_ceil_rank_order_statistic():
    scores = np.arange(1.0, 20.0)  # 19 scores 1..19
    assert conformal_quantile(scores, 0.1) == 18.0  # ceil(20 * 0.9) = 18
    assert conformal_quantile(scores, 0.05) == 19.0  # ceil(20 * 0.95) = 19
    assert conformal_quantile(scores, 0.5) == 10.0
    # 1 - 0.7 is 0.30000000000000004 in floating point; the rank must still be ceil(3.0) = 3.
    assert quantile_rank(9, 0.7) == 3


@pytest.mark.parametrize(("alpha", "needed"), [(0.1, 9), (0.05, 19), (0.3, 3), (0.7, 1)])
def test_required_samples_is_ceil_inverse_alpha_minus_one(alpha, needed):
    assert required_samples(alpha) == needed
    assert quantile_rank(needed, alpha) <= needed
    assert needed == 1 or quantile_rank(needed - 1, alpha) > needed - 1


def test_too_few_images_for_alpha_says_how_many_are_needed():
    p, y = make_probabilities(18)
    with pytest.raises(DataError, match="at least 19 labelled images") as caught:
        ConformalClassifier(alpha=0.05).fit(p, y)
    assert "\n" not in str(caught.value)
    ConformalClassifier(alpha=0.05).fit(*make_probabilities(19))  # exactly enough


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, 1.5, float("nan"), "ten"])
def test_alpha_outside_unit_interval_is_refused(alpha):
    p, y = make_probabilities(200)
    with pytest.raises(DataError, match="alpha"):
        ConformalClassifier(alpha=alpha).fit(p, y)


def test_invalid_method_and_probabilities_are_refused():
    p, y = make_probabilities(200)
    with pytest.raises(DataError, match="lac, aps, raps"):
        ConformalClassifier(method="thr").fit(p, y)
    with pytest.raises(DataError, match="sum to 1"):
        ConformalClassifier().fit(p * 0.5, y)
    fitted = ConformalClassifier().fit(p, y)
    with pytest.raises(DataError, match="fitted on 10"):
        fitted.predict_sets(p[:, :5] / p[:, :5].sum(axis=1, keepdims=True))


# --------------------------------------------------------------------------- coverage


@pytest.mark.parametrize("alpha", [0.1, 0.05])
def test_lac_coverage_is_one_minus_alpha_over_random_splits(alpha):
    p, y = make_probabilities(30_000, seed=1)
    rng = np.random.default_rng(2)
    coverages = []
    for _ in range(20):
        order = rng.permutation(y.shape[0])
        cal, test = order[:1000], order[1000:4000]
        sets = ConformalClassifier("lac", alpha).fit(p[cal], y[cal]).predict_sets(p[test])
        coverages.append(coverage(sets, y[test]))
    assert all(abs(c - (1 - alpha)) <= 0.04 for c in coverages), coverages
    # Expected coverage is ceil(1001 (1 - alpha)) / 1001, within 0.001 above 1 - alpha.
    assert abs(np.mean(coverages) - (1 - alpha)) <= 0.01


@pytest.mark.parametrize("method", ["aps", "raps"])
def test_aps_and_raps_cover_at_least_one_minus_alpha(method):
    p, y = make_probabilities(20_000, seed=3)
    rng = np.random.default_rng(4)
    for _ in range(5):
        order = rng.permutation(y.shape[0])
        cal, test = order[:2000], order[2000:8000]
        sets = ConformalClassifier(method, 0.1).fit(p[cal], y[cal]).predict_sets(p[test])
        # Forcing the top class into every set can only add coverage.
        assert coverage(sets, y[test]) >= 0.9 - 0.02
        assert sets.sum(axis=1).min() >= 1


def test_by_class_coverage_holds_in_every_class():
    p, y = make_probabilities(40_000, seed=5)
    cal, test = slice(0, 10_000), slice(10_000, None)
    marginal = ConformalClassifier("lac", 0.1).fit(p[cal], y[cal]).predict_sets(p[test])
    mondrian = ConformalClassifier("lac", 0.1, by_class=True).fit(p[cal], y[cal])
    per_class = class_coverage(mondrian.predict_sets(p[test]), y[test], N_CLASSES)
    assert np.all(np.abs(per_class - 0.9) <= 0.03), per_class
    # The classes differ in difficulty, so one marginal threshold does not give this.
    spread = class_coverage(marginal, y[test], N_CLASSES)
    assert spread.max() - spread.min() > per_class.max() - per_class.min()


def test_a_class_without_images_is_named_and_gets_the_overall_threshold():
    p, y = make_probabilities(3000, seed=6)
    keep = y != 7
    fitted = ConformalClassifier("lac", 0.1, by_class=True).fit(p[keep], y[keep])
    assert fitted.uncovered_classes_ == [7]
    assert any("[7]" in w and "no per-class" in w for w in fitted.warnings_)
    assert fitted.class_thresholds_[7] == fitted.threshold_
    assert np.isnan(class_coverage(fitted.predict_sets(p[keep]), y[keep], N_CLASSES)[7])
    with pytest.raises(DataError, match="largest class has"):
        ConformalClassifier("lac", 0.01, by_class=True).fit(p[:500], y[:500])


# --------------------------------------------------------------------------- set sizes


def test_lac_sets_are_smaller_than_aps_and_raps_smaller_than_aps_on_a_confident_model():
    p, y = make_probabilities(20_000, margin=5.2, seed=7)  # ~99 % accurate
    assert np.mean(p.argmax(axis=1) == y) > 0.97
    cal, test = slice(0, 5000), slice(5000, None)
    sizes = {
        m: mean_set_size(ConformalClassifier(m, 0.1).fit(p[cal], y[cal]).predict_sets(p[test]))
        for m in ("lac", "aps", "raps")
    }
    assert sizes["lac"] <= sizes["aps"]
    assert sizes["raps"] < 0.8 * sizes["aps"], sizes


def test_lac_sets_may_be_empty_aps_sets_never_are():
    # 90 % accurate, asked for 80 %: the least probable-looking images need no class at all.
    p, y = make_probabilities(5000, seed=8)
    lac = ConformalClassifier("lac", 0.2).fit(p, y).predict_sets(p)
    aps = ConformalClassifier("aps", 0.2).fit(p, y).predict_sets(p)
    assert set_size_histogram(lac)[0] > 0
    assert set_size_histogram(aps)[0] == 0
    assert set_size_histogram(lac).sum() == 5000


def test_thresholds_rise_and_sets_grow_as_alpha_falls():
    p, y = make_probabilities(5000, seed=9)
    for method in ("lac", "aps", "raps"):
        fitted = ConformalClassifier(method, 0.3, by_class=True).fit(p, y)
        previous = None
        for alpha in (0.3, 0.2, 0.1, 0.05, 0.01):
            current = fitted.with_alpha(alpha)
            fresh = ConformalClassifier(method, alpha, by_class=True).fit(p, y)
            assert current.threshold_ == fresh.threshold_
            np.testing.assert_array_equal(current.class_thresholds_, fresh.class_thresholds_)
            sets = current.predict_sets(p)
            if previous is not None:
                assert current.threshold_ >= previous[0].threshold_
                assert np.all(current.class_thresholds_ >= previous[0].class_thresholds_)
                assert np.all(sets | ~previous[1] | previous[1])  # shapes agree
                assert not np.any(previous[1] & ~sets)  # nested: nothing leaves the set
            previous = (current, sets)
    assert fitted.alpha == 0.3  # with_alpha returns a copy


def test_members_are_listed_most_probable_first():
    p = np.array([[0.05, 0.5, 0.05, 0.4], [0.25, 0.25, 0.25, 0.25]])
    fitted = ConformalClassifier("lac", 0.1).fit(np.tile(p, (10, 1)), np.tile([1, 0], 10))
    fitted.threshold_ = 0.7  # every class with p >= 0.3
    assert fitted.predict_members(p) == [[1, 3], []]
    fitted.threshold_ = 0.8
    assert fitted.predict_members(p) == [[1, 3], [0, 1, 2, 3]]


# --------------------------------------------------------------------------- MAPIE parity


def _mapie_sets(p_cal, y_cal, p_test, method, alpha):
    mapie = pytest.importorskip("mapie")
    from mapie.classification import SplitConformalClassifier
    from mapie.conformity_scores import APSConformityScore
    from sklearn.base import BaseEstimator, ClassifierMixin

    class Identity(ClassifierMixin, BaseEstimator):
        """A prefit 'classifier' whose features are its probabilities."""

        def fit(self, x, y):
            self.classes_ = np.arange(x.shape[1])
            self.n_features_in_ = x.shape[1]
            return self

        def predict_proba(self, x):
            return np.asarray(x)

        def predict(self, x):
            return np.asarray(x).argmax(axis=1)

    class NonRandomisedAPS(APSConformityScore):
        """MAPIE's APS draws u * p_y off every calibration score; this keeps the plain sum."""

        def get_conformity_scores(self, y, y_pred, y_enc=None, **kwargs):
            scores, self.cutoff = self.get_true_label_cumsum_proba(y, y_pred, self.classes)
            return scores

    score = "lac" if method == "lac" else NonRandomisedAPS()
    model = SplitConformalClassifier(
        Identity().fit(p_cal, y_cal), confidence_level=1 - alpha, conformity_score=score
    )
    model.conformalize(p_cal, y_cal)
    params = None if method == "lac" else {"include_last_label": False}
    _, sets = model.predict_set(p_test, conformity_score_params=params)
    assert mapie.__version__
    quantile = model._mapie_classifier.conformity_score_function_.quantiles_[0]
    return sets[:, :, 0], float(quantile)


@pytest.mark.parametrize("method", ["lac", "aps"])
@pytest.mark.parametrize(("alpha", "seed"), [(0.1, 0), (0.05, 1), (0.2, 2)])
def test_sets_equal_mapie(method, alpha, seed):
    p, y = make_probabilities(6000, seed=10 + seed)
    cal, test = slice(0, 2000), slice(2000, None)
    expected, mapie_threshold = _mapie_sets(p[cal], y[cal], p[test], method, alpha)
    fitted = ConformalClassifier(method, alpha).fit(p[cal], y[cal])
    assert fitted.threshold_ == pytest.approx(mapie_threshold, abs=1e-12)
    sets = fitted.predict_sets(p[test])
    assert len(np.unique(sets.sum(axis=1))) >= 3  # sets of varied sizes: the test has teeth
    np.testing.assert_array_equal(sets, expected)


# --------------------------------------------------------------------------- card


@pytest.mark.parametrize(("method", "by_class"), [("lac", False), ("raps", True)])
def test_card_round_trip_keeps_sets_and_unknown_keys(method, by_class):
    p, y = make_probabilities(3000, seed=11)
    fitted = ConformalClassifier(method, 0.1, by_class).fit(p[:1500], y[:1500], temperature=1.7)
    card = json.loads(json.dumps({**to_card_dict(fitted), "note": {"by": "tester"}}))
    assert card["temperature"] == 1.7 and card["n"] == 1500 and card["method"] == method
    restored = from_card_dict(card)
    np.testing.assert_array_equal(restored.predict_sets(p[1500:]), fitted.predict_sets(p[1500:]))
    assert to_card_dict(restored) == card  # unknown keys are written back
    with pytest.raises(DataError, match="refit"):
        restored.with_alpha(0.2)


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("threshold", float("nan"), "threshold"),
        ("threshold", "0.5", "threshold"),
        ("threshold", 1.5, "threshold"),
        ("alpha", 1.5, "alpha"),
        ("n", 5, "too few"),
        ("n", 2.5, "integer"),
        ("temperature", -1.0, "temperature"),
        ("by_class", [0.5, 0.5], "by_class"),
        ("method", "thr", "method"),
    ],
)
def test_invalid_card_values_are_refused_in_one_line(key, value, match):
    p, y = make_probabilities(500)
    card = {**to_card_dict(ConformalClassifier().fit(p, y, temperature=1.0)), key: value}
    if key == "by_class":
        card["uncovered_classes"] = []
    with pytest.raises(CardError, match=match) as caught:
        from_card_dict(card)
    assert "\n" not in str(caught.value)


def test_changed_temperature_is_reported():
    p, y = make_probabilities(500)
    card = to_card_dict(ConformalClassifier().fit(p, y, temperature=1.5))
    assert from_card_dict(card, current_temperature=1.5).warnings_ == []
    changed = from_card_dict(card, current_temperature=2.0)
    assert len(changed.warnings_) == 1 and "temperature 1.5" in changed.warnings_[0]


# --------------------------------------------------------------------------- T / threshold split


def test_stratified_parts_balance_every_class():
    y = np.repeat(np.arange(5), [101, 50, 7, 1, 300])
    parts = stratified_parts(y, 2, np.random.default_rng(0))
    for k in range(5):
        counts = np.bincount(parts[y == k], minlength=2)
        assert abs(int(counts[0]) - int(counts[1])) <= 1
    assert abs(int(np.sum(parts == 0)) - int(np.sum(parts == 1))) <= 1


def test_temperature_and_threshold_are_fitted_on_disjoint_halves():
    logits, y = make_logits(4000, seed=12)
    fit = fit_temperature_and_sets(logits, y, alpha=0.1, method="lac", seed=3)
    a, b = fit.halves == 0, fit.halves == 1
    assert not np.any(a & b) and np.all(a | b)
    t = TemperatureScaler().fit(logits[a], y[a]).temperature_
    assert fit.temperature == t == fit.classifier.temperature_
    assert t < 0.9  # T really was fitted (the generator is underconfident)
    refit = ConformalClassifier("lac", 0.1).fit(softmax(logits[b], t), y[b])
    assert fit.classifier.threshold_ == refit.threshold_
    assert fit.classifier.n_ == int(b.sum())
    # Every image is measured exactly once, by a fold that did not fit on it.
    rows = np.concatenate([f.rows for f in fit.folds])
    assert len(fit.folds) == N_FOLDS and np.array_equal(np.sort(rows), np.arange(4000))


@pytest.mark.parametrize("alpha", [0.1, 0.05])
def test_held_out_coverage_is_near_one_minus_alpha_over_seeds(alpha):
    logits, y = make_logits(6000, seed=13)
    fits = [fit_temperature_and_sets(logits, y, alpha, "lac", seed=s) for s in range(5)]
    for fit in fits:
        assert 1 - alpha - 0.03 <= fit.coverage <= 1 - alpha + 0.03
        assert fit.set_sizes.sum() == 6000
    assert len({fit.classifier.threshold_ for fit in fits}) == 5  # seeds change the split
    again = fit_temperature_and_sets(logits, y, alpha, "lac", seed=0)
    assert again.classifier.threshold_ == fits[0].classifier.threshold_


def test_moving_alpha_matches_a_fresh_fit():
    logits, y = make_logits(3000, seed=14)
    fit = fit_temperature_and_sets(logits, y, 0.1, "aps", seed=1)
    moved, fresh = fit.at_alpha(0.2), fit_temperature_and_sets(logits, y, 0.2, "aps", seed=1)
    assert moved.classifier.threshold_ == fresh.classifier.threshold_
    assert moved.coverage == fresh.coverage and moved.mean_set_size == fresh.mean_set_size
    assert moved.mean_set_size < fit.mean_set_size
    report = moved.to_json()
    assert set(report) >= {"method", "alpha", "threshold", "n", "coverage", "mean_set_size"}
    json.dumps(report)


def test_too_few_images_for_the_split_says_how_many():
    logits, y = make_logits(5000, seed=15)
    with pytest.raises(DataError, match=r"at least (\d+) labelled images") as caught:
        fit_temperature_and_sets(logits[:40], y[:40], alpha=0.05)
    needed = int(caught.value.message.split("at least ")[1].split()[0])
    fit_temperature_and_sets(logits[:needed], y[:needed], alpha=0.05)  # enough, as promised
    skewed = np.flatnonzero(y < 2)[:needed]  # two classes only: stratification still fits
    fit_temperature_and_sets(logits[skewed], y[skewed], alpha=0.05)


def test_a_confident_model_is_warned_about_empty_lac_and_bloated_aps_sets():
    logits, y = make_logits(4000, margin=5.2, seed=16)  # ~99 % accurate, asked for 90 %
    lac = fit_temperature_and_sets(logits, y, 0.1, "lac")
    assert 0.87 <= lac.coverage <= 0.93  # exact coverage means some sets must be empty
    assert lac.set_sizes[0] > 0.05 * 4000
    assert any("empty" in w for w in lac.warnings)
    aps = fit_temperature_and_sets(logits, y, 0.1, "aps")
    assert aps.mean_set_size > 3 * lac.mean_set_size
    assert any("over-cover" in w and "prefer lac" in w for w in aps.warnings)
    assert not any("over-cover" in w for w in lac.warnings)
    moderate = fit_temperature_and_sets(*make_logits(4000, seed=17), 0.1, "lac")
    assert moderate.warnings == []

