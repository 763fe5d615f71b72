"""Work that must never run on the GUI thread, as plain functions, and how it is started.

Following Orange3's ``concurrent.py`` pattern, each job is a module-level function that
takes its inputs (and a cancel check) and returns or yields plain results; it never touches
widgets. Jobs catch every error themselves and report it as a one-line message, so a bad
file or model never surfaces as a traceback. TensorFlow and the heavy core modules are
imported inside the jobs, which keeps ``import app.ui.main_window`` free of TensorFlow.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QThreadPool
from PySide6.QtGui import QImage

from app.core.errors import ProbscopeError, UnsafeModelError
from app.core.session.results import Classification

if TYPE_CHECKING:
    from superqt.utils import WorkerBase

    from app.core.session.model_session import ModelSession

# Model loads, a folder run, single images and thumbnails may all be in flight at once.
MIN_POOL_THREADS = 6
BATCH_SIZE = 64


WORKER_STACK_BYTES = 16 * 1024 * 1024


def ensure_thread_capacity() -> None:
    """Give the global pool enough threads that a long folder run never starves a drop."""
    pool = QThreadPool.globalInstance()
    if pool.maxThreadCount() < MIN_POOL_THREADS:
        pool.setMaxThreadCount(MIN_POOL_THREADS)
    # TensorFlow kernels run inline on the calling thread in eager mode and need deep stacks;
    # give pool threads the main thread's 8 MiB rather than the platform's thread default.
    if pool.stackSize() < WORKER_STACK_BYTES:
        pool.setStackSize(WORKER_STACK_BYTES)
    # Keep pool threads alive: TensorFlow keeps per-thread state (eager context, oneDNN
    # scratch) that must not be torn down under a model still in use by other threads.
    pool.setExpiryTimeout(-1)


def start(
    func: Callable[..., Any],
    *args: Any,
    track: set[Any] | None = None,
    **connect: Callable[..., Any],
) -> WorkerBase:
    """Start ``func(*args)`` on the thread pool with the given signal connections.

    Everything is connected *before* the worker starts: a fast job may finish before
    ``start`` returns. With ``track``, the worker sits in that set until it finishes.
    Errors are never re-raised in the GUI thread (jobs report their own).
    """
    # superqt imports all its widgets on first use; keeping it out of start-up saves ~0.3 s.
    from superqt.utils import create_worker

    worker = create_worker(func, *args, _start_thread=False, _ignore_errors=True, _connect=connect)
    if track is not None:
        track.add(worker)
        worker.finished.connect(lambda: track.discard(worker))
    worker.start()
    return worker


def one_line(exc: BaseException) -> str:
    """A user-facing single line for any exception (core errors already are one line)."""
    if isinstance(exc, ProbscopeError):
        return exc.message
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


@dataclass
class SessionHandle:
    """A loaded model plus the lock that serialises inference on it across jobs."""

    session: ModelSession
    device: str
    generation: int
    lock: threading.Lock = field(default_factory=threading.Lock)


# -- model loading ---------------------------------------------------------------------------
@dataclass
class LoadOutcome:
    path: str
    session: ModelSession | None = None
    device: str = ""
    error: str | None = None
    risky: list[str] = field(default_factory=list)  # non-empty: needs the user's trust first


def load_model_job(path: str, trust: bool) -> Generator[str, None, LoadOutcome]:
    """Import TensorFlow, inspect the model, and open it (after trust if it can run code)."""
    yield "Loading TensorFlow…"
    try:
        from app.core.tf_runtime import compute_device, import_tensorflow

        import_tensorflow()
        yield f"Loading model {Path(path).name}…"
        from app.core import open_model
        from app.core.models.inspection import inspect_model

        if not trust:
            inspection = inspect_model(path)
            if inspection.risky:
                return LoadOutcome(path, risky=list(inspection.risky))
        session = open_model(path, trust=trust)
        return LoadOutcome(path, session=session, device=compute_device())
    except UnsafeModelError as exc:
        return LoadOutcome(path, error=exc.message)
    except Exception as exc:  # never let a bad model file kill the app
        return LoadOutcome(path, error=one_line(exc))


def close_session_job(handle: SessionHandle) -> None:
    """Release a replaced model once no job is inferring on it any more."""
    with handle.lock:
        handle.session.close()


# -- one image -----------------------------------------------------------------------------
@dataclass
class ImageSource:
    """One image to classify: a file path, or encoded bytes from a paste or drag."""

    name: str
    path: str | None = None
    data: bytes | None = None

    @property
    def source(self) -> str | bytes:
        return self.path if self.path is not None else (self.data or b"")


@dataclass
class Shown:
    """A result with the pictures the window needs to show it."""

    result: Classification
    original: QImage | None = None  # downscaled to DISPLAY_MAX_SIDE
    seen: QImage | None = None  # at model resolution, as the model sees it
    thumb: QImage | None = None
    request_id: int = 0
    generation: int = 0


def _render(
    handle: SessionHandle, source: str | bytes | None, model_input: Any
) -> tuple[QImage | None, QImage | None, QImage | None]:
    """(original downscaled, what the model sees, thumbnail); None where unavailable."""
    from app.core.images.decoding import decode_image
    from app.core.preprocessing.pipeline import input_to_display
    from app.ui.qt_images import DISPLAY_MAX_SIDE, rgb_to_qimage, shrink, thumbnail

    original = seen = thumb = None
    if source is not None:
        try:
            rgb = decode_image(source)
            original = shrink(rgb_to_qimage(rgb), DISPLAY_MAX_SIDE)
            thumb = thumbnail(rgb)
        except ProbscopeError:
            pass  # the result row already carries the decode error
    if model_input is not None:
        seen = rgb_to_qimage(input_to_display(model_input, handle.session.spec))
    return original, seen, thumb


def classify_one_job(handle: SessionHandle, item: ImageSource, request_id: int) -> Shown:
    """Classify one image and render what was given and what the model saw."""
    try:
        with handle.lock:
            result = handle.session.classify([item.source], names=[item.name], keep_inputs=True)[0]
        original, seen, thumb = _render(handle, item.source, result.model_input)
        if item.path is not None:
            result.model_input = None  # re-derivable from the file; keep history small
        return Shown(result, original, seen, thumb, request_id, handle.generation)
    except Exception as exc:
        return Shown(Classification(path=item.name, error=one_line(exc)), request_id=request_id,
                     generation=handle.generation)


def view_job(handle: SessionHandle, result: Classification, request_id: int) -> Shown:
    """Re-render a history row's pictures from its file (only the thumbnail is kept per row)."""
    try:
        model_input = result.model_input
        path = Path(result.path)
        on_disk = path.is_file()
        if model_input is None and on_disk and result.ok:
            batch = handle.session.prepare([str(path)])
            model_input = batch.inputs[0] if batch.ok_indices else None
        original, seen, _ = _render(handle, str(path) if on_disk else None, model_input)
        return Shown(result, original, seen, None, request_id, handle.generation)
    except Exception:
        return Shown(result, request_id=request_id, generation=handle.generation)


