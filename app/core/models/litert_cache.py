"""Where converted ``.tflite`` files live, and how a stale or corrupt one is never used.

An entry is two files in the user cache directory (``$PROBSCOPE_CACHE_DIR/litert`` when set):
``<key>.tflite`` and ``<key>.json``. The key hashes what defines the converted graph: the
model file's content, the probscope and TensorFlow versions and the source of the models
room (which builds the heads). The JSON records the key's parts, the SHA-256 of the
``.tflite`` and what opening the model without loading it needs (input shape, classes,
logits source). A model may also ship its conversion beside it (``<model>.litert.tflite``
and ``.litert.json``), keyed by the model's content and :data:`GRAPH_VERSION` only; a test
keeps the bundled one fresh.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from app.core.files import atomic_write

# Bump when the converted graph's outputs change meaning (what the heads or stats compute).
GRAPH_VERSION = 1
CACHE_FORMAT = "probscope.litert-cache"
_digests: dict[tuple[str, int, int], str] = {}
_digest_lock = threading.Lock()


def litert_cache_dir() -> Path:
    """``$PROBSCOPE_CACHE_DIR/litert`` if set, else the platform's user cache dir."""
    override = os.environ.get("PROBSCOPE_CACHE_DIR")
    if override:
        return Path(override) / "litert"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("probscope", appauthor=False)) / "litert"


def file_digest(path: Path) -> str:
    """SHA-256 of a file's content, remembered per (path, size, mtime) for this process."""
    st = path.stat()
    memo = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _digest_lock:
        if memo in _digests:
            return _digests[memo]
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    with _digest_lock:
        _digests[memo] = h.hexdigest()
    return _digests[memo]


def _graph_source_digest() -> str:
    # The heads and the converted graph are built by the models room: any edit there may
    # change the graph. A frozen bundle has no sources; its version number stands for them.
    h = hashlib.sha256()
    room = Path(__file__).parent
    for f in sorted(room.rglob("*.py")):
        with contextlib.suppress(OSError):
            h.update(f.relative_to(room).as_posix().encode() + f.read_bytes())
    return h.hexdigest()[:16]


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "none"


def key_parts(model_path: Path, shipped: bool = False) -> dict[str, Any]:
    """What a conversion of ``model_path`` depends on (read without importing TensorFlow)."""
    parts: dict[str, Any] = {"model_sha256": file_digest(model_path), "graph_version": GRAPH_VERSION}
    if not shipped:
        import app

        parts.update({"probscope": app.__version__, "tensorflow": _version("tensorflow"),
                      "graph_source": _graph_source_digest()})
    return parts


def cache_key(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


@dataclass
class Conversion:
    """A converted model: its ``.tflite`` and what was recorded about it.

    ``meta["verified"]`` is True when the file matched TensorFlow on the probe batch; a
    rejected conversion is kept (without a file) so that it is not retried on every start,
    and ``meta["problem"]`` says why.
    """

    meta: dict[str, Any]
    tflite: Path | None = None
    content: bytes | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return bool(self.meta.get("verified"))

    @property
    def model(self) -> bytes | Path:
        return self.content if self.content is not None else self.tflite  # type: ignore[return-value]


def beside_paths(model_path: Path) -> tuple[Path, Path]:
    """The shipped conversion of a model: ``<model>.litert.tflite`` and ``.litert.json``."""
    return (model_path.with_name(model_path.name + ".litert.tflite"),
            model_path.with_name(model_path.name + ".litert.json"))


def cache_paths(key: str) -> tuple[Path, Path]:
    folder = litert_cache_dir()
    return folder / f"{key}.tflite", folder / f"{key}.json"


def _read_entry(tflite: Path, meta_path: Path, parts: dict[str, Any]) -> tuple[Conversion | None, str]:
    """The entry if it is whole and matches ``parts``; else None and why (empty: absent)."""
    if not meta_path.exists():
        return None, ""
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != CACHE_FORMAT or meta.get("key") != parts:
            return None, "stale"
        if not meta.get("verified"):
            return Conversion(meta), ""
        # Never trusted blindly: the bytes must be the ones that passed the parity check.
        if file_digest(tflite) != meta.get("tflite_sha256"):
            return None, "corrupt"
        return Conversion(meta, tflite), ""
    except (OSError, ValueError, AttributeError, TypeError):
        return None, "corrupt"


def find_conversion(model_path: Path) -> Conversion | None:
    """The verified (or rejected) conversion of ``model_path``: shipped beside it, else cached.

    A corrupt or stale cache entry is deleted (when the folder allows) and not returned, so
    that it is rebuilt.
    """
    found, _ = _read_entry(*beside_paths(model_path), key_parts(model_path, shipped=True))
    if found is not None and found.verified:
        return found
    parts = key_parts(model_path)
    tflite, meta_path = cache_paths(cache_key(parts))
    found, why = _read_entry(tflite, meta_path, parts)
    if why == "corrupt":
        discard(tflite, meta_path)
    return found


def discard(*paths: Path) -> None:
    for p in paths:
        with contextlib.suppress(OSError):
            p.unlink()


def store_conversion(model_path: Path, content: bytes | None, meta: dict[str, Any]) -> Conversion:
    """Cache a conversion (or a rejection); a read-only cache leaves a note, not an error."""
    parts = key_parts(model_path)
    meta = {**meta, "format": CACHE_FORMAT, "key": parts}
    if content is not None:
        meta["tflite_sha256"] = hashlib.sha256(content).hexdigest()
    conversion = Conversion(meta, content=content)
    tflite, meta_path = cache_paths(cache_key(parts))
    try:
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        if content is not None:
            atomic_write(tflite, content)
            conversion.tflite = tflite
        # The record goes last: an entry without it is absent, never half-present.
        atomic_write(meta_path, json.dumps(meta, indent=1))
    except OSError as exc:
        conversion.notes.append(
            f"the LiteRT cache {meta_path.parent} is not writable ({exc.strerror or exc}): "
            "the converted model lasts for this session only, so the next start is slower"
        )
    return conversion


def write_beside(model_path: Path, content: bytes, meta: dict[str, Any]) -> tuple[Path, Path]:
    """Ship a conversion next to its model (the bundled model's build script uses this)."""
    tflite, meta_path = beside_paths(model_path)
    meta = {**meta, "format": CACHE_FORMAT, "key": key_parts(model_path, shipped=True),
            "tflite_sha256": hashlib.sha256(content).hexdigest()}
    atomic_write(tflite, content)
    atomic_write(meta_path, json.dumps(meta, indent=1))
    return tflite, meta_path
