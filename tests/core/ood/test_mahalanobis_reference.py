"""MahalanobisScorer against an independent Lee et al. (2018) implementation (scikit-learn)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.covariance import LedoitWolf

from app.core.ood.mahalanobis import MahalanobisScorer


def lee2018_scores(x: np.ndarray, y: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Class means, Ledoit-Wolf covariance of class-centred features, -min_c squared distance."""
    classes = np.unique(y)
    means = np.stack([x[y == c].mean(axis=0) for c in classes])
    residuals = x - means[np.searchsorted(classes, y)]
    precision = LedoitWolf(assume_centered=True).fit(residuals).precision_
    d = np.stack([np.einsum("ij,jk,ik->i", q - m, precision, q - m) for m in means], axis=1)
    return -d.min(axis=1)


@pytest.mark.parametrize(("n", "d", "k", "dead"), [(300, 8, 3, 0), (200, 64, 10, 0),
                                                    (60, 128, 10, 32), (500, 16, 2, 3)])
def test_matches_sklearn_lee2018(n: int, d: int, k: int, dead: int) -> None:
    rng = np.random.default_rng(n + d)
    y = np.arange(n) % k
    centres = rng.normal(0, 3, (k, d))
    mix = rng.normal(size=(d, d)) / np.sqrt(d)  # correlated, anisotropic noise
    x = centres[y] + rng.normal(size=(n, d)) @ mix
    # ReLU-like features: non-negative, with some dimensions dead for every sample.
    x = np.maximum(x, 0.0)
    x[:, :dead] = 0.0
    q = np.maximum(rng.normal(0, 4, (50, d)), 0.0)
    expected = lee2018_scores(x, y, q)
    got = MahalanobisScorer().fit(x, y).score(q)
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-8 * np.abs(expected).max())


def test_shrinkage_matches_sklearn() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(80, 40)), np.arange(80) % 4
    scorer = MahalanobisScorer().fit(x, y)
    residuals = x - scorer.means_[y]
    assert scorer.shrinkage_ == pytest.approx(
        LedoitWolf(assume_centered=True).fit(residuals).shrinkage_, rel=1e-10)
