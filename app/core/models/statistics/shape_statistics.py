"""In-graph shape statistics for the probe: spatial grids of activations, and input shape.

Plain digit classifiers give letters the same *global* per-channel statistics as digits, but
letters and digits differ in *where* the strokes are and in which direction they run. These
TensorFlow helpers are traced into the predictor's one compiled call (``graph_stats``):

* ``grid_means`` -- per-channel means of a conv activation on a coarse ``g x g`` grid;
* ``input_shape_stats`` -- from the model's input tensor, independently of what the classifier
  learned: a polarity-normalised thumbnail of the per-image standardised grey image, a
  gradient-orientation histogram on a ``g x g`` grid (Sobel), ink coverage per cell, and the
  mean gradient magnitude.

Every statistic is scale- and offset-free (the input is standardised per image), so it does not
matter whether the model rescales inside (``Rescaling``) or outside. Pooling uses fixed
area-weight matrices built from the static input size, so any size (also below the grid size)
works: cells then overlap pixels fractionally.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

THUMB = 8  # thumbnail side
GRID = 3  # grid side for orientation histograms, ink and activation grids
N_BINS = 8  # unsigned orientation bins over 180 degrees


def pool_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Area weights ``(n_out, n_in)``: row ``i`` averages the pixels under output cell ``i``.

    Parameters
    ----------
    n_in : int
        Pixels along the axis (any size >= 1).
    n_out : int
        Cells along the axis.

    Returns
    -------
    ndarray of shape (n_out, n_in), float32
        Rows sum to 1.
    """
    edges = np.linspace(0.0, n_in, n_out + 1)
    lo, hi = np.arange(n_in, dtype=np.float64), np.arange(1, n_in + 1, dtype=np.float64)
    w = np.clip(np.minimum(hi[None, :], edges[1:, None]) - np.maximum(lo[None, :], edges[:-1, None]),
                0.0, None)
    if n_in < n_out:  # a cell narrower than a pixel: take the pixel it lies in
        w = np.where(w.sum(1, keepdims=True) > 0, w, 0.0)
    return (w / np.maximum(w.sum(1, keepdims=True), 1e-12)).astype(np.float32)


def _pooled(tf: Any, t: Any, g: int) -> Any:
    h, w, c = int(t.shape[1]), int(t.shape[2]), int(t.shape[3])
    # One (g*g, h*w) matrix product, broadcast over the batch: cheaper per call than a
    # two-axis einsum, and no op reads the batch size.
    pool = tf.constant(np.kron(pool_matrix(h, g), pool_matrix(w, g))[None])
    return tf.matmul(pool, tf.reshape(t, (-1, h * w, c)))


def grid_pool(tf: Any, t: Any, g: int) -> Any:
    """Average an ``(n, h, w, c)`` tensor (static ``h, w``) on a ``g x g`` grid: ``(n, g, g, c)``."""
    return tf.reshape(_pooled(tf, t, g), (-1, g, g, int(t.shape[3])))


def grid_means(tf: Any, t: Any, g: int = GRID) -> Any:
    """Per-channel means of a conv activation on a ``g x g`` grid, flattened cell-major."""
    return tf.reshape(_pooled(tf, tf.cast(t, tf.float32), g), (-1, g * g * int(t.shape[-1])))


# Names and widths of the input statistics, in the order ``input_shape_stats`` returns them.
INPUT_STATS = (("thumb", THUMB * THUMB), ("hog", GRID * GRID * N_BINS), ("ink", GRID * GRID + 1),
               ("edge", 1))


def input_shape_stats(tf: Any, x: Any) -> list[Any]:
    """Shape statistics of the model input ``x`` (NHWC, 1 or 3 channels), one tensor per name.

    Parameters
    ----------
    tf : module
        TensorFlow.
    x : tensor of shape (n, h, w, c)
        The model's input, in whatever range the model takes.

    Returns
    -------
    list of tensor
        Widths as in ``INPUT_STATS``: ``thumb`` (standardised grey, ink positive, 8 x 8 area
        thumbnail), ``hog`` (per cell, magnitude-weighted soft orientation histogram divided
        by the image's mean magnitude), ``ink`` (share of ink pixels per cell, and overall),
        ``edge`` (mean gradient magnitude of the standardised image).
    """
    x = tf.cast(x, tf.float32)
    grey = tf.reduce_mean(x, axis=3, keepdims=True)
    mean, var = tf.nn.moments(grey, axes=[1, 2, 3], keepdims=True)
    z = (grey - mean) / tf.sqrt(var + 1e-6)
    # Ink is the minority tone: make it positive whatever the polarity (skewness sign).
    skew = tf.reduce_mean(z * z * z, axis=[1, 2, 3], keepdims=True)
    z = z * tf.where(skew >= 0.0, 1.0, -1.0)
    thumb = tf.reshape(grid_pool(tf, z, THUMB), (-1, THUMB * THUMB))
    ink = tf.cast(z > 0.5, tf.float32)
    ink_cells = tf.reshape(grid_pool(tf, ink, GRID), (-1, GRID * GRID))
    ink_all = tf.reduce_mean(ink, axis=[1, 2, 3])[:, None]
    zp = tf.pad(z, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")
    sx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32) / 8.0
    kern = tf.constant(np.stack([sx, sx.T], axis=-1)[:, :, None, :])  # (3, 3, 1, 2)
    grad = tf.nn.conv2d(zp, kern, strides=1, padding="VALID")
    gx, gy = grad[..., :1], grad[..., 1:]
    m2 = gx * gx + gy * gy
    mag = tf.sqrt(m2 + 1e-12)
    # Doubled angle: unsigned orientation, polarity-free, no atan needed.
    cos2, sin2 = (gx * gx - gy * gy) / (m2 + 1e-12), 2.0 * gx * gy / (m2 + 1e-12)
    phis = [math.pi * 2.0 * k / N_BINS for k in range(N_BINS)]
    bins = tf.concat([tf.nn.relu(cos2 * math.cos(p) + sin2 * math.sin(p)) * mag for p in phis],
                     axis=3)
    mean_mag = tf.reduce_mean(mag, axis=[1, 2, 3])[:, None]
    hog = tf.reshape(grid_pool(tf, bins, GRID), (-1, GRID * GRID * N_BINS)) / (mean_mag + 1e-6)
    return [thumb, hog, tf.concat([ink_cells, ink_all], axis=1), mean_mag]
