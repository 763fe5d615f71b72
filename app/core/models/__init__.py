"""Model files: inspection before loading, safe loading, and the runtime that answers."""

from app.core.lazy_exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".inspection": ["MODEL_SUFFIXES", "ModelInspection", "inspect_model", "looks_like_model"],
    ".loading": ["LoadedModel", "load_model"],
    ".statistics.activation_layers": ["RELU_FAMILY", "ActivationLayer", "find_activation_layers"],
    ".predictor": ["ModelOutputs", "Predictor", "TensorflowRuntime", "concat_outputs"],
    ".runtime": ["LITERT", "TENSORFLOW", "Runtime"],
    ".litert_runtime": ["LiteRTRuntime"],
    ".conversion": ["convert", "parity_problem", "start_conversion"],
    ".litert_cache": ["find_conversion", "litert_cache_dir"],
    ".deferred": ["DeferredModel", "TFLiteModel"],
    ".choice": ["ModelRuntime", "open_runtime"],
    ".statistics.layer_statistics": ["ExtraHead", "StatsLayout", "build_stats_heads"],
})
