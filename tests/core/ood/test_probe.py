"""Probe round trip and leave-one-kind-out by direct computation; reference at odd sizes."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.ood.probe import ProbeScore
from app.core.ood.reference import TRAINING_LOOKALIKES, generate_reference, non_class_characters

DIGITS = [str(d) for d in range(10)]


def _data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x_in = rng.normal(0, 1, (300, 12)) + 2.0
    kinds = np.repeat(["near", "far", "same"], 100)
    x_ref = np.r_[rng.normal(0.5, 1, (100, 12)), rng.normal(-3, 1, (100, 12)),
                  rng.normal(0, 1, (100, 12)) + 2.0]  # "same" is drawn like the labelled rows
    return x_in, x_ref, kinds, np.arange(300) % 3


def test_round_trip_threshold_and_indistinguishable_kind() -> None:
    x_in, x_ref, kinds, y = _data(np.random.default_rng(0))
    probe = ProbeScore(C=1.0).fit(x_in, x_ref, kinds, labels=y)
    assert "same" in probe.dropped_kinds_ and probe.kinds_ == ["near", "far"]
    assert np.mean(probe.oof_in_ >= probe.threshold_) == pytest.approx(0.95, abs=0.01)
    again = ProbeScore.from_arrays(probe.to_arrays())
    np.testing.assert_allclose(again.score(x_ref), probe.score(x_ref))
    assert again.threshold_ == probe.threshold_


def test_leave_one_kind_out_is_a_direct_refit() -> None:
    from sklearn.linear_model import LogisticRegression

    x_in, x_ref, kinds, y = _data(np.random.default_rng(1))
    probe = ProbeScore(C=1.0).fit(x_in, x_ref, kinds, labels=y)
    rows = {r["kind"]: r for r in probe.leave_one_kind_out()}
    z_in = (x_in - probe.mean_) / probe.scale_
    z_ref = (x_ref - probe.mean_) / probe.scale_
    test = probe._fin == 0
    train = kinds == "far"  # leaving "near" out; "same" was dropped
    lr = LogisticRegression(C=1.0, class_weight="balanced", max_iter=500).fit(
        np.vstack([z_in[~test], z_ref[train]]), np.r_[np.ones((~test).sum()), np.zeros(100)])
    thr = np.quantile(lr.decision_function(z_in[test]), 0.05)
    expected = np.mean(lr.decision_function(z_ref[kinds == "near"]) >= thr)
    assert rows["near"]["held_out_accepted"] == pytest.approx(expected, abs=0.011)


@pytest.mark.parametrize(("h", "w", "c"), [(1, 300, 3), (500, 500, 3), (28, 28, 1), (32, 32, 3),
                                           (224, 224, 3), (300, 1, 1)])
def test_reference_at_odd_sizes(h: int, w: int, c: int) -> None:
    ref = generate_reference(None, 2, h, w, c, seed=3, classes=DIGITS)
    assert "glyphs" in ref and len(ref) == 15
    for images in ref.values():
        assert images.shape == (2, h, w, 3) and images.dtype == np.uint8
        if c == 1:
            assert (images[..., 0] == images[..., 2]).all()


def test_reference_is_deterministic_per_kind() -> None:
    a = generate_reference(["face", "glyphs"], 5, 32, 32, 3, seed=9, classes=DIGITS)
    b = generate_reference(["glyphs"], 5, 32, 32, 3, seed=9, classes=DIGITS)
    np.testing.assert_array_equal(a["glyphs"], b["glyphs"])


def test_no_glyphs_for_word_classes() -> None:
    assert "glyphs" not in generate_reference(None, 1, 16, 16, 3, classes=["cat", "dog"])


def test_glyphs_leave_out_the_classes_and_their_look_alikes() -> None:
    chars = non_class_characters(DIGITS)
    assert chars and not set(chars) & set("0123456789OoQDIl|5Ss")
    assert "A" in chars and "#" in chars
    assert non_class_characters(["cat", "dog"]) == ""


def test_training_look_alikes_keep_the_close_ones_and_free_the_distinct_ones() -> None:
    """The bundled model trains D Q Z z B as non-digits; the probe's wide list still bans them."""
    wide, narrow = non_class_characters(DIGITS), non_class_characters(DIGITS, TRAINING_LOOKALIKES)
    assert set(narrow) - set(wide) == set("DQZzB")
    assert not set(narrow) & set("0123456789OoIl|!ij/Ss$bgq")


def test_a_boosted_column_weighs_like_its_square_in_copies() -> None:
    """Under the L2 penalty, boosting a column by b is the same fit as b**2 copies of it."""
    x_in, x_ref, kinds, y = _data(np.random.default_rng(2))
    boosted = ProbeScore(C=0.05, boost_columns={0: 2.0}, extra_stats=["digit prior/energy"]).fit(
        x_in, x_ref, kinds, labels=y)
    copies = ProbeScore(C=0.05).fit(np.c_[x_in, np.repeat(x_in[:, :1], 3, 1)],
                                    np.c_[x_ref, np.repeat(x_ref[:, :1], 3, 1)], kinds, labels=y)
    x_new = np.random.default_rng(3).normal(1, 1.5, (200, 12))
    np.testing.assert_allclose(boosted.score(x_new),
                               copies.score(np.c_[x_new, np.repeat(x_new[:, :1], 3, 1)]),
                               atol=2e-3)
    plain = ProbeScore(C=0.05).fit(x_in, x_ref, kinds, labels=y)
    assert abs(boosted.coef_[0] / boosted.scale_[0]) > 1.5 * abs(plain.coef_[0] / plain.scale_[0])
    # The boost lives in the standardiser and the extra statistics in the arrays: a card keeps both.
    again = ProbeScore.from_arrays(boosted.to_arrays())
    np.testing.assert_allclose(again.score(x_new), boosted.score(x_new))
    assert again.extra_stats == ("digit prior/energy",)


def test_one_kind_left_gets_its_out_of_fold_figure_not_a_crash() -> None:
    """Every other kind looked like the labelled images (a SavedModel's binary classes):
    the refit without the last kind had no reference at all, and scikit-learn's "needs
    samples of at least 2 classes" reached the user as a traceback's last line."""
    rng = np.random.default_rng(2)
    x_in = rng.normal(0, 1, (200, 6)) + 2.0
    kinds = np.repeat(["same", "far"], 100)
    x_ref = np.r_[rng.normal(0, 1, (100, 6)) + 2.0, rng.normal(-3, 1, (100, 6))]
    probe = ProbeScore(C=1.0).fit(x_in, x_ref, kinds, labels=np.arange(200) % 2)
    assert probe.kinds_ == ["far"] and "same" in probe.dropped_kinds_
    (row,) = probe.leave_one_kind_out()
    assert row["kind"] == "far" and row["held_out_accepted"] == row["accepted"] < 0.05
