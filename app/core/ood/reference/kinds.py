"""The built-in no-class reference: procedural images that belong to none of the classes.

Every kind is drawn on a work canvas of the target's aspect ratio (short side 48-160 px, long
side at most 320 px), passed through a light camera model (blur, noise, JPEG) and resized to the
model's input size with INTER_AREA, the way probscope resizes a user's photo. The result is
always RGB uint8; for a grayscale model the three channels are equal, so the images go through
the card's preprocessing like any file would.

Deterministic: kind ``k`` of a call with ``seed`` draws from its own child of
``SeedSequence(seed)``, so adding or removing a kind never changes the images of another.
Pure numpy / OpenCV / Pillow. The bundled model's training script draws its outlier-exposure
images from the same functions (``KINDS``), so there is one generator, not two.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

from app.core.images.opencv import cv2
from app.core.ood.reference import glyph_fonts as gf
from app.core.ood.reference import handwriting as hw
from app.core.ood.reference import staging
from app.core.ood.reference import surfaces as sf
from app.core.ood.reference.drawn import blobs, face, shapes

Rng = np.random.Generator
KindFn = Callable[[Rng, int, int], np.ndarray]

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SYMBOLS = "#%&@*+=<>?~^$/()[]{}"
DIGITS = "0123456789"
# Characters a class character can pass for: drawing them as "none of the classes" would teach
# the probe to doubt real members of that class. Only used when the class is present.
LOOKALIKES: dict[str, str] = {
    "0": "OoQD", "1": "Il|!ij/", "2": "Zz", "5": "Ss$", "6": "b", "8": "B", "9": "gq",
    "O": "0", "I": "1l|", "l": "1I|", "S": "5", "Z": "2", "B": "8",
}
# The narrower list for outlier exposure when training a digit model (the bundled one, also the
# digit prior). Capital D and Q (for "0"), Z and z (for "2") and B (for "8") differ from the digit
# in nearly every font (straight stems, a tail, sharp corners), so a model trained on them learns
# to tell them apart; with the wide list the prior accepted most of them as digits. The probe on a
# user's model keeps LOOKALIKES: that model was never taught the difference.
TRAINING_LOOKALIKES: dict[str, str] = {
    **LOOKALIKES, "0": "Oo", "2": "", "8": "",
}
MIN_WORK, MAX_WORK, MAX_LONG = 48, 160, 320


def _texture(fn: KindFn) -> KindFn:
    def draw(rng: Rng, h: int, w: int) -> np.ndarray:
        return fn(rng, h, w)

    draw.__doc__ = fn.__doc__
    return draw


def photo(rng: Rng, h: int, w: int) -> np.ndarray:
    """A window of one of scikit-learn's two bundled sample photos, at a random zoom."""
    return sf.photo_crop(rng, h, w, int(rng.integers(2)))


FRAMINGS = ("staged", "written", "centred", "crop")


