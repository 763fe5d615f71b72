"""Median-of-repeats timing after a warm-up, and timing of fresh processes."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable


def median_ms(fn: Callable[[], object], repeats: int = 30, warmup: int = 3) -> float:
    """Median wall time of ``fn`` in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def fresh_process_json(code: str, repeats: int = 3, env: dict[str, str] | None = None) -> list[dict]:
    """Run ``code`` in fresh interpreters; each prints one JSON object on its last line.

    One unrecorded run first writes the bytecode caches, so every recorded start is like a
    user's second start (``PYTHONDONTWRITEBYTECODE`` in the caller's environment is dropped).
    """
    child_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    child_env.update(env or {})
    results = []
    for attempt in range(repeats + 1):
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=child_env,
        )
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"benchmark process failed: {proc.stderr.strip()[-500:]}")
        if attempt:
            results.append(json.loads(lines[-1]))
    return results
