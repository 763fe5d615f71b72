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


_quiet_lock = threading.Lock()
_quiet_depth = 0
_quiet_saved: int | None = None
_quiet_sink: Any = None


@contextlib.contextmanager
def quiet_native_stderr(replay_on_error: bool = False) -> Iterator[None]:
    """Hide what native code writes to file descriptor 2 (libjpeg's "Corrupt JPEG data",
    absl's CUDA-stub lines) for the ``with`` block.

    fd 2 belongs to the whole process, so sections on several threads share one redirection,
    counted: the first in redirects, the last out restores. The ``probscope`` command writes
    its own lines to a copy of fd 2, which stays untouched. With ``replay_on_error``, what was
    captured is printed if the block fails (a failed import must say why); a decoder's
    failure is reported by probscope itself, in one line.
    """
    global _quiet_depth, _quiet_saved, _quiet_sink
    if os.environ.get("PROBSCOPE_DEBUG"):
        yield
        return
    with _quiet_lock:
        if _quiet_depth == 0:
            try:
                _quiet_saved = os.dup(2)
                _quiet_sink = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the last section out)
                os.dup2(_quiet_sink.fileno(), 2)
            except OSError:
                _quiet_saved = None
        _quiet_depth += 1
    try:
        yield
    except Exception:  # not on Ctrl+C: then the captured lines are only noise
        with _quiet_lock:
            if replay_on_error and _quiet_saved is not None and _quiet_sink is not None:
                _quiet_sink.seek(0)
                os.write(_quiet_saved, _quiet_sink.read()[-4000:])
                _quiet_sink.seek(0, 2)
        raise
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0 and _quiet_saved is not None:
                os.dup2(_quiet_saved, 2)
                os.close(_quiet_saved)
                _quiet_sink.close()
                _quiet_saved = _quiet_sink = None


def import_tensorflow() -> ModuleType:
    """Import TensorFlow once, quietly, with thread pools sized for this machine.

    Thread pools can only be sized before the runtime starts, which is why this
    happens right after the import and nowhere else.
    """
    global _configured
    if not _configured and threading.current_thread() is not threading.main_thread() and (
            threading.get_ident() != _tf_thread_ident):
        # Imported on a window worker while the TensorFlow thread was busy (a LiteRT session
        # whose card decodes with TensorFlow), the import segfaulted: it runs where TF runs.
        return on_tf_thread(import_tensorflow)
    with _lock:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        with quiet_native_stderr(replay_on_error=True):
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
