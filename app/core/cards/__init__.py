"""The model card beside a model: reading, writing, recording it at training time, inferring it."""

from app.core.lazy_exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".card_file": ["CARD_SUFFIX", "DEFAULT_OOD_LABEL", "ModelCard", "card_path_for", "load_card_for", "new_card", "read_card", "write_card"],
    ".inferred": ["card_problems", "double_preprocessing_warnings", "infer_card", "layer_text"],
    ".presets": ["card_from_preset", "class_names_from_dir"],
    ".recording": ["fits_left_stale", "input_statistics", "record_by_hand", "record_from_dataset_args", "record_from_flow", "record_keras_application", "save_card_for_model", "spec_for_keras_application", "spec_from_dataset_args", "spec_from_flow"],
})
