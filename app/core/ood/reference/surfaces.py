"""Procedural surfaces: colours, backgrounds, textures and photo crops (moved from synth_backgrounds).

Shared by the built-in no-class reference (``reference.py``) and the bundled model's digit
generator (``resources/digits/synth.py`` imports it instead of keeping its own copy).

Every function takes a ``numpy.random.Generator`` and returns float32 RGB arrays in 0..255 of the
requested ``(h, w)`` so the composer can mix them freely. Texture kinds are named so that the
generator can hold some of them out of training (see ``HELD_OUT_TEXTURES``) and use them only to
estimate how outlier exposure generalises to surfaces the model never saw.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np

from app.core.images.opencv import cv2

Rng = np.random.Generator

# Rec. 601 luma: the contrast rule below must agree with how a viewer sees "dark on light".
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of RGB values in 0..255."""
    return np.asarray(rgb, dtype=np.float32)[..., :3] @ LUMA


def random_colour(rng: Rng, lum_range: tuple[float, float] = (0.0, 255.0)) -> np.ndarray:
    """A colour whose luminance lies in ``lum_range``; saturation varies from grey to vivid."""
    lo, hi = lum_range
    for _ in range(20):
        grey = rng.uniform(0, 255)
        sat = rng.choice([0.0, rng.uniform(0, 0.4), rng.uniform(0.3, 1.0)], p=[0.3, 0.4, 0.3])
        colour = np.clip(grey + sat * rng.uniform(-255, 255, 3), 0, 255).astype(np.float32)
        if lo <= float(luminance(colour)) <= hi:
            return colour
    target = rng.uniform(lo, hi)
    return np.full(3, target, dtype=np.float32)


def contrasting_colour(rng: Rng, bg_lum: float, min_delta: float) -> np.ndarray:
    """A colour at least ``min_delta`` luma away from ``bg_lum``, on whichever side has room."""
    up_room, down_room = 255 - bg_lum - min_delta, bg_lum - min_delta
    if up_room < 0 and down_room < 0:
        return np.full(3, 255.0 if bg_lum < 128 else 0.0, dtype=np.float32)
    go_up = down_room < 0 or (up_room >= 0 and rng.random() < up_room / (up_room + down_room))
    rng_lum = (bg_lum + min_delta, 255.0) if go_up else (0.0, bg_lum - min_delta)
    return random_colour(rng, rng_lum)


def smooth_field(rng: Rng, h: int, w: int, cells: int) -> np.ndarray:
    """Value noise in 0..1: a coarse random grid upsampled smoothly (clouds, stains, lighting)."""
    ch, cw = max(2, cells), max(2, int(cells * w / max(h, 1)) + 1)
    coarse = rng.random((ch, cw)).astype(np.float32)
    field = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    lo, hi = float(field.min()), float(field.max())
    return (field - lo) / (hi - lo + 1e-6)


