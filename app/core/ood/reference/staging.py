"""Staging of glyph rows into camera-like crops (moved from ``resources/digits/synth.py``).

A row of glyph masks is warped (rotation, shear, perspective), painted onto a surface with a
contrasting ink, shadow or outline, and degraded at a natural crop size (blur, noise, JPEG).
The bundled model's generator stages its digits with it and the no-class reference stages its
non-class characters with it, so both look like the same kind of photo.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.core.images.opencv import cv2
from app.core.ood.reference import glyph_fonts as fonts_mod
from app.core.ood.reference import surfaces as bgs

Rng = np.random.Generator


@dataclass(frozen=True)
class Look:
    """How a glyph row is staged: how busy, how distorted, how damaged."""
    neighbours: float = 0.15
    max_rot: float = 8.0
    max_shear: float = 0.2
    perspective: float = 0.1
    shading: float = 0.15
    degrade: float = 0.5
    mnist: float = 0.0
    paper: float = 0.0
    fill: tuple[float, float] = (0.45, 0.92)
    aspect: tuple[float, float] = (0.5, 1.6)
    heights: tuple[float, float] = (20, 120)  # natural crop height in px, log-uniform


LOOKS = {
    "printed": Look(),
    "svhn": Look(neighbours=0.75, max_rot=10, max_shear=0.25, perspective=0.3, shading=0.45,
                 degrade=1.0, fill=(0.5, 0.95), aspect=(0.45, 1.8)),
    "handwritten": Look(neighbours=0.1, max_rot=10, max_shear=0.1, degrade=0.4, mnist=0.2,
                        paper=0.4),
    "sklearn": Look(neighbours=0.0, max_rot=8, max_shear=0.1, degrade=0.4, mnist=0.25, paper=0.35),
}


def _log_uniform(rng: Rng, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _surface(rng: Rng, look: Look, h: int, w: int) -> np.ndarray:
    roll = rng.random()
    if roll < look.mnist:
        return np.zeros((h, w, 3), np.float32)
    if roll < look.mnist + look.paper:
        return bgs.paper(rng, h, w)
    return bgs.digit_background(rng, h, w)


def _warp_row(rng: Rng, mask: np.ndarray, box: tuple[int, int, int, int], look: Look,
              work_h: int) -> np.ndarray:
    """Rotate/shear/stretch the row and frame its centre glyph in a ``work_h``-tall canvas."""
    x0, y0, x1, y1 = box
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    theta = np.deg2rad(rng.uniform(-look.max_rot, look.max_rot))
    shear = rng.uniform(-look.max_shear, look.max_shear)
    stretch = _log_uniform(rng, 0.75, 1.35)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    a = rot @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag([stretch, 1.0])
    corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]], float) - centre
    tc = corners @ a.T
    bw, bh = np.ptp(tc[:, 0]) + 1, np.ptp(tc[:, 1]) + 1
    scale = rng.uniform(*look.fill) * work_h / bh
    width = max(int(round(work_h * rng.uniform(*look.aspect))), int(bw * scale * 1.08) + 2)
    room = np.array([width - bw * scale, work_h - bh * scale]) / 2
    # With neighbours in view the label must stay the middle glyph, as in SVHN's crops.
    wander = 0.15 if mask.shape[1] > x1 - x0 + 8 else 1.0
    pos = np.array([width / 2, work_h / 2]) + rng.uniform(-wander, wander, 2) * np.maximum(
        room - 1, 0)
    m = np.hstack([scale * a, (pos - scale * a @ centre)[:, None]])
    src = mask if scale > 0.7 else cv2.GaussianBlur(mask, (0, 0), 0.4 / scale)
    out = cv2.warpAffine(src, m, (width, work_h), flags=cv2.INTER_LINEAR, borderValue=0)
    if rng.random() < look.perspective:
        h, w = out.shape
        quad = np.float32([[0, 0], [w, 0], [0, h], [w, h]])
        moved = (quad + rng.uniform(-0.08, 0.08, (4, 2)) * [w, h]).astype(np.float32)
        out = cv2.warpPerspective(out, cv2.getPerspectiveTransform(quad, moved), (w, h))
    return out


def _paint(rng: Rng, mask: np.ndarray, look: Look) -> np.ndarray:
    """Ink the mask onto a surface with a legible but varied contrast, shadow or outline."""
    h, w = mask.shape
    bg = _surface(rng, look, h, w)
    bg_lum = float(bgs.luminance(bg.reshape(-1, 3).mean(axis=0)))
    if bg.max() == 0:  # MNIST-like: white ink on black
        fg = np.full(3, rng.uniform(200, 255), np.float32)
    else:
        fg = bgs.contrasting_colour(rng, bg_lum, rng.uniform(35, 170))
    img = bg.copy()
    m = mask[..., None]
    if rng.random() < look.shading:  # embossed / cast shadow, common on house plates
        dx, dy = rng.integers(-3, 4, 2)
        shadow = np.roll(np.roll(mask, int(dy), axis=0), int(dx), axis=1)[..., None]
        sc = bgs.contrasting_colour(rng, float(bgs.luminance(fg)), 40)
        img = img * (1 - shadow) + sc * shadow
    elif rng.random() < look.shading * 0.5:
        halo = cv2.dilate(mask, np.ones((3, 3), np.uint8), iterations=int(rng.integers(1, 3)))
        oc = bgs.contrasting_colour(rng, float(bgs.luminance(fg)), 60)
        img = img * (1 - halo[..., None]) + oc * halo[..., None]
    if rng.random() < 0.25:  # ink that varies in tone across the glyph
        fg = fg * (0.8 + 0.4 * bgs.smooth_field(rng, h, w, 3)[..., None])
    img = img * (1 - m) + fg * m
    if rng.random() < 0.1 * look.degrade + 0.05:  # frame of a plate or a label edge
        colour = bgs.random_colour(rng).tolist()
        t = int(rng.integers(1, 4))
        inset = int(rng.integers(0, 4))
        cv2.rectangle(img, (inset, inset), (w - 1 - inset, h - 1 - inset), colour, t)
    return img


def degrade(rng: Rng, img: np.ndarray, strength: float,
            heights: tuple[float, float] = (20, 120)) -> np.ndarray:
    """Resize to a natural crop size and add what cameras and scanners add."""
    h, w = img.shape[:2]
    nh = int(round(_log_uniform(rng, *heights)))
    nw = max(8, int(round(nh * w / h)))
    interp = [cv2.INTER_AREA, cv2.INTER_LINEAR, cv2.INTER_CUBIC][int(rng.integers(3))]
    out = cv2.resize(img.astype(np.float32), (nw, nh), interpolation=interp)
    if rng.random() < 0.3 * strength + 0.1:
        light = 0.6 + 0.6 * cv2.resize(rng.random((3, 3)).astype(np.float32), (nw, nh),
                                       interpolation=cv2.INTER_CUBIC)
        out = out * light[..., None]
    if rng.random() < 0.6 * strength + 0.1:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 1.2) * max(1.0, nh / 40))
    elif rng.random() < 0.1 * strength:
        k = int(rng.integers(3, 7))
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2] = 1 / k
        rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1)
        out = cv2.filter2D(out, -1, cv2.warpAffine(kernel, rot, (k, k)))
    if rng.random() < 0.6 * strength + 0.1:
        out = out + rng.normal(0, rng.uniform(1, 14), out.shape if rng.random() < 0.5
                               else (*out.shape[:2], 1))
    out = (out - 128) * rng.uniform(0.8, 1.15) + 128 + rng.uniform(-15, 15)
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.5 * strength:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(20, 90))])
        out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return out


def glyph_row(rng: Rng, centre: str, alphabet: str, style: fonts_mod.PrintStyle,
              neighbours: float) -> fonts_mod.GlyphRow:
    """``centre`` drawn in ``style``, with neighbours from ``alphabet`` on either side sometimes."""
    left = [str(rng.choice(list(alphabet)))] if rng.random() < neighbours else []
    right = [str(rng.choice(list(alphabet)))] if rng.random() < neighbours else []
    chars = [style.render(c) for c in left + [centre] + right]
    return fonts_mod.join_row(chars, len(left), rng)


def stage(rng: Rng, row: fonts_mod.GlyphRow, look: Look) -> np.ndarray:
    """A glyph row, staged and degraded into an RGB uint8 crop at its natural size."""
    mask = _warp_row(rng, row.mask, row.box, look, work_h=64)
    return degrade(rng, _paint(rng, mask, look), look.degrade, look.heights)
