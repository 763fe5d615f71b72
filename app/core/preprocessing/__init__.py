"""The preprocessing a model was trained with: the spec, and applying it to images."""

from app.core.lazy_exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".spec": ["COLOR_MODES", "INTERPOLATIONS", "RESIZE_BACKENDS", "PreprocessingSpec"],
    ".pipeline": ["ImageSource", "PreparedBatch", "input_to_display", "normalize", "prepare_batch", "prepare_input", "resize_source"],
    ".backends": ["BACKENDS", "array_to_input_range"],
    ".keras_applications": ["keras_application_preset", "preset_names"],
})
