"""Mahalanobis distance to the nearest class mean under a shared, shrunk covariance (Lee et al. 2018).

Fitted on held-out in-distribution penultimate-layer features; higher scores (smaller
distances) mean "more in-distribution".
"""

from __future__ import annotations

import numpy as np

from app.core.errors import DataError
from app.core.ood.folds import stratified_folds
from app.core.ood.scores import as_matrix

# Eigenvalues of the regularised covariance are kept above this fraction of the mean feature
# variance, so that fixed shrinkage=0 with dead (constant) dimensions still inverts. Automatic
# shrinkage is positive whenever the covariance is singular, and then this floor is never hit.
_EIGENVALUE_FLOOR = 1e-9


def ledoit_wolf_shrinkage(residuals: np.ndarray) -> float:
    """Ledoit-Wolf shrinkage intensity for zero-mean ``residuals``.

    The optimal ``alpha`` in ``(1 - alpha) * S + alpha * (trace(S) / d) * I`` under the
    Ledoit & Wolf (2004) estimate, ``S = residuals.T @ residuals / n``. Same value as
    ``sklearn.covariance.ledoit_wolf_shrinkage(residuals, assume_centered=True)``.

    Parameters
    ----------
    residuals : ndarray of shape (n_samples, n_features)
        Centred samples (here: features minus their class mean).

    Returns
    -------
    float
        Shrinkage in [0, 1].
    """
    x = np.asarray(residuals, dtype=np.float64)
    n, d = x.shape
    if d == 1:
        return 0.0
    covariance = x.T @ x / n
    variances = np.diag(covariance)
    mean_variance = variances.sum() / d
    # sum_ij (X²ᵀX²)_ij is sum over samples of ||x||⁴: no d x d product needed.
    fourth_moment = np.sum(np.einsum("ij,ij->i", x, x) ** 2)
    frobenius_sq = np.sum(covariance**2)
    beta = (fourth_moment / n - frobenius_sq) / (d * n)
    delta = (frobenius_sq - 2.0 * mean_variance * variances.sum() + d * mean_variance**2) / d
    beta = min(beta, delta)
    return 0.0 if beta == 0 else float(beta / delta)


