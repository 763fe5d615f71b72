"""Write the session's results to CSV (one row per image) or JSON (the classify --json records)."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

from app.core.session import Classification

CSV_FIELDS = ("path", "label", "index", "probability", "raw_probability", "temperature",
              "ood_score", "ood_threshold", "in_distribution", "error")


def csv_row(r: Classification) -> dict[str, object]:
    raw = None
    if r.raw_probabilities is not None and r.index is not None:
        raw = float(r.raw_probabilities[r.index])
    return {
        "path": r.path,
        "label": r.label or "",
        "index": "" if r.index is None else r.index,
        "probability": "" if r.confidence is None else f"{r.confidence:.6f}",
        "raw_probability": "" if raw is None else f"{raw:.6f}",
        "temperature": f"{r.temperature:g}",
        "ood_score": "" if r.ood is None else f"{r.ood.score:.6g}",
        "ood_threshold": "" if r.ood is None else f"{r.ood.threshold:.6g}",
        "in_distribution": "" if r.ood is None else str(r.ood.in_distribution).lower(),
        "error": r.error or "",
    }


def export_csv(results: Sequence[Classification], path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    with p.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for r in results:
            writer.writerow(csv_row(r))
    return p


def export_json(results: Sequence[Classification], path: str | os.PathLike[str]) -> Path:
    """A JSON array of the same records ``probscope classify --json`` prints."""
    p = Path(path)
    from app.core.json_io import dumps_standard

    # Standard JSON only: a NaN from a broken model must not make the file unreadable.
    p.write_text(dumps_standard([r.to_json() for r in results], indent=1) + "\n", encoding="utf-8")
    return p
