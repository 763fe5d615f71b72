"""A task where the answer has a known place: a glyph pasted somewhere on a textured canvas.

Four glyph shapes (ring, cross, triangle, bar), 12–16 px, drawn with OpenCV at a random
position on a 48×48 canvas of smooth random texture. A small CNN learns them in seconds;
since the glyph's box is known, a heat map can be checked: its peak must fall inside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from app.core.images.opencv import cv2

CLASSES = ["ring", "cross", "triangle", "bar", "blank"]
BLANK = 4  # texture only: without it one shape becomes "none of the others", seen in the background
CANVAS = 48
_MODEL: dict[str, Path] = {}


def texture(rng: np.random.Generator, size: int = CANVAS) -> np.ndarray:
    """Smooth coloured noise in mid-tones, with a little grain: RGB uint8 (size, size, 3)."""
    coarse = rng.uniform(70, 180, size=(6, 6, 3)).astype(np.float32)
    smooth = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0, 8, size=(size, size, 3))
    return np.clip(smooth + grain, 0, 255).astype(np.uint8)


def draw_glyph(canvas: np.ndarray, kind: int, top: int, left: int, side: int,
               colour: tuple[int, int, int]) -> None:
    """Draw glyph ``kind`` into the box (top, left, side, side) of ``canvas``, in place."""
    t, lft, s = top, left, side
    b, r = t + s - 1, lft + s - 1
    w = max(2, s // 6)
    if kind == 0:
        cv2.circle(canvas, (lft + s // 2, t + s // 2), s // 2 - w // 2, colour, w)
    elif kind == 1:
        cv2.line(canvas, (lft, t), (r, b), colour, w)
        cv2.line(canvas, (lft, b), (r, t), colour, w)
    elif kind == 2:
        pts = np.array([[lft + s // 2, t], [lft, b], [r, b]], np.int32)
        cv2.fillPoly(canvas, [pts], colour)
    else:
        cv2.rectangle(canvas, (lft, t + s // 4), (r, b - s // 4), colour, -1)


def sample(rng: np.random.Generator, kind: int | None = None, at: tuple[int, int] | None = None,
           side: int | None = None, background: np.ndarray | None = None
           ) -> tuple[np.ndarray, int, tuple[int, int, int, int]]:
    """One canvas: (RGB uint8 image, class index, glyph box (top, left, height, width))."""
    kind = int(rng.integers(len(CLASSES))) if kind is None else kind
    if kind == BLANK:
        img = texture(rng) if background is None else background.copy()
        return img, kind, (0, 0, 0, 0)
    side = int(rng.integers(12, 17)) if side is None else side
    top, left = at if at is not None else tuple(int(v) for v in rng.integers(0, CANVAS - side + 1, 2))
    img = texture(rng) if background is None else background.copy()
    dark = rng.random() < 0.5
    colour = tuple(int(v) for v in (rng.integers(0, 40, 3) if dark else rng.integers(215, 256, 3)))
    draw_glyph(img, kind, top, left, side, colour)
    return img, kind, (top, left, side, side)


def dataset(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` canvases: images (n, 48, 48, 3) uint8, labels (n,), boxes (n, 4)."""
    rng = np.random.default_rng(seed)
    items = [sample(rng) for _ in range(n)]
    return (np.stack([i[0] for i in items]), np.array([i[1] for i in items]),
            np.array([i[2] for i in items]))


def glyph_model(root: Path) -> Path:
    """Train (once per test session) a small CNN on glyph canvases; save it with its card.

    Conv–pool–conv–pool–conv, global average pooling, softmax: about 12 s on 2 cores.
    """
    if "path" in _MODEL:
        return _MODEL["path"]
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(3)
    x, y, _ = dataset(seed=11, n=2400)
    layers = keras.layers
    model = keras.Sequential([
        keras.Input((CANVAS, CANVAS, 3)),
        layers.Conv2D(12, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(24, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(len(CLASSES), activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x.astype("float32") / 255.0, y, epochs=10, batch_size=64, verbose=0)
    root.mkdir(parents=True, exist_ok=True)
    path = root / "glyphs.keras"
    model.save(path)
    card = {
        "format": "probscope.model-card", "version": 1, "classes": CLASSES,
        "preprocessing": {"color_mode": "rgb", "target_size": [CANVAS, CANVAS],
                          "interpolation": "area", "resize_backend": "opencv", "scale": 1 / 255,
                          "offset": 0.0, "mean": None, "std": None,
                          "per_image_standardization": False, "keras_applications_mode": None,
                          "source": "test: glyph canvases, OpenCV area, x/255"},
        "calibration": {"temperature": 1.0},
        "ood": {"score": "msp", "threshold": 0.0},
    }
    (root / "glyphs.keras.probscope.json").write_text(json.dumps(card))
    _MODEL["path"] = path
    return path
