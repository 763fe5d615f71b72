"""Distance to the k-th nearest neighbour among L2-normalised features (Sun et al. 2022)."""

from __future__ import annotations

import numpy as np

from app.core.errors import DataError
from app.core.ood.scores import as_matrix

# Sun et al. (2022) used k=50 with all 50,000 CIFAR-10 training images and report that k should
# scale with the bank size (k=10 with 1% of ImageNet, k=1000 with all of it): about k = N/1000.
# probscope's bank is a held-out calibration set of a few thousand images, where that rule gives
# k of 2-5; 5 sits at the top so that one mislabelled or duplicated neighbour cannot decide it.
DEFAULT_KNN_K = 5

# Queries are scored in chunks so the (queries x bank) similarity block stays near 16 MB.
_SIMILARITY_BLOCK_ELEMENTS = 1 << 22



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

    def fit(self, features: np.ndarray) -> KNNScorer:
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


