"""Printed glyphs: every usable font on the machine, Pillow's own font and OpenCV's Hershey fonts.

Moved from ``resources/digits/synth_fonts.py``: the no-class reference renders its non-class
characters with it and the bundled model's generator renders its digits with it.

A glyph is returned as an ink mask: float32 in 0..1, one row of characters, with the box of the
character of interest so the composer can centre that one and let its neighbours be cut off.
Font families in ``HELD_OUT_FAMILIES`` are never used for training; ``evaluate.py`` uses them to
measure how the model does on typefaces it never saw.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from app.core.images.opencv import cv2

Rng = np.random.Generator

FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.fonts", "~/.local/share/fonts",
             "/Library/Fonts", "/System/Library/Fonts", "C:/Windows/Fonts")
# More font folders (os.pathsep-separated), e.g. fonts unpacked from the packages the training
# docstring names, so that a shared machine's fonts need not change for one training run.
FONT_DIRS_ENV = "PROBSCOPE_FONT_DIRS"
# Symbol/dingbat/maths fonts map digits to pictures or add nothing new; Linux Biolinum Keyboard
# draws every character inside a key cap, and DSEG's seven segments make Z and 2 one glyph.
SKIP_FONT_WORDS = ("symbol", "dingbat", "d050000l", "math", "emoji", "z003", "linbiolinum_k",
                   "dseg")
HELD_OUT_FAMILIES = ("lato", "carlito", "cantarell", "linbiolinum", "b612", "oldstandard")
# Typefaces drawn from people's handwriting (the Makefile's DIGITS_FONT_DEBS): they write, not
# print, so they stand in for handwriting (``script=True``) and are kept out of the print pool.
HANDWRITING_FAMILIES = ("becausewe", "breip", "dancingscript", "dkg", "kaushanscript", "kiloji",
                        "kleeone", "kristi", "leckerlione", "lobster", "rufscript", "setofont")

HERSHEY_PRINT = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_DUPLEX,
                 cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX,
                 cv2.FONT_HERSHEY_COMPLEX_SMALL)
HERSHEY_SCRIPT = (cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_SCRIPT_COMPLEX)
RENDER_SIZES = (36, 48, 60)


@dataclass(frozen=True)
class GlyphRow:
    mask: np.ndarray  # float32 (h, w) in 0..1
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 of the centre character's ink


@lru_cache(maxsize=1)
def discover_fonts() -> tuple[str, ...]:
    """Paths of every TrueType/OpenType font found, sorted, Type-1 duplicates skipped."""
    found: set[str] = set()
    extra = [d for d in os.environ.get(FONT_DIRS_ENV, "").split(os.pathsep) if d]
    for folder in (*FONT_DIRS, *extra):
        root = Path(os.path.expanduser(folder))
        if root.is_dir():
            for path in root.rglob("*"):
                name = path.name.lower()
                if path.suffix.lower() in {".ttf", ".otf"} and path.is_file() and not any(
                        w in name for w in SKIP_FONT_WORDS):
                    found.add(str(path))
    return tuple(sorted(found))


def split_fonts(held_out: bool) -> tuple[str, ...]:
    """Training fonts (``held_out=False``) or the held-out families (``held_out=True``)."""
    def is_held(path: str) -> bool:
        return any(f in Path(path).name.lower() for f in HELD_OUT_FAMILIES)

    return tuple(p for p in discover_fonts() if is_held(p) == held_out)


def is_handwriting(path: str) -> bool:
    """Whether a font file is one of ``HANDWRITING_FAMILIES``."""
    return Path(path).name.lower().startswith(HANDWRITING_FAMILIES)


@lru_cache(maxsize=8)
def _written_and_printed(fonts: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return (tuple(f for f in fonts if is_handwriting(f)),
            tuple(f for f in fonts if not is_handwriting(f)))


def font_family(path: str) -> str:
    """A family key from a font's file name: ``Inter-BoldItalic.otf``, ``FreeSansBold.ttf`` and
    ``PTS55F.ttf`` give inter, freesans and pts."""
    stem = re.split(r"[-_ ]", Path(path).stem.lower())[0]
    stem = re.sub(r"(?:bold|italic|oblique|regular|light|medium|book|demi)+$", "", stem) or stem
    short = re.sub(r"\d+[a-z]?$", "", stem)
    return short if len(short) >= 3 else stem


@lru_cache(maxsize=8)
def _by_family(fonts: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    keys = {path: font_family(path) for path in fonts}
    # Variants one or two letters longer are the same family: OCRB/OCRBL, GilliusADF/...No2.
    stems = set(keys.values())
    merged = {k: min((s for s in stems if len(s) >= 4 and k.startswith(s) and len(k) - len(s) <= 2),
                     key=len, default=k) for k in stems}
    groups: dict[str, list[str]] = {}
    for path in fonts:
        groups.setdefault(merged[keys[path]], []).append(path)
    return tuple(tuple(groups[k]) for k in sorted(groups))


def pick_font(rng: Rng, fonts: tuple[str, ...]) -> str:
    """A font file, each family equally likely: Inter's 36 weights must not outvote Humor Sans."""
    family = _by_family(tuple(fonts))
    files = family[int(rng.integers(len(family)))]
    return files[int(rng.integers(len(files)))]


