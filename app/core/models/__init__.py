"""Model files: inspection before loading, safe loading, and the compiled predictor."""

from app.core.lazy_exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".inspection": ["MODEL_SUFFIXES", "ModelInspection", "inspect_model", "looks_like_model"],
    ".loading": ["LoadedModel", "load_model"],
    ".activation_layers": ["RELU_FAMILY", "ActivationLayer", "find_activation_layers"],
    ".predictor": ["ModelOutputs", "Predictor", "concat_outputs"],
    ".layer_statistics": ["StatsLayout", "build_stats_heads"],
})
