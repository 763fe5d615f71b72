"""The one job runner, on real QThreadPool workers: newest wins, cancellation, errors as messages."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QThreadPool

from app.core import DataError
from app.ui.jobs.runner import WORKER_STACK_BYTES, Cancelled, JobRunner

WAIT_MS = 10_000


def gated(value: str, gate: threading.Event, progress, cancel) -> str:  # type: ignore[no-untyped-def]
    """Returns ``value`` once ``gate`` opens (or the job is cancelled)."""
    while not gate.wait(0.01):
        if cancel.is_set():
            break
    return value


def until_cancelled(started: threading.Event, progress, cancel) -> str:  # type: ignore[no-untyped-def]
    started.set()
    while not cancel.wait(0.01):
        pass
    raise Cancelled


def until_stopped(started: threading.Event, progress, cancel) -> str:  # type: ignore[no-untyped-def]
    started.set()
    cancel.wait(WAIT_MS / 1000)
    return "stopped early"


def failing(exc: Exception, progress, cancel) -> None:  # type: ignore[no-untyped-def]
    raise exc


def streaming(n: int, progress, cancel):  # type: ignore[no-untyped-def]
    for i in range(n):
        progress(i + 1, n)
        yield i
    return "done"


@pytest.fixture
def runner(qtbot) -> JobRunner:  # type: ignore[no-untyped-def]
    r = JobRunner()
    yield r
    qtbot.waitUntil(lambda: r.in_flight == 0, timeout=WAIT_MS)


def test_the_pool_keeps_the_settings_that_fixed_tensorflow_crashes(runner: JobRunner) -> None:
    pool = QThreadPool.globalInstance()
    assert pool.stackSize() >= WORKER_STACK_BYTES == 16 * 1024 * 1024
    assert pool.expiryTimeout() == -1  # threads never expire under a model in use
    assert pool.maxThreadCount() >= 6


def test_the_newest_start_wins(qtbot, runner: JobRunner) -> None:  # type: ignore[no-untyped-def]
    finished: list[str] = []
    stale: list[str] = []
    runner.finished.connect(finished.append)
    runner.stale.connect(stale.append)
    old_gate, new_gate = threading.Event(), threading.Event()
    runner.start(gated, "old", old_gate)
    runner.start(gated, "new", new_gate)
    new_gate.set()
    qtbot.waitUntil(lambda: finished == ["new"], timeout=WAIT_MS)
    old_gate.set()
    qtbot.waitUntil(lambda: runner.in_flight == 0, timeout=WAIT_MS)
    # The old job was told to stop; what it returned is announced as stale, never as finished.
    assert finished == ["new"] and stale == ["old"]
    assert not runner.running


def test_without_cancel_previous_older_jobs_run_to_the_end(qtbot) -> None:  # type: ignore[no-untyped-def]
    runner = JobRunner(cancel_previous=False)
    finished: list[str] = []
    stale: list[str] = []
    runner.finished.connect(finished.append)
    runner.stale.connect(stale.append)
    old_gate, new_gate = threading.Event(), threading.Event()
    runner.start(gated, "old", old_gate)
    runner.start(gated, "new", new_gate)
    new_gate.set()
    qtbot.waitUntil(lambda: finished == ["new"], timeout=WAIT_MS)
    assert runner.in_flight == 1  # the old one was not cancelled: it still waits for its gate
    old_gate.set()
    qtbot.waitUntil(lambda: stale == ["old"], timeout=WAIT_MS)


def test_cancel_stops_the_job_and_drops_it(qtbot, runner: JobRunner) -> None:  # type: ignore[no-untyped-def]
    finished: list[object] = []
    runner.finished.connect(finished.append)
    running: list[bool] = []
    runner.running_changed.connect(running.append)
    started = threading.Event()
    runner.start(until_cancelled, started)
    assert started.wait(WAIT_MS / 1000)
    with qtbot.waitSignal(runner.cancelled, timeout=WAIT_MS):
        runner.cancel()
    qtbot.waitUntil(lambda: runner.in_flight == 0, timeout=WAIT_MS)
    assert finished == [] and running == [True, False]


def test_stop_asks_the_job_to_stop_but_keeps_what_it_returns(qtbot, runner: JobRunner) -> None:  # type: ignore[no-untyped-def]
    started = threading.Event()
    runner.start(until_stopped, started)
    assert started.wait(WAIT_MS / 1000)
    with qtbot.waitSignal(runner.finished, timeout=WAIT_MS) as done:
        runner.stop()
    assert done.args == ["stopped early"]


@pytest.mark.parametrize(("exc", "message"), [
    (ValueError("bad\n  value"), "ValueError: bad value"),
    (DataError("cats: not classes of this model"), "cats: not classes of this model"),
])
def test_errors_become_one_line_messages(qtbot, runner: JobRunner, exc: Exception,  # type: ignore[no-untyped-def]
                                         message: str) -> None:
    with qtbot.waitSignal(runner.failed, timeout=WAIT_MS) as failed:
        runner.start(failing, exc)
    assert failed.args == [message]
    assert not runner.running


def test_a_generator_job_streams_progress_and_results(qtbot, runner: JobRunner) -> None:  # type: ignore[no-untyped-def]
    progress: list[tuple[int, int]] = []
    yielded: list[int] = []
    runner.progress.connect(lambda done, total: progress.append((done, total)))
    runner.yielded.connect(yielded.append)
    with qtbot.waitSignal(runner.finished, timeout=WAIT_MS) as done:
        runner.start(streaming, 3)
    assert done.args == ["done"]
    qtbot.waitUntil(lambda: len(yielded) == 3, timeout=WAIT_MS)
    assert yielded == [0, 1, 2] and progress == [(1, 3), (2, 3), (3, 3)]



def chatty(started: threading.Event, progress, cancel) -> str:  # type: ignore[no-untyped-def]
    """Reports progress as fast as it can for a while: a window may close in the middle."""
    started.set()
    for done in range(20_000):
        progress(done, 20_000)
    return "done"


def test_jobs_that_outlive_their_runner_end_quietly(qtbot) -> None:
    """Runners deleted (their window closed) while their jobs report: nothing crashes."""
    from shiboken6 import Shiboken

    for _ in range(15):
        runners, started = [], []
        for _ in range(3):
            runner = JobRunner(cancel_previous=False)
            event = threading.Event()
            runner.start(chatty, event)
            runners.append(runner)
            started.append(event)
        for runner, event in zip(runners, started, strict=True):
            assert event.wait(WAIT_MS / 1000)
            Shiboken.delete(runner)  # what closing the window does to a runner's C++ side
        runners.clear()
        assert QThreadPool.globalInstance().waitForDone(WAIT_MS)
        qtbot.wait(5)  # deliveries already queued are dropped, not run on freed memory
