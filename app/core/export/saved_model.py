"""Write a session as a SavedModel that serves encoded images: ``probscope export``.

The folder is a plain SavedModel (TensorFlow Serving, Vertex AI and ``tf.saved_model.load`` run
it as it is) plus ``probscope.export.json``: the classes, the temperature, the check's score,
threshold and whether it is fitted, and whether prediction sets are, which ``probscope score``
needs to write records in the ``classify --json`` format.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from app.core.errors import ProbscopeError
from app.core.export.graph import build_export_module
from app.core.models.inspection import EXPORT_METADATA_FILE
from app.core.tf_runtime import import_tensorflow, on_tf_thread, quiet_native_stderr

METADATA_FILE = EXPORT_METADATA_FILE
SIGNATURE = "serving_default"
# Outputs of the serving signature, in the order the README lists them.
OUTPUTS = ("probabilities", "raw_probabilities", "logits", "index", "label", "ood_score",
           "in_distribution", "prediction_set")


def check_output_folder(out: str | os.PathLike[str], force: bool) -> Path:
    """The export folder, or a ProbscopeError: it exists (without ``force``) or is unwritable.

    Missing parent folders are fine (the export makes them, as ``mkdir -p`` would: a serving
    layout such as ``models/digits/1`` usually starts empty); a file in their place is not.
    """
    target = Path(out).expanduser()
    if target.exists() and not force:
        raise ProbscopeError(f"--out {target}: already exists; choose another folder or pass --force")
    if target.exists() and not target.is_dir():
        raise ProbscopeError(f"--out {target}: is a file, not a folder")
    existing = target.absolute().parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ProbscopeError(f"--out {target}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ProbscopeError(f"--out {target}: cannot write in {existing} (permission denied)")
    return target


def export_metadata(session: Any) -> dict[str, Any]:
    """What the export answers with, beyond its tensors (written beside the SavedModel)."""
    return {
        "format": "probscope.export",
        "version": 1,
        "model": session.loaded.name,
        "classes": list(session.classes),
        "temperature": float(session.temperature),
        "ood": {"score": session.ood.score_name, "threshold": float(session.ood.threshold),
                "checked": bool(session.ood.checked), "label": session.ood.label},
        "prediction_sets": session.sets is not None,
        "preprocessing": session.spec.to_dict(),
        "signature": SIGNATURE,
        "input": "image_bytes",
        "outputs": list(OUTPUTS),
    }


def export_saved_model(session: Any, out: str | os.PathLike[str], force: bool = False) -> Path:
    """Write ``session`` as a SavedModel serving ``image_bytes`` → probscope's answer.

    Parameters
    ----------
    session : ModelSession
        From :func:`app.core.open_model`.
    out : path-like
        Folder to create; refused if it exists, unless ``force``.
    force : bool, default=False
        Replace an existing folder.

    Returns
    -------
    Path
        The folder written.

    Raises
    ------
    ProbscopeError
        The folder exists or cannot be written; CardError when the preprocessing or check
        cannot be expressed in TensorFlow ops.
    """
    target = check_output_folder(out, force)
    # Written next to the target and renamed at the end: an interrupted or failed export
    # leaves neither a half SavedModel nor a damaged previous one.
    try:
        target.absolute().parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.absolute().parent))
    except OSError as exc:  # named by the folder asked for, not the hidden staging one
        raise ProbscopeError(f"{target}: cannot write here ({exc.strerror or exc})") from None
    try:
        on_tf_thread(_save, session, staging)
        (staging / METADATA_FILE).write_text(json.dumps(export_metadata(session), indent=2) + "\n",
                                             encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        staging.chmod(0o755)  # mkdtemp makes it private; a serving container reads it
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _save(session: Any, folder: Path) -> None:
    tf = import_tensorflow()
    module = build_export_module(session)
    with quiet_native_stderr():
        tf.saved_model.save(module, str(folder), signatures={SIGNATURE: module.serve})


def read_metadata(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The export's ``probscope.export.json``; ProbscopeError if the folder is no export.

    Read through ``tf.io.gfile``, so an export in a bucket (``gs://…``) works as a local one.
    """
    tf = import_tensorflow()
    path = f"{str(folder).rstrip('/')}/{METADATA_FILE}"
    try:
        with tf.io.gfile.GFile(path, "r") as f:
            return json.loads(f.read())
    except (tf.errors.OpError, OSError, ValueError) as exc:
        reason = getattr(exc, "message", None) or str(exc)
        raise ProbscopeError(f"{folder}: not a probscope export (no readable {METADATA_FILE}: "
                             f"{reason.splitlines()[0] if reason else type(exc).__name__})") from None
