"""The elastic warp of the handwriting generator moves ink by the pixels it is asked to."""

from __future__ import annotations

import numpy as np

from app.core.images.opencv import cv2
from app.core.ood.reference.handwriting import elastic


def _dots(h: int = 120, w: int = 120, step: int = 12) -> tuple[np.ndarray, list[tuple[int, int]]]:
    img = np.zeros((h, w), np.float32)
    centres = [(y, x) for y in range(step, h - step, step) for x in range(step, w - step, step)]
    for y, x in centres:
        cv2.circle(img, (x, y), 2, 1.0, -1)
    return img, centres


def _moved(warped: np.ndarray, centres: list[tuple[int, int]], r: int = 6) -> np.ndarray:
    """How far each dot's centre of ink moved (px)."""
    shifts = []
    for y, x in centres:
        win = warped[y - r:y + r + 1, x - r:x + r + 1]
        if win.sum() < 1e-3:
            continue
        yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
        shifts.append(np.hypot((yy * win).sum() / win.sum(), (xx * win).sum() / win.sum()))
    return np.array(shifts)


def test_alpha_is_the_displacement_in_pixels() -> None:
    img, centres = _dots()
    moved = {a: float(np.median(_moved(elastic(img, np.random.default_rng(3), alpha=a, sigma=20),
                                       centres))) for a in (0.5, 2.0, 4.0)}
    # Each axis moves with standard deviation alpha: the median distance is about 1.18 alpha.
    for a, m in moved.items():
        assert 0.7 * a < m < 1.7 * a, (a, m)
    assert moved[0.5] < moved[2.0] < moved[4.0]


def test_the_warp_is_smooth_and_keeps_the_ink() -> None:
    img, _ = _dots()
    warped = elastic(img, np.random.default_rng(4), alpha=3.0, sigma=20)
    assert abs(warped.sum() - img.sum()) / img.sum() < 0.15
    np.testing.assert_array_equal(elastic(img, np.random.default_rng(4), alpha=3.0, sigma=20),
                                  warped)
