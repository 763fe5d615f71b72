"""Stratified folds for cross-fitting: every group (a class, a reference kind) spread evenly."""

from __future__ import annotations

import numpy as np


def stratified_folds(groups: np.ndarray, n_folds: int, seed: int = 0) -> np.ndarray:
    """Fold index per sample, each group's members dealt round the folds in a seeded order.

    Parameters
    ----------
    groups : array-like of shape (n_samples,)
        The group of every sample (labels, kind names).
    n_folds : int
        Number of folds.
    seed : int, default=0
        Makes the assignment reproducible.

    Returns
    -------
    ndarray of shape (n_samples,), intp
        Values in ``range(n_folds)``.
    """
    groups = np.asarray(groups)
    rng = np.random.default_rng(seed)
    folds = np.empty(groups.size, dtype=np.intp)
    offset = 0
    for g in np.unique(groups):
        members = rng.permutation(np.flatnonzero(groups == g))
        # Rotating the start keeps small groups from all landing in fold 0.
        folds[members] = (np.arange(members.size) + offset) % n_folds
        offset += members.size
    return folds
