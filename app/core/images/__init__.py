"""Decoding image files and buffers to RGB arrays, and finding the image files to read."""

from app.core.lazy_exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".decoding": ["IMAGE_EXTENSIONS", "ImageHeader", "decode_image", "decode_image_bytes", "is_image_path", "probe_image", "read_image_bytes"],
    ".files": ["collect_image_files"],
    ".opencv": ["MAX_IMAGE_PIXELS"],
})
