"""Temperature scaling (Guo et al. 2017): one scalar T, fitted by minimising the held-out NLL.

Calibrated probabilities are ``softmax(logits / T)``. T is fitted in float64 on logits.

The search itself (Halley steps on 1/T with exact derivatives) is in
:mod:`app.core.calibration.temperature_search`.
"""

from __future__ import annotations

import math

import numpy as np

from app.core.calibration.temperature_search import _NllOfInverseTemperature, _row_max, _search
from app.core.calibration.validation import validate_logits, validate_logits_and_labels
from app.core.errors import DataError
from app.core.numeric import softmax

DEFAULT_BOUNDS = (0.05, 20.0)
MIN_FIT_SAMPLES = 10
# Below this many held-out samples the fitted T is noisy enough to be worth a warning.
FEW_SAMPLES_WARNING = 100
LOG_PROBABILITY_ATOL = 1e-3
# float32 cannot hold a probability between 1 - 6e-8 and 1: rows above this have lost their tail.
_SATURATED_PROBABILITY = 1.0 - 1e-6

def logits_are_log_probabilities(logits: np.ndarray, atol: float = LOG_PROBABILITY_ATOL) -> bool:
    """Whether ``logits`` look like ``log(softmax(...))`` rather than pre-softmax scores.

    Detection: every row's logsumexp is 0 within ``atol`` (the row's probabilities sum to 1) and
    no value exceeds ``atol`` (log p <= 0). Genuine logits satisfy this only if the model itself
    ends in a log-softmax. ``-inf`` entries (log of a zero probability) count as probability 0;
    NaN, ``+inf`` or anything that is not a 2-D numeric array gives False.

    Parameters
    ----------
    logits : array-like of shape (n_samples, n_classes)
        Scores to inspect.
    atol : float, default=1e-3
        Tolerance on each row's logsumexp; float32 probabilities, even clipped at 1e-7 before the
        log, stay well inside it for up to a thousand classes.

    Returns
    -------
    bool
    """
    z = np.asarray(logits)
    if z.ndim != 2 or z.size == 0 or z.dtype == np.bool_ or not np.issubdtype(z.dtype, np.number):
        return False
    # One cheap reduction rules out ordinary logits (they almost always have a positive entry);
    # it is also False for NaN and +inf, which propagate through max.
    top = z.max()
    if not top <= atol:
        return False
    z = z.astype(np.float64, copy=False)
    row_max = z.max(axis=1)
    if not np.isfinite(row_max).all():
        return False
    row_logsumexp = row_max + np.log(np.exp(z - row_max[:, None]).sum(axis=1))
    return bool(np.all(np.abs(row_logsumexp) <= atol))


def _check_bounds(bounds: tuple[float, float]) -> tuple[float, float]:
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be two numbers (T_min, T_max); got {bounds!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and 0.0 < low < high):
        raise ValueError(f"bounds must satisfy 0 < T_min < T_max < inf; got {bounds!r}")
    return low, high


