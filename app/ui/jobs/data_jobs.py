"""Data jobs: a data set's model outputs, for the calibration and "none of the classes" tabs.

Plain module-level functions called by a :class:`~app.ui.jobs.runner.JobRunner` with a
progress callback and a cancel event; they return plain results and never touch widgets.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from app.core import ProbscopeError
from app.ui.jobs.runner import Cancelled, ProgressFn

if TYPE_CHECKING:
    from app.core import ModelSession
    from app.core.data import DataOutputs


@dataclass
class DataRun:
    """A data set's outputs plus what the user should be told about the data."""

    path: str
    name: str
    outputs: DataOutputs
    notes: list[str] = field(default_factory=list)  # about the data set (e.g. missing classes)

    @property
    def warnings(self) -> list[str]:
        """The data notes plus how many images could not be read."""
        skipped = len(self.outputs.skipped)
        return self.notes + ([f"{skipped} unreadable image(s) were skipped"] if skipped else [])


def outputs_for(
    session: ModelSession,
    path: str,
    labelled: bool,
    progress: ProgressFn,
    cancel: threading.Event,
) -> DataRun:
    """Load a folder or ``.npz`` and run the model over it once (cached on disk by the core)."""
    # Imported here so that importing the panels never pulls in the model stack.
    from app.core.data import compute_outputs, load_data

    data = load_data(path, session.classes, labelled=labelled)
    if cancel.is_set():
        raise Cancelled
    try:
        outputs = compute_outputs(session, data, progress, cancel.is_set)
    except ProbscopeError:
        if cancel.is_set():  # compute_outputs reports a cancel as a DataError
            raise Cancelled from None
        raise
    return DataRun(path, Path(path).name or str(path), outputs, list(data.notes))
