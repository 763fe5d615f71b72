"""Fit the "none of the classes" check on held-out data and record it beside the model."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.core.cards.card_file import write_card
from app.core.data.labelled import load_data
from app.core.data.outputs import CancelFn, DataOutputs, ProgressFn, compute_outputs
from app.core.errors import DataError
from app.core.ood.detector import OODDetector, stats_path_for
from app.core.ood.metrics import acceptance_rate
from app.core.ood.runtime import OODRuntime
from app.core.session.model_session import ModelSession


@dataclass
class OODFitResult:
    """A fitted detector, its chosen score, and (with OOD data) how well every score separates."""

    detector: OODDetector
    table: list[dict[str, Any]] = field(default_factory=list)
    in_data: str = ""
    ood_data: str | None = None
    warnings: list[str] = field(default_factory=list)
    # Share of the no-class images the saved threshold accepts (the table's figures come
    # from a 70/30 split of the in-distribution data, so their threshold differs slightly).
    ood_accepted: float | None = None

    def to_json(self) -> dict[str, Any]:
        chosen = next((r for r in self.table if r["score"] == self.detector.score_name), {})
        return {
            "score": self.detector.score_name,
            "threshold": float(self.detector.threshold),
            "tpr": float(self.detector.tpr_target),
            "auroc": chosen.get("auroc"),
            "fpr_at_95_tpr": chosen.get("fpr_at_95_tpr"),
            "aupr": chosen.get("aupr"),
            "fpr_at_threshold": chosen.get("fpr_at_threshold"),
            "scores": self.table,
            "data": self.in_data,
            "ood_data": self.ood_data,
            "n": self.detector.fit_info_.get("n"),
            "ood_accepted": self.ood_accepted,
            "warnings": self.warnings,
        }


def fit_ood(
    in_outputs: DataOutputs,
    temperature: float,
    score: str | None = "auto",
    tpr: float = 0.95,
    ood_outputs: DataOutputs | None = None,
    label: str = "None of the classes",
) -> tuple[OODDetector, list[dict[str, Any]]]:
    """Fit every score on in-distribution outputs; pick ``score`` (or the best when ``auto``).

    ``auto`` picks the highest AUROC when OOD outputs are given, else ``energy``.
    """
    logits, features = in_outputs.outputs.logits, in_outputs.outputs.features
    labels = in_outputs.labels if in_outputs.labels is not None else np.argmax(logits, axis=1)

    def fitted(rows: np.ndarray) -> OODDetector:
        return OODDetector(label=label).fit(
            logits[rows], None if features is None else features[rows], labels[rows],
            score="energy", tpr=tpr, temperature=temperature,
        )

    everything = np.arange(len(logits))
    table: list[dict[str, Any]] = []
    if ood_outputs is not None:
        # Feature scores look better on the very samples they were fitted on, so the
        # comparison table is measured on a held-out 30 % of the in-distribution data.
        order = np.random.default_rng(0).permutation(len(logits))
        cut = int(len(order) * 0.7)
        fit_rows, eval_rows = np.sort(order[:cut]), np.sort(order[cut:])
        table = fitted(fit_rows).evaluate(
            logits[eval_rows], None if features is None else features[eval_rows],
            ood_outputs.outputs.logits, ood_outputs.outputs.features,
        )
    detector = fitted(everything)
    if score in (None, "auto"):
        ranked = [r for r in table if r.get("auroc") is not None]
        score = max(ranked, key=lambda r: r["auroc"])["score"] if ranked else "energy"
    for row in table:
        row["chosen"] = row["score"] == score
    detector.use_score(score)
    return detector, table


def run_ood(
    session: ModelSession,
    data_path: str | os.PathLike[str],
    ood_path: str | os.PathLike[str] | None = None,
    score: str | None = "auto",
    tpr: float = 0.95,
    progress: ProgressFn | None = None,
    cancelled: CancelFn | None = None,
) -> OODFitResult:
    """Fit the check on in-distribution data and, if given, evaluate it on no-class images."""
    if not 0.5 <= tpr < 1.0:
        raise DataError(f"--tpr must be between 0.5 and 1 (the share of real images accepted), got {tpr}")
    data = load_data(data_path, session.classes, labelled=True)
    in_out = compute_outputs(session, data, progress, cancelled)
    ood_out = None
    if ood_path is not None:
        ood_data = load_data(ood_path, session.classes, labelled=False)
        ood_out = compute_outputs(session, ood_data, progress, cancelled)
    detector, table = fit_ood(in_out, session.temperature, score, tpr, ood_out, session.ood.label)
    warnings = list(data.notes)
    if in_out.skipped:
        warnings.append(f"{len(in_out.skipped)} unreadable image(s) skipped")
    accepted = None
    if ood_out is not None:
        accepted = acceptance_rate(detector.score(ood_out.outputs.logits, ood_out.outputs.features),
                                   float(detector.threshold))
        if accepted > 0.05:
            warnings.append(f"{accepted:.0%} of the no-class images are still accepted at this threshold")
    warnings += [
        f"the {r['score']} score separates worse than chance here (AUROC {r['auroc']:.2f}); do not use it"
        for r in table if r.get("auroc") is not None and r["auroc"] < 0.5
    ]
    return OODFitResult(detector, table, str(data_path), None if ood_path is None else str(ood_path),
                        warnings, accepted)


def save_ood(session: ModelSession, result: OODFitResult) -> str:
    """Store the statistics beside the card, point the card's ``ood`` at them; return the card path."""
    stats = stats_path_for(session.loaded.path)
    result.detector.save_stats(stats)
    card = session.card
    keep = {k: v for k, v in card.ood.items() if k not in ("score", "threshold", "stats", "fitted", "tpr", "temperature")}
    card.data["ood"] = {**keep, **result.detector.to_card_dict(), "label": session.ood.label}
    if result.table:
        card.data["ood"]["evaluation"] = {"ood_data": result.ood_data, "scores": result.table}
    path = str(write_card(card, session.card_path))
    session.ood = OODRuntime.from_card(card, session.card_path)
    return path