def thumbnail_job(key: int, path: str) -> tuple[int, QImage | None]:
    """Decode one file into a history thumbnail (rows ask for these only when visible)."""
    try:
        from app.core.images.decoding import decode_image
        from app.ui.qt_images import thumbnail

        return key, thumbnail(decode_image(path))
    except Exception:
        return key, None


# -- many images ---------------------------------------------------------------------------
@dataclass
class RunStarted:
    total: int
    errors: list[Classification]  # paths that could not be expanded (missing, empty folder)
    labelled_root: str | None = None


@dataclass
class RunBatch:
    results: list[Classification]
    done: int
    total: int
    images_per_s: float


@dataclass
class RunFinished:
    done: int
    total: int
    cancelled: bool
    seconds: float
    error: str | None = None


def labelled_root(paths: Sequence[str], classes: Sequence[str]) -> str | None:
    """The folder, if a single one was given whose sub-folders are named like the classes."""
    if len(paths) != 1 or not Path(paths[0]).is_dir():
        return None
    subdirs = {p.name for p in Path(paths[0]).iterdir() if p.is_dir()}
    known = subdirs & set(classes)
    return paths[0] if known and len(known) == len(subdirs) else None


def _expand(paths: Sequence[str]) -> tuple[list[str], list[Classification]]:
    from app.core.images.files import collect_image_files

    files: list[str] = []
    errors: list[Classification] = []
    for p in paths:
        try:
            files.extend(str(f) for f in collect_image_files([p]))
        except ProbscopeError as exc:
            errors.append(Classification(path=p, error=exc.message))
    return files, errors


def folder_run_job(
    handle: SessionHandle, paths: list[str], cancel: threading.Event, batch_size: int = BATCH_SIZE
) -> Generator[RunStarted | RunBatch, None, RunFinished]:
    """Classify files and folders batch by batch, yielding results as they come."""
    start_time = time.perf_counter()
    done = 0
    total = 0
    try:
        files, errors = _expand(paths)
        total = len(files)
        yield RunStarted(total, errors, labelled_root(paths, handle.session.classes))
        it = handle.session.iter_classify(files, batch_size=batch_size, cancelled=cancel.is_set)
        while not cancel.is_set():
            # Holding the lock per batch lets a single dropped image slip in between batches.
            with handle.lock:
                results = next(it, None)
            if results is None:
                break
            done += len(results)
            elapsed = max(time.perf_counter() - start_time, 1e-6)
            yield RunBatch(results, done, total, done / elapsed)
        return RunFinished(done, total, cancel.is_set() and done < total,
                           time.perf_counter() - start_time)
    except Exception as exc:
        if cancel.is_set():  # the model was closed under a cancelled run: not an error
            return RunFinished(done, total, True, time.perf_counter() - start_time)
        return RunFinished(done, total, False, time.perf_counter() - start_time, one_line(exc))
