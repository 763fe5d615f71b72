"""The bundled model's training loss: cross-entropy plus energy hinges, checked against numpy."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.numeric import logsumexp
from app.training.digits.energy_loss import energy_bounded_loss


def _expected(y: np.ndarray, z: np.ndarray, lam: float, floor: float, ceiling: float) -> np.ndarray:
    energy = logsumexp(z, axis=1)
    other = y.max(axis=1) < 0.5
    cross_entropy = energy - (y * z).sum(axis=1)
    digit = cross_entropy + lam * np.maximum(floor - energy, 0) ** 2
    return np.where(other, lam * np.maximum(energy - ceiling, 0) ** 2, digit)


def test_digits_pay_cross_entropy_and_a_hinge_below_the_floor_others_a_hinge_above() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(0, 6, (64, 10)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 64)]
    y[::3] = 0.1  # every third row is a non-digit: a uniform target
    loss = np.asarray(energy_bounded_loss(0.3, 8.0, 1.0)(y, z))
    expected = _expected(y, z, 0.3, 8.0, 1.0)
    np.testing.assert_allclose(loss, expected, rtol=1e-4, atol=1e-4)
    # Both hinges bite somewhere in this batch, and the non-digits pay no cross-entropy.
    energy = logsumexp(z, axis=1)
    assert (energy[::3] > 1.0).any() and (energy[1::3] < 8.0).any()


def test_a_confident_digit_and_a_quiet_non_digit_cost_next_to_nothing() -> None:
    z = np.array([[20.0] + [0.0] * 9, [-3.0] * 10], np.float32)  # energy 20 and -0.7
    y = np.array([[1.0] + [0.0] * 9, [0.1] * 10], np.float32)
    loss = np.asarray(energy_bounded_loss()(y, z))
    assert loss[0] == pytest.approx(np.log1p(9 * np.exp(-20.0)), abs=1e-6)
    assert loss[1] == 0.0
    # A flat non-digit at energy ln 10, the old recipe's optimum, is now pushed down.
    flat = np.asarray(energy_bounded_loss()(y[1:], np.zeros((1, 10), np.float32)))
    assert flat[0] == pytest.approx(0.1 * (np.log(10) - 1.0) ** 2, rel=1e-5)
