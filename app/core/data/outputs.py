"""Model outputs (logits, probabilities, features) for a whole data set, computed once.

Fitting a temperature or a threshold, and moving their sliders, must not re-run the
model: outputs are cached on disk, keyed by the model file, its preprocessing and the
data's content.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.core.data.labelled import DataSet
from app.core.errors import DataError
from app.core.files import atomic_write
from app.core.models.predictor import ModelOutputs, concat_outputs
from app.core.preprocessing.pipeline import prepare_batch
from app.core.session.model_session import ModelSession

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


@dataclass
class DataOutputs:
    """Outputs for the samples that could be used, their labels, and what was skipped."""

    outputs: ModelOutputs
    labels: np.ndarray | None
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.outputs)


def cache_dir() -> Path:
    import os

    override = os.environ.get("PROBSCOPE_CACHE_DIR")
    if override:
        return Path(override)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("probscope", appauthor=False)) / "outputs"


def _cache_key(session: ModelSession, data: DataSet) -> str:
    model = session.loaded.path
    stat_parts = []
    for f in [model] if model.is_file() else sorted(model.rglob("*")):
        if f.is_file():
            st = f.stat()
            stat_parts.append(f"{f}|{st.st_size}|{st.st_mtime_ns}")
    h = hashlib.sha256("\n".join(stat_parts).encode())
    h.update(json.dumps(session.spec.to_dict(), sort_keys=True, default=str).encode())
    h.update(data.fingerprint().encode())
    # Outputs with and without the probe's layer statistics are different entries.
    h.update(f"stats={getattr(session.predictor, 'stats_width', 0)}".encode())
    return h.hexdigest()[:40]


_log = logging.getLogger("probscope")


def _load_cached(path: Path) -> DataOutputs | None:
    """The cached outputs, or None; a truncated or corrupt entry is discarded (and rebuilt)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            feats = z["features"] if z["features"].size else None
            stats = z["stats"] if "stats" in z.files and z["stats"].size else None
            labels = z["labels"] if z["labels"].size or "has_labels" in z.files else None
            skipped = [str(s) for s in z["skipped"]]
            outputs = ModelOutputs(z["logits"], z["probabilities"], feats, stats)
            return DataOutputs(outputs, labels, skipped)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        # Said once, naming the file: a cache that silently vanished would look like a bug.
        reason = type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {str(exc)[:120]}"
        _log.warning("note: %s: damaged cached model outputs discarded (%s); rebuilding them",
                     path, reason)
        path.unlink(missing_ok=True)
        return None


def _store(path: Path, result: DataOutputs) -> None:
    arrays = {
        "logits": result.outputs.logits,
        "probabilities": result.outputs.probabilities,
        "features": result.outputs.features if result.outputs.features is not None else np.zeros(0),
        "stats": result.outputs.stats if result.outputs.stats is not None else np.zeros(0),
        "labels": result.labels if result.labels is not None else np.zeros(0, dtype=np.int64),
        "skipped": np.asarray(result.skipped, dtype=str),
        **({"has_labels": np.ones(1)} if result.labels is not None else {}),
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda stream: np.savez(stream, **arrays))
    except OSError:
        pass  # a cache that cannot be written only costs time


def iter_input_batches(
    session: ModelSession,
    data: DataSet,
    batch_size: int,
    kept: list[int],
    skipped: list[str],
    progress: ProgressFn | None = None,
    cancelled: CancelFn | None = None,
) -> Iterator[np.ndarray]:
    """Yield the model inputs of ``data`` batch by batch, skipping unreadable images.

    Appends the indices of the images used to ``kept`` and one line per unreadable image to
    ``skipped``; reports progress once the caller is done with each batch.

    Raises
    ------
    DataError
        Cancelled, or none of the images could be read.
    """
    sources = list(data.images) if data.images is not None else list(data.files)
    names = [f"{data.name}[{i}]" for i in range(len(sources))] if data.images is not None else [
        str(f) for f in data.files
    ]
    # Float arrays in an .npz are model inputs already.
    floats_given = data.images is not None and data.images.dtype != np.uint8
    total = len(sources)
    for start in range(0, total, batch_size):
        if cancelled is not None and cancelled():
            raise DataError("cancelled")
        chunk = sources[start : start + batch_size]
        if floats_given:
            inputs = np.asarray(chunk, dtype=np.float32)
            if inputs.ndim == 3:
                inputs = inputs[..., None]
            ok = list(range(len(chunk)))
        else:
            batch = prepare_batch(chunk, session.spec, session.executor)
            inputs, ok = batch.inputs, batch.ok_indices
            skipped += [f"{names[start + i]}: {e}" for i, e in enumerate(batch.errors) if e]
        if ok:
            kept += [start + i for i in ok]
            yield inputs
        if progress:
            progress(min(start + batch_size, total), total)
    if not kept:
        raise DataError(f"{data.name}: none of the {total} images could be read")


def compute_outputs(
    session: ModelSession,
    data: DataSet,
    progress: ProgressFn | None = None,
    cancelled: CancelFn | None = None,
    batch_size: int = 128,
    use_cache: bool = True,
) -> DataOutputs:
    """Run the model over a data set once (or read the cached run).

    Corrupt images are skipped and reported in ``skipped``, never fatal.

    Raises
    ------
    DataError
        Nothing in the data set could be used.
    """
    if data.logits is not None:
        logits = np.asarray(data.logits, dtype=np.float32)
        from app.core.numeric import softmax

        out = ModelOutputs(logits, softmax(logits).astype(np.float32), data.features)
        return DataOutputs(out, data.labels)
    key_path = cache_dir() / f"{_cache_key(session, data)}.npz"
    if use_cache and key_path.exists():
        cached = _load_cached(key_path)
        if cached is not None:
            if progress:
                progress(len(data), len(data))
            return cached
    kept: list[int] = []
    skipped: list[str] = []
    parts = [session.infer(inputs) for inputs in iter_input_batches(
        session, data, batch_size, kept, skipped, progress, cancelled)]
    labels = None if data.labels is None else data.labels[np.asarray(kept)]
    result = DataOutputs(concat_outputs(parts, session.loaded.n_classes), labels, skipped)
    if use_cache:
        _store(key_path, result)
    return result
