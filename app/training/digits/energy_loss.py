"""Energy-bounded outlier exposure: how the bundled model's second network learns non-digits.

Liu et al. 2020 ("Energy-based Out-of-distribution Detection"): digits get the usual
cross-entropy, and a squared hinge on the free energy ``logsumexp(logits)`` keeps digits above
``digit_floor`` and non-digits below ``other_ceiling``. Only the size of the logits is bounded,
not their shape. The uniform recipe (Hendrycks et al. 2019) pulls non-digits to a uniform
softmax, which also flattened unusual real digits the model still read correctly (confidence
0.1-0.4 on scans it got right two times in three), so no temperature calibrated both those and
the confident bulk; averaged with a network trained this way, ECE after T on real scans went
from 1.8 to 1.1 %.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Chosen on one-epoch runs against held-out generated digits (lambda 0.2 cost a point of
# accuracy); the shipped card's check sits between the two margins, at 5.5.
LAMBDA = 0.1
DIGIT_FLOOR = 8.0
OTHER_CEILING = 1.0

# Outlier exposure, two ways. "uniform" (Hendrycks et al. 2019): non-digits trained towards a
# uniform answer; the sharper reader of odd crops, but it answers unusual real digits flatly and
# is under-confident there. "energy" (Liu et al. 2020, below): only the size of the
# logits is bounded; calibrated, but it reads stretched and recoloured crops less well. The
# shipped model averages one network of each.
OE_LOSSES = {
    "uniform": "uniform targets (Hendrycks et al. 2019)",
    "energy": f"energy-bounded (Liu et al. 2020): lambda {LAMBDA}, digits above {DIGIT_FLOOR}, "
              f"others below {OTHER_CEILING}",
}


def energy_bounded_loss(lam: float = LAMBDA, digit_floor: float = DIGIT_FLOOR,
                        other_ceiling: float = OTHER_CEILING) -> Callable[[Any, Any], Any]:
    """Keras loss on logits; a target row that is not one-hot (uniform) marks a non-digit.

    Parameters
    ----------
    lam : float
        Weight of the two hinge terms against the cross-entropy.
    digit_floor : float
        Free energy ``logsumexp(logits)`` a digit is pushed above.
    other_ceiling : float
        Free energy a non-digit is pushed below.

    Returns
    -------
    callable
        ``loss(y_true, logits)`` giving one value per sample, for ``model.compile``.
    """
    from keras import ops

    def loss(y_true: Any, logits: Any) -> Any:
        free_energy = ops.logsumexp(logits, axis=-1)
        other = ops.cast(ops.max(y_true, axis=-1) < 0.5, logits.dtype)
        cross_entropy = free_energy - ops.sum(y_true * logits, axis=-1)
        digit = cross_entropy + lam * ops.square(ops.relu(digit_floor - free_energy))
        not_digit = lam * ops.square(ops.relu(free_energy - other_ceiling))
        return other * not_digit + (1.0 - other) * digit

    return loss
