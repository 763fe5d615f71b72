"""The exported prediction sets and no-class scores against the numpy ones of the core."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.calibration.conformal import ConformalClassifier
from app.core.export.graph import OODGraph, sets_graph
from app.core.ood.detector import OODDetector


@pytest.mark.parametrize("method", ["lac", "aps", "raps"])
@pytest.mark.parametrize("by_class", [False, True])
def test_sets_match_the_conformal_classifier(method, by_class) -> None:
    import tensorflow as tf

    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(600, 5))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(5, p=row) for row in p])
    sets = ConformalClassifier(method=method, alpha=0.1, by_class=by_class).fit(p[:400], labels[:400])
    got = sets_graph(tf, tf.constant(p[400:], tf.float64), sets).numpy()
    assert (got == sets.predict_sets(p[400:])).mean() >= 0.999


@pytest.mark.parametrize("score", ["msp", "max_logit", "energy", "knn", "mahalanobis"])
def test_scores_match_the_detector(score) -> None:
    import tensorflow as tf

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, size=300)
    feats = rng.normal(size=(300, 8)) + labels[:, None]
    logits = feats[:, :4] * 2
    det = OODDetector().fit(logits, feats, labels, score=score, temperature=0.7)
    graph = OODGraph(tf, det)
    got = graph(tf, tf.constant(logits[:50], tf.float32), tf.constant(feats[:50], tf.float32), None)
    want = det.score(logits[:50].astype(np.float32), feats[:50].astype(np.float32))
    assert np.abs(got.numpy() - want).max() < 1e-4
