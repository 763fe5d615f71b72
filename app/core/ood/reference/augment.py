"""Light, label-preserving jitter of the user's labelled images for fitting the probe.

The probe is fitted on a few hundred labelled images; without jitter it learns their exact
styles and rejects new real images of slightly different style (other writers, fonts, camera).
Jittered copies are added to the in-distribution side of the fit only: the threshold is still
set on untouched labelled images the probe was not fitted on.
"""

from __future__ import annotations

import numpy as np

from app.core.images.opencv import cv2

Rng = np.random.Generator


def jitter(images: np.ndarray, copies: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``copies`` jittered versions of each image and the index of the source image.

    Parameters
    ----------
    images : ndarray of shape (n, h, w, 3), uint8
    copies : int
    seed : int, default=0

    Returns
    -------
    jittered : ndarray of shape (n * copies, h, w, 3), uint8
    source : ndarray of shape (n * copies,), int
    """
    rng = np.random.default_rng(seed)
    n, h, w = images.shape[:3]
    out = np.empty((n * copies, h, w, 3), np.uint8)
    source = np.repeat(np.arange(n), copies)
    for i, s in enumerate(source):
        img = images[s].astype(np.float32)
        m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-10, 10), rng.uniform(0.88, 1.12))
        m[:, 2] += rng.uniform(-0.07, 0.07, 2) * (w, h)
        m[0, 1] += rng.uniform(-0.15, 0.15)  # shear, like a slanted hand or a tilted camera
        img = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
        if rng.random() < 0.4:
            img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.0))
        if rng.random() < 0.3 and min(h, w) >= 8:  # thicker or thinner strokes
            op = cv2.dilate if rng.random() < 0.5 else cv2.erode
            img = op(img, np.ones((2, 2), np.uint8))
        img = (img - 128) * rng.uniform(0.8, 1.2) + 128 + rng.uniform(-20, 20)
        out[i] = np.clip(img.reshape(h, w, 3), 0, 255).astype(np.uint8)
    return out, source
