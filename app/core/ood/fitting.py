"""Fit the "none of the classes" check on held-out data and record it beside the model."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.core.cards.card_file import write_card
from app.core.data.labelled import load_data
from app.core.data.outputs import CancelFn, DataOutputs, ProgressFn, compute_outputs
from app.core.errors import DataError
from app.core.models.loading import LOGITS_FROM_PROBABILITIES
from app.core.ood.detector import OODDetector, stats_path_for
from app.core.ood.metrics import acceptance_rate
from app.core.ood.prior.digit_prior import digit_prior_applies, digit_prior_head
from app.core.ood.probe_fitting import fit_probe, resolve_kinds
from app.core.ood.reference import kinds_for
from app.core.ood.runtime import OODRuntime
from app.core.ood.score_choice import choose_score, held_out_by_score
from app.core.ood.scores import AUTO_SCORE_NAMES, SCORE_NAMES
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
    # The built-in no-class reference the check was fitted and judged with, and whether
    # probscope's digit model gave its second opinion (the digit prior).
    reference: dict[str, Any] = field(default_factory=lambda: {"kinds": [], "n": 0,
                                                               "digit_prior": False})
    # Per reference kind, for the chosen score: share accepted, and accepted when the probe
    # was fitted without that kind (the figure for junk it never saw).
    per_kind: list[dict[str, Any]] = field(default_factory=list)
    # The same per score, with each score's mean held-out acceptance: what --score auto ranks.
    by_score: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        chosen = next((r for r in self.table if r["score"] == self.detector.score_name), {})
        return {
            "score": self.detector.score_name,
            "threshold": float(self.detector.threshold),
            "tpr": float(self.detector.tpr_target),
            "auroc": chosen.get("auroc", self.by_score.get(self.detector.score_name, {}).get("auroc")),
            "fpr_at_95_tpr": chosen.get("fpr_at_95_tpr"),
            "aupr": chosen.get("aupr"),
            "fpr_at_threshold": chosen.get("fpr_at_threshold"),
            "scores": self.table,
            "data": self.in_data,
            "ood_data": self.ood_data,
            "n": self.detector.fit_info_.get("n"),
            "ood_accepted": self.ood_accepted,
            "warnings": self.warnings,
            "reference": self.reference,
            "per_kind": self.per_kind,
            "held_out_accepted": self.by_score.get(self.detector.score_name, {}).get("held_out"),
        }

    def save_problems(self) -> list[str]:
        """Why this check should not be saved: it lets most of the user's own no-class
        images through, or its score separates them worse than chance."""
        problems = []
        if self.ood_accepted is not None and self.ood_accepted >= MOSTLY_ACCEPTED:
            problems.append(f"the check accepts {self.ood_accepted:.0%} of {self.ood_data}, your "
                            "images of no class")
        held = self.by_score.get(self.detector.score_name, {}).get("held_out")
        if held is not None and held >= MOSTLY_ACCEPTED:
            problems.append(f"the check accepts {held:.0%} of the built-in no-class reference it "
                            "was not fitted on")
        chosen = next((r for r in self.table if r.get("chosen")), {})
        if chosen.get("auroc") is not None and chosen["auroc"] < 0.5:
            problems.append(f"its {chosen['score']} score separates {self.ood_data} from "
                            f"{self.in_data} worse than chance (AUROC {chosen['auroc']:.2f})")
        return problems


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
        ranked = [r for r in table if r.get("auroc") is not None and r["score"] in AUTO_SCORE_NAMES]
        score = max(ranked, key=lambda r: r["auroc"])["score"] if ranked else "energy"
    for row in table:
        row["chosen"] = row["score"] == score
    detector.use_score(score)
    return detector, table


# Fewer no-class images than this make the held-out figures too rough to read as numbers.
MIN_OOD_FOR_FIGURES = 50
# A check that lets this share of the user's own no-class images through is not saved.
MOSTLY_ACCEPTED = 0.5


def _constant_scores(session: ModelSession, score: str | None) -> set[str]:
    """Scores that are the same for every image of this model, so no threshold means anything:
    the energy of logits that are log(probabilities) is log(1) = 0."""
    if session.loaded.logits_source != LOGITS_FROM_PROBABILITIES:
        return set()
    if score == "energy":
        raise DataError("--score energy: this model's logits are log(probabilities), whose "
                        "energy is 0 for every image; use msp, or auto")
    return {"energy"}


def run_ood(
    session: ModelSession,
    data_path: str | os.PathLike[str],
    ood_path: str | os.PathLike[str] | None = None,
    score: str | None = "auto",
    tpr: float = 0.95,
    progress: ProgressFn | None = None,
    cancelled: CancelFn | None = None,
    reference: str | Sequence[str] | None = "all",
) -> OODFitResult:
    """Fit the check on labelled images against the built-in reference (and ``ood_path``).

    Parameters
    ----------
    reference : "all", "none", kind names, or a comma-separated string
        The kinds of the built-in no-class reference (see
        :func:`app.core.ood.reference.kinds_for`) the probe is fitted against.
    """
    if not 0.5 <= tpr < 1.0:
        raise DataError(f"--tpr must be between 0.5 and 1 (the share of real images accepted), got {tpr}")
    if score not in (None, "auto", *SCORE_NAMES):
        raise DataError(f"unknown OOD score {score!r}; choose auto or one of {', '.join(SCORE_NAMES)}")
    kinds = resolve_kinds(reference, session.named_classes)
    data = load_data(data_path, session.classes, labelled=True)
    if data.labels is not None and len(np.unique(data.labels)) < 2:
        raise DataError(f"{data.name}: all labelled images are of one class; the check learns what "
                        "the model's classes look like from images of several of them")
    warnings = list(data.notes)
    if reference is None or reference == "all":  # what resolve_kinds left out, by name
        warnings += [f"reference kind {k!r} is named like one of your classes: left out, so "
                     "images like it are not flagged"
                     for k in kinds_for(session.named_classes) if k not in kinds]
    try:
        layout = session.enable_layer_statistics(_prior_heads(session, kinds, warnings))
        warnings += layout.notes
    except Exception as exc:  # an exotic graph: the logit and feature scores still work
        warnings.append(f"no layer statistics ({exc}); the probe is unavailable")
    in_out = compute_outputs(session, data, progress, cancelled)
    ood_out = None
    if ood_path is not None:
        ood_data = load_data(ood_path, session.classes, labelled=False)
        ood_out = compute_outputs(session, ood_data, progress, cancelled)
    detector, table = fit_ood(in_out, session.temperature, "energy", tpr, ood_out, session.ood.label)
    fit = None
    if in_out.outputs.stats is not None and (kinds or ood_out is not None):
        try:
            fit = fit_probe(session, data, in_out, kinds, ood_out, tpr, progress, cancelled)
        except DataError as exc:
            if score == "probe":
                raise
            warnings.append(str(exc))
    if fit is not None:
        detector.add_probe(fit.probe)
        warnings += fit.notes
        # The 70/30 table was drawn before the probe existed; its figures are in by_score.
        table = [row for row in table if row["score"] != "probe"]
    elif score == "probe":
        raise DataError("the probe needs layer statistics and a reference or --ood-data")
    by_score = held_out_by_score(detector, in_out, fit, ood_out)
    chosen = choose_score(score, table, by_score, exclude=_constant_scores(session, score))
    detector.use_score(chosen)
    for row in table:
        row["chosen"] = row["score"] == chosen
    if in_out.skipped:
        warnings.append(f"{len(in_out.skipped)} unreadable image(s) skipped")
    accepted = None
    if ood_out is not None:
        accepted = acceptance_rate(detector.score(ood_out.outputs.logits, ood_out.outputs.features,
                                                  ood_out.outputs.stats), float(detector.threshold))
        if accepted > 0.05:
            warnings.append(f"{accepted:.0%} of the no-class images are still accepted at this threshold")
        n_ood = len(ood_out)
        if n_ood < MIN_OOD_FOR_FIGURES:
            # Binomial error at the worst case (p = 0.5): what one image more or less moves.
            warnings.append(f"only {n_ood} no-class image(s): the share accepted and the AUROCs "
                            f"are rough (±{100 * (0.25 / n_ood) ** 0.5:.0f} points); "
                            f"{MIN_OOD_FOR_FIGURES} or more give figures to rely on")
    warnings += [
        f"the {r['score']} score separates worse than chance here (AUROC {r['auroc']:.2f}); do not use it"
        for r in table if r.get("auroc") is not None and r["auroc"] < 0.5
    ]
    ref = {"kinds": [] if fit is None else fit.kinds, "n": 0 if fit is None else fit.n_reference,
           "digit_prior": fit is not None and bool(fit.probe.extra_stats)}
    return OODFitResult(detector, table, str(data_path), None if ood_path is None else str(ood_path),
                        warnings, accepted, ref, by_score.get(chosen, {}).get("per_kind", []),
                        by_score)


def save_ood(session: ModelSession, result: OODFitResult, force: bool = False) -> str:
    """Store the statistics beside the card, point the card's ``ood`` at them; return the card path.

    Raises
    ------
    DataError
        The check should not be trusted (:meth:`OODFitResult.save_problems`) and ``force`` is
        False; nothing is written.
    """
    problems = result.save_problems()
    if problems and not force:
        raise DataError(f"not saved: {problems[0]} (save anyway with --force)")
    stats = stats_path_for(session.loaded.path)
    result.detector.save_stats(stats)
    card = session.card
    keep = {k: v for k, v in card.ood.items() if k not in ("score", "threshold", "stats", "fitted", "tpr", "temperature", "evaluation", "reference", "per_kind")}
    card.data["ood"] = {**keep, **result.detector.to_card_dict(), "label": session.ood.label,
                        "reference": result.reference, "per_kind": result.per_kind}
    if result.table:
        card.data["ood"]["evaluation"] = {"ood_data": result.ood_data, "scores": result.table}
    path = str(write_card(card, session.card_path))
    session.ood = OODRuntime.from_card(card, session.card_path)
    return path


def _prior_heads(session: ModelSession, kinds: list[str], warnings: list[str]) -> list[Any]:
    """The digit prior, for a digit model fitted against the reference; [] otherwise."""
    if not kinds or not digit_prior_applies(session.named_classes):
        return []
    if session.loaded.format == "tflite":
        warnings.append("the digit prior needs TensorFlow: for a .tflite the check uses your "
                        "model only")
        return []
    try:
        return [digit_prior_head(session.spec)]
    except Exception as exc:  # the check still works without it, a little less well
        warnings.append(f"the digit prior is unavailable ({exc}); the check uses your model only")
        return []
