"""Labelled folders and .npz sets, and the model outputs computed (and cached) for them."""

from app.core.lazy_exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".labelled": ["DataSet", "load_data", "load_image_folder", "load_labelled_folder", "load_npz",
                    "sub_folder_problem"],
    ".outputs": ["DataOutputs", "compute_outputs"],
})
