"""Checking the inputs of every calibration metric: logits, probabilities and labels.

Every check raises :class:`~app.core.errors.DataError` with one line naming what is wrong,
so a bad ``.npz`` or a model with the wrong outputs is reported, never a traceback.
"""

from __future__ import annotations

import numpy as np

from app.core.errors import DataError

# float32 softmax rows sum to 1 only within ~1e-7 * n_classes; anything further off is not a
# probability vector (most often logits passed where probabilities were expected).
_ROW_SUM_TOLERANCE = 1e-3

# Model outputs fit in float32; bounding logits there also keeps differences of logits, and the
# powers of them that temperature scaling takes, finite in float64.
_LOGIT_LIMIT = float(np.finfo(np.float32).max)


def _as_float_matrix(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.number):
        raise DataError(f"{name} must be a numeric array; got dtype {array.dtype}")
    if np.iscomplexobj(array):
        raise DataError(f"{name} must be real numbers; got complex values")
    if array.ndim != 2:
        raise DataError(
            f"{name} must be a 2-D array (n_samples, n_classes); got a {array.ndim}-D array "
            f"of shape {array.shape}"
        )
    n_samples, n_classes = array.shape
    if n_samples == 0:
        raise DataError(f"{name} hold no samples")
    if n_classes < 2:
        raise DataError(f"{name} need at least 2 classes; got {n_classes} column(s)")
    return array.astype(np.float64, copy=False)


def _check_labels(labels: np.ndarray, n_samples: int, n_classes: int, rows_of: str) -> np.ndarray:
    array = np.asarray(labels)
    if array.ndim != 1:
        hint = " (one-hot labels? pass labels.argmax(axis=1))" if array.ndim == 2 else ""
        raise DataError(
            f"labels must be a 1-D array of class indices; got shape {array.shape}{hint}"
        )
    if array.shape[0] != n_samples:
        raise DataError(f"{rows_of} have {n_samples} rows but labels have {array.shape[0]} entries")
    if np.issubdtype(array.dtype, np.integer):
        indices = array.astype(np.int64, copy=False)
    elif np.issubdtype(array.dtype, np.floating):
        # Labels read back from .npz/.csv are often floats; accept them only if they are whole.
        whole = np.isfinite(array) & (array == np.round(array))
        if not whole.all():
            bad = array[~whole][0]
            raise DataError(f"labels must be integer class indices; got non-integer value {bad}")
        indices = array.astype(np.int64)
    else:
        raise DataError(f"labels must be integer class indices; got dtype {array.dtype}")
    low, high = int(indices.min()), int(indices.max())
    if low < 0 or high >= n_classes:
        raise DataError(
            f"labels must lie in [0, {n_classes - 1}] for {n_classes} classes; "
            f"got values from {low} to {high}"
        )
    return indices


def validate_logits(logits: np.ndarray) -> np.ndarray:
    """Check logits and return them as a float64 (n, k) array (no copy if already float64).

    Raises
    ------
    DataError
        One-line message for: non-2-D or non-numeric logits, no samples, fewer than 2 classes,
        NaN or inf values, values beyond the float32 range.
    """
    z = _as_float_matrix(logits, "logits")
    low, high = z.min(), z.max()
    # Two reductions instead of an isfinite pass; NaN fails both comparisons.
    if not (low >= -_LOGIT_LIMIT and high <= _LOGIT_LIMIT):
        finite = np.isfinite(z)
        if not finite.all():
            bad = z[~finite]
            message = (
                f"logits contain {bad.size} NaN or inf value(s); calibration needs finite logits"
            )
            if np.all(bad == -np.inf):
                # -inf is what log(p) gives for a probability that underflowed to 0.
                message += " (log of a zero probability? clip probabilities, e.g. to 1e-12, first)"
            raise DataError(message)
        raise DataError(
            f"logits reach {max(-low, high):.3g}, beyond the float32 range; "
            "expected a model's pre-softmax scores"
        )
    return z


def validate_logits_and_labels(
    logits: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Check logits and labels and return them as float64 (n, k) and int64 (n,) arrays.

    Raises
    ------
    DataError
        One-line message for the problems listed in `validate_logits`, and for labels of the
        wrong shape or length, non-integer or out-of-range labels.
    """
    z = validate_logits(logits)
    return z, _check_labels(labels, z.shape[0], z.shape[1], "logits")


def validate_probabilities_and_labels(
    probs: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Check probabilities and labels and return them as float64 (n, k) and int64 (n,) arrays.

    Raises
    ------
    DataError
        One-line message for: non-2-D input, NaN/inf, values outside [0, 1], rows that do not
        sum to 1 (within 1e-3), and the label problems listed in `validate_logits_and_labels`.
    """
    p = _as_float_matrix(probs, "probabilities")
    if not np.isfinite(p).all():
        raise DataError("probabilities contain NaN or inf values")
    if p.min() < 0.0 or p.max() > 1.0 + _ROW_SUM_TOLERANCE:
        raise DataError(
            f"probabilities must lie in [0, 1]; got values from {p.min():.4g} to {p.max():.4g} "
            "(logits? use nll_from_logits or calibration_report)"
        )
    row_error = np.abs(p.sum(axis=1) - 1.0).max()
    if row_error > _ROW_SUM_TOLERANCE:
        raise DataError(f"probability rows must sum to 1; a row is off by {row_error:.3g}")
    return p, _check_labels(labels, p.shape[0], p.shape[1], "probabilities")


def _check_n_bins(n_bins: int) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer; got {n_bins!r}")
    return int(n_bins)
