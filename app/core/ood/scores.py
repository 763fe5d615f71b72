"""Out-of-distribution scores on logits and on penultimate-layer features, in pure numpy.

Convention everywhere: a higher score means "more in-distribution", and a sample is taken as
in-distribution when ``score >= threshold``.

Logit scores need no fitting: maximum softmax probability (Hendrycks & Gimpel 2017), maximum
logit (Hendrycks et al. 2022) and energy (Liu et al. 2020). Feature scores are fitted on
held-out in-distribution features: Mahalanobis distance to the nearest class mean under a
shared, shrunk covariance (Lee et al. 2018) and the distance to the k-th nearest neighbour
among L2-normalised features (Sun et al. 2022).
"""

from collections.abc import Mapping

import numpy as np

from app.core.errors import DataError
from app.core.numeric import log_softmax, logsumexp

SCORE_NAMES = ("msp", "max_logit", "energy", "mahalanobis", "knn")
LOGIT_SCORE_NAMES = ("msp", "max_logit", "energy")
FEATURE_SCORE_NAMES = ("mahalanobis", "knn")

# Sun et al. (2022) used k=50 with all 50,000 CIFAR-10 training images and report that k should
# scale with the bank size (k=10 with 1% of ImageNet, k=1000 with all of it): about k = N/1000.
# probscope's bank is a held-out calibration set of a few thousand images, where that rule gives
# k of 2-5; 5 sits at the top so that one mislabelled or duplicated neighbour cannot decide it.
DEFAULT_KNN_K = 5

# Eigenvalues of the regularised covariance are kept above this fraction of the mean feature
# variance, so that fixed shrinkage=0 with dead (constant) dimensions still inverts. Automatic
# shrinkage is positive whenever the covariance is singular, and then this floor is never hit.
_EIGENVALUE_FLOOR = 1e-9

# Queries are scored in chunks so the (queries x bank) similarity block stays near 16 MB.
_SIMILARITY_BLOCK_ELEMENTS = 1 << 22


