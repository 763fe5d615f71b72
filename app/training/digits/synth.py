"""Synthetic digit and non-digit crops for the bundled digit model, and the inference resize.

A digit crop is built in three steps: an ink mask (fonts: :mod:`app.core.ood.reference.glyph_fonts`,
or ``synth_handwriting``), a composition onto a surface (:mod:`app.core.ood.reference.surfaces`,
staged by :mod:`app.core.ood.reference.staging`) with geometry, colours and neighbours, and a
camera-like degradation at the crop's natural size. ``to_model_input`` then resizes exactly as
probscope does at inference (RGB uint8, OpenCV INTER_AREA to 32x32); the /255 scale is left to
the model card.

Digit sources: ``printed`` (font files, Pillow's font, Hershey), ``svhn`` (house-number style:
neighbours, photo-like surfaces, shading, heavy blur/noise/JPEG), ``handwritten`` (stroke
templates, handwriting fonts or Hershey script, staged at natural size), ``sklearn`` (upsampled
8x8 ``load_digits``), and ``mnist`` / ``mnist_paper``: the same hands scanned as MNIST is, 28x28
with the ink's centre of mass centred in a 20x20 box, white on black or dark ink on paper
(:mod:`app.core.ood.reference.handwriting`); the model sees them after the inference resize.

Non-digits (outlier exposure) all come from the no-class reference
(:mod:`app.core.ood.reference`): surfaces, random shapes, blobs, face-like ovals, and the
reference's glyph kind for letters and symbols, staged like house numbers, written and scanned
like MNIST, or framed like a font glyph. The characters are the reference's own choice for
digit classes (:func:`~app.core.ood.reference.kinds.non_class_characters`) with the narrower
``TRAINING_LOOKALIKES``: everything but the digits and the look-alikes a digit can pass for in
most fonts (O o I l i j S s $ b g q | ! /), since a uniform target on those would teach the model
to doubt real digits. Capital D, Q, Z, B and small z are trained as non-digits: stems, tails and
sharp corners tell them from 0, 2 and 8, and the model is also probscope's digit prior.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass, field

import numpy as np

from app.core.images.opencv import cv2
from app.core.ood.reference import drawn
from app.core.ood.reference import glyph_fonts as fonts_mod
from app.core.ood.reference import handwriting as scans
from app.core.ood.reference import surfaces as bgs
from app.core.ood.reference.kinds import (
    TRAINING_LOOKALIKES,
    generate_kind,
    glyph_kind,
    non_class_characters,
)
from app.core.ood.reference.staging import LOOKS, Look, degrade, glyph_row, stage
from app.training.digits import synth_handwriting as hw

Rng = np.random.Generator
INPUT_SIZE = 32
_NON_DIGIT = non_class_characters([str(d) for d in range(10)], TRAINING_LOOKALIKES)
SAFE_LETTERS = "".join(c for c in _NON_DIGIT if c.isalpha())
SAFE_SYMBOLS = "".join(c for c in _NON_DIGIT if not c.isalnum())
DIGIT_SOURCES = ("printed", "svhn", "handwritten", "sklearn", "mnist", "mnist_paper")
DIGIT_MIX = (0.24, 0.29, 0.09, 0.06, 0.17, 0.15)
# Letters are the largest share: they are the non-digits most like digits.
NONDIGIT_TRAIN_KINDS = {
    "texture": 0.24, "shapes": 0.12, "blobs": 0.05, "face": 0.06, "photo": 0.05,
    "letters": 0.36, "symbols": 0.12,
}
NONDIGIT_HELD_OUT_KINDS = {"held_texture": 0.25, "held_photo": 0.15, "held_letters": 0.45,
                           "held_symbols": 0.15}
# Training photos are crops of one of scikit-learn's sample photos; the other is held out.
PHOTOS = {"photo": bgs.photo_china, "held_photo": bgs.photo_flower}
HELD_TEXTURES = {k: v for k, v in bgs.HELD_OUT_TEXTURES.items() if not k.startswith("photo")}
GLYPH_KINDS = ("letters", "symbols", "held_letters", "held_symbols")


def to_model_input(img: np.ndarray) -> np.ndarray:
    """RGB uint8 crop of any size -> 32x32x3 uint8, exactly probscope's resize for this card."""
    return cv2.resize(img, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)


