"""Model jobs: import TensorFlow, inspect and open a model (after trust), close a replaced one."""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from app.core import UnsafeModelError
from app.ui.jobs.runner import ProgressFn, one_line

if TYPE_CHECKING:
    from app.core import ModelSession


@dataclass
class SessionHandle:
    """A loaded model plus the lock that serialises inference on it across jobs.

    ``generation`` counts the models loaded in this window: results remember theirs, so that
    only the model that produced a result may re-score it.
    """

    session: ModelSession
    device: str
    generation: int
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class LoadOutcome:
    path: str
    session: ModelSession | None = None
    device: str = ""
    error: str | None = None
    risky: list[str] = field(default_factory=list)  # non-empty: needs the user's trust first


def load_model_job(
    path: str, trust: bool, progress: ProgressFn, cancel: threading.Event
) -> Generator[str, None, LoadOutcome]:
    """Inspect the model and open it (after trust if it can run code).

    Yields the status line to show while it works.
    """
    try:
        # TensorFlow is imported by open_model only when it is needed: a model with a verified
        # LiteRT conversion answers without it (in well under a second).
        yield f"Loading model {Path(path).name}…"
        from app.core import inspect_model, open_model

        if not trust:
            inspection = inspect_model(path)
            if inspection.risky:
                return LoadOutcome(path, risky=list(inspection.risky))
        session = open_model(path, trust=trust)
        if session.runtime_name == "litert":
            device = "CPU"
        else:
            # tf_runtime is not exported by a core room (a base module beside them).
            from app.core.tf_runtime import compute_device

            device = compute_device()
        return LoadOutcome(path, session=session, device=device)
    except UnsafeModelError as exc:
        return LoadOutcome(path, error=exc.message)
    except Exception as exc:  # never let a bad model file kill the app
        return LoadOutcome(path, error=one_line(exc))


def close_session_job(handle: SessionHandle, progress: ProgressFn, cancel: threading.Event) -> None:
    """Release a replaced model once no job is inferring on it any more."""
    with handle.lock:
        handle.session.close()
