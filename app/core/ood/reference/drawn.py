"""Drawn reference kinds: random shapes, soft blobs and cartoon faces (moved from synth.py)."""

from __future__ import annotations

import numpy as np

from app.core.images.opencv import cv2
from app.core.ood.reference import surfaces as sf

Rng = np.random.Generator


def shapes(rng: Rng, h: int, w: int) -> np.ndarray:
    """Filled circles, rectangles, polygons and edge-to-edge lines on a surface."""
    img = sf.digit_background(rng, h, w)
    for _ in range(int(rng.integers(2, 7))):
        colour = sf.random_colour(rng).tolist()
        kind = int(rng.integers(4))
        p = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        q = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        if kind == 0:
            cv2.circle(img, p, int(rng.integers(3, max(4, min(h, w) // 2))), colour, -1,
                       cv2.LINE_AA)
        elif kind == 1:
            cv2.rectangle(img, p, q, colour, -1)
        elif kind == 2:
            pts = rng.integers(0, [w, h], (int(rng.integers(3, 7)), 2)).astype(np.int32)
            cv2.fillPoly(img, [pts], colour, cv2.LINE_AA)
        else:  # edge to edge and flat-ish, so a line never stands in for a "1" or "7"
            y0, y1 = rng.integers(0, h, 2)
            cv2.line(img, (0, int(y0)), (w - 1, int(y1)), colour, int(rng.integers(2, 8)),
                     cv2.LINE_AA)
    return img


def blobs(rng: Rng, h: int, w: int) -> np.ndarray:
    """A few heavily blurred discs: soft, out-of-focus colour patches."""
    img = sf.digit_background(rng, h, w)
    for _ in range(int(rng.integers(1, 5))):
        cv2.circle(img, (int(rng.integers(0, w)), int(rng.integers(0, h))),
                   int(rng.integers(3, max(4, h // 2))), sf.random_colour(rng).tolist(), -1)
    return cv2.GaussianBlur(img, (0, 0), rng.uniform(2, 6) * max(h, w) / 64)


def face(rng: Rng, h: int, w: int) -> np.ndarray:
    """A cartoon face: hair, skin-coloured oval, two eyes and a mouth."""
    img = sf.digit_background(rng, h, w)
    skin = np.array([rng.uniform(90, 240), rng.uniform(60, 200), rng.uniform(40, 170)])
    cx, cy = w / 2 + rng.normal(0, w / 10), h / 2 + rng.normal(0, h / 10)
    ax, ay = w * rng.uniform(0.25, 0.45), h * rng.uniform(0.3, 0.5)
    hair = sf.random_colour(rng, (0, 120)).tolist()
    cv2.ellipse(img, (int(cx), int(cy - ay * 0.2)), (int(ax * 1.1), int(ay * 1.05)), 0, 0, 360,
                hair, -1, cv2.LINE_AA)
    cv2.ellipse(img, (int(cx), int(cy)), (int(ax), int(ay)), 0, 0, 360, skin.tolist(), -1,
                cv2.LINE_AA)
    eye = max(1, int(ax * 0.12))
    for sx in (-1, 1):
        cv2.circle(img, (int(cx + sx * ax * 0.4), int(cy - ay * 0.15)), eye, (30, 30, 30), -1,
                   cv2.LINE_AA)
    cv2.ellipse(img, (int(cx), int(cy + ay * 0.45)), (int(ax * 0.35), max(1, int(ay * 0.08))),
                0, 0, 180, (120, 40, 40), max(1, int(ax * 0.06)), cv2.LINE_AA)
    return cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 2.0))
