"""Model diagnostics: collapse, dead ReLUs, preprocessing mismatch, what-if, the diagnosis run."""

from app.core.lazy_exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".activations": ["activation_summary", "find_activation_layers", "layer_activations", "layer_verdict"],
    ".collapse": ["MIN_IMAGES", "check_collapse", "mean_tv_spread"],
    ".litert_activations": ["session_activation_layers", "session_layer_activations"],
    ".mismatch": ["input_mismatch"],
    ".run": ["DiagnosisResult", "diagnose_model", "load_diagnosis_data"],
    ".whatif": ["WhatIfPrediction", "what_if"],
})
