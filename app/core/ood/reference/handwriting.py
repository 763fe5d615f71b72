"""Handwriting-like ink and MNIST-like scans, shared by the no-class reference and the digit model.

A pen trace (or a font glyph made to look written) is distorted the way hands differ (elastic
warp, slant, stroke weight), framed the way MNIST frames its digits (the ink's box scaled to fit
20x20, anti-aliased, then placed in 28x28 so that its centre of mass is at the centre) and
"scanned": white ink on black, or dark ink on paper, with the blur, grain, uneven exposure and
speckle of a flatbed scanner. The bundled model's handwritten digits and the reference's
handwritten-looking letters both come from these functions, so there is one generator.
"""

from __future__ import annotations

import numpy as np

from app.core.images.opencv import cv2

Rng = np.random.Generator
MNIST_SIZE, MNIST_BOX = 28, 20


def elastic(mask: np.ndarray, rng: Rng, alpha: float, sigma: float) -> np.ndarray:
    """Simard-style elastic distortion: a random displacement field smoothed over ``sigma`` px.

    ``alpha`` is the displacement's standard deviation in pixels. Smoothing white noise shrinks
    it by about 1 / (2 sqrt(pi) sigma), so the field is rescaled: unscaled, ``alpha`` 3 moved
    ink by a tenth of a pixel and the warp did nothing.
    """
    h, w = mask.shape

    def field() -> np.ndarray:
        f = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma)
        return f * (alpha / max(float(f.std()), 1e-6))

    dx, dy = field(), field()
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return cv2.remap(mask, xx + dx, yy + dy, cv2.INTER_LINEAR, borderValue=0)


def written_look(rng: Rng, mask: np.ndarray) -> np.ndarray:
    """A printed glyph made to look written: slant, elastic wobble, heavier or lighter pen."""
    h, w = mask.shape
    pad = h // 4
    m = np.pad(mask.astype(np.float32), pad)
    shear = rng.normal(0, 0.2)
    a = np.float32([[1, -shear, shear * (h / 2 + pad)], [0, 1, 0]])
    m = cv2.warpAffine(m, a, (m.shape[1], m.shape[0]), flags=cv2.INTER_LINEAR, borderValue=0)
    m = elastic(m, rng, alpha=rng.uniform(1.0, 3.5), sigma=rng.uniform(0.16, 0.22) * h)
    k = max(1, int(round(h * rng.uniform(0.0, 0.06))))
    if rng.random() < 0.6:  # felt pens and ballpoints are heavier than most text fonts
        m = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return np.clip(m, 0, 1)


def mnist_frame(mask: np.ndarray) -> np.ndarray:
    """Frame an ink mask as MNIST does: 28x28 float in 0..1, the ink in 20x20, centred by mass.

    Returns an empty 28x28 canvas when the mask has no ink.
    """
    ys, xs = np.nonzero(mask > 0.05)
    out = np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    if ys.size == 0:
        return out
    ink = mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1].astype(np.float32)
    scale = MNIST_BOX / max(ink.shape)
    nh, nw = max(1, round(ink.shape[0] * scale)), max(1, round(ink.shape[1] * scale))
    small = cv2.resize(ink, (nw, nh), interpolation=cv2.INTER_AREA)
    total = float(small.sum())
    if total <= 0:
        return out
    cy = float((small.sum(axis=1) * np.arange(nh)).sum() / total)
    cx = float((small.sum(axis=0) * np.arange(nw)).sum() / total)
    # Centre of mass at pixel centre 13.5 (MNIST's centring), sub-pixel, clipped at the border.
    shift = np.float32([[1, 0, (MNIST_SIZE - 1) / 2 - cx], [0, 1, (MNIST_SIZE - 1) / 2 - cy]])
    return cv2.warpAffine(small, shift, (MNIST_SIZE, MNIST_SIZE), flags=cv2.INTER_LINEAR,
                          borderValue=0)


def scan(rng: Rng, ink: np.ndarray, dark_on_paper: bool, strength: float = 1.0) -> np.ndarray:
    """An ink image (0..1) as a scanned grey image: RGB uint8, same size.

    White-on-black keeps MNIST's black surround; dark-on-paper puts the ink on a light sheet
    whose tone drifts. Both get, at random, scanner blur, grain, uneven exposure and speckle.
    """
    h, w = ink.shape
    x = ink.astype(np.float32)
    if rng.random() < 0.35 * strength:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.3, 0.8))
    if rng.random() < 0.5 * strength:  # MNIST's strokes saturate: a core of full ink
        x = x / max(float(x.max()), 1e-6) * rng.uniform(1.0, 1.5)
    x = np.clip(x * rng.uniform(0.8, 1.15), 0, 1)
    if dark_on_paper:
        paper = rng.uniform(0.78, 1.0) + rng.normal(0, 0.03) * np.linspace(-1, 1, w)[None, :]
        ink_tone = rng.uniform(0.0, 0.3)
        img = paper * (1 - x) + ink_tone * x
    else:
        ink_tone = rng.uniform(0.75, 1.0)
        img = x * ink_tone + rng.uniform(0.0, 0.06)
    if rng.random() < 0.5 * strength:
        img = img + rng.normal(0, rng.uniform(0.005, 0.05), (h, w))
    if rng.random() < 0.2 * strength:  # dust and toner specks
        specks = rng.random((h, w)) < rng.uniform(0.002, 0.01)
        img = np.where(specks, 1.0 - img if rng.random() < 0.5 else img * 0.5, img)
    grey = np.clip(np.round(img * 255), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)