class TemperatureScaler:
    """Temperature scaling of logits, scikit-learn style.

    Parameters
    ----------
    bounds : tuple of float, default=(0.05, 20.0)
        Smallest and largest temperature searched.

    Attributes
    ----------
    temperature_ : float
        Fitted temperature T, within ``bounds``.
    nll_before_ : float
        Mean NLL of ``softmax(logits)`` on the fitting data (T = 1).
    nll_after_ : float
        Mean NLL of ``softmax(logits / temperature_)`` on the fitting data, to about 1e-7
        relative: the final step is not re-evaluated, its NLL comes from a third-order Taylor
        expansion (saving one exp pass). `nll_from_logits` gives the exact value.
    warnings_ : list of str
        One-line reasons to distrust the fit (few samples, a single class, T on a bound,
        log-probabilities instead of logits, logits that T cannot change); empty when none.
    n_classes_ : int
        Number of classes seen in fit.
    n_iter_ : int
        Number of full-data NLL evaluations the fit used (each one exp pass over the logits).
    """

    def __init__(self, bounds: tuple[float, float] = DEFAULT_BOUNDS) -> None:
        self.bounds = bounds

    def fit(self, logits: np.ndarray, labels: np.ndarray) -> TemperatureScaler:
        """Fit the temperature that minimises the NLL of ``softmax(logits / T)``.

        Parameters
        ----------
        logits : array-like of shape (n_samples, n_classes)
            Held-out pre-softmax scores (not training data).
        labels : array-like of shape (n_samples,)
            Integer class indices.

        Returns
        -------
        self : TemperatureScaler

        Raises
        ------
        DataError
            Invalid logits or labels (see `validate_logits_and_labels`), or fewer than 10
            samples.
        """
        t_min, t_max = _check_bounds(self.bounds)
        z, y = validate_logits_and_labels(logits, labels)
        n_samples, n_classes = z.shape
        if n_samples < MIN_FIT_SAMPLES:
            raise DataError(
                f"temperature scaling needs at least {MIN_FIT_SAMPLES} labelled samples; "
                f"got {n_samples}"
            )
        beta_low, beta_high = 1.0 / t_max, 1.0 / t_min
        nll = _NllOfInverseTemperature.from_logits(z, y)
        if nll.labels_are_row_maxima:
            # NLL'(beta) = mean(E[d]) <= 0 here: NLL never rises as T shrinks, so T_min is
            # optimal, and any T is when every row is constant (the NLL is then flat).
            constant = np.array_equal(_row_max(z), -_row_max(-z))
            beta = min(max(1.0, beta_low), beta_high) if constant else beta_high
            nll_before, nll_after = nll.value(1.0), nll.value(beta)
        else:
            beta, nll_before, nll_after = _search(nll, n_samples, beta_low, beta_high)

        if beta == beta_high:
            temperature = t_min
        elif beta == beta_low:
            temperature = t_max
        else:
            temperature = min(max(1.0 / beta, t_min), t_max)
        self.temperature_ = float(temperature)
        self.nll_before_ = float(nll_before)
        self.nll_after_ = float(nll_after)
        self.n_classes_ = int(n_classes)
        self.n_iter_ = nll.n_evaluations
        self.warnings_ = self._diagnose(z, y, t_min, t_max)
        return self

    def _diagnose(self, z: np.ndarray, y: np.ndarray, t_min: float, t_max: float) -> list[str]:
        found: list[str] = []
        n_samples = z.shape[0]
        if n_samples < FEW_SAMPLES_WARNING:
            found.append(
                f"only {n_samples} samples: the fitted temperature is noisy "
                f"(a few thousand held-out samples are better)"
            )
        if y.min() == y.max():
            found.append(
                f"all labels are class {int(y[0])}: the temperature reflects that class only"
            )
        # Constant rows make the NLL exactly flat (log k at every T); confirm only in that case.
        if self.nll_after_ == self.nll_before_ and np.array_equal(_row_max(z), -_row_max(-z)):
            found.append("every row of logits is constant: temperature has no effect")
        elif self.temperature_ == t_min:
            found.append(
                f"temperature reached the lower bound {t_min:g}: NLL keeps falling as T shrinks "
                "(nearly all predictions correct?); use more or harder held-out data"
            )
        elif self.temperature_ == t_max:
            found.append(
                f"temperature reached the upper bound {t_max:g}: the scores carry little "
                "information about the labels; check the labels and the preprocessing"
            )
        if logits_are_log_probabilities(z):
            saturated = int(np.count_nonzero(z.max(axis=1) >= math.log(_SATURATED_PROBABILITY)))
            found.append(
                "inputs look like log-probabilities (every row's logsumexp is 0), not "
                f"pre-softmax logits; {saturated} of {n_samples} rows have a saturated top "
                "probability, whose lost information makes T less reliable; "
                "export the scores before the softmax if possible"
            )
        return found

    def predict_proba(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated probabilities ``softmax(logits / temperature_)``.

        Parameters
        ----------
        logits : array-like of shape (n_samples, n_classes)
            Pre-softmax scores.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            float64 probabilities; rows sum to 1.
        """
        if not hasattr(self, "temperature_"):
            raise RuntimeError("this TemperatureScaler is not fitted yet; call fit first")
        z = validate_logits(logits)
        if z.shape[1] != self.n_classes_:
            raise DataError(
                f"logits have {z.shape[1]} classes but the scaler was fitted on {self.n_classes_}"
            )
        return softmax(z, self.temperature_)


def fit_temperature(
    logits: np.ndarray, labels: np.ndarray, bounds: tuple[float, float] = DEFAULT_BOUNDS
) -> float:
    """Temperature T minimising the NLL of ``softmax(logits / T)`` within ``bounds``.

    Parameters
    ----------
    logits : array-like of shape (n_samples, n_classes)
        Held-out pre-softmax scores.
    labels : array-like of shape (n_samples,)
        Integer class indices.
    bounds : tuple of float, default=(0.05, 20.0)
        Smallest and largest temperature searched.

    Returns
    -------
    float
        The fitted temperature; see `TemperatureScaler` for warnings and NLL before/after.
    """
    return TemperatureScaler(bounds=bounds).fit(logits, labels).temperature_
