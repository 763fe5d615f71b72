"""Painting a heat map over an image: normalising, the colour map, blending, the legend.

Pure NumPy/OpenCV and cheap (a few milliseconds for a megapixel), so the window's worker
thread can call it for every opacity or class change and hand the result to Qt as is:
every function returns C-contiguous RGB uint8 arrays.
"""

from __future__ import annotations

import numpy as np

from app.core.images.opencv import cv2

# Perceptually ordered, readable by most colour-blind users, and what Grad-CAM users expect
# (blue cold, red hot) without jet's false bands.
COLORMAPS = {"turbo": cv2.COLORMAP_TURBO, "inferno": cv2.COLORMAP_INFERNO,
             "viridis": cv2.COLORMAP_VIRIDIS, "jet": cv2.COLORMAP_JET}
DEFAULT_COLORMAP = "turbo"
DEFAULT_OPACITY = 0.5


def normalize_map(heat: np.ndarray) -> np.ndarray:
    """Scale a map to 0–1: negative evidence is 0, the hottest pixel 1 (a flat map is all 0).

    Parameters
    ----------
    heat : ndarray of shape (h, w)
        A raw Grad-CAM or occlusion map.

    Returns
    -------
    ndarray of shape (h, w), float32
    """
    h = np.nan_to_num(np.asarray(heat, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    h = np.maximum(h, 0.0)
    top = float(h.max()) if h.size else 0.0
    return h / top if top > 0 else np.zeros_like(h)


def colormap_lut(name: str = DEFAULT_COLORMAP) -> np.ndarray:
    """The colour map as a (256, 3) RGB uint8 table: entry i is the colour of value i/255.

    The window's legend and a pyqtgraph ``ColorMap`` can be built from it.
    """
    if name not in COLORMAPS:
        raise ValueError(f"unknown colour map {name!r}; choose from {', '.join(COLORMAPS)}")
    ramp = np.arange(256, dtype=np.uint8)[:, None]
    bgr = cv2.applyColorMap(ramp, COLORMAPS[name])[:, 0, :]
    return np.ascontiguousarray(bgr[:, ::-1])


def colorize(normalized: np.ndarray, name: str = DEFAULT_COLORMAP) -> np.ndarray:
    """A 0–1 map as RGB uint8 (h, w, 3) through the colour map."""
    levels = np.clip(np.rint(np.asarray(normalized, np.float32) * 255.0), 0, 255).astype(np.uint8)
    return colormap_lut(name)[levels]


def blend(image: np.ndarray, normalized: np.ndarray, opacity: float = DEFAULT_OPACITY,
          name: str = DEFAULT_COLORMAP) -> np.ndarray:
    """The image with the coloured map over it.

    Parameters
    ----------
    image : ndarray of shape (h, w, 3), uint8
        RGB pixels (the original image, or the model input shown for display).
    normalized : ndarray of shape (h, w)
        The map in 0–1 at the image's size (see :func:`normalize_map`).
    opacity : float, default=0.5
        0 shows the image alone, 1 the map alone. Cold pixels are drawn with less opacity
        (weighted by the map's value, at least a third) so what the model ignored stays
        visible.

    Returns
    -------
    ndarray of shape (h, w, 3), uint8
    """
    img = np.asarray(image)
    norm = np.asarray(normalized, np.float32)
    if img.shape[:2] != norm.shape:
        raise ValueError(f"map {norm.shape} and image {img.shape[:2]} differ in size")
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be between 0 and 1, not {opacity}")
    alpha = (opacity * (1.0 / 3.0 + (2.0 / 3.0) * norm))[..., None]
    colour = colorize(norm, name).astype(np.float32)
    out = img[..., :3].astype(np.float32) * (1.0 - alpha) + colour * alpha
    return np.ascontiguousarray(np.clip(np.rint(out), 0, 255).astype(np.uint8))


def mark_peak(image: np.ndarray, peak: tuple[int, int]) -> np.ndarray:
    """A copy of ``image`` with a white-on-black cross whose arms meet at ``peak`` (row, col).

    Near an edge the arms slide inwards, still through the peak, so a peak in a corner reads
    as a full-length "L" rather than a few pixels that look like noise.
    """
    out = np.ascontiguousarray(np.array(image, dtype=np.uint8, copy=True))
    height, width = out.shape[:2]
    size = max(3, min(height, width) // 12)
    row = min(max(int(peak[0]), 0), height - 1)
    col = min(max(int(peak[1]), 0), width - 1)
    left = min(max(col - size, 0), max(0, width - 1 - 2 * size))
    top = min(max(row - size, 0), max(0, height - 1 - 2 * size))
    for colour, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.line(out, (left, row), (min(width - 1, left + 2 * size), row), colour, thickness,
                 cv2.LINE_AA)
        cv2.line(out, (col, top), (col, min(height - 1, top + 2 * size)), colour, thickness,
                 cv2.LINE_AA)
    return out


def legend(height: int, width: int = 16, name: str = DEFAULT_COLORMAP) -> np.ndarray:
    """A vertical colour bar, hottest at the top: RGB uint8 (height, width, 3)."""
    values = np.linspace(1.0, 0.0, max(2, int(height)), dtype=np.float32)[:, None]
    return np.ascontiguousarray(np.repeat(colorize(values, name), max(1, int(width)), axis=1))
