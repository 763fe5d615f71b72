"""The export's answers as ``classify --json`` records, and the checks a file passes first.

A scoring run must give the records ``probscope classify --json`` gives: the same fields, the
same prediction-set order (most probable first, ties by lower class index) and one record
with ``error`` for a file that cannot be decoded, while the run goes on.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from app.core.errors import ImageError
from app.core.images.decoding import probe_image
from app.core.images.formats import jpeg_has_end, png_problem


def error_record(path: str, message: str, metadata: dict[str, Any]) -> dict[str, Any]:
    """The record of a file that could not be classified."""
    return {"path": path, "label": None, "index": None, "probabilities": None,
            "raw_probabilities": None, "temperature": float(metadata["temperature"]),
            "ood": None, "error": message, "prediction_set": None, "transparency_dropped": False}


def answer_record(path: str, outputs: dict[str, Any], metadata: dict[str, Any],
                  transparency_dropped: bool = False) -> dict[str, Any]:
    """The record of one image from the serving signature's outputs for it.

    Parameters
    ----------
    path : str
        The file, as ``classify`` names it.
    outputs : dict of str to array-like
        One image's slice of every signature output.
    metadata : dict
        The export's ``probscope.export.json``.
    transparency_dropped : bool, default=False
        The file had transparency, which the serving graph drops as ``classify`` does.
    """
    def value(name: str) -> np.ndarray:
        v = outputs[name]
        return np.asarray(v.numpy() if hasattr(v, "numpy") else v)

    classes = metadata["classes"]
    probs = value("probabilities").astype(np.float32)
    index = int(value("index"))
    ood = metadata["ood"]
    members = None
    if metadata.get("prediction_sets"):
        in_set = value("prediction_set").astype(bool)
        order = np.argsort(-probs.astype(np.float64), kind="stable")
        members = [classes[k] for k in order if in_set[k]]
    return {
        "path": path,
        "label": classes[index],
        "index": index,
        "probabilities": [float(v) for v in probs],
        "raw_probabilities": [float(v) for v in value("raw_probabilities").astype(np.float32)],
        "temperature": float(metadata["temperature"]),
        "ood": {"score": float(value("ood_score")), "threshold": float(ood["threshold"]),
                "in_distribution": bool(value("in_distribution")), "checked": bool(ood["checked"])},
        "error": None,
        "prediction_set": members,
        "transparency_dropped": transparency_dropped,
    }


def decoding_problem(path: str, data: bytes, tf: Any) -> str | None:
    """Why TensorFlow's decoders would fail on this file (one line naming it), or None.

    A file the serving graph cannot decode would fail its whole batch, so every file is
    checked on its own first: probscope's header checks, then a TensorFlow decode.
    """
    name = os.path.basename(path)
    try:
        header = probe_image(data, name)
        problem = png_problem(data) if header.format == "PNG" else None
        if problem:
            return f"{name}: the PNG file is damaged ({problem})"
        if header.format == "JPEG" and not jpeg_has_end(data):
            return f"{name}: the JPEG file is truncated"
    except ImageError as exc:
        return exc.message
    try:
        tf.io.decode_image(data, channels=3, expand_animations=False)
    except (tf.errors.OpError, ValueError) as exc:
        from app.core.preprocessing.backends import tf_error_reason

        return f"{name}: TensorFlow cannot decode it ({tf_error_reason(str(exc))})"
    return None
