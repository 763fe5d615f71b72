"""Taking a checked model to production: a servable SavedModel and Apache Beam scoring.

``export_saved_model`` writes the card's preprocessing, the model, the temperature, the
"none of the classes" check and the prediction sets as one SavedModel whose
``serving_default`` signature takes encoded images (``image_bytes``); ``run_score_pipeline``
scores files with it through Apache Beam's ``RunInference`` (``probscope[scale]``).
"""

from app.core.lazy_exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".saved_model": ["export_saved_model", "export_metadata", "read_metadata"],
    ".graph": ["build_export_module"],
    ".preprocess_graph": ["export_problem"],
    ".beam_pipeline": ["run_score_pipeline"],
})
