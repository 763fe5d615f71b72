"""probscope's Qt-free core: the public API a training script or a notebook uses.

::

    from app.core import open_model, record_from_flow

    record_from_flow(train_iterator, model_path="digits.keras")  # after model.save(...)
    session = open_model("digits.keras")
    for result in session.classify(["a.png", "b.jpg"]):
        print(result.label, result.confidence, result.ood.in_distribution)

How an image becomes an answer, and the room each step lives in: a file is decoded
(``images``), turned into the tensor training used (``preprocessing``), run through the
model for logits and features (``models``), divided by the card's temperature into
probabilities (``calibration``) and scored by the "none of the classes" check (``ood``);
``cards`` holds what was recorded, ``session`` ties one model's pieces together, ``data``
runs whole data sets, ``diagnostics`` finds collapsed models and dead layers.

Importing this package is cheap: every name is imported on first use, and nothing imports
TensorFlow until a model is loaded.
"""

from app.core.lazy_exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".opening": ["open_model"],
    ".session": ["Classification", "ModelSession"],
    ".cards": ["ModelCard", "card_path_for", "read_card", "record_by_hand",
               "record_from_dataset_args", "record_from_flow", "record_keras_application",
               "write_card"],
    ".preprocessing": ["PreprocessingSpec", "prepare_batch", "prepare_input"],
    ".images": ["collect_image_files", "decode_image"],
    ".models": ["inspect_model", "load_model"],
    ".calibration": ["TemperatureScaler", "calibration_report", "fit_temperature",
                     "run_calibration", "save_calibration"],
    ".ood": ["OODDetector", "run_ood", "save_ood"],
    ".diagnostics": ["diagnose_model"],
    ".errors": ["CardError", "DataError", "ImageError", "ModelError", "ProbscopeError",
                "UnsafeModelError"],
    ".resources": ["bundled_model_path"],
})
