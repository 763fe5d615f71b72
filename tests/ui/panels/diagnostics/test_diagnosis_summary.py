"""The Diagnostics tab's one-line verdict names partly dead layers instead of hiding them."""

from __future__ import annotations

from app.core.diagnostics.run import DiagnosisResult
from app.ui.panels.diagnostics.summary import HEALTHY, verdict_of


def _result(layers: list[dict]) -> DiagnosisResult:
    spread = {"mean_tv": 0.4, "tolerance": 0.01, "top_class": "3", "top_share": 0.2,
              "predicted_classes": 10}
    return DiagnosisResult(collapsed=False, layers=layers, warnings=[], n=40, output_spread=spread)


def test_healthy_verdict_names_partly_dead_layers() -> None:
    verdict = verdict_of(_result([
        {"name": "features", "verdict": "partly dead", "dead_fraction": 0.28},
        {"name": "conv1", "verdict": "healthy", "dead_fraction": 0.0},
    ]))
    assert verdict.kind == HEALTHY
    assert "'features' has 28% dead units" in verdict.text and "no dead layers" not in verdict.text


def test_healthy_verdict_without_dead_units() -> None:
    verdict = verdict_of(_result([{"name": "conv1", "verdict": "healthy", "dead_fraction": 0.0}]))
    assert "no dead layers" in verdict.text


def test_healthy_verdict_claims_inputs_as_in_training_only_against_recorded_statistics() -> None:
    def text(basis: str | None) -> str:
        result = _result([])
        result.input_mismatch = {"basis": basis, "findings": []}
        return verdict_of(result).text

    assert "inputs as in training" in text("recorded statistics")
    assert "records no input statistics" in text("card preprocessing range")
    assert "inputs as in training" not in text("card preprocessing range")
    assert "inputs not compared" in text(None)


def test_an_at_chance_result_is_said_in_the_verdict_not_only_below() -> None:
    from app.ui.panels.diagnostics.summary import NEAR_COLLAPSE, findings_html

    labelled = _result([])
    labelled.at_chance = True
    labelled.output_spread["accuracy"] = 0.31
    labelled.warnings = ["at chance: right on 31% of the 40 labelled inputs, no better than ..."]
    verdict = verdict_of(labelled)
    assert verdict.kind == NEAR_COLLAPSE and verdict.text.startswith("At chance:")
    assert "right on only 31% of them" in verdict.text
    assert "at chance: right on" not in findings_html(labelled)  # said once, in the verdict
    flat = _result([])
    flat.at_chance = True
    flat.output_spread["mean_top_probability"] = 0.12
    assert "near uniform (mean top probability 0.12)" in verdict_of(flat).text
