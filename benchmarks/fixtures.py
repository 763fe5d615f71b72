"""Inputs the benchmarks measure on: the bundled model and a folder of generated digit images."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.core.images.opencv import cv2


def make_digit_folder(root: Path, n: int, seed: int = 0) -> list[Path]:
    """Write ``n`` PNG digit crops (28–96 px, random colours) into ten class folders."""
    rng = np.random.default_rng(seed)
    files = []
    for i in range(n):
        digit = i % 10
        h = int(rng.integers(28, 97))
        w = int(h * rng.uniform(0.6, 1.0))
        bg = rng.integers(0, 256, 3)
        fg = 255 - bg
        img = np.empty((h, w, 3), np.uint8)
        img[:] = bg
        scale = h / 40
        size, _ = cv2.getTextSize(str(digit), cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
        org = ((w - size[0]) // 2, (h + size[1]) // 2)
        cv2.putText(img, str(digit), org, cv2.FONT_HERSHEY_SIMPLEX, scale, tuple(int(c) for c in fg),
                    max(1, int(scale * 2)), cv2.LINE_AA)
        path = root / str(digit) / f"{i:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), img)
        files.append(path)
    return files
