"""The one place OpenCV is imported, after its decode limits are set.

OpenCV reads ``OPENCV_IO_MAX_IMAGE_PIXELS`` once, at import, so the limit must be
in the environment before the first ``import cv2`` anywhere in the process.
"""

import os

MAX_IMAGE_PIXELS = 100_000_000  # 100 megapixels: a 10000x10000 scan still opens; bombs do not.

os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_IMAGE_PIXELS))
# Decoder warnings would reach the terminal as noise; probscope reports its own one-line errors.
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")

import cv2  # noqa: E402

cv2.setNumThreads(max(1, os.cpu_count() or 1))

__all__ = ["MAX_IMAGE_PIXELS", "cv2"]