def as_matrix(values: np.ndarray, name: str, dtype: type = np.float64) -> np.ndarray:
    """``values`` as a finite 2-D array of ``dtype``, or a :class:`DataError` naming ``name``."""
    array = np.asarray(values)
    if array.ndim != 2:
        raise DataError(f"{name} must be a 2-D array (samples, values), got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise DataError(f"{name} is empty (shape {array.shape})")
    array = array.astype(dtype, copy=False)
    if not np.isfinite(array).all():
        raise DataError(f"{name} contains NaN or infinite values")
    return array


def _check_temperature(temperature: float) -> float:
    value = float(temperature)
    if not (np.isfinite(value) and value > 0.0):
        raise DataError(f"temperature must be a positive number, got {temperature!r}")
    return value


def max_softmax_probability(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Maximum softmax probability of ``logits / temperature`` (Hendrycks & Gimpel 2017).

    Parameters
    ----------
    logits : array-like of shape (n_samples, n_classes)
        Pre-softmax outputs.
    temperature : float, default=1.0
        Softmax temperature, e.g. the calibrated one; larger values flatten the distribution.

    Returns
    -------
    ndarray of shape (n_samples,)
        Scores in [1 / n_classes, 1], float64.
    """
    z = as_matrix(logits, "logits")
    # exp of the largest log-probability keeps precision when probabilities are near 1.
    return np.exp(log_softmax(z, _check_temperature(temperature)).max(axis=1))


def max_logit(logits: np.ndarray) -> np.ndarray:
    """Largest logit per sample (Hendrycks et al. 2022).

    Parameters
    ----------
    logits : array-like of shape (n_samples, n_classes)
        Pre-softmax outputs.

    Returns
    -------
    ndarray of shape (n_samples,)
        Scores, float64.
    """
    return as_matrix(logits, "logits").max(axis=1)


def energy_score(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Negative free energy ``T * logsumexp(logits / T)`` (Liu et al. 2020).

    Lies between ``max(logits)`` and ``max(logits) + T * log(n_classes)``, tends to the
    maximum logit as ``T -> 0`` and shifts by ``c`` when every logit is shifted by ``c``.

    Parameters
    ----------
    logits : array-like of shape (n_samples, n_classes)
        Pre-softmax outputs.
    temperature : float, default=1.0
        Energy temperature ``T``.

    Returns
    -------
    ndarray of shape (n_samples,)
        Scores, float64.
    """
    z = as_matrix(logits, "logits")
    t = _check_temperature(temperature)
    return t * logsumexp(z / t, axis=1)


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

    def fit(self, features: np.ndarray, labels: np.ndarray) -> "MahalanobisScorer":
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
    ) -> "MahalanobisScorer":
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


def _normalise_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    # An all-zero feature vector (every unit dead) has no direction; it stays zero.
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


class KNNScorer:
    """Negative distance to the k-th nearest stored neighbour, on L2-normalised features.

    The deep nearest-neighbour score of Sun et al. (2022). Normalised features of held-out
    in-distribution samples form a float32 bank; a query's score is minus the Euclidean distance
    from its normalised feature to its k-th closest bank entry. For unit vectors this distance is
    ``sqrt(2 - 2 cos)``, so one matrix product and a partial sort (``np.partition``) find it.

    Parameters
    ----------
    k : int, default=5
        Which neighbour. See ``DEFAULT_KNN_K`` for the choice.

    Attributes
    ----------
    bank_ : ndarray of shape (n_bank, n_features), float32
        Normalised features of the fitted samples; all-zero feature vectors are left out.
    """

    def __init__(self, k: int = DEFAULT_KNN_K) -> None:
        if int(k) != k or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        self.k = int(k)

    def fit(self, features: np.ndarray) -> "KNNScorer":
        """Store the normalised features.

        Parameters
        ----------
        features : array-like of shape (n_samples, n_features)
            In-distribution penultimate features.

        Returns
        -------
        self
        """
        bank = _normalise_rows(as_matrix(features, "features", np.float32))
        bank = bank[np.any(bank != 0, axis=1)]
        # One more than k so that leave_one_out_scores can skip each sample's own copy.
        if bank.shape[0] <= self.k:
            raise DataError(
                f"k-NN scoring with k={self.k} needs more than {self.k} non-zero feature "
                f"vectors, got {bank.shape[0]}"
            )
        self.bank_ = np.ascontiguousarray(bank)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "bank_"):
            raise RuntimeError("KNNScorer is not fitted; call fit() first")

    def _kth_distance(self, queries: np.ndarray, rank: int) -> np.ndarray:
        n_bank = self.bank_.shape[0]
        column = n_bank - rank  # partition index of the rank-th largest similarity
        chunk = max(1, _SIMILARITY_BLOCK_ELEMENTS // n_bank)
        out = np.empty(queries.shape[0], dtype=np.float64)
        for start in range(0, queries.shape[0], chunk):
            block = queries[start : start + chunk]
            similarity = block @ self.bank_.T
            kth = np.partition(similarity, column, axis=1)[:, column].astype(np.float64)
            # ||q - b||² = ||q||² + 1 - 2 q·b for unit b; ||q||² is 1, or 0 for a zero query.
            query_sq = np.einsum("ij,ij->i", block, block).astype(np.float64)
            out[start : start + chunk] = np.sqrt(np.maximum(query_sq + 1.0 - 2.0 * kth, 0.0))
        return out

    def score(self, features: np.ndarray) -> np.ndarray:
        """Minus the distance to the k-th nearest bank entry; higher is more in-distribution.

        Parameters
        ----------
        features : array-like of shape (n_samples, n_features)
            Features to score; they are L2-normalised here.

        Returns
        -------
        ndarray of shape (n_samples,)
            Scores in [-2, 0], float64.
        """
        self._check_fitted()
        queries = as_matrix(features, "features", np.float32)
        if queries.shape[1] != self.bank_.shape[1]:
            raise DataError(
                f"features have {queries.shape[1]} dimensions, the k-NN bank {self.bank_.shape[1]}"
            )
        return -self._kth_distance(_normalise_rows(queries), self.k)

    def leave_one_out_scores(self) -> np.ndarray:
        """Scores of the bank's own samples, each scored against the bank without itself.

        Scoring the fitted samples with :meth:`score` would count each one as its own nearest
        neighbour and make them look more in-distribution than new samples; these scores do not.

        Returns
        -------
        ndarray of shape (n_bank,)
            Scores, float64.
        """
        self._check_fitted()
        return -self._kth_distance(self.bank_, self.k + 1)


def available_scores(features: np.ndarray | None, stats: Mapping[str, object]) -> tuple[str, ...]:
    """The names in ``SCORE_NAMES`` that can be computed with these features and statistics."""
    names = list(LOGIT_SCORE_NAMES)
    if features is not None:
        names += [name for name in FEATURE_SCORE_NAMES if stats.get(name) is not None]
    return tuple(names)


def compute_scores(
    name: str,
    logits: np.ndarray | None,
    features: np.ndarray | None,
    temperature: float = 1.0,
    stats: Mapping[str, object] | None = None,
) -> np.ndarray:
    """One entry point for every score in ``SCORE_NAMES``.

    Parameters
    ----------
    name : str
        One of ``SCORE_NAMES``.
    logits : array-like of shape (n_samples, n_classes) or None
        Needed by the logit scores.
    features : array-like of shape (n_samples, n_features) or None
        Needed by the feature scores.
    temperature : float, default=1.0
        Used by ``"msp"`` and ``"energy"``.
    stats : mapping, optional
        Fitted scorers by name: ``{"mahalanobis": MahalanobisScorer, "knn": KNNScorer}``.

    Returns
    -------
    ndarray of shape (n_samples,)
        Scores, float64, higher meaning more in-distribution.
    """
    if name not in SCORE_NAMES:
        raise DataError(f"unknown OOD score {name!r}; choose one of {', '.join(SCORE_NAMES)}")
    if name in LOGIT_SCORE_NAMES:
        if logits is None:
            raise DataError(f"OOD score {name!r} needs the model's logits")
        if name == "msp":
            return max_softmax_probability(logits, temperature)
        if name == "max_logit":
            return max_logit(logits)
        return energy_score(logits, temperature)
    if features is None:
        raise DataError(
            f"OOD score {name!r} needs penultimate-layer features, which this model does not "
            f"provide; use one of {', '.join(LOGIT_SCORE_NAMES)}"
        )
    scorer = (stats or {}).get(name)
    if scorer is None:
        raise DataError(f"OOD score {name!r} has no fitted statistics; fit the detector first")
    return scorer.score(features)
