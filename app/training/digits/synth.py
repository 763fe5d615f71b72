"""Synthetic digit and non-digit crops for the bundled digit model, and the inference resize.

A digit crop is built in three steps: an ink mask (``synth_fonts`` / ``synth_handwriting``), a
composition onto a surface (``synth_backgrounds``) with geometry, colours and neighbours, and a
camera-like degradation at the crop's natural size. ``to_model_input`` then resizes exactly as
probscope does at inference (RGB uint8, OpenCV INTER_AREA to 32x32); the /255 scale is left to
the model card.

Digit sources: ``printed`` (font files, Pillow's font, Hershey), ``svhn`` (house-number style:
neighbours, photo-like surfaces, shading, heavy blur/noise/JPEG), ``handwritten`` (stroke
templates, Hershey script) and ``sklearn`` (upsampled 8x8 ``load_digits``).

Non-digits (outlier exposure): surfaces, random shapes, blobs, face-like ovals, and letters and
symbols from ``SAFE_LETTERS`` / ``SAFE_SYMBOLS``. Letters that a digit can pass for (O o Q D I l i
j J L Z z S s B b G g q T t e a A y Y) and symbols like ``/ | ( ) [ ] ! $`` are left out, because a
uniform target on a digit look-alike would teach the model to doubt real digits.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass, field

import cv2
import numpy as np

from app.training.digits import synth_backgrounds as bgs
from app.training.digits import synth_fonts as fonts_mod
from app.training.digits import synth_handwriting as hw

Rng = np.random.Generator
INPUT_SIZE = 32
SAFE_LETTERS = "CEFHKMNPRUVWXcfhkmnpruvwx"
SAFE_SYMBOLS = "#%&@*+=<>?~^"
DIGIT_SOURCES = ("printed", "svhn", "handwritten", "sklearn")
DIGIT_MIX = (0.30, 0.30, 0.25, 0.15)
NONDIGIT_TRAIN_KINDS = {
    "texture": 0.30, "shapes": 0.15, "blobs": 0.06, "face": 0.07, "letters": 0.30,
    "symbols": 0.12,
}
NONDIGIT_HELD_OUT_KINDS = {"held_texture": 0.5, "held_letters": 0.35, "held_symbols": 0.15}


def to_model_input(img: np.ndarray) -> np.ndarray:
    """RGB uint8 crop of any size -> 32x32x3 uint8, exactly probscope's resize for this card."""
    return cv2.resize(img, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)


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


def handwritten_row(rng: Rng, digit: int, neighbours: float) -> fonts_mod.GlyphRow:
    left = [hw.stroke_digit(int(rng.integers(10)), rng)] if rng.random() < neighbours else []
    right = [hw.stroke_digit(int(rng.integers(10)), rng)] if rng.random() < neighbours else []
    return fonts_mod.join_row(left + [hw.stroke_digit(digit, rng)] + right, len(left), rng)


def _single(mask: np.ndarray) -> fonts_mod.GlyphRow:
    ys, xs = np.nonzero(mask > 0.05)
    return fonts_mod.GlyphRow(mask, (int(xs.min()), int(ys.min()), int(xs.max()) + 1,
                                     int(ys.max()) + 1))


def stage(rng: Rng, row: fonts_mod.GlyphRow, look: Look) -> np.ndarray:
    """A glyph row, staged and degraded into an RGB uint8 crop at its natural size."""
    mask = _warp_row(rng, row.mask, row.box, look, work_h=64)
    return degrade(rng, _paint(rng, mask, look), look.degrade, look.heights)


@dataclass
class Pools:
    """What a split may draw from: fonts, scikit-learn indices, and non-digit generators."""
    fonts: tuple[str, ...]
    sklearn_idx: np.ndarray
    nondigit_kinds: dict[str, float] = field(default_factory=lambda: dict(NONDIGIT_TRAIN_KINDS))
    looks: dict[str, Look] = field(default_factory=lambda: dict(LOOKS))


def make_digit(rng: Rng, digit: int, source: str, pools: Pools) -> np.ndarray:
    """An RGB uint8 crop (natural size) of ``digit`` in the style of ``source``."""
    look = pools.looks[source]
    if source in ("printed", "svhn"):
        style = fonts_mod.random_print_style(rng, pools.fonts)
        row = glyph_row(rng, str(digit), "0123456789", style, look.neighbours)
    elif source == "handwritten":
        if rng.random() < 0.2:
            style = fonts_mod.random_print_style(rng, pools.fonts, script=True)
            row = glyph_row(rng, str(digit), "0123456789", style, look.neighbours)
        else:
            row = handwritten_row(rng, digit, look.neighbours)
    else:
        labels = hw.sklearn_digits()[1]
        candidates = pools.sklearn_idx[labels[pools.sklearn_idx] == digit]
        row = _single(hw.sklearn_digit(int(rng.choice(candidates)), rng))
    return stage(rng, row, look)


