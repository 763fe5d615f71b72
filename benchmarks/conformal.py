"""Prediction sets: fitting on 10,000 x 10 probabilities and re-drawing a 10,000-row history.

Targets (issue 21): fitting <= 20 ms; every set of a 10,000-row history when alpha moves
<= 20 ms. Medians of repeated in-process runs, milliseconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

N, C = 10_000, 10


def _median_ms(run: Callable[[], object], repeat: int = 21) -> float:
    run()  # warm-up: first-call allocations
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def conformal_ms() -> dict[str, float]:
    """``{method}_fit`` and ``{method}_alpha_move`` for LAC, APS and RAPS (overall sets)."""
    from app.core.calibration.conformal import ConformalClassifier
    from app.core.numeric import softmax

    rng = np.random.default_rng(0)
    labels = rng.integers(0, C, size=N)
    logits = 2.0 * rng.normal(size=(N, C))
    logits[np.arange(N), labels] += 6.4
    probs, history = softmax(logits, 1.0), softmax(2.0 * rng.normal(size=(N, C)), 1.0)
    out: dict[str, float] = {}
    for method in ("lac", "aps", "raps"):
        out[f"{method}_fit"] = _median_ms(
            lambda m=method: ConformalClassifier(m, 0.1).fit(probs, labels))
        fitted = ConformalClassifier(method, 0.1).fit(probs, labels)
        alphas = iter(np.tile([0.05, 0.1, 0.2], 100))
        # The window's slider: a new threshold from the kept scores, then every history set.
        out[f"{method}_alpha_move"] = _median_ms(
            lambda f=fitted, a=alphas: f.with_alpha(next(a)).predict_sets(history))
    return out