@lru_cache(maxsize=512)
def _font(path: str | None, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if path is None:
        return ImageFont.load_default(size=size)
    if path == "<bitmap>":
        return ImageFont.load_default()
    return ImageFont.truetype(path, size)


def _pil_char(font: ImageFont.ImageFont, ch: str, stroke: int) -> np.ndarray:
    """One character on a canvas with a shared baseline, so rows of characters line up."""
    ascent, descent = font.getmetrics() if hasattr(font, "getmetrics") else (12, 3)
    pad = 4 + stroke
    width = int(font.getlength(ch)) + 2 * pad + 4
    img = Image.new("L", (width, ascent + descent + 2 * pad), 0)
    ImageDraw.Draw(img).text((pad, pad), ch, fill=255, font=font, stroke_width=stroke,
                             stroke_fill=255)
    return np.asarray(img, dtype=np.float32) / 255.0


def _hershey_char(face: int, ch: str, scale: float, thickness: int) -> np.ndarray:
    (tw, th), base = cv2.getTextSize(ch, face, scale, thickness)
    pad = thickness + 4
    canvas = np.zeros((th + base + 2 * pad, tw + 2 * pad), np.uint8)
    cv2.putText(canvas, ch, (pad, pad + th), face, scale, 255, thickness, cv2.LINE_AA)
    return canvas.astype(np.float32) / 255.0


def join_row(chars: list[np.ndarray], centre: int, rng: Rng) -> GlyphRow:
    """Place characters side by side (tight ink columns, random spacing) and box the centre one."""
    height = max(c.shape[0] for c in chars)
    parts, x, box = [], 0, (0, 0, 1, 1)
    ink_h = 0
    for i, c in enumerate(chars):
        cols = np.flatnonzero(c.max(axis=0) > 0.05)
        if cols.size == 0:
            continue
        c = c[:, cols[0]:cols[-1] + 1]
        c = np.pad(c, ((0, height - c.shape[0]), (0, 0)))
        rows = np.flatnonzero(c.max(axis=1) > 0.05)
        if i == centre:
            box = (x, int(rows[0]), x + c.shape[1], int(rows[-1]) + 1)
        ink_h = max(ink_h, int(rows[-1] - rows[0] + 1))
        gap = int(round(rng.uniform(0.05, 0.35) * max(ink_h, 8)))
        parts += [c, np.zeros((height, gap), np.float32)]
        x += c.shape[1] + gap
    return GlyphRow(np.concatenate(parts, axis=1), box)


@dataclass(frozen=True)
class PrintStyle:
    """One typeface choice; ``render`` draws any string in it, so neighbours share the style."""
    kind: str  # "font" | "pil_default" | "pil_bitmap" | "hershey"
    path: str | None = None
    size: int = 48
    stroke: int = 0
    face: int = 0
    scale: float = 1.5
    thickness: int = 2

    def render(self, ch: str) -> np.ndarray:
        if self.kind == "hershey":
            return _hershey_char(self.face, ch, self.scale, self.thickness)
        path = {"font": self.path, "pil_default": None, "pil_bitmap": "<bitmap>"}[self.kind]
        mask = _pil_char(_font(path, self.size), ch, self.stroke)
        if self.kind == "font" and mask.max() <= 0.05:
            # The font has no ink for ``ch`` (Linux Libertine Italic has no "^"): Pillow's font.
            mask = _pil_char(_font(None, self.size), ch, self.stroke)
        return mask


def random_print_style(rng: Rng, fonts: tuple[str, ...], script: bool = False) -> PrintStyle:
    """A typeface: a font file, Pillow's default, or Hershey.

    ``script`` picks a handwriting font among ``fonts`` (three times in four, when there is one)
    or Hershey script; otherwise handwriting fonts are left out.
    """
    written, printed = _written_and_printed(tuple(fonts))
    if script and written and rng.random() < 0.75:
        return PrintStyle("font", path=pick_font(rng, written), size=int(rng.choice(RENDER_SIZES)),
                          stroke=int(rng.choice([0, 0, 1, 2])))
    if script:
        face = int(rng.choice(HERSHEY_SCRIPT)) | (cv2.FONT_ITALIC if rng.random() < 0.3 else 0)
        return PrintStyle("hershey", face=face, scale=float(rng.uniform(1.3, 2.0)),
                          thickness=int(rng.integers(1, 6)))
    roll = rng.random()
    if printed and roll < 0.78:
        size = int(rng.choice(RENDER_SIZES))
        # Synthetic emboldening: Pillow's stroke thickens any font, giving weights it lacks.
        stroke = int(rng.choice([0, 0, 0, 1, 2])) if size >= 48 else 0
        return PrintStyle("font", path=pick_font(rng, printed), size=size, stroke=stroke)
    if roll < 0.84:
        return PrintStyle("pil_default", size=int(rng.choice(RENDER_SIZES)),
                          stroke=int(rng.choice([0, 0, 1])))
    if roll < 0.86:
        return PrintStyle("pil_bitmap")
    face = int(rng.choice(HERSHEY_PRINT)) | (cv2.FONT_ITALIC if rng.random() < 0.25 else 0)
    return PrintStyle("hershey", face=face, scale=float(rng.uniform(1.3, 2.0)),
                      thickness=int(rng.integers(1, 7)))
