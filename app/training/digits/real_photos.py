"""Real photos with no digit in them, for ``evaluate.py --photos``: how many crops pass as digits.

Evaluation only: nothing here is ever trained on. Every readable image of a folder gives the
whole photo, its largest centred square and ``per_photo`` random square crops (15-70 % of its
short side), the crops a user might drop: a face, a cup, a patch of gravel. The sample images
of scikit-image (``skimage/data``: people, a cat, coins, a clock, a cup, textures, a page of
text) are one such folder; ``pip download scikit-image --no-deps`` and unzipping the wheel gives
them without installing anything.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.core.errors import ImageError
from app.core.images import decode_image, is_image_path


def photo_crops(folder: Path, per_photo: int = 48, seed: int = 0) -> list[np.ndarray]:
    """RGB uint8 crops of every photo in ``folder`` (not its sub-folders), in name order.

    Raises
    ------
    ValueError
        The folder holds no image that can be read.
    """
    rng = np.random.default_rng(seed)
    crops: list[np.ndarray] = []
    for path in sorted(p for p in Path(folder).iterdir() if is_image_path(p)):
        try:  # decoded as a dropped file is: the same formats, the same refusals
            img = decode_image(path)
        except ImageError:
            continue
        h, w = img.shape[:2]
        if min(h, w) < 8:
            continue
        side = min(h, w)
        crops += [img, img[(h - side) // 2:(h + side) // 2, (w - side) // 2:(w + side) // 2]]
        for _ in range(per_photo):
            s = max(8, int(rng.uniform(0.15, 0.7) * side))
            y, x = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
            crops.append(img[y:y + s, x:x + s])
    if not crops:
        raise ValueError(f"{folder}: no image that can be read")
    return crops