def glyph_kind(chars: str, fonts: Sequence[str], framing: str | None = None) -> KindFn:
    """A kind drawing one of ``chars``; ``framing`` fixes the style, else each image draws one.

    ``staged``: photographed like a sign or house number (as the digits are); ``written``: made
    to look handwritten and scanned with MNIST's framing (white on black or dark on paper);
    ``centred``: a font glyph framed like MNIST; ``crop``: ink on a surface, neighbours cut off.
    """
    if framing is not None and framing not in FRAMINGS:
        raise ValueError(f"unknown glyph framing {framing!r}; available: {', '.join(FRAMINGS)}")

    def glyphs(rng: Rng, h: int, w: int) -> np.ndarray:
        """A character that is not a class, in a random font, colour, polarity and framing."""
        how = framing or FRAMINGS[int(rng.choice(4, p=[0.4, 0.25, 0.2, 0.15]))]
        written = how == "written"
        style = gf.random_print_style(rng, tuple(fonts), script=rng.random() < (
            0.45 if written else 0.1))
        if how == "staged":
            look = staging.LOOKS["svhn" if rng.random() < 0.5 else "printed"]
            row = staging.glyph_row(rng, str(rng.choice(list(chars))), chars, style,
                                    look.neighbours)
            crop = staging.stage(rng, row, look)
            return cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
        if written:
            ink = hw.mnist_frame(hw.written_look(rng, style.render(str(rng.choice(list(chars))))))
            scanned = hw.scan(rng, ink, dark_on_paper=rng.random() < 0.4)
            return cv2.resize(scanned, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        centred = how == "centred"
        # Crops of house numbers show cut-off neighbours; centred (MNIST-like) framing does not.
        row = [str(rng.choice(list(chars))) for _ in range(3 if rng.random() < 0.5 else 1)]
        if centred:
            row = row[:1]
        masks = [style.render(c) for c in row]
        glyph_row = gf.join_row(masks, len(row) // 2, rng)
        return _frame_glyph(rng, glyph_row.mask, glyph_row.box, h, w, centred)

    return glyphs


def _frame_glyph(rng: Rng, mask: np.ndarray, box: tuple[int, int, int, int], h: int, w: int,
                 centred: bool) -> np.ndarray:
    """Place the boxed glyph of ``mask`` in an ``h`` x ``w`` image; neighbours may be cut off.

    Centred framing is white ink on black (sometimes inverted), glyph box about 55-80 % of the
    height, as MNIST frames digits; crop framing is ink on a surface, as in SVHN.
    """
    x0, y0, x1, y1 = box
    bh, bw = max(1, y1 - y0), max(1, x1 - x0)
    fill = rng.uniform(0.55, 0.8) if centred else rng.uniform(0.45, 0.95)
    scale = min(fill * h / bh, 0.9 * w / bw)
    jitter = 0.0 if centred else 0.08
    cx = w / 2 + rng.normal(0, jitter * w) - scale * (x0 + x1) / 2
    cy = h / 2 + rng.normal(0, jitter * h) - scale * (y0 + y1) / 2
    src = mask if scale > 0.7 else cv2.GaussianBlur(mask, (0, 0), 0.4 / scale)
    m = cv2.warpAffine(src, np.float32([[scale, 0, cx], [0, scale, cy]]), (w, h),
                       flags=cv2.INTER_LINEAR, borderValue=0)
    if centred and rng.random() < 0.5:  # handwriting-like thickening of thin font strokes
        m = cv2.dilate(m, np.ones((3, 3), np.uint8))
    if centred:
        bg = np.zeros((h, w, 3), np.float32)
        fg = np.full(3, rng.uniform(180, 255), np.float32)
        if rng.random() < 0.2:  # dark-on-light scans
            bg, fg = bg + 255 - fg, np.zeros(3, np.float32)
    else:
        bg = sf.digit_background(rng, h, w)
        fg = sf.contrasting_colour(rng, float(sf.luminance(bg.reshape(-1, 3).mean(0))),
                                   rng.uniform(35, 170))
    return bg * (1 - m[..., None]) + fg * m[..., None]


def non_class_characters(classes: Iterable[str] | None,
                         lookalikes: Mapping[str, str] = LOOKALIKES) -> str:
    """Letters and symbols that are neither a class nor a look-alike of one (from ``lookalikes``).

    Returns ``""`` when ``classes`` is None or when any class name is longer than one
    character (then characters are not what the model tells apart and no glyph kind is made).
    """
    names = [str(c) for c in classes] if classes is not None else []
    if not names or any(len(n) != 1 for n in names):
        return ""
    banned = set(names) | {ch for n in names for ch in lookalikes.get(n, "")}
    return "".join(ch for ch in LETTERS + SYMBOLS + DIGITS if ch not in banned)


def kinds_for(classes: Iterable[str] | None = None,
              fonts: Sequence[str] | None = None) -> dict[str, KindFn]:
    """Every available kind by name; ``glyphs`` only when the classes are single characters."""
    kinds: dict[str, KindFn] = {
        "plain": _texture(sf.plain), "gradient": _texture(sf.gradient),
        "clouds": _texture(sf.clouds), "stripes": _texture(sf.stripes),
        "checkers": _texture(sf.checkers), "bricks": _texture(sf.bricks),
        "wood": _texture(sf.wood), "paper": _texture(sf.paper), "dots": _texture(sf.dots),
        "noise": _texture(sf.noise_texture), "shapes": shapes, "blobs": blobs,
        "photo": photo, "face": face,
    }
    chars = non_class_characters(classes)
    if chars:
        kinds["glyphs"] = glyph_kind(chars, gf.discover_fonts() if fonts is None else fonts)
    return kinds


def work_size(height: int, width: int) -> tuple[int, int]:
    """The canvas a kind is drawn on: the target's aspect ratio at a natural crop size."""
    short = float(np.clip(2 * min(height, width), MIN_WORK, MAX_WORK))
    s = short / min(height, width)
    s = min(s, MAX_LONG / max(height, width))
    return max(4, int(round(height * s))), max(4, int(round(width * s)))


def _camera(rng: Rng, img: np.ndarray) -> np.ndarray:
    """What a camera or scanner adds: blur, sensor noise, contrast change, JPEG."""
    out = img.astype(np.float32)
    if rng.random() < 0.5:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 1.5))
    if rng.random() < 0.5:
        out = out + rng.normal(0, rng.uniform(1, 12), out.shape[:2] + (1,))
    out = (out - 128) * rng.uniform(0.8, 1.15) + 128 + rng.uniform(-15, 15)
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.3 and min(out.shape[:2]) >= 8:
        _, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 90))])
        out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return out


