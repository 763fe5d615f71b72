"""Small numerically careful helpers shared by calibration, OOD scores and inference."""

import numpy as np


def log_softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise log-softmax of ``logits / temperature`` in float64.

    Parameters
    ----------
    logits : ndarray of shape (n_samples, n_classes)
        Pre-softmax scores.
    temperature : float, default=1.0
        Positive temperature; values above 1 soften the distribution.

    Returns
    -------
    ndarray of shape (n_samples, n_classes)
        Log-probabilities, float64.
    """
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` in float64.

    Parameters
    ----------
    logits : ndarray of shape (n_samples, n_classes)
        Pre-softmax scores.
    temperature : float, default=1.0
        Positive temperature; values above 1 soften the distribution.

    Returns
    -------
    ndarray of shape (n_samples, n_classes)
        Probabilities that sum to one along the last axis, float64.
    """
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def logsumexp(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Stable ``log(sum(exp(logits)))`` along ``axis`` in float64.

    Parameters
    ----------
    logits : ndarray
        Input values.
    axis : int, default=-1
        Axis to reduce.

    Returns
    -------
    ndarray
        The reduced values, float64.
    """
    z = np.asarray(logits, dtype=np.float64)
    m = z.max(axis=axis, keepdims=True)
    return np.squeeze(m, axis=axis) + np.log(np.exp(z - m).sum(axis=axis))


# Temperatures probscope accepts. Outside, dividing float32-range logits overflows (5e-324
# turns every logit into inf and the probabilities into NaN) or flattens every answer to
# uniform; temperature scaling's own search stays within 0.05 to 20.
TEMPERATURE_RANGE = (1e-4, 1e4)


def are_probability_rows(scores: np.ndarray) -> bool:
    """Whether every row is non-negative and sums to one: a softmax's output, not logits.

    The tolerance allows for an 8-bit quantised softmax.
    """
    raw = np.asarray(scores, dtype=np.float64).reshape(len(scores), -1)
    return bool(raw.min() >= -1e-3 and raw.max() <= 1 + 1e-3
                and np.allclose(raw.sum(axis=1), 1.0, atol=2e-2))


def near_chance(accuracy: float | None, n_classes: int) -> bool:
    """Accuracy within 1.5x of what guessing one of ``n_classes`` gets (10 classes: < 15 %).

    Calibration refuses to save a temperature for such a model, and diagnose says so.
    """
    return accuracy is not None and n_classes >= 2 and float(accuracy) < 1.5 / n_classes


def is_sigmoid_column(scores: np.ndarray) -> bool:
    """Whether a one-column output holds a sigmoid's probabilities: every value in [0, 1].

    A binary classifier's logit leaves that range on almost any batch; the tolerance allows
    for an 8-bit quantised sigmoid.
    """
    raw = np.asarray(scores, dtype=np.float64)
    return bool(raw.min() >= -1e-3 and raw.max() <= 1 + 1e-3)


def two_class_logits(column: np.ndarray, probabilities: bool) -> np.ndarray:
    """``[0, z]`` rows from a binary classifier's one output column, float32.

    ``softmax([0, z]) = [1 - sigmoid(z), sigmoid(z)]``: ``z`` is the column itself when it
    holds logits, else ``log(p / (1 - p))`` of the sigmoid's ``p`` (clipped where float32
    saturates, so a certain answer stays finite).

    Parameters
    ----------
    column : ndarray of shape (n, 1)
        The model's output.
    probabilities : bool
        Whether the column holds probabilities (see :func:`is_sigmoid_column`).

    Returns
    -------
    ndarray of shape (n, 2), float32
    """
    z = np.asarray(column, dtype=np.float64).reshape(-1, 1)
    if probabilities:
        p = np.clip(z, 1e-7, 1 - 1e-7)
        z = np.log(p) - np.log1p(-p)
    return np.concatenate([np.zeros_like(z), z], axis=1).astype(np.float32)


def check_temperature(temperature: float) -> float:
    """The temperature as a float, or DataError for anything outside :data:`TEMPERATURE_RANGE`.

    Parameters
    ----------
    temperature : float
        Divides the logits before the softmax.

    Returns
    -------
    float
        ``float(temperature)``.
    """
    from app.core.errors import DataError

    try:
        value = float(temperature)
    except (TypeError, ValueError):
        value = float("nan")
    low, high = TEMPERATURE_RANGE
    if not (np.isfinite(value) and low <= value <= high):
        raise DataError(f"temperature must be a number from {low:g} to {high:g}, got {temperature!r}")
    return value
