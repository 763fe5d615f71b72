"""Judging every score on no-class images it was not fitted on, and choosing one (``auto``).

For each score and each reference kind: the share of that kind the score's threshold accepts.
The logit and feature scores never see the reference, so that share is already a held-out
figure; the probe is fitted on the reference, so its held-out figure comes from fitting it
without the kind (leave-one-kind-out). ``--score auto`` keeps the score whose mean held-out
acceptance over the kinds is lowest: the one that lets the least unseen junk through.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from app.core.data.outputs import DataOutputs
from app.core.errors import DataError
from app.core.ood.detector import OODDetector
from app.core.ood.metrics import acceptance_rate, auroc
from app.core.ood.probe_fitting import USER_KIND, ProbeFit
from app.core.ood.scores import AUTO_SCORE_NAMES, LAYER_SCORE_NAMES

# Without any no-class images to judge by, the classic default.
FALLBACK_SCORE = "energy"


def _all_scores(detector: OODDetector, outputs: DataOutputs) -> dict[str, np.ndarray]:
    o = outputs.outputs
    try:
        return detector.scores_all(o.logits, o.features, o.stats)
    except DataError:
        return {}


def held_out_by_score(
    detector: OODDetector,
    in_outputs: DataOutputs,
    fit: ProbeFit | None,
    ood_outputs: DataOutputs | None = None,
) -> dict[str, dict[str, Any]]:
    """Per score: ``per_kind`` rows, ``held_out`` (their mean) and ``auroc`` (real vs no-class).

    Parameters
    ----------
    detector : OODDetector
        Fitted on ``in_outputs`` (and holding the probe when ``fit`` is given).
    in_outputs : DataOutputs
        The labelled images the thresholds were set on.
    fit : ProbeFit or None
        The reference outputs and the probe's leave-one-kind-out rows.
    ood_outputs : DataOutputs, optional
        The user's own no-class images, judged as one more kind.
    """
    groups: dict[str, DataOutputs] = dict(fit.reference_outputs) if fit is not None else {}
    if ood_outputs is not None:
        groups[USER_KIND] = ood_outputs
    if not groups:
        return {}
    # Every score of every group in one pass: a group's outputs are scored once, not per score.
    scored = {kind: _all_scores(detector, o) for kind, o in groups.items()}
    out: dict[str, dict[str, Any]] = {}
    for name, threshold in detector.thresholds_.items():
        if name in detector.unavailable_:
            continue
        if name in LAYER_SCORE_NAMES:
            if fit is None:
                continue
            rows = [{k: r[k] for k in ("kind", "accepted", "held_out_accepted")} for r in fit.per_kind]
            outside = fit.probe.oof_ref_[np.isfinite(fit.probe.oof_ref_)]
            inside = fit.probe.oof_in_
        else:
            if not all(name in s for s in scored.values()):
                continue  # e.g. a feature score on a model without features
            per = {kind: s[name] for kind, s in scored.items()}
            rows = [{"kind": kind, "accepted": acceptance_rate(s, threshold),
                     "held_out_accepted": acceptance_rate(s, threshold)} for kind, s in per.items()]
            outside = np.concatenate(list(per.values()))
            inside = detector.calibration_scores_[name]
        out[name] = {
            "per_kind": rows,
            "held_out": float(np.mean([r["held_out_accepted"] for r in rows])) if rows else None,
            "auroc": auroc(inside, outside) if len(outside) else None,
        }
    return out


def choose_score(score: str | None, table: list[dict[str, Any]],
                 by_score: dict[str, dict[str, Any]], exclude: set[str] | None = None) -> str:
    """The score to use: the one asked for, else the lowest mean held-out acceptance among
    those not in ``exclude`` (scores that are constant for this model)."""
    if score not in (None, "auto"):
        return str(score)
    names = [n for n in AUTO_SCORE_NAMES if n not in (exclude or set())]
    ranked = [(v["held_out"], -(v["auroc"] or 0.0), name) for name, v in by_score.items()
              if name in names and v["held_out"] is not None]
    if ranked:
        return min(ranked)[2]
    with_auroc = [r for r in table if r.get("auroc") is not None and r["score"] in names]
    if with_auroc:
        return max(with_auroc, key=lambda r: r["auroc"])["score"]
    return FALLBACK_SCORE if FALLBACK_SCORE in names else "msp"