def _to_target(img: np.ndarray, height: int, width: int, channels: int) -> np.ndarray:
    out = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA
                     if img.shape[0] >= height else cv2.INTER_LINEAR)
    out = out.reshape(height, width, 3)
    if channels == 1:
        out = np.repeat(np.round(sf.luminance(out)).astype(np.uint8)[..., None], 3, axis=2)
    return out


def generate_kind(fn: KindFn, n: int, height: int, width: int, channels: int,
                  rng: Rng) -> np.ndarray:
    """``n`` images of one kind, ``(n, height, width, 3)`` uint8 RGB."""
    wh, ww = work_size(height, width)
    out = np.empty((n, height, width, 3), np.uint8)
    for i in range(n):
        img = np.clip(fn(rng, wh, ww), 0, 255).astype(np.uint8)
        out[i] = _to_target(_camera(rng, img), height, width, channels)
    return out


def generate_reference(
    kinds: Iterable[str] | None,
    n_per_kind: int | Mapping[str, int],
    height: int,
    width: int,
    channels: int,
    seed: int = 0,
    classes: Iterable[str] | None = None,
    fonts: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Generate the no-class reference at a model's input size.

    Parameters
    ----------
    kinds : iterable of str or None
        Names from :func:`kinds_for`; None means every available kind.
    n_per_kind : int or mapping of str to int
        Images per kind (a mapping may give each kind its own count).
    height, width : int
        The model's input size (any size >= 1).
    channels : {1, 3}
        1 gives grey images (equal R, G and B).
    seed : int, default=0
        Seeds everything; each kind gets its own child seed (by name).
    classes : iterable of str, optional
        The model's class names; single characters enable the ``glyphs`` kind.
    fonts : sequence of str, optional
        Font files for glyphs; default every font found on the machine.

    Returns
    -------
    dict of str to ndarray of shape (n, height, width, 3), uint8
        One array per kind, in the order asked for.

    Raises
    ------
    ValueError
        An unknown kind, a size below 1, or channels not 1 or 3.
    """
    if height < 1 or width < 1 or channels not in (1, 3):
        raise ValueError(f"cannot generate a reference of size {height}x{width}x{channels}")
    available = kinds_for(classes, fonts)
    names = list(available) if kinds is None else list(kinds)
    unknown = [k for k in names if k not in available]
    if unknown:
        raise ValueError(f"unknown reference kind(s) {', '.join(unknown)}; "
                         f"available: {', '.join(available)}")
    out: dict[str, np.ndarray] = {}
    for name in names:
        n = n_per_kind[name] if isinstance(n_per_kind, Mapping) else int(n_per_kind)
        # A child seed per kind name (crc32, stable across runs, unlike hash()).
        rng = np.random.default_rng([int(seed), zlib.crc32(name.encode())])
        out[name] = generate_kind(available[name], n, height, width, channels, rng)
    return out
