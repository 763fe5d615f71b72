"""Decoding image files and buffers to RGB arrays, and finding the image files to read."""

from app.core.lazy_exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".decoding": ["ImageHeader", "decode_image", "decode_image_bytes", "has_alpha", "probe_image",
                  "read_image_bytes"],
    ".files": ["IMAGE_EXTENSIONS", "PathProblem", "class_folders", "collect_image_files", "find_image_files", "is_image_path", "is_labelled_folder"],
    ".opencv": ["MAX_IMAGE_PIXELS"],
})
