"""Synthetic digit and non-digit crops for the bundled digit model, and the inference resize.

A digit crop is built in three steps: an ink mask (fonts: :mod:`app.core.ood.reference.glyph_fonts`,
or ``synth_handwriting``), a composition onto a surface (:mod:`app.core.ood.reference.surfaces`,
staged by :mod:`app.core.ood.reference.staging`) with geometry, colours and neighbours, and a
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

import numpy as np

from app.core.images.opencv import cv2
from app.core.ood.reference import drawn
from app.core.ood.reference import glyph_fonts as fonts_mod
from app.core.ood.reference import surfaces as bgs
from app.core.ood.reference.staging import LOOKS, Look, degrade, glyph_row, stage
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


def handwritten_row(rng: Rng, digit: int, neighbours: float) -> fonts_mod.GlyphRow:
    left = [hw.stroke_digit(int(rng.integers(10)), rng)] if rng.random() < neighbours else []
    right = [hw.stroke_digit(int(rng.integers(10)), rng)] if rng.random() < neighbours else []
    return fonts_mod.join_row(left + [hw.stroke_digit(digit, rng)] + right, len(left), rng)


def _single(mask: np.ndarray) -> fonts_mod.GlyphRow:
    ys, xs = np.nonzero(mask > 0.05)
    return fonts_mod.GlyphRow(mask, (int(xs.min()), int(ys.min()), int(xs.max()) + 1,
                                     int(ys.max()) + 1))


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
        img = {"shapes": drawn.shapes, "blobs": drawn.blobs, "face": drawn.face}[kind](rng, work_h, work_w)
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


__all__ = ["LOOKS", "Look", "degrade", "glyph_row", "stage"]
