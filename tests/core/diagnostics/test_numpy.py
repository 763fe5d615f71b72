"""Collapse and input-mismatch checks as pure numpy functions (no TensorFlow)."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.cards.recording import input_statistics
from app.core.diagnostics.activations import activation_summary, layer_verdict
from app.core.diagnostics.collapse import check_collapse, mean_tv_spread
from app.core.diagnostics.mismatch import (
    InputStatistics,
    compare_with_recorded,
    compare_with_spec,
    recorded_statistics,
)
from app.core.preprocessing.spec import PreprocessingSpec

CLASSES = ["a", "b", "c"]


def test_identical_one_hot_outputs_are_collapsed() -> None:
    p = np.tile(np.array([[0.0, 1.0, 0.0]], np.float32), (20, 1))
    report = check_collapse(p, classes=CLASSES)
    assert report.collapsed and report.judged
    assert report.spread["mean_tv"] == 0.0 and report.histogram == [0, 20, 0]
    assert "same output for all 20 inputs" in report.warnings[0]


def test_float32_noise_is_still_collapsed_but_real_variation_is_not() -> None:
    rng = np.random.default_rng(0)
    base = np.array([0.2, 0.5, 0.3])
    noisy = (base + rng.normal(0, 1e-6, (30, 3))).astype(np.float32)
    assert check_collapse(noisy).collapsed
    varied = rng.dirichlet([1, 1, 1], size=30)
    report = check_collapse(varied)
    assert not report.collapsed and report.spread["mean_tv"] > 0.1


def test_confident_answers_on_single_class_data_are_not_judged() -> None:
    p = np.tile(np.array([[1.0, 0.0, 0.0]]), (12, 1))
    report = check_collapse(p, labels=np.zeros(12, int))
    assert not report.collapsed and not report.judged and "one class" in report.notes[0]


def test_too_few_inputs_are_not_judged() -> None:
    report = check_collapse(np.tile([[1.0, 0.0]], (3, 1)))
    assert not report.collapsed and not report.judged


def test_near_collapse_needs_labels_saying_the_class_is_rarer() -> None:
    p = np.full((40, 3), 0.1)
    p[:, 0] = 0.8
    p[0] = [0.1, 0.8, 0.1]  # two inputs differ: not collapsed, 95 % class a
    p[1] = [0.1, 0.1, 0.8]
    labels = np.arange(40) % 3  # 14 of 40 labelled a
    report = check_collapse(p, labels, CLASSES)
    assert not report.collapsed and report.near_collapse
    assert "95%" in report.warnings[0] and "35%" in report.warnings[0]
    assert not check_collapse(p, None, CLASSES).near_collapse  # a warning only, without labels


def test_mean_tv_spread_of_two_opposite_one_hots_is_half() -> None:
    assert mean_tv_spread(np.array([[1.0, 0.0], [0.0, 1.0]])) == 0.5


def test_layer_verdicts_tell_sparse_from_dead() -> None:
    assert layer_verdict(0.8, 0.9, True) == "dead"
    assert layer_verdict(0.02, 0.85, True) == "sparse, healthy"
    assert layer_verdict(0.2, 0.3, True) == "partly dead"
    assert layer_verdict(0.0, 0.0, False).startswith("not applicable")


def test_activation_summary_counts_zeros_and_silent_channels() -> None:
    a = np.zeros((4, 4, 3), np.float32)
    a[..., 0] = 2.0
    a[0, 0, 1] = 0.5
    s = activation_summary(a)
    assert s["silent_units"] == 1 / 3
    assert s["zero_fraction"] == (16 * 3 - 17) / 48
    assert sum(s["histogram"]["counts"]) == 48 and s["max"] == 2.0


def _stats(batches: list[np.ndarray]) -> dict:
    acc = InputStatistics()
    for b in batches:
        acc.update(b)
    return acc.to_json()


def test_running_statistics_match_the_recording_format() -> None:
    rng = np.random.default_rng(1)
    batches = [rng.uniform(0, 1, (5, 6, 6, 3)) for _ in range(3)]
    ours, theirs = _stats(batches), input_statistics(batches)
    for key in ("mean", "std", "min", "max"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-9)


def test_unscaled_swapped_and_constant_inputs_are_found() -> None:
    rng = np.random.default_rng(2)
    train = np.clip(rng.normal([0.8, 0.3, 0.1], 0.1, (20, 8, 8, 3)), 0, 1)
    recorded = recorded_statistics({"input_statistics": input_statistics([train])})
    assert recorded is not None
    kinds = [f["kind"] for f in compare_with_recorded(_stats([train * 255.0]), recorded)]
    assert kinds == ["range_too_large"]
    kinds = [f["kind"] for f in compare_with_recorded(_stats([train / 255.0]), recorded)]
    assert kinds == ["range_too_small"]
    kinds = [f["kind"] for f in compare_with_recorded(_stats([train[..., ::-1]]), recorded)]
    assert kinds == ["bgr"]
    assert compare_with_recorded(_stats([train[:10]]), recorded) == []
    acc = InputStatistics()
    acc.update(np.concatenate([train[:5], np.full((2, 8, 8, 3), 0.5)]))
    assert acc.to_json()["constant_images"] == 2


def test_without_statistics_the_card_range_is_the_reference() -> None:
    spec = PreprocessingSpec(scale=1 / 255)
    raw = _stats([np.random.default_rng(3).uniform(0, 255, (4, 8, 8, 3))])
    assert [f["kind"] for f in compare_with_spec(raw, spec)] == ["range_too_large"]
    fine = _stats([np.random.default_rng(3).uniform(0, 1, (4, 8, 8, 3))])
    assert compare_with_spec(fine, spec) == []


def test_near_collapse_advice_names_undertraining():
    from app.core.diagnostics.collapse import collapse_advice

    advice = collapse_advice(False, True, [], False)
    assert any(a.startswith("Undertrained: too few epochs or too little data") for a in advice)
    assert collapse_advice(False, False, [], False) == []


def test_answers_that_follow_no_label_are_at_chance() -> None:
    rng = np.random.default_rng(1)
    labels = np.arange(60) % 3
    varied = rng.dirichlet([2, 2, 2], size=60)  # answers vary, unrelated to the labels
    report = check_collapse(varied, labels, CLASSES)
    assert report.at_chance and not report.collapsed and not report.near_collapse
    assert report.warnings[0].startswith("at chance:") and "33%" in report.warnings[0]
    knows = np.eye(3)[labels] * 0.8 + 0.2 / 3  # right on every input
    assert not check_collapse(knows, labels, CLASSES).at_chance
    assert check_collapse(knows, labels, CLASSES).spread["accuracy"] == 1.0


def test_near_uniform_answers_are_flat_without_labels() -> None:
    rng = np.random.default_rng(2)
    flat = rng.dirichlet([400] * 10, size=40)  # every answer within a few points of 10 %
    report = check_collapse(flat)
    assert report.at_chance and report.warnings[-1].startswith("flat answers:")
    sure = rng.dirichlet([0.3] * 10, size=40)
    assert not check_collapse(sure).at_chance


def test_a_weak_model_is_near_chance_as_calibrate_says() -> None:
    """43 % right on three classes: better than the commonest label, so not 'at chance', but
    calibrate refused its temperature as near chance while diagnose said nothing."""
    labels = np.arange(300) % 3
    right = np.r_[np.ones(129, bool), np.zeros(171, bool)]
    preds = np.where(right, labels, (labels + 1) % 3)
    p = np.eye(3)[preds] * 0.7 + 0.1
    report = check_collapse(p, labels, CLASSES)
    assert not report.at_chance and report.spread["accuracy"] == pytest.approx(0.43)
    assert any(w.startswith("near chance: right on 43% of the 300") for w in report.warnings)