class MahalanobisScorer:
    """Negative squared Mahalanobis distance to the closest class mean (Lee et al. 2018).

    Class means and one covariance shared by all classes are estimated from labelled
    in-distribution features. The covariance is shrunk towards a scaled identity,
    ``(1 - alpha) * S + alpha * (trace(S) / d) * I``, which keeps it invertible when there are
    more feature dimensions than samples or when some dimensions are dead (constant zero).
    Eigenvalues are additionally floored at ``1e-9 * trace(S) / d``. Everything is float64.

    Parameters
    ----------
    shrinkage : "auto" or float, default="auto"
        ``"auto"`` chooses ``alpha`` by Ledoit-Wolf on the within-class residuals; a float in
        [0, 1] fixes it.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The distinct labels, sorted.
    means_ : ndarray of shape (n_classes, n_features)
        Class means.
    covariance_ : ndarray of shape (n_features, n_features)
        The regularised shared covariance (absent when built with :meth:`from_statistics`).
    precision_ : ndarray of shape (n_features, n_features)
        Its inverse.
    shrinkage_ : float
        The ``alpha`` used.
    """

    def __init__(self, shrinkage: str | float = "auto") -> None:
        if shrinkage != "auto" and not (
            isinstance(shrinkage, int | float) and 0.0 <= float(shrinkage) <= 1.0
        ):
            raise ValueError(f"shrinkage must be 'auto' or a float in [0, 1], got {shrinkage!r}")
        self.shrinkage = shrinkage

    def fit(self, features: np.ndarray, labels: np.ndarray) -> MahalanobisScorer:
        """Estimate class means and the shrunk shared covariance.

        Parameters
        ----------
        features : array-like of shape (n_samples, n_features)
            In-distribution penultimate features.
        labels : array-like of shape (n_samples,)
            Their classes.

        Returns
        -------
        self
        """
        x = as_matrix(features, "features")
        y = np.asarray(labels)
        if y.shape != (x.shape[0],):
            raise DataError(
                f"labels must have one entry per feature row ({x.shape[0]}), got shape {y.shape}"
            )
        classes, class_index = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise DataError(
                "Mahalanobis scoring needs labelled samples of at least 2 classes, "
                f"got only class {classes[0]!r}"
            )
        if x.shape[0] <= classes.size:
            raise DataError(
                f"Mahalanobis scoring needs more samples ({x.shape[0]}) than classes "
                f"({classes.size}) to estimate a covariance"
            )
        order = np.argsort(class_index, kind="stable")
        counts = np.bincount(class_index, minlength=classes.size)
        starts = np.r_[0, np.cumsum(counts)[:-1]]
        means = np.add.reduceat(x[order], starts, axis=0) / counts[:, None]
        residuals = x - means[class_index]
        n, d = x.shape
        sample_covariance = residuals.T @ residuals / n
        mean_variance = np.trace(sample_covariance) / d
        # Residuals of identical samples are rounding noise of the mean, ~1e-16 of the values.
        if not mean_variance > (1e-12 * np.abs(x).max()) ** 2:
            raise DataError(
                "features do not vary within any class (every dimension is constant), "
                "so no Mahalanobis distance can be estimated"
            )
        if self.shrinkage == "auto":
            alpha = ledoit_wolf_shrinkage(residuals)
        else:
            alpha = float(self.shrinkage)
        covariance = (1.0 - alpha) * sample_covariance
        covariance[np.diag_indices(d)] += alpha * mean_variance
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        eigenvalues = np.maximum(eigenvalues, _EIGENVALUE_FLOOR * mean_variance)
        precision = (eigenvectors / eigenvalues) @ eigenvectors.T
        self.classes_ = classes
        self.shrinkage_ = alpha
        self.covariance_ = covariance
        self._set_statistics(means, precision)
        return self

    @classmethod
    def from_statistics(
        cls, means: np.ndarray, precision: np.ndarray, classes: np.ndarray | None = None
    ) -> MahalanobisScorer:
        """A fitted scorer rebuilt from saved ``means_`` and ``precision_``."""
        means = as_matrix(means, "Mahalanobis means")
        precision = as_matrix(precision, "Mahalanobis precision")
        if precision.shape != (means.shape[1], means.shape[1]):
            raise DataError(
                f"Mahalanobis precision has shape {precision.shape}, "
                f"expected {(means.shape[1], means.shape[1])}"
            )
        scorer = cls(shrinkage="auto")
        scorer.classes_ = np.arange(means.shape[0]) if classes is None else np.asarray(classes)
        scorer.shrinkage_ = float("nan")
        scorer._set_statistics(means, precision)
        return scorer

    def _set_statistics(self, means: np.ndarray, precision: np.ndarray) -> None:
        precision = (precision + precision.T) / 2.0
        try:
            # precision = L Lᵀ, so (x-μ)ᵀ P (x-μ) = ||(x-μ) L||²: one product whitens a batch.
            whitener = np.linalg.cholesky(precision)
        except np.linalg.LinAlgError:
            raise DataError("Mahalanobis precision matrix is not positive definite") from None
        # Centring on the mean of the class means keeps whitened norms small, which limits
        # cancellation in ||a||² - 2a·b + ||b||².
        self._centre = means.mean(axis=0)
        self._whitener = whitener
        self._white_means = (means - self._centre) @ whitener
        self._white_means_sq = np.einsum("ij,ij->i", self._white_means, self._white_means)
        self.means_ = means
        self.precision_ = precision

    def squared_distances(self, features: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance of every sample to every class mean.

        Parameters
        ----------
        features : array-like of shape (n_samples, n_features)
            Features to score.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Non-negative squared distances, float64.
        """
        if not hasattr(self, "means_"):
            raise RuntimeError("MahalanobisScorer is not fitted; call fit() first")
        x = as_matrix(features, "features")
        if x.shape[1] != self.means_.shape[1]:
            raise DataError(
                f"features have {x.shape[1]} dimensions, the Mahalanobis statistics "
                f"{self.means_.shape[1]}"
            )
        white = (x - self._centre) @ self._whitener
        white_sq = np.einsum("ij,ij->i", white, white)
        distances = white_sq[:, None] - 2.0 * (white @ self._white_means.T)
        distances += self._white_means_sq[None, :]
        return np.maximum(distances, 0.0)

    def score(self, features: np.ndarray) -> np.ndarray:
        """``-min_c (x - mean_c)ᵀ precision (x - mean_c)``; higher is more in-distribution.

        Parameters
        ----------
        features : array-like of shape (n_samples, n_features)
            Features to score.

        Returns
        -------
        ndarray of shape (n_samples,)
            Scores, float64, at most 0.
        """
        return -self.squared_distances(features).min(axis=1)



# Mahalanobis thresholds come from 5-fold cross-fitted scores: in-sample distances are
# optimistically small (markedly so when features have nearly as many dimensions as there are
# samples), which would put the threshold too high and reject more new in-distribution images
# than tpr_target promises. The seed only makes the fold assignment reproducible.
_MAHALANOBIS_FOLDS = 5
_FOLD_SEED = 0


def cross_fitted_mahalanobis(
    features: np.ndarray, labels: np.ndarray, shrinkage: str | float
) -> np.ndarray:
    """Every sample's score from a scorer fitted without its fold (5 folds, stratified)."""
    _, class_index = np.unique(labels, return_inverse=True)
    folds = stratified_folds(class_index, _MAHALANOBIS_FOLDS, _FOLD_SEED)
    scores = np.empty(features.shape[0], dtype=np.float64)
    for fold in range(_MAHALANOBIS_FOLDS):
        held_out = folds == fold
        scorer = MahalanobisScorer(shrinkage).fit(features[~held_out], labels[~held_out])
        scores[held_out] = scorer.score(features[held_out])
    return scores


