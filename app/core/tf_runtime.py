"""Lazy, configured import of TensorFlow and Keras.

TensorFlow takes seconds to import, so nothing imports it at module level: the
window must appear first and ``import app.cli`` must stay cheap. Every core
function that needs TensorFlow calls :func:`import_tensorflow` or
:func:`import_keras`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from types import ModuleType
from typing import Any, TypeVar

_T = TypeVar("_T")

_lock = threading.Lock()
_configured = False

_tf_executor: ThreadPoolExecutor | None = None
_tf_thread_ident: int | None = None


def _thread_count() -> int:
    override = os.environ.get("PROBSCOPE_TF_THREADS")
    if override and override.isdigit() and int(override) > 0:
        return int(override)
    return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence C++ logging that bypasses TF_CPP_MIN_LOG_LEVEL (absl's CUDA-stub lines).

    Users of a CPU-only machine would otherwise see "Could not find cuda drivers" and
    "failed call to cuInit" on every command. If the import fails, the captured text is
    printed so nothing useful is lost.
    """
    if os.environ.get("PROBSCOPE_DEBUG"):
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            os.write(2, sink.read()[-4000:])
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow() -> ModuleType:
    """Import TensorFlow once, quietly, with thread pools sized for this machine.

    Thread pools can only be sized before the runtime starts, which is why this
    happens right after the import and nowhere else.
    """
    global _configured
    with _lock:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        with quiet_native_stderr():
            import tensorflow as tf

            if not _configured:
                # CUDA probing and the CPU-feature banner are logged on first use, so use it here.
                tf.config.list_physical_devices()
                tf.zeros((1,)).numpy()
        if not _configured:
            try:
                # One op spans all cores; two ops may run side by side (decode and infer).
                tf.config.threading.set_intra_op_parallelism_threads(_thread_count())
                tf.config.threading.set_inter_op_parallelism_threads(2)
            except RuntimeError:
                pass  # the runtime was already started by the host program; keep its settings
            tf.get_logger().setLevel("ERROR")
            _configured = True
        return tf


def import_keras() -> ModuleType:
    """Import Keras 3 on the TensorFlow backend (after configuring TensorFlow)."""
    import_tensorflow()
    import keras

    return keras


def compute_device() -> str:
    """Name the device inference runs on, e.g. ``"CPU"`` or ``"GPU (NVIDIA A100)"``."""
    tf = import_tensorflow()
    gpus = tf.config.list_logical_devices("GPU")
    if not gpus:
        return "CPU"
    return f"GPU ({gpus[0].name})"


def _mark_tf_thread() -> None:
    global _tf_thread_ident
    _tf_thread_ident = threading.get_ident()


def on_tf_thread(fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
    """Run ``fn(*args, **kwargs)`` on the one thread that runs TensorFlow, and wait for it.

    Loading, tracing and calling models from several of the window's worker threads crashed
    TensorFlow 2.21 (a segfault in an eager conv2d on one pool thread while others held
    TensorFlow state). Funnelling every model call through one thread removes that class of
    failure; calls are per batch, so the hop costs microseconds. Re-entrant: a call made
    from the TensorFlow thread runs in place.
    """
    if threading.get_ident() == _tf_thread_ident:
        return fn(*args, **kwargs)
    return submit_to_tf_thread(fn, *args, **kwargs).result()


def submit_to_tf_thread(fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
    """Queue ``fn(*args, **kwargs)`` on the TensorFlow thread without waiting for it.

    For background work (converting a model to LiteRT); calls queued later wait for it. The
    thread is joined at interpreter exit, so queued work finishes before a command ends.
    """
    global _tf_executor
    with _lock:
        if _tf_executor is None:
            _tf_executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="probscope-tf", initializer=_mark_tf_thread
            )
        executor = _tf_executor
    return executor.submit(fn, *args, **kwargs)
