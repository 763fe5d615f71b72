"""No-class TEST images made by generators that are NOT in the built-in reference.

Scenes, fractals, Voronoi cells, Mandelbrot windows, text-free screenshots, scribbles, lit
patches, JPEG-wrecked plaid and faces drawn another way: if the check rejects these, it has
learned "not like the labelled images", not "not like the reference".
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw

Rng = np.random.Generator
S = 96  # work canvas


def _col(rng: Rng) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(0, 256, 3))


def scene(rng: Rng) -> np.ndarray:
    """Pillow scene: sky, ground, sun, house, tree, fence."""
    im = Image.new("RGB", (S, S))
    d = ImageDraw.Draw(im)
    hor = int(rng.integers(30, 70))
    top, bot = np.array(_col(rng)), np.array(_col(rng))
    for y in range(hor):
        d.line([(0, y), (S, y)], tuple(int(v) for v in top + (bot - top) * y / hor))
    d.rectangle([0, hor, S, S], _col(rng))
    r = int(rng.integers(5, 15))
    cx, cy = int(rng.integers(0, S)), int(rng.integers(0, hor))
    d.ellipse([cx - r, cy - r, cx + r, cy + r], (250, 230, 80))
    x0 = int(rng.integers(-20, 60))
    d.rectangle([x0, hor - 25, x0 + 40, hor + 10], _col(rng))
    d.polygon([(x0 - 5, hor - 25), (x0 + 20, hor - 45), (x0 + 45, hor - 25)], _col(rng))
    tx = int(rng.integers(0, S))
    d.rectangle([tx, hor - 10, tx + 5, hor + 15], (90, 60, 30))
    d.ellipse([tx - 14, hor - 38, tx + 19, hor - 5], (30, int(rng.integers(90, 180)), 40))
    return np.asarray(im)


def fractal(rng: Rng) -> np.ndarray:
    """Multi-octave fractal noise through a random 3-colour ramp."""
    f = np.zeros((S, S), np.float32)
    for o in range(1, 6):
        g = rng.random((2 ** o + 1, 2 ** o + 1)).astype(np.float32)
        f += cv2.resize(g, (S, S), interpolation=cv2.INTER_CUBIC) / 2 ** o
    f = (f - f.min()) / (np.ptp(f) + 1e-6)
    c = rng.integers(0, 256, (3, 3)).astype(np.float32)
    lo, hi = f[..., None] < 0.5, f[..., None]
    return np.where(lo, c[0] + (c[1] - c[0]) * 2 * hi, c[1] + (c[2] - c[1]) * (2 * hi - 1))


def voronoi(rng: Rng) -> np.ndarray:
    """Voronoi cells with random colours, sometimes outlined."""
    pts = rng.random((int(rng.integers(5, 30)), 2)) * S
    yy, xx = np.mgrid[0:S, 0:S]
    d = (xx[..., None] - pts[:, 0]) ** 2 + (yy[..., None] - pts[:, 1]) ** 2
    lab = d.argmin(-1)
    img = rng.integers(0, 256, (len(pts), 3))[lab].astype(np.uint8)
    if rng.random() < 0.5:
        edge = cv2.Canny(lab.astype(np.uint8) * 7, 1, 1) > 0
        img[edge] = 0
    return img


def mandelbrot(rng: Rng) -> np.ndarray:
    """A random Mandelbrot window, colour-mapped."""
    cx, cy = rng.uniform(-1.8, 0.4), rng.uniform(-1.0, 1.0)
    span = 10 ** rng.uniform(-2.5, 0.3)
    c = (np.linspace(cx - span, cx + span, S)[None, :]
         + 1j * np.linspace(cy - span, cy + span, S)[:, None])
    z = np.zeros_like(c)
    it = np.zeros(c.shape, np.float32)
    for i in range(40):
        m = np.abs(z) <= 2
        z[m] = z[m] ** 2 + c[m]
        it[m] = i
    t = (it / 40 * 255).astype(np.uint8)
    cmap = [cv2.COLORMAP_JET, cv2.COLORMAP_HOT, cv2.COLORMAP_OCEAN, cv2.COLORMAP_VIRIDIS]
    return cv2.applyColorMap(t, cmap[int(rng.integers(4))])[..., ::-1]


def ui(rng: Rng) -> np.ndarray:
    """A text-free window screenshot: title bar, panels, buttons, sliders, checkboxes."""
    im = Image.new("RGB", (S, S), tuple(int(v) for v in rng.integers(200, 256, 3)))
    d = ImageDraw.Draw(im)
    d.rectangle([0, 0, S, 10], _col(rng))
    for _ in range(int(rng.integers(3, 8))):
        x, y = int(rng.integers(0, S - 20)), int(rng.integers(12, S - 10))
        w, h = int(rng.integers(10, 50)), int(rng.integers(6, 20))
        d.rounded_rectangle([x, y, x + w, y + h], 3, fill=_col(rng), outline=(80, 80, 80))
    y = int(rng.integers(20, S - 5))
    d.line([(5, y), (S - 5, y)], (120, 120, 120), 2)
    k = int(rng.integers(5, S - 5))
    d.ellipse([k - 4, y - 4, k + 4, y + 4], _col(rng))
    return np.asarray(im)


def scribble(rng: Rng) -> np.ndarray:
    """Random-walk pen scribbles on paper-like or dark ground."""
    img = np.full((S, S, 3), rng.integers(0, 256), np.uint8)
    p = rng.random(2) * S
    for _ in range(int(rng.integers(1, 4))):
        col = _col(rng)
        steps = np.cumsum(rng.normal(0, 6, (int(rng.integers(20, 80)), 2)), 0) + p
        pts = np.clip(steps, 0, S - 1).astype(np.int32)
        cv2.polylines(img, [pts], False, col, int(rng.integers(1, 5)), cv2.LINE_AA)
    return img


def patch(rng: Rng) -> np.ndarray:
    """A plain patch with a vignette and a smooth highlight (other lighting than the reference)."""
    yy, xx = np.mgrid[0:S, 0:S] / S - 0.5
    v = 1 - rng.uniform(0.2, 0.8) * (xx ** 2 + yy ** 2) * 2
    base = rng.integers(0, 256, 3).astype(np.float32)
    return np.clip(base * v[..., None] + rng.uniform(0, 60) * np.exp(
        -((xx - rng.uniform(-.3, .3)) ** 2 + (yy - rng.uniform(-.3, .3)) ** 2) * 20)[..., None],
        0, 255)


def jpeg_plaid(rng: Rng) -> np.ndarray:
    """Plaid / hexagon-ish interference texture, JPEG-compressed very hard."""
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    a, b = rng.uniform(0.1, 0.7, 2)
    t = np.sin(xx * a) * np.sin(yy * b) + np.sin((xx + yy) * a * 0.7)
    t = ((t - t.min()) / (np.ptp(t) + 1e-6) * 255).astype(np.uint8)
    img = cv2.applyColorMap(t, int(rng.integers(0, 12)))
    _, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(3, 15))])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]


def face2(rng: Rng) -> np.ndarray:
    """A face drawn differently: square head, line eyes, triangle nose, hair strands (Pillow)."""
    im = Image.new("RGB", (S, S), _col(rng))
    d = ImageDraw.Draw(im)
    x0, y0 = int(rng.integers(10, 30)), int(rng.integers(10, 30))
    x1, y1 = S - int(rng.integers(10, 30)), S - int(rng.integers(5, 20))
    d.rounded_rectangle([x0, y0, x1, y1], 12, fill=tuple(int(v) for v in rng.integers(120, 240, 3)))
    for i in range(12):
        xs = x0 + (x1 - x0) * i / 11
        d.line([(xs, y0), (xs + rng.normal(0, 4), y0 - 10)], (40, 30, 20), 2)
    ey = y0 + (y1 - y0) * 0.35
    for ex in (x0 + (x1 - x0) * 0.3, x0 + (x1 - x0) * 0.7):
        d.line([(ex - 6, ey), (ex + 6, ey)], (0, 0, 0), 3)
    mx = (x0 + x1) / 2
    d.polygon([(mx, ey + 5), (mx - 5, ey + 18), (mx + 5, ey + 18)], (150, 90, 80))
    d.arc([mx - 14, ey + 16, mx + 14, ey + 32], 20, 160, (90, 20, 20), 3)
    return np.asarray(im)


TEST_KINDS = {"scene": scene, "fractal": fractal, "voronoi": voronoi, "mandelbrot": mandelbrot,
              "ui": ui, "scribble": scribble, "patch": patch, "jpeg_plaid": jpeg_plaid,
              "face2": face2}
def no_digit_test(n_per: int, size: int, gray: bool, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images of every test kind at ``size`` x ``size``, as RGB uint8, and their kind names."""
    rng = np.random.default_rng(seed)
    out, names = [], []
    for name, fn in TEST_KINDS.items():
        for _ in range(n_per):
            img = np.clip(fn(rng), 0, 255).astype(np.uint8)
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
            out.append(_gray(img) if gray else img)
            names.append(name)
    return np.stack(out), np.array(names)


def _gray(img: np.ndarray) -> np.ndarray:
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    return np.repeat(g[..., None], 3, 2)