def _tint(gray01: np.ndarray, c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    g = gray01[..., None]
    return (c0 * (1 - g) + c1 * g).astype(np.float32)


def plain(rng: Rng, h: int, w: int) -> np.ndarray:
    """One flat colour."""
    return np.full((h, w, 3), random_colour(rng), dtype=np.float32)


def gradient(rng: Rng, h: int, w: int) -> np.ndarray:
    """A linear blend between two colours at a random angle."""
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = xx * np.cos(angle) + yy * np.sin(angle)
    t = (t - t.min()) / (np.ptp(t) + 1e-6)
    return _tint(t, random_colour(rng), random_colour(rng))


def clouds(rng: Rng, h: int, w: int) -> np.ndarray:
    """Smooth value noise tinted between two colours."""
    return _tint(smooth_field(rng, h, w, int(rng.integers(2, 8))), random_colour(rng),
                 random_colour(rng))


def wall(rng: Rng, h: int, w: int) -> np.ndarray:
    """Painted wall or board: one colour, soft lighting, fine grain."""
    base = random_colour(rng)
    light = 0.75 + 0.5 * smooth_field(rng, h, w, 2)
    grain = rng.normal(0, rng.uniform(1, 8), (h, w, 1)).astype(np.float32)
    return np.clip(base * light[..., None] + grain, 0, 255)


def stripes(rng: Rng, h: int, w: int) -> np.ndarray:
    """Sine or square stripes at a random angle and period."""
    period = rng.uniform(4, 20)
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (xx * np.cos(angle) + yy * np.sin(angle)) / period
    wave = 0.5 + 0.5 * np.sin(2 * np.pi * t) if rng.random() < 0.5 else (t % 1.0 < 0.5) * 1.0
    return _tint(wave.astype(np.float32), random_colour(rng), random_colour(rng))


def checkers(rng: Rng, h: int, w: int) -> np.ndarray:
    """A two-colour checkerboard."""
    size = rng.uniform(4, 18)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    board = ((np.floor(xx / size) + np.floor(yy / size)) % 2).astype(np.float32)
    return _tint(board, random_colour(rng), random_colour(rng))


def bricks(rng: Rng, h: int, w: int) -> np.ndarray:
    """Offset rows of bricks in mortar."""
    bh, bw = int(rng.integers(6, 16)), int(rng.integers(14, 34))
    mortar, brick = random_colour(rng), random_colour(rng)
    img = np.empty((h, w, 3), np.float32)
    img[:] = mortar
    for row, y in enumerate(range(0, h, bh)):
        shift = (bw // 2) * (row % 2)
        for x in range(-shift, w, bw):
            shade = brick * rng.uniform(0.8, 1.2)
            img[y + 1:y + bh - 1, max(0, x + 1):max(0, x + bw - 1)] = shade
    return np.clip(img + rng.normal(0, 6, (h, w, 1)), 0, 255).astype(np.float32)


def noise_texture(rng: Rng, h: int, w: int) -> np.ndarray:
    """Pixel noise, sometimes blurred, tinted between two colours."""
    sigma = rng.uniform(0.0, 2.0)
    n = rng.random((h, w)).astype(np.float32)
    if sigma > 0.3:
        n = cv2.GaussianBlur(n, (0, 0), sigma)
        n = (n - n.min()) / (np.ptp(n) + 1e-6)
    return _tint(n, random_colour(rng), random_colour(rng))


def paper(rng: Rng, h: int, w: int) -> np.ndarray:
    """Off-white paper with grain and, sometimes, ruled or squared lines."""
    base = random_colour(rng, (190, 255))
    img = base * (0.9 + 0.1 * smooth_field(rng, h, w, 3))[..., None]
    img = img + rng.normal(0, 3, (h, w, 1))
    if rng.random() < 0.4:
        line = random_colour(rng, (100, 220))
        step = int(rng.integers(8, 20))
        off = int(rng.integers(0, step))
        img[off::step, :] = line
        if rng.random() < 0.5:
            img[:, off::step] = line
    return np.clip(img, 0, 255).astype(np.float32)


def wood(rng: Rng, h: int, w: int) -> np.ndarray:
    """Warped wood-grain rings in browns."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    warp = 6 * smooth_field(rng, h, w, 3)
    rings = 0.5 + 0.5 * np.sin(xx * rng.uniform(0.2, 0.6) + warp * 4 + yy * 0.05)
    dark = random_colour(rng, (30, 90)) * np.array([1.2, 0.9, 0.6], np.float32)
    light = random_colour(rng, (110, 200)) * np.array([1.2, 0.95, 0.7], np.float32)
    return np.clip(_tint(rings.astype(np.float32), dark, light), 0, 255)


def dots(rng: Rng, h: int, w: int) -> np.ndarray:
    """A staggered grid of dots on a flat colour."""
    img = plain(rng, h, w).copy()
    colour, step = random_colour(rng), int(rng.integers(6, 16))
    radius = max(1, int(step * rng.uniform(0.15, 0.4)))
    for y in range(step // 2, h, step):
        for x in range(step // 2 + (y // step % 2) * step // 2, w, step):
            cv2.circle(img, (x, y), radius, colour.tolist(), -1, cv2.LINE_AA)
    return img


@lru_cache(maxsize=1)
def _sample_photos() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_sample_images

    return tuple(np.asarray(im, dtype=np.uint8) for im in load_sample_images().images)


def photo_crop(rng: Rng, h: int, w: int, photo_index: int = 0) -> np.ndarray:
    """A random window of one of scikit-learn's two sample photos (0 = china, 1 = flower)."""
    photo = _sample_photos()[photo_index]
    ph, pw = photo.shape[:2]
    scale = rng.uniform(0.6, 4.0)
    ch, cw = min(ph, max(4, int(h * scale))), min(pw, max(4, int(w * scale)))
    y, x = int(rng.integers(0, ph - ch + 1)), int(rng.integers(0, pw - cw + 1))
    crop = photo[y:y + ch, x:x + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)


def photo_china(rng: Rng, h: int, w: int) -> np.ndarray:
    """A crop of scikit-learn's china photo."""
    return photo_crop(rng, h, w, 0)


def photo_flower(rng: Rng, h: int, w: int) -> np.ndarray:
    """A crop of scikit-learn's flower photo."""
    return photo_crop(rng, h, w, 1)


Surface = Callable[[Rng, int, int], np.ndarray]

# Surfaces a digit may sit on and outliers may be made of during training.
TRAIN_TEXTURES: dict[str, Surface] = {
    "plain": plain, "gradient": gradient, "clouds": clouds, "wall": wall, "stripes": stripes,
    "checkers": checkers, "bricks": bricks, "noise": noise_texture, "paper": paper,
    "photo_china": photo_china,
}
# Never shown to the model; used only to measure OOD generalisation honestly.
HELD_OUT_TEXTURES: dict[str, Surface] = {"wood": wood, "dots": dots, "photo_flower": photo_flower}


def digit_background(rng: Rng, h: int, w: int) -> np.ndarray:
    """A training surface, flattened so that a digit drawn on it stays legible."""
    kinds = ["plain", "gradient", "clouds", "wall", "paper", "stripes", "checkers", "bricks",
             "noise", "photo_china"]
    probs = np.array([14, 12, 10, 16, 14, 3, 2, 3, 4, 10], dtype=float)
    kind = kinds[int(rng.choice(len(kinds), p=probs / probs.sum()))]
    bg = TRAIN_TEXTURES[kind](rng, h, w)
    # Busy surfaces are damped: real number plates are legible, and an illegible training digit
    # only teaches the model to guess.
    busy = kind in {"stripes", "checkers", "bricks", "noise", "photo_china", "clouds"}
    keep = rng.uniform(0.1, 0.45) if busy else rng.uniform(0.5, 1.0)
    mean = bg.reshape(-1, 3).mean(axis=0)
    return np.ascontiguousarray(mean + (bg - mean) * keep, dtype=np.float32)
