"""The search behind temperature scaling: exact derivatives of the NLL over 1/T.

How the search works
--------------------
With ``beta = 1 / T`` the objective ``NLL(beta) = mean_i(logsumexp(beta * z_i) - beta * z_iy)``
is convex: its second derivative is the mean variance of the logits under ``softmax(beta * z)``.
So instead of a derivative-free search over log T we take Halley steps (Newton steps far from
the minimiser) on beta with exact derivatives, kept inside a shrinking bracket of the minimiser
and falling back to bisection in log space when a step leaves it. Minimising over beta, log T or
T gives the same minimiser; beta never leaves ``[1/T_max, 1/T_min]``, so T is never negative or
NaN. ``exp`` over all logits dominates the cost, so on large sets the first steps run on
subsamples and the full data then need about one step, plus one pass for the NLL at T = 1.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

# Chunks of about 32k values stay in L2 cache across the several passes of one evaluation, which
# makes an evaluation roughly as cheap as its exp pass alone.
_CHUNK_VALUES = 1 << 15
# Rows of the successive subsamples that find the starting point on large sets.
_SUBSAMPLE_ROWS = (1024, 8192)
_MAX_EVALUATIONS = 100
# Stop once a Halley step is at most this relative to beta and take it unevaluated: the error
# left in T is about 0.7 * step**3 (measured on varied synthetic logits), here below 1e-5.
_STEP_RTOL = 2e-2


def _row_max(z: np.ndarray) -> np.ndarray:
    # Reducing along short rows is slow in numpy (about 6 ms for 100k x 10); a running maximum
    # over the columns is 3-4x faster until rows get wide.
    if z.shape[1] >= 32:
        return z.max(axis=1)
    row_max = z[:, 0].copy()
    for column in range(1, z.shape[1]):
        np.maximum(row_max, z[:, column], out=row_max)
    return row_max


class _NllOfInverseTemperature:
    """NLL as a function of ``beta = 1/T``, with its first three derivatives, in float64.

    With ``d = z - max_c z`` (every row's largest entry is 0, so ``exp`` never overflows) and
    ``m_j = sum_c exp(beta d_c) d_c^j / sum_c exp(beta d_c)``, the moments of d under the scaled
    softmax: ``NLL = beta * mean(max z - z_y) + mean(log S0)``, ``NLL' = mean(max z - z_y) +
    mean(m_1)``, ``NLL''`` is the mean variance of d and ``NLL'''`` its mean third central moment
    (the cumulants of a log-partition function). ``d`` is formed chunk by chunk while evaluating,
    so no second (n, k) array is held.
    """

    def __init__(self, z: np.ndarray, row_max: np.ndarray, margins: np.ndarray) -> None:
        self._z = z
        self._row_max = row_max[:, None]
        self._margins = margins
        self._mean_margin = float(margins.mean())
        n_classes = z.shape[1]
        self._chunk_rows = max(1, _CHUNK_VALUES // n_classes)
        self._ones = np.ones(n_classes)
        self.n_evaluations = 0

    @classmethod
    def from_logits(cls, z: np.ndarray, y: np.ndarray) -> _NllOfInverseTemperature:
        row_max = _row_max(z)
        margins = row_max - z[np.arange(z.shape[0]), y]
        return cls(z, row_max, margins)

    @property
    def labels_are_row_maxima(self) -> bool:
        """True when every label's logit is its row's maximum (all predictions right or tied)."""
        return self._mean_margin == 0.0

    def subsample(self, n_rows: int) -> _NllOfInverseTemperature:
        # An even stride keeps every class represented even when the data are sorted by class.
        stride = max(1, self._z.shape[0] // n_rows)
        return type(self)(
            np.ascontiguousarray(self._z[::stride]),
            self._row_max[::stride, 0],
            self._margins[::stride],
        )

    def _chunks(self, d_buffer: np.ndarray) -> Iterator[np.ndarray]:
        """Yield ``d`` for consecutive row chunks, written into ``d_buffer``."""
        for start in range(0, self._z.shape[0], self._chunk_rows):
            stop = start + self._chunk_rows
            z = self._z[start:stop]
            yield np.subtract(z, self._row_max[start:stop], out=d_buffer[: z.shape[0]])

    def _buffers(self, count: int) -> list[np.ndarray]:
        return [np.empty((self._chunk_rows, self._z.shape[1])) for _ in range(count)]

    def value(self, beta: float) -> float:
        """NLL only: one exp pass."""
        self.n_evaluations += 1
        d_buffer, e_buffer = self._buffers(2)
        total_log_s0 = 0.0
        for d in self._chunks(d_buffer):
            e = np.multiply(d, beta, out=e_buffer[: d.shape[0]])
            np.exp(e, out=e)
            total_log_s0 += float(np.log(e @ self._ones).sum())
        return beta * self._mean_margin + total_log_s0 / self._z.shape[0]

    def derivatives(self, beta: float) -> tuple[float, float, float, float]:
        """NLL and its first three derivatives in beta: one exp pass."""
        self.n_evaluations += 1
        d_buffer, e_buffer, power_buffer = self._buffers(3)
        total_log_s0 = total_m1 = total_variance = total_skew = 0.0
        for d in self._chunks(d_buffer):
            e = np.multiply(d, beta, out=e_buffer[: d.shape[0]])
            np.exp(e, out=e)
            # Row sums as matrix-vector products: much faster than .sum(axis=1) on narrow rows.
            # Powers of d only ever meet d through e: where exp underflows to 0 they stay 0, and
            # elsewhere |d| < 745 * beta_max, so nothing overflows.
            s0 = e @ self._ones
            power = np.multiply(e, d, out=power_buffer[: d.shape[0]])
            m1 = (power @ self._ones) / s0
            np.multiply(power, d, out=power)
            m2 = (power @ self._ones) / s0
            np.multiply(power, d, out=power)
            m3 = (power @ self._ones) / s0
            total_log_s0 += float(np.log(s0).sum())
            total_m1 += float(m1.sum())
            total_variance += float((m2 - m1 * m1).sum())
            total_skew += float((m3 - m1 * (3.0 * m2 - 2.0 * m1 * m1)).sum())
        n_rows = self._z.shape[0]
        value = beta * self._mean_margin + total_log_s0 / n_rows
        gradient = self._mean_margin + total_m1 / n_rows
        # Rounding can make a vanishing variance slightly negative; the true value is >= 0.
        curvature = max(total_variance / n_rows, 0.0)
        return value, gradient, curvature, total_skew / n_rows


def _step(gradient: float, curvature: float, third: float) -> tuple[float, bool]:
    """Halley step (cubic convergence) near the minimiser, Newton step further away.

    Returns the step and whether it was a Halley step.
    """
    if curvature <= 0.0:
        return math.copysign(math.inf, -gradient), False
    newton = -gradient / curvature
    # Halley divides the Newton step by 1 + newton * third / (2 * curvature); far from the
    # minimiser that factor can be tiny or negative, and plain Newton is the safer step there.
    factor = 1.0 + newton * third / (2.0 * curvature)
    if 0.5 <= factor <= 2.0:
        return newton / factor, True
    return newton, False


def _minimise_over_beta(
    nll: _NllOfInverseTemperature,
    beta_low: float,
    beta_high: float,
    beta_start: float,
    step_rtol: float,
) -> tuple[float, float, float]:
    """Safeguarded Halley/Newton search for the minimiser of the convex NLL(beta).

    The search stops once a step inside the bracket is at most ``step_rtol`` relative to beta
    (Halley; its square for Newton) and takes that step without another evaluation: the error
    left is of the order of the step cubed (Halley) or squared (Newton).

    Returns
    -------
    beta : float
        The minimiser, exactly ``beta_low`` or ``beta_high`` when it lies on a bound.
    nll_at_beta : float
        NLL at ``beta`` (third-order Taylor estimate when the final step was not evaluated).
    nll_at_start : float
        NLL at ``beta_start`` clipped to the interval (the first evaluation).
    """
    low, high = beta_low, beta_high
    low_seen = high_seen = False
    beta = min(max(beta_start, beta_low), beta_high)
    value = first = math.nan
    previous_step = math.inf
    for _ in range(_MAX_EVALUATIONS):
        value, gradient, curvature, third = nll.derivatives(beta)
        if math.isnan(first):
            first = value
        if beta == beta_high:
            high_seen = True
            if gradient <= 0.0:  # still descending at the smallest T: the minimum is the bound
                return beta, value, first
        if beta == beta_low:
            low_seen = True
            if gradient >= 0.0:
                return beta, value, first
        if gradient == 0.0:
            return beta, value, first
        if gradient > 0.0:
            high = beta
        else:
            low = beta
        step, is_halley = _step(gradient, curvature, third)
        target = beta + step
        inside = low < target < high
        if inside and abs(step) <= (step_rtol if is_halley else step_rtol**2) * beta:
            taylor = step * (gradient + step * (0.5 * curvature + step * third / 6.0))
            return target, value + taylor, first
        # Outside the bracket, or not at least halving the step: Newton crawls by nearly
        # constant steps along the exponential tail of a (nearly) separable set. Try the
        # unvisited bound in that direction, else bisect the bracket in log space.
        if not inside or abs(step) > 0.5 * abs(previous_step):
            if step > 0.0 and high == beta_high and not high_seen:
                target = beta_high
            elif step < 0.0 and low == beta_low and not low_seen:
                target = beta_low
            else:
                target = math.sqrt(low * high)
        if high - low <= 1e-12 * low:
            return beta, value, first
        previous_step = target - beta
        beta = target
    return beta, value, first


def _search(
    nll: _NllOfInverseTemperature, n_samples: int, beta_low: float, beta_high: float
) -> tuple[float, float, float]:
    """Fitted beta, NLL at beta = 1 and NLL at the fitted beta."""
    beta_start = 1.0
    for subsample_rows in _SUBSAMPLE_ROWS:
        if n_samples > 2 * subsample_rows:
            # Each full-data evaluation costs an exp over all logits: walk to a close starting
            # point on ever larger subsamples so that the full data need about one step.
            beta_start, _, _ = _minimise_over_beta(
                nll.subsample(subsample_rows), beta_low, beta_high, beta_start, _STEP_RTOL
            )
    beta, nll_after, nll_at_start = _minimise_over_beta(
        nll, beta_low, beta_high, beta_start, _STEP_RTOL
    )
    nll_before = nll_at_start if beta_start == 1.0 else nll.value(1.0)
    return beta, nll_before, nll_after
