"""Out-of-distribution scores on logits and on penultimate-layer features, in pure numpy.

Convention everywhere: a higher score means "more in-distribution", and a sample is taken as
in-distribution when ``score >= threshold``.

Logit scores need no fitting: maximum softmax probability (Hendrycks & Gimpel 2017), maximum
logit (Hendrycks et al. 2022) and energy (Liu et al. 2020). Feature scores are fitted on
held-out in-distribution features: Mahalanobis distance to the nearest class mean under a
shared, shrunk covariance (Lee et al. 2018) and the distance to the k-th nearest neighbour
among L2-normalised features (Sun et al. 2022).

The fitted feature scores live beside this module: :mod:`app.core.ood.mahalanobis` and
:mod:`app.core.ood.knn`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from app.core.errors import DataError
from app.core.numeric import check_temperature, log_softmax, logsumexp

SCORE_NAMES = ("msp", "max_logit", "energy", "mahalanobis", "knn", "probe")
LOGIT_SCORE_NAMES = ("msp", "max_logit", "energy")
FEATURE_SCORE_NAMES = ("mahalanobis", "knn")
# Scores of the layer statistics vector (:mod:`app.core.models.statistics.layer_statistics`).
LAYER_SCORE_NAMES = ("probe",)
# What ``--score auto`` chooses from. Mahalanobis is left out: on plain and outlier-exposed
# digit models no-class images have small feature norms and sit closer to a class mean than
# real digits do (AUROC 0.28-0.40; the same with scikit-learn's LedoitWolf, see the tests).
AUTO_SCORE_NAMES = ("msp", "max_logit", "energy", "knn", "probe")

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
    return np.exp(log_softmax(z, check_temperature(temperature)).max(axis=1))


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
    t = check_temperature(temperature)
    return t * logsumexp(z / t, axis=1)


def available_scores(
    features: np.ndarray | None, stats: Mapping[str, object], layer_stats: np.ndarray | None = None
) -> tuple[str, ...]:
    """The names in ``SCORE_NAMES`` that can be computed with these inputs and statistics."""
    names = list(LOGIT_SCORE_NAMES)
    if features is not None:
        names += [name for name in FEATURE_SCORE_NAMES if stats.get(name) is not None]
    if layer_stats is not None:
        names += [name for name in LAYER_SCORE_NAMES if stats.get(name) is not None]
    return tuple(names)


def compute_scores(
    name: str,
    logits: np.ndarray | None,
    features: np.ndarray | None,
    temperature: float = 1.0,
    stats: Mapping[str, object] | None = None,
    layer_stats: np.ndarray | None = None,
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
        Fitted scorers by name: ``{"mahalanobis": ..., "knn": ..., "probe": ProbeScore}``.
    layer_stats : array-like of shape (n_samples, n_stats) or None
        The layer statistics vector, needed by ``"probe"``.

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
    if name in LAYER_SCORE_NAMES:
        probe = (stats or {}).get(name)
        if probe is None:
            raise DataError(f"OOD score {name!r} has no fitted probe; fit the check first")
        if layer_stats is None:
            raise DataError(f"OOD score {name!r} needs the model's layer statistics")
        return np.asarray(probe.score(layer_stats), dtype=np.float64)
    if features is None:
        raise DataError(
            f"OOD score {name!r} needs penultimate-layer features, which this model does not "
            f"provide; use one of {', '.join(LOGIT_SCORE_NAMES)}"
        )
    scorer = (stats or {}).get(name)
    if scorer is None:
        raise DataError(f"OOD score {name!r} has no fitted statistics; fit the detector first")
    return scorer.score(features)
