"""Seeded fuzzing of the decoders (issue 16): every mutant of real PNG and JPEG files gives one
record per back end, in bounded time, with no traceback and nothing on stderr."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[3]
N_MUTANTS = 240  # x 3 back ends: 720 decodes in about 15 s

# Decodes every file given with every back end; one JSON line each. A crash, a traceback or a
# hang shows as a missing line, text on stderr, or the timeout.
DECODE_ALL = """
import json, sys
from app.core.errors import ProbscopeError
from app.core.preprocessing.pipeline import prepare_input
from app.core.preprocessing.spec import PreprocessingSpec

for backend in ("opencv", "pil", "tf"):
    spec = PreprocessingSpec(target_size=(16, 16), resize_backend=backend, interpolation="bilinear")
    for path in sys.argv[1:]:
        try:
            x = prepare_input(path, spec)
            record = {"backend": backend, "path": path, "error": None, "finite": bool((x == x).all())}
        except ProbscopeError as exc:
            record = {"backend": backend, "path": path, "error": exc.message}
        print(json.dumps(record), flush=True)
"""


def _photo(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) % 256], axis=-1)
    return np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)


def _seeds(rng: np.random.Generator) -> list[bytes]:
    rgb = _photo(rng, 48, 64)
    out = []
    for fmt, kw in [("PNG", {}), ("PNG", {"optimize": True}), ("JPEG", {"quality": 90}),
                    ("JPEG", {"progressive": True}), ("JPEG", {"exif": Image.Exif()})]:
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, fmt, **kw)
        out.append(buf.getvalue())
    buf = io.BytesIO()
    Image.fromarray(rgb).convert("P").save(buf, "PNG")
    out.append(buf.getvalue())
    buf = io.BytesIO()
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(buf, "PNG")  # 16-bit grey
    out.append(buf.getvalue())
    return out


def _fix_png_crcs(data: bytearray) -> bytearray:
    # Damage that keeps every checksum right reaches libpng's decoder itself.
    i = 8
    while i + 12 <= len(data):
        length = struct.unpack(">I", data[i : i + 4])[0]
        end = i + 12 + length
        if end > len(data):
            break
        data[end - 4 : end] = struct.pack(">I", zlib.crc32(bytes(data[i + 4 : end - 4])))
        i = end
    return data


def _mutant(rng: np.random.Generator, seed: bytes) -> bytes:
    data = bytearray(seed)
    kind = int(rng.integers(0, 7))
    n = len(data)
    if kind == 0:  # flip a few bytes
        for _ in range(int(rng.integers(1, 9))):
            data[int(rng.integers(0, n))] ^= int(rng.integers(1, 256))
    elif kind == 1:  # truncate
        data = data[: int(rng.integers(1, n))]
    elif kind == 2:  # insert random bytes
        at = int(rng.integers(0, n))
        data[at:at] = rng.bytes(int(rng.integers(1, 64)))
    elif kind == 3:  # zero a range
        at = int(rng.integers(0, n))
        data[at : at + int(rng.integers(1, 200))] = b"\0" * len(data[at : at + 200])
    elif kind == 4:  # append garbage after the end
        data += rng.bytes(int(rng.integers(1, 300)))
    elif kind == 5:  # duplicate a range
        at = int(rng.integers(0, n))
        data[at:at] = data[at : at + int(rng.integers(1, 300))]
    else:  # flip bytes past the header, then repair PNG checksums
        for _ in range(int(rng.integers(1, 5))):
            data[int(rng.integers(min(40, n - 1), n))] ^= int(rng.integers(1, 256))
        if data[:4] == b"\x89PNG":
            data = _fix_png_crcs(data)
    return bytes(data)


def test_decoder_fuzz_gives_one_record_per_file_quietly(tmp_path: Path) -> None:
    rng = np.random.default_rng(16)
    seeds = _seeds(rng)
    paths = []
    for i in range(N_MUTANTS):
        seed = seeds[i % len(seeds)]
        ext = ".png" if seed[:4] == b"\x89PNG" else ".jpg"
        path = tmp_path / f"mutant_{i:03d}{ext}"
        path.write_bytes(_mutant(rng, seed))
        paths.append(str(path))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", DECODE_ALL, *paths], cwd=REPO, capture_output=True,
                          text=True, timeout=240, env={**os.environ, "PYTHONWARNINGS": "default"})
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr == "", proc.stderr[-2000:]
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(records) == 3 * N_MUTANTS
    assert {(r["backend"], r["path"]) for r in records} == {
        (b, p) for b in ("opencv", "pil", "tf") for p in paths}
    for r in records:
        if r["error"] is None:
            assert r["finite"]
        else:
            name = Path(r["path"]).name
            assert r["error"].startswith(f"{name}: ") and "\n" not in r["error"]
            assert "BytesIO" not in r["error"] and "Graph execution error" not in r["error"]
    assert sum(r["error"] is None for r in records) > 0.2 * len(records), "mutants are too broken"
    assert elapsed < 120
