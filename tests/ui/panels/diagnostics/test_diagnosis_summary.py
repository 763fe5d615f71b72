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
