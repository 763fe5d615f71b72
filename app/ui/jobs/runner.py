"""The one way the window and its panels run long work: :class:`JobRunner`.

Following Orange3's ``concurrent.py``, a job is a plain module-level function called as
``func(*inputs, progress, cancel)``: it reports ``progress(done, total)``, checks
``cancel.is_set()``, may ``yield`` partial results (a folder run streams its batches), and
returns plain data; it never touches a widget. The runner starts it on the global thread
pool (a bare ``QRunnable``: importing superqt's worker imports all of superqt's widgets, half
a second on the way to the first answer) and makes the newest request win: a new
:meth:`JobRunner.start` makes every older job of that runner stale, so their progress,
partial results and errors are dropped and only what they return is still announced, as
``stale`` (a model loaded for a request since replaced must still be closed).
Errors never reach the GUI thread as exceptions: they become one-line ``failed`` messages.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from app.core import ProbscopeError

ProgressFn = Callable[[int, int], None]

# Model loads, a folder run, single images, thumbnails and the panels' data jobs may all be in
# flight at once.
MIN_POOL_THREADS = 6
WORKER_STACK_BYTES = 16 * 1024 * 1024


class Cancelled(Exception):
    """Raised by a job that noticed its cancel event (the user pressed Cancel, or a newer job)."""


def ensure_thread_capacity() -> None:
    """Give the global pool enough threads, deep stacks, and threads that never expire."""
    pool = QThreadPool.globalInstance()
    if pool.maxThreadCount() < MIN_POOL_THREADS:
        pool.setMaxThreadCount(MIN_POOL_THREADS)
    # TensorFlow kernels run inline on the calling thread in eager mode and need deep stacks;
    # give pool threads the main thread's 8 MiB and more rather than the platform's default.
    if pool.stackSize() < WORKER_STACK_BYTES:
        pool.setStackSize(WORKER_STACK_BYTES)
    # Keep pool threads alive: TensorFlow keeps per-thread state (eager context, oneDNN
    # scratch) that must not be torn down under a model still in use by other threads.
    pool.setExpiryTimeout(-1)


class _Job(QRunnable):
    """One job on the pool: runs ``work`` and hands its outcome to ``deliver``."""

    def __init__(self, work: Callable[[], Any], deliver: Callable[[Any], None]) -> None:
        super().__init__()
        self._work, self._deliver = work, deliver

    def run(self) -> None:  # noqa: D102 (QRunnable override, runs on a pool thread)
        outcome = self._work()
        # RuntimeError: the runner (its window) was deleted meanwhile; nobody is left to tell.
        with contextlib.suppress(RuntimeError):
            self._deliver(outcome)


def one_line(exc: BaseException) -> str:
    """A user-facing single line for any exception (core errors already are one line)."""
    if isinstance(exc, ProbscopeError):
        return exc.message
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


class _Mailbox(QObject):
    """Where worker threads post ``(generation, kind, value)`` for their runner.

    It has no Qt parent, so Qt never deletes it with a window, and each job holds a reference:
    a runner deleted while its jobs still report (its window closed) leaves them posting into
    this live object, whose connection to the runner Qt has already cut, instead of emitting
    on the runner's freed memory (a crash no ``RuntimeError`` check can catch in time).
    """

    # Queued to the runner, because the emitting thread is not the one the runner lives in.
    posted = Signal(int, str, object)


class JobRunner(QObject):
    """Runs jobs on the thread pool; the newest start wins.

    Parameters
    ----------
    cancel_previous : bool
        True (the default): a new start also sets the older job's cancel event, so it stops
        early. False: older jobs run to the end (every dropped image must still be
        classified), only their outcome goes to ``stale`` instead of ``finished``.

    Signals
    -------
    progress(done, total)
        The newest job's ``progress`` callback.
    yielded(object)
        What the newest job yields (generator jobs).
    finished(object)
        What the newest job returns.
    stale(object)
        What a job returns after a newer start (or a cancel) made it stale.
    failed(str)
        The newest job raised: a one-line message. Never for cancelled or stale jobs.
    cancelled()
        The newest job stopped because it was cancelled.
    running_changed(bool)
        True when a job starts, False when the newest one ends or is cancelled.
    """

    progress = Signal(int, int)
    yielded = Signal(object)
    finished = Signal(object)
    stale = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    running_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None, cancel_previous: bool = True) -> None:
        super().__init__(parent)
        ensure_thread_capacity()
        self._cancel_previous = cancel_previous
        self._generation = 0
        self._cancel = threading.Event()
        self._running = False
        self._in_flight: set[int] = set()  # generations whose job has not returned yet
        self._mailbox = _Mailbox()
        self._mailbox.posted.connect(self._relay)

    @property
    def running(self) -> bool:
        """The newest job is still running."""
        return self._running

    @property
    def in_flight(self) -> int:
        """How many jobs (stale ones included) have not returned yet."""
        return len(self._in_flight)

    def start(self, func: Callable[..., Any], *args: Any) -> None:
        """Run ``func(*args, progress, cancel)`` on a worker thread; older jobs become stale."""
        if self._cancel_previous:
            self.cancel(silent=True)
        self._generation += 1
        generation = self._generation
        cancel = threading.Event()
        self._cancel = cancel
        mailbox = self._mailbox  # the job's own reference: it may outlive the runner

        def emit(*message: Any) -> None:
            mailbox.posted.emit(*message)

        def report(done: int, total: int) -> None:
            emit(generation, "progress", (done, total))

        def run() -> tuple[int, str, Any]:
            # Errors become values so that nothing is re-raised on the GUI thread.
            try:
                if inspect.isgeneratorfunction(func):
                    steps = func(*args, report, cancel)
                    while True:
                        try:
                            emit(generation, "yielded", next(steps))
                        except StopIteration as stop:
                            return generation, "ok", stop.value
                return generation, "ok", func(*args, report, cancel)
            except Cancelled:
                return generation, "cancelled", None
            except Exception as exc:  # a bad file or model must never crash the window
                if cancel.is_set():
                    return generation, "cancelled", None
                return generation, "error", one_line(exc)

        self._in_flight.add(generation)
        self._set_running(True)
        QThreadPool.globalInstance().start(
            _Job(run, lambda outcome: emit(generation, "done", outcome)))

    def stop(self) -> None:
        """Ask the newest job to stop early; what it returns is still announced as ``finished``."""
        self._cancel.set()

    def cancel(self, silent: bool = False) -> None:
        """Stop the newest job and drop its outcome; ``cancelled`` unless ``silent``."""
        if not self._running:
            return
        self._cancel.set()
        self._generation += 1  # whatever the old job still returns is now stale
        self._set_running(False)
        if not silent:
            self.cancelled.emit()

    def _relay(self, generation: int, kind: str, value: Any) -> None:
        if kind == "done":  # stale or not: _done sorts it out
            self._done(value)
            return
        if generation != self._generation:
            return
        if kind == "progress":
            self.progress.emit(*value)
        else:
            self.yielded.emit(value)

    def _done(self, outcome: tuple[int, str, Any]) -> None:
        generation, kind, value = outcome
        self._in_flight.discard(generation)
        if generation != self._generation:
            if kind == "ok":
                self.stale.emit(value)
            return
        self._set_running(False)
        if kind == "ok":
            self.finished.emit(value)
        elif kind == "error":
            self.failed.emit(value)
        else:
            self.cancelled.emit()

    def _set_running(self, running: bool) -> None:
        if running != self._running:
            self._running = running
            self.running_changed.emit(running)
