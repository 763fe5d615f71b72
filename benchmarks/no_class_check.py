"""What the probe and the digit prior add to one image's inference call.

A user's digit model stands in as a second session of the bundled model (ten digit classes,
so the prior applies), opened on TensorFlow; the three calls are timed interleaved, so a busy
machine slows each alike: the plain compiled call, the call that also computes the probe's
layer statistics, and the call that also runs the digit prior on the same image. The probe's
own numpy scoring is timed on top.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import numpy as np


def no_class_check_ms(calls: int = 480) -> dict[str, float]:
    from app.core import open_model
    from app.core.models.predictor import Predictor
    from app.core.ood.prior import digit_prior_head
    from app.core.ood.probe import ProbeScore
    from app.core.resources import bundled_model_path
    from app.core.tf_runtime import on_tf_thread

    os.environ["PROBSCOPE_RUNTIME"] = "tensorflow"
    try:
        stats_session, prior_session = open_model(bundled_model_path()), open_model(bundled_model_path())
    finally:
        del os.environ["PROBSCOPE_RUNTIME"]
    plain = on_tf_thread(Predictor, stats_session.loaded, 256)
    stats_session.enable_layer_statistics()
    prior_session.enable_layer_statistics([digit_prior_head(prior_session.spec)])
    x = np.random.default_rng(0).uniform(0, 1, (1, *stats_session.loaded.input_shape)).astype(np.float32)
    calls_by_name: dict[str, Any] = {"plain": plain, "statistics": stats_session.infer,
                                     "statistics_and_prior": prior_session.infer}
    per_call: dict[str, list[float]] = {k: [] for k in calls_by_name}
    for fn in calls_by_name.values():
        for _ in range(10):
            fn(x)
    # Call by call in turn, and the median of each: a busy neighbour or a slow drift hits the
    # three alike, and a stall lands in the tail the median ignores.
    for _ in range(calls):
        for name, fn in calls_by_name.items():
            start = time.perf_counter()
            fn(x)
            per_call[name].append((time.perf_counter() - start) * 1000.0)
    ms = {k: statistics.median(v) for k, v in per_call.items()}
    stats = prior_session.infer(np.repeat(x, 64, axis=0)).stats.astype(np.float64)
    rng = np.random.default_rng(1)
    probe = ProbeScore().fit(stats + rng.normal(0, 0.01, stats.shape),
                             stats + rng.normal(1, 0.5, stats.shape), np.repeat(["noise"], 64))
    start = time.perf_counter()
    for _ in range(200):
        probe.score(stats[:1])
    score_ms = (time.perf_counter() - start) * 1000.0 / 200
    for s in (stats_session, prior_session):
        s.close()
    return {"plain_call": ms["plain"],
            "probe_added": ms["statistics"] - ms["plain"] + score_ms,
            "digit_prior_added": ms["statistics_and_prior"] - ms["statistics"],
            "probe_score_numpy": score_ms}
