"""The folder-run job: files and folders classified batch by batch, results streamed as they come."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass

from app.core.session import Classification
from app.ui.jobs.model_jobs import SessionHandle
from app.ui.jobs.runner import ProgressFn, one_line

BATCH_SIZE = 64


@dataclass
class RunStarted:
    total: int
    errors: list[Classification]  # paths that could not be expanded (missing, empty folder)
    labelled_root: str | None = None
    # A single folder whose sub-folders are not the classes: why it gets no accuracy.
    unlabelled_why: str | None = None


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
    from app.core.images import is_labelled_folder

    return paths[0] if len(paths) == 1 and is_labelled_folder(paths[0], classes) else None


def unlabelled_why(paths: Sequence[str], classes: Sequence[str]) -> str | None:
    """Why a single folder with sub-folders is not a labelled one of these classes, or None."""
    from app.core.data import sub_folder_problem

    return sub_folder_problem(paths[0], list(classes)) if len(paths) == 1 else None


def _expand(paths: Sequence[str]) -> tuple[list[str], list[Classification]]:
    from app.core.images import PathProblem, find_image_files

    # A folder that cannot be read or loops through a link gets its own error row; the other
    # paths' images are still classified.
    files: list[str] = []
    errors: list[Classification] = []
    for entry in find_image_files(paths):
        if isinstance(entry, PathProblem):
            errors.append(Classification(path=entry.path, error=entry.message))
        else:
            files.append(str(entry))
    return files, errors


def folder_run_job(
    handle: SessionHandle,
    paths: list[str],
    progress: ProgressFn,
    cancel: threading.Event,
    batch_size: int = BATCH_SIZE,
) -> Generator[RunStarted | RunBatch, None, RunFinished]:
    """Classify files and folders batch by batch, yielding results as they come."""
    start_time = time.perf_counter()
    done = 0
    total = 0
    try:
        files, errors = _expand(paths)
        total = len(files)
        classes = handle.session.classes
        root = labelled_root(paths, classes)
        yield RunStarted(total, errors, root, None if root else unlabelled_why(paths, classes))
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
