"""The statistics of a model's training inputs that a card stores as ``input_statistics``.

Diagnostics compare the tensors seen at inference with these (a range 255x too large,
swapped channel means): see :mod:`app.core.diagnostics.mismatch`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from app.core.errors import CardError


def input_statistics(batches: Iterable[np.ndarray], source: str = "") -> dict[str, Any]:
    """Per-channel mean, std, min and max of model inputs, accumulated in float64.

    Parameters
    ----------
    batches : iterable of ndarray, each (n, height, width, channels) or (height, width, channels)
        Model inputs exactly as the model received them in training.
    source : str
        What the sample was, for people reading the card.

    Returns
    -------
    dict
        ``mean``, ``std``, ``min``, ``max`` (lists, one value per channel), ``images``
        (how many went in), ``shape`` ([height, width, channels]) and ``source``.
    """
    total = total_sq = lo = hi = None
    count = images = 0
    shape: list[int] = []
    for batch in batches:
        x = np.asarray(batch, dtype=np.float64)
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or x.shape[0] == 0:
            continue
        flat = x.reshape(-1, x.shape[-1])
        if total is None:
            total, total_sq = flat.sum(0), (flat**2).sum(0)
            lo, hi, shape = flat.min(0), flat.max(0), list(x.shape[1:])
        else:
            if flat.shape[1] != len(total):
                raise CardError("input statistics: batches disagree on the number of channels")
            total, total_sq = total + flat.sum(0), total_sq + (flat**2).sum(0)
            lo, hi = np.minimum(lo, flat.min(0)), np.maximum(hi, flat.max(0))
        count += flat.shape[0]
        images += x.shape[0]
    if total is None:
        raise CardError("input statistics: the training data sample holds no images")
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    return {
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "min": [float(v) for v in lo],
        "max": [float(v) for v in hi],
        "images": images,
        "shape": shape,
        "source": source,
    }


