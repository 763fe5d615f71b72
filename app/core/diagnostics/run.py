"""Diagnose a model on a data set: collapse, dead ReLUs, sparsity and input mismatch.

One pass over the data: each batch is decoded with the card's preprocessing, its input
statistics are accumulated, and one compiled multi-output model gives both the class
probabilities and the reduced ReLU activations. Usable from a worker thread: progress
is reported and cancellation checked between batches.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.core.cards.inferred import (
    card_value_steps,
    double_geometry_warnings,
    double_value_warnings,
    in_model_scaling,
)
from app.core.data.labelled import DataSet, load_data
from app.core.data.outputs import CancelFn, ProgressFn, iter_input_batches
from app.core.diagnostics.activations import ActivationScanner
from app.core.diagnostics.collapse import check_collapse, collapse_advice
from app.core.diagnostics.litert_activations import LiteRTActivationScanner
from app.core.diagnostics.mismatch import InputStatistics, input_mismatch
from app.core.errors import DataError
from app.core.images.files import class_folders
from app.core.numeric import softmax
from app.core.session.model_session import ModelSession

DataPath = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
BATCH_SIZE = 64
FEW_INPUTS = 50  # below this, a unit may look dead only because no input excited it


@dataclass
class DiagnosisResult:
    """What :func:`diagnose_model` found; ``to_json`` is the ``diagnose --json`` contract."""

    collapsed: bool
    layers: list[dict[str, Any]]
    warnings: list[str]
    near_collapse: bool = False
    at_chance: bool = False
    judged: bool = True  # False when the data cannot tell (too few inputs, one labelled class)
    prediction_histogram: dict[str, int] = field(default_factory=dict)
    output_spread: dict[str, Any] = field(default_factory=dict)
    input_mismatch: dict[str, Any] = field(default_factory=dict)
    n: int = 0
    data: str = ""
    labelled: bool = False
    advice: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "collapsed": self.collapsed,
            "layers": self.layers,
            "warnings": self.warnings,
            "near_collapse": self.near_collapse,
            "at_chance": self.at_chance,
            "judged": self.judged,
            "prediction_histogram": self.prediction_histogram,
            "output_spread": self.output_spread,
            "input_mismatch": self.input_mismatch,
            "n": self.n,
            "data": self.data,
            "labelled": self.labelled,
            "advice": self.advice,
            "notes": self.notes,
            "skipped": self.skipped,
        }


def load_diagnosis_data(path: DataPath, classes: list[str]) -> DataSet:
    """The data to diagnose, by what ``path`` is.

    A labelled folder when its sub-folders are class names, else any images below it; an
    ``.npz``; or a list of image files (unlabelled, e.g. the images classified so far:
    files that are gone or unreadable are skipped like any unreadable image).
    """
    if not isinstance(path, (str, os.PathLike)):
        files = [Path(f) for f in path]
        if not files:
            raise DataError("no images to diagnose")
        return DataSet(f"{len(files)} image file(s)", files=files)
    p = Path(path)
    subs = class_folders(p) if p.is_dir() else []
    labelled = bool(subs) and all(q.name in classes for q in subs)
    return load_data(p, classes, labelled=labelled)  # .npz, folders, one-line DataErrors


def _dead_warning(row: dict[str, Any], n: int) -> str:
    return (
        f"layer '{row['name']}' ({row['class_name']}, {row['activation']}, {row['units']} units) "
        f"is dead: {row['dead_fraction']:.0%} of its units are zero for every one of the {n} "
        f"inputs ({row['zero_fraction']:.0%} of its values are zero). Unlike a sparse layer, "
        "whose units each fire for some inputs, dead units pass nothing on and get no "
        "gradient, so training cannot revive them"
    )


def _sparse_note(row: dict[str, Any]) -> str:
    dead = float(row["dead_fraction"])
    units = ("every unit fires for some input" if dead == 0
             else f"only {dead:.0%} of units never fire")
    return (
        f"layer '{row['name']}' is sparse but healthy: {row['zero_fraction']:.0%} of its values "
        f"are zero per input, yet {units}; ReLU features are mostly zeros by design"
    )


def _partly_dead_note(row: dict[str, Any]) -> str:
    return (
        f"layer '{row['name']}' is partly dead: {row['dead_fraction']:.0%} of its "
        f"{row['units']} units are zero for every input. The others still carry the signal, so "
        "the model can work; it is capacity lost, often after a high learning rate. Worth a "
        "look if accuracy disappoints; no need to act otherwise"
    )


def _partly_dead_in_collapse_note(row: dict[str, Any]) -> str:
    # "The model can work" beside a collapsed verdict contradicted it.
    return (f"layer '{row['name']}' is partly dead: {row['dead_fraction']:.0%} of its "
            f"{row['units']} units are zero for every input; not the cause of the collapse "
            "on its own")


def _healthy_note(row: dict[str, Any]) -> str:
    return (f"layer '{row['name']}' is healthy: {row['zero_fraction']:.0%} of its values are zero "
            "per input and its units fire for some inputs")


def diagnose_model(
    session: ModelSession,
    data_path: DataPath,
    progress: ProgressFn | None = None,
    cancelled: CancelFn | None = None,
) -> DiagnosisResult:
    """Run every diagnostic over a labelled folder, an unlabelled folder, an ``.npz`` or files.

    Parameters
    ----------
    session : ModelSession
    data_path : path-like or sequence of path-like
        A folder, an ``.npz``, or a list of image files (unlabelled). Labels (from class
        sub-folders or an ``.npz`` ``labels`` array) enable the near-collapse check; an
        ``.npz`` of float32 ``images`` is taken as model inputs as they are, so their
        scale is checked too.
    progress : callable(done, total), optional
    cancelled : callable() -> bool, optional
        Checked between batches; raises DataError("cancelled") when true.

    Raises
    ------
    DataError
        Unusable data, nothing readable, or cancelled.
    """
    data = load_diagnosis_data(data_path, session.classes)
    notes = list(data.notes)
    stats = InputStatistics()
    scanner: ActivationScanner | None = None
    skipped: list[str] = []
    kept: list[int] = []
    if data.logits is not None:
        probs = softmax(np.asarray(data.logits, dtype=np.float64)).astype(np.float32)
        kept = list(range(len(probs)))
        notes.append("the .npz holds logits, not images: layers and inputs cannot be examined")
    else:
        scanner = (LiteRTActivationScanner(session) if session.loaded.format == "tflite"
                   else ActivationScanner(session.loaded, session.spec.target_size))
        notes += scanner.notes
        probs = _scan(session, data, scanner, stats, kept, skipped, progress, cancelled)
    labels = None if data.labels is None else data.labels[np.asarray(kept, dtype=np.int64)]
    report = check_collapse(probs, labels, session.classes)
    n = len(probs)
    layers = scanner.report() if scanner is not None else []
    mismatch = input_mismatch(stats, session.card.data, session.spec)
    # A card that scales what the model's own layers scale again is an input mismatch as
    # surely as a measured one, and what follows from it (a collapsed output, "dead" layers
    # fed near-zero inputs) is no reason to retrain.
    doubled = double_value_warnings(session.spec, session.loaded)
    mismatch["findings"] += [{"kind": "preprocessed_twice", "message": w} for w in doubled]
    mismatch["findings"] += _unscaled_finding(session, mismatch)
    warnings = [f"input: {f['message']}" for f in mismatch["findings"]]
    warnings += double_geometry_warnings(session.spec, session.loaded)
    warnings += report.warnings
    dead = [r for r in layers if r["verdict"] == "dead"]
    warnings += [_dead_warning(r, n) for r in dead]
    # Every verdict gets its plain-words note, not only the alarming ones.
    partly = _partly_dead_note if not report.collapsed else _partly_dead_in_collapse_note
    by_verdict = {"sparse, healthy": _sparse_note, "partly dead": partly, "healthy": _healthy_note}
    notes += report.notes + [by_verdict[r["verdict"]](r) for r in layers if r["verdict"] in by_verdict]
    if layers and n < FEW_INPUTS:
        notes.append(f"only {n} inputs: a unit that no input excites looks dead; use more "
                     "varied data before trusting dead fractions")
    if scanner is not None and not any(r["applicable"] for r in layers):
        hidden = " that can be examined" if scanner.notes else ""
        notes.append(f"no ReLU-family layers{hidden} found: dead and sparse units cannot be measured")
    if not session.spec.recorded:
        notes.append(f"preprocessing is unrecorded ({session.spec.source})")
    if skipped:
        warnings.append(f"{len(skipped)} unreadable image(s) skipped")
    return DiagnosisResult(
        collapsed=report.collapsed,
        layers=layers,
        warnings=warnings,
        near_collapse=report.near_collapse,
        at_chance=report.at_chance,
        judged=report.judged,
        prediction_histogram={c: int(k) for c, k in zip(session.classes, report.histogram,
                                                         strict=False)},
        output_spread=report.spread,
        input_mismatch=mismatch,
        n=n,
        data=str(data_path) if isinstance(data_path, (str, os.PathLike)) else data.name,
        labelled=labels is not None,
        advice=collapse_advice(report.collapsed, report.near_collapse, [r["name"] for r in dead],
                               bool(mismatch["findings"]),
                               "BatchNormalization" in session.loaded.inspection.layer_classes,
                               report.at_chance),
        notes=notes,
        skipped=skipped,
    )


def _unscaled_finding(session: ModelSession, mismatch: dict[str, Any]) -> list[dict[str, str]]:
    """Raw 0-255 pixels that nothing scales, when no training statistics can say otherwise.

    Measured against the card's own range the inputs always agree with it, so a card that
    forgot ``--rescale 1/255`` looked fine ("outputs: ok" at half the accuracy). A .tflite
    is left out: its scaling, if any, is compiled into operators that cannot be named.
    """
    observed = mismatch.get("observed")
    if (mismatch.get("basis") != "card preprocessing range" or observed is None
            or session.loaded.format == "tflite" or card_value_steps(session.spec)
            or in_model_scaling(session.loaded) or float(np.max(observed["max"])) <= 2.0):
        return []
    return [{"kind": "unscaled", "message": (
        f"nothing scales the pixels: neither the card nor the model (no Rescaling or "
        f"Normalization layer), so the network gets raw values up to "
        f"{float(np.max(observed['max'])):.3g}. Most Keras models are trained on 0-1 (x/255) or "
        "standardised inputs; if this one was, its card needs it (probscope card init MODEL "
        "--like ... --rescale 1/255). If training fed raw pixels, this is as it should be")}]


def _scan(
    session: ModelSession,
    data: DataSet,
    scanner: ActivationScanner,
    stats: InputStatistics,
    kept: list[int],
    skipped: list[str],
    progress: ProgressFn | None,
    cancelled: CancelFn | None,
) -> np.ndarray:
    """Decode, accumulate input statistics and scan activations batch by batch."""
    parts = []
    for inputs in iter_input_batches(session, data, BATCH_SIZE, kept, skipped, progress, cancelled):
        stats.update(inputs)
        parts.append(scanner.update(inputs))
    return np.concatenate(parts)