def _face(rng: Rng, h: int, w: int) -> np.ndarray:
    img = bgs.digit_background(rng, h, w)
    skin = np.array([rng.uniform(90, 240), rng.uniform(60, 200), rng.uniform(40, 170)])
    cx, cy = w / 2 + rng.normal(0, w / 10), h / 2 + rng.normal(0, h / 10)
    ax, ay = w * rng.uniform(0.25, 0.45), h * rng.uniform(0.3, 0.5)
    hair = bgs.random_colour(rng, (0, 120)).tolist()
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


def _shapes(rng: Rng, h: int, w: int) -> np.ndarray:
    img = bgs.digit_background(rng, h, w)
    for _ in range(int(rng.integers(2, 7))):
        colour = bgs.random_colour(rng).tolist()
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


def _blobs(rng: Rng, h: int, w: int) -> np.ndarray:
    img = bgs.digit_background(rng, h, w)
    for _ in range(int(rng.integers(1, 5))):
        cv2.circle(img, (int(rng.integers(0, w)), int(rng.integers(0, h))),
                   int(rng.integers(3, max(4, h // 2))), bgs.random_colour(rng).tolist(), -1)
    return cv2.GaussianBlur(img, (0, 0), rng.uniform(2, 6))


def make_nondigit(rng: Rng, kind: str, pools: Pools) -> np.ndarray:
    """An RGB uint8 crop (natural size) that contains no digit."""
    work_h = 64
    work_w = int(work_h * rng.uniform(0.5, 1.8))
    if kind in ("letters", "symbols", "held_letters", "held_symbols"):
        alphabet = SAFE_LETTERS if kind.endswith("letters") else SAFE_SYMBOLS
        style = fonts_mod.random_print_style(rng, pools.fonts)
        look = pools.looks["svhn" if rng.random() < 0.4 else "printed"]
        return stage(rng, glyph_row(rng, str(rng.choice(list(alphabet))), alphabet, style,
                                    look.neighbours), look)
    if kind == "texture":
        surface = bgs.TRAIN_TEXTURES[str(rng.choice(list(bgs.TRAIN_TEXTURES)))]
        img = surface(rng, work_h, work_w)
    elif kind == "held_texture":
        surface = bgs.HELD_OUT_TEXTURES[str(rng.choice(list(bgs.HELD_OUT_TEXTURES)))]
        img = surface(rng, work_h, work_w)
    else:
        img = {"shapes": _shapes, "blobs": _blobs, "face": _face}[kind](rng, work_h, work_w)
    return degrade(rng, img, 0.6)


def _choose(rng: Rng, weights: dict[str, float] | tuple[float, ...], names=None) -> str:
    names = list(weights) if names is None else list(names)
    p = np.array(list(weights.values()) if isinstance(weights, dict) else weights, float)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def _generate_chunk(args: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    seed, n_digits, n_nondigits, pools = args
    rng = np.random.default_rng(seed)
    images = np.empty((n_digits + n_nondigits, INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    labels = np.full(n_digits + n_nondigits, -1, np.int64)
    sources = np.empty(n_digits + n_nondigits, dtype=object)
    for i in range(n_digits):
        source = _choose(rng, DIGIT_MIX, DIGIT_SOURCES)
        digit = int(rng.integers(10))
        images[i] = to_model_input(make_digit(rng, digit, source, pools))
        labels[i], sources[i] = digit, source
    for j in range(n_nondigits):
        kind = _choose(rng, pools.nondigit_kinds)
        images[n_digits + j] = to_model_input(make_nondigit(rng, kind, pools))
        sources[n_digits + j] = kind
    return images, labels, sources.astype(str)


def generate(n_digits: int, n_nondigits: int, seed: int, pools: Pools, workers: int = 1,
             chunk: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``images`` uint8 Nx32x32x3, ``labels`` (digit, or -1 for none), ``sources`` per sample.

    Work is cut into fixed chunks with seeds spawned from ``seed``, so the result does not depend
    on ``workers``.
    """
    total = n_digits + n_nondigits
    n_chunks = max(1, -(-total // chunk))
    d_split = np.diff(np.linspace(0, n_digits, n_chunks + 1).round().astype(int))
    o_split = np.diff(np.linspace(0, n_nondigits, n_chunks + 1).round().astype(int))
    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(n_chunks)]
    jobs = [(s, int(d), int(o), pools) for s, d, o in zip(seeds, d_split, o_split, strict=True)]
    if workers > 1 and n_chunks > 1:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_generate_chunk, jobs)
    else:
        parts = [_generate_chunk(j) for j in jobs]
    return tuple(np.concatenate(p) for p in zip(*parts, strict=True))  # type: ignore[return-value]