def handwritten_row(rng: Rng, digit: int, neighbours: float,
                    pen: str = "train") -> fonts_mod.GlyphRow:
    def one(d: int) -> np.ndarray:
        return hw.stroke_digit(d, rng, style=pen)

    left = [one(int(rng.integers(10)))] if rng.random() < neighbours else []
    right = [one(int(rng.integers(10)))] if rng.random() < neighbours else []
    return fonts_mod.join_row(left + [one(digit)] + right, len(left), rng)


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
    pen: str = "train"  # synth_handwriting.PEN_STYLES
    glyph_framing: str | None = None  # None: the reference's mix of framings
    letters: str = SAFE_LETTERS


def mnist_digit(rng: Rng, digit: int, pools: Pools, dark_on_paper: bool) -> np.ndarray:
    """A 28x28 RGB scan of a handwritten ``digit``: stroke templates, scikit-learn, or a
    handwriting font (``glyph_fonts.HANDWRITING_FAMILIES``), Hershey script or print made to
    look written."""
    roll = rng.random()
    if roll < 0.5:
        mask = hw.stroke_digit(digit, rng, style=pools.pen)
    elif roll < 0.7:
        labels = hw.sklearn_digits()[1]
        candidates = pools.sklearn_idx[labels[pools.sklearn_idx] == digit]
        mask = hw.sklearn_digit(int(rng.choice(candidates)), rng)
    else:
        style = fonts_mod.random_print_style(rng, pools.fonts, script=rng.random() < 0.7)
        mask = scans.written_look(rng, style.render(str(digit)))
    img = scans.scan(rng, scans.mnist_frame(mask), dark_on_paper)
    if rng.random() < 0.35:  # scanned at a higher resolution than MNIST's 28 px
        size = int(rng.integers(32, 113))
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR if rng.random() < 0.5
                         else cv2.INTER_CUBIC)
    return img


def make_digit(rng: Rng, digit: int, source: str, pools: Pools) -> np.ndarray:
    """An RGB uint8 crop (natural size) of ``digit`` in the style of ``source``."""
    if source in ("mnist", "mnist_paper"):
        return mnist_digit(rng, digit, pools, dark_on_paper=source == "mnist_paper")
    look = pools.looks[source]
    if source in ("printed", "svhn"):
        style = fonts_mod.random_print_style(rng, pools.fonts)
        row = glyph_row(rng, str(digit), "0123456789", style, look.neighbours)
    elif source == "handwritten":
        if rng.random() < 0.2:
            style = fonts_mod.random_print_style(rng, pools.fonts, script=True)
            row = glyph_row(rng, str(digit), "0123456789", style, look.neighbours)
        else:
            row = handwritten_row(rng, digit, look.neighbours, pools.pen)
    else:
        labels = hw.sklearn_digits()[1]
        candidates = pools.sklearn_idx[labels[pools.sklearn_idx] == digit]
        row = _single(hw.sklearn_digit(int(rng.choice(candidates)), rng))
    return stage(rng, row, look)


def make_nondigit(rng: Rng, kind: str, pools: Pools) -> np.ndarray:
    """An RGB uint8 crop (natural size) that contains no digit."""
    work_h = 64
    work_w = int(work_h * rng.uniform(0.5, 1.8))
    if kind in GLYPH_KINDS:
        # The reference's own glyph kind (one generator); held-out kinds differ by their fonts.
        alphabet = pools.letters if kind.endswith("letters") else SAFE_SYMBOLS
        draw = glyph_kind(alphabet, pools.fonts, pools.glyph_framing)
        # Exactly what the no-class check is fitted against: drawn, "photographed", resized.
        return generate_kind(draw, 1, INPUT_SIZE, INPUT_SIZE, 3, rng)[0]
    if kind in PHOTOS:
        img = PHOTOS[kind](rng, work_h, work_w)
    elif kind == "texture":
        surface = bgs.TRAIN_TEXTURES[str(rng.choice(list(bgs.TRAIN_TEXTURES)))]
        img = surface(rng, work_h, work_w)
    elif kind == "held_texture":
        surface = HELD_TEXTURES[str(rng.choice(list(HELD_TEXTURES)))]
        img = surface(rng, work_h, work_w)
    else:
        img = {"shapes": drawn.shapes, "blobs": drawn.blobs, "face": drawn.face}[kind](
            rng, work_h, work_w)
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
