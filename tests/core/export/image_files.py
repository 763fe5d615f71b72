"""Real PNG and JPEG files for the export tests: the bundled samples and generated images."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SAMPLES = Path(__file__).resolve().parents[3] / "resources" / "digits" / "samples"


def write_image_files(folder: Path, n: int, seed: int = 0, sizes: tuple[int, int] = (34, 120)) -> list[Path]:
    """The bundled samples, then generated digit-like drawings, alternately PNG and JPEG.

    Sizes vary from ``sizes[0]`` to ``sizes[1]`` pixels (non-square, most not multiples of
    the model's 32), so the resize really resamples.
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for src in sorted(SAMPLES.glob("*.png"))[:n]:
        paths.append(Path(shutil.copy(src, folder / src.name)))
    rng = np.random.default_rng(seed)
    for i in range(n - len(paths)):
        h, w = (int(v) for v in rng.integers(sizes[0], sizes[1], size=2))
        bg = tuple(int(v) for v in rng.integers(0, 256, size=3))
        img = Image.new("RGB", (w, h), bg)
        draw = ImageDraw.Draw(img)
        fg = tuple(255 - c for c in bg)
        # A digit drawn large, with some clutter around it.
        draw.text((w * 0.3, h * 0.2), str(i % 10), fill=fg, font_size=int(min(h, w) * 0.6))
        for _ in range(int(rng.integers(0, 4))):
            x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
            draw.line((x0, y0, int(rng.integers(0, w)), int(rng.integers(0, h))), fill=fg, width=2)
        arr = np.asarray(img).astype(np.int16) + rng.integers(-12, 13, size=(h, w, 3))
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
        path = folder / (f"gen_{i:04d}.png" if i % 2 == 0 else f"gen_{i:04d}.jpg")
        img.save(path, quality=90) if path.suffix == ".jpg" else img.save(path)
        paths.append(path)
    return paths
