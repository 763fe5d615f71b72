"""A diagnosis in plain words: the verdict line and the findings list, as rich text.

Pure functions over :class:`~app.core.diagnostics.DiagnosisResult` (no widgets), so the
wording can be tested on its own and reused by a report.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

from app.core.diagnostics import MIN_IMAGES
from app.ui.panels.panel_messages import sentence

if TYPE_CHECKING:
    from app.core.diagnostics import DiagnosisResult

# Verdict kinds, worst first; the panel colours the line by kind.
COLLAPSED, NEAR_COLLAPSE, NOT_JUDGED, WARNINGS, HEALTHY = (
    "collapsed", "near-collapse", "not judged", "warnings", "healthy",
)
# The collapse check's own warnings: the verdict line already says them, with the numbers.
_VERDICT_WARNINGS = ("the model is collapsed", "near-collapse:", "at chance:", "flat answers:")


@dataclass(frozen=True)
class Verdict:
    kind: str
    text: str  # plain text, one sentence or two, with the evidence numbers


def verdict_of(result: DiagnosisResult) -> Verdict:
    """Collapsed / near collapse / not judged / healthy, with the numbers behind it."""
    spread = result.output_spread
    n = result.n
    mean_tv = float(spread.get("mean_tv", 0.0))
    tolerance = float(spread.get("tolerance", 0.0))
    top = spread.get("top_class")
    share = float(spread.get("top_share", 0.0))
    k = int(spread.get("predicted_classes", 0))
    if result.collapsed:
        return Verdict(COLLAPSED, (
            f"Collapsed: the model gives the same answer for all {n} inputs — every one is "
            f"predicted “{top}” (output spread {mean_tv:.2g}, below the tolerance {tolerance:g}). "
            "Its answer does not depend on the image."
        ))
    if result.near_collapse:
        return Verdict(NEAR_COLLAPSE, (
            f"Near collapse: {share:.0%} of {n} inputs are predicted “{top}”, although the labels "
            f"say that class is much rarer (output spread {mean_tv:.2g})."
        ))
    if result.at_chance:
        accuracy = spread.get("accuracy")
        what = (f"right on only {float(accuracy):.0%} of them, no better than always giving the "
                "commonest label" if accuracy is not None else
                f"they are near uniform (mean top probability "
                f"{float(spread.get('mean_top_probability', 0.0)):.2f})")
        return Verdict(NEAR_COLLAPSE, (
            f"At chance: the answers vary across the {n} inputs (spread {mean_tv:.2g}), but "
            f"{what}. They do not follow the images' classes."
        ))
    if not result.judged:
        reason = (f"only {n} input(s); at least {MIN_IMAGES} are needed" if n < MIN_IMAGES
                  else "the data holds one class only, so a confident model and a collapsed "
                       "one look alike — use data of several classes")
        return Verdict(NOT_JUDGED, f"Collapse not judged: {reason}.")
    evidence = (f"outputs vary across the {n} inputs (spread {mean_tv:.2g} ≥ {tolerance:g}; "
                f"{k} class{'es' if k != 1 else ''} predicted, most often “{top}” at {share:.0%})")
    if result.warnings:
        count = len(result.warnings)
        return Verdict(WARNINGS, f"Not collapsed: {evidence} — but see the "
                                 f"{count} warning{'s' if count != 1 else ''} below.")
    partly = [r for r in result.layers if r.get("verdict") == "partly dead"]
    layers = "no dead layers" if not partly else (
        "no layer is dead, though " + ", ".join(
            f"'{r['name']}' has {r['dead_fraction']:.0%} dead units" for r in partly[:3])
    )
    basis = result.input_mismatch.get("basis")
    inputs = ("inputs as in training" if basis == "recorded statistics" else
              "inputs within the preprocessing's range (the card records no input statistics "
              "to compare them with)" if basis else "inputs not compared")
    return Verdict(HEALTHY, f"Healthy: {evidence}; {layers}; {inputs}.")


def _items(texts: list[str], style: str = "") -> str:
    attr = f" style='{style}'" if style else ""
    return "<ul style='margin-top:0; margin-bottom:4px; -qt-list-indent:1'>" + "".join(
        f"<li{attr}>{escape(sentence(t))}</li>" for t in texts
    ) + "</ul>"


def findings_html(result: DiagnosisResult, muted: str = "#777777") -> str:
    """Warnings (beyond the verdict), what to try, and notes (muted), as rich-text lists."""
    parts = []
    warnings = [w for w in result.warnings if not w.lower().startswith(_VERDICT_WARNINGS)]
    if warnings:
        parts.append("<b>Warnings</b>" + _items(warnings))
    if result.advice:
        parts.append("<b>What to try</b>" + _items(result.advice))
    notes = list(result.notes)
    skipped = [r for r in result.layers if not r.get("applicable", True)]
    if skipped:
        notes.append("not measured (never exactly zero): " + ", ".join(
            f"{r['name']} ({r['activation']})" for r in skipped[:8]
        ) + ("…" if len(skipped) > 8 else ""))
    if notes:
        parts.append("<b>Notes</b>" + _items(notes, f"color:{muted}"))
    if not parts:
        return "<i>Nothing to report: no warnings.</i>"
    return "".join(parts)
