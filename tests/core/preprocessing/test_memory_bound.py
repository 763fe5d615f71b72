"""Decoded pixels in flight are bounded (issue 16), and the memory-saving resize is exact."""

from __future__ import annotations

import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from app.core.preprocessing import backends, pipeline
from app.core.preprocessing.spec import PreprocessingSpec


def _png(h: int, w: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_parallel_decodes_never_hold_more_pixels_than_the_budget(monkeypatch):
    budget = pipeline.PixelBudget(3_000_000)
    monkeypatch.setattr(pipeline, "DECODE_BUDGET", budget)
    lock = threading.Lock()
    held = {"now": 0, "peak": 0}

    def fake_backend(data, spec, name):
        pixels = 1000 * 1000 if len(data) < 5000 else 2000 * 1000
        with lock:
            held["now"] += pixels
            held["peak"] = max(held["peak"], held["now"])
        time.sleep(0.02)
        with lock:
            held["now"] -= pixels
        return np.zeros((4, 4, 3), np.float32)

    monkeypatch.setitem(pipeline.BACKENDS, "opencv", fake_backend)
    sources = [_png(1000, 1000), _png(1000, 2000)] * 8
    spec = PreprocessingSpec(target_size=(4, 4))
    with ThreadPoolExecutor(8) as pool:
        batch = pipeline.prepare_batch(sources, spec, pool)
    assert batch.errors == [None] * 16
    assert 0 < held["peak"] <= 3_000_000


def test_an_image_above_the_whole_budget_still_decodes_alone():
    budget = pipeline.PixelBudget(10)
    with budget.hold(10**9):
        pass  # capped at the capacity: no deadlock


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear", "area"])
def test_per_channel_resize_of_a_large_image_is_bit_identical(interpolation):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (2100, 2000, 3), dtype=np.uint8)  # above the per-channel size
    spec = PreprocessingSpec(target_size=(37, 53), interpolation=interpolation)
    whole = backends._resize_opencv(np.ascontiguousarray(rgb, dtype=np.float32), spec)
    np.testing.assert_array_equal(backends.array_to_input_range(rgb, spec), whole)
