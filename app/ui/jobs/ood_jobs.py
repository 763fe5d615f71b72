"""The "none of the classes" fit for the window: the core's ``run_ood`` plus what the tab shows.

``run_ood`` fits the check on the labelled images against the built-in no-class reference
(and the user's own no-class folder, when given). For the tab this job adds, off the GUI
thread: a few thumbnails of every reference kind, and every score of a *fresh* sample of
the reference (another seed than the fit's, so the probe never saw these images) as the
no-class side of the histogram when the user gave no folder of their own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.core import ProbscopeError
from app.ui.jobs.data_jobs import outputs_for
from app.ui.jobs.runner import Cancelled, ProgressFn

if TYPE_CHECKING:
    import numpy as np

    from app.core import ModelSession
    from app.core.ood import OODFitResult

THUMBS_PER_KIND = 3
THUMB_SIDE = 36
SAMPLE_PER_KIND = 24
THUMB_SEED = 101  # other seeds than the fit's: pictures and the histogram sample are fresh
SAMPLE_SEED = 202


@dataclass
class ReferenceFit:
    """A fitted check and everything the tab draws from it."""

    result: OODFitResult
    n_real: int
    thumbnails: dict[str, np.ndarray] = field(default_factory=dict)  # kind → RGB strip
    # score → the no-class side of the histogram (the user's folder, else the fresh sample)
    no_class_scores: dict[str, np.ndarray] = field(default_factory=dict)
    no_class_name: str = ""
    n_no_class: int = 0
    tpr: float = 0.95  # the acceptance the per-kind figures were measured at

    @property
    def detector(self) -> Any:
        return self.result.detector


def _strip(images: np.ndarray) -> np.ndarray:
    """Thumbnails side by side with a 2-pixel white gap: one picture per kind."""
    import numpy as np

    n, h, w, _ = images.shape
    gap = 2
    strip = np.full((h, n * w + (n - 1) * gap, 3), 255, np.uint8)
    for i, image in enumerate(images):
        strip[:, i * (w + gap): i * (w + gap) + w] = image
    return strip


def thumbnails_for(session: ModelSession, kinds: list[str]) -> dict[str, np.ndarray]:
    """A strip of a few images per reference kind, drawn larger than the model input."""
    from app.core.ood import generate_reference

    out: dict[str, np.ndarray] = {}
    for kind in kinds:
        try:
            images = generate_reference([kind], THUMBS_PER_KIND, THUMB_SIDE, THUMB_SIDE,
                                        session.spec.channels, THUMB_SEED, session.classes)
        except Exception:  # a kind that cannot be drawn is still listed, without a picture
            continue
        out[kind] = _strip(images[kind])
    return out


def reference_sample_scores(session: ModelSession, detector: Any, kinds: list[str],
                            cancel: threading.Event) -> tuple[dict[str, np.ndarray], int]:
    """Every score of a fresh reference sample at the model's input size."""
    import numpy as np

    from app.core.data import DataSet, compute_outputs
    from app.core.ood import generate_reference

    h, w = session.spec.target_size or session.loaded.input_shape[:2]
    parts = []
    for kind in kinds:
        try:
            parts.append(generate_reference([kind], SAMPLE_PER_KIND, int(h), int(w),
                                            session.spec.channels, SAMPLE_SEED,
                                            session.classes)[kind])
        except Exception:
            continue
    if not parts or cancel.is_set():
        return {}, 0
    images = np.concatenate(parts)
    out = compute_outputs(session, DataSet("reference sample", images=images), None,
                          cancel.is_set).outputs
    return detector.scores_all(out.logits, out.features, out.stats), len(images)


def fit_reference_job(
    session: ModelSession,
    in_path: str,
    ood_path: str | None,
    tpr: float,
    progress: ProgressFn,
    cancel: threading.Event,
) -> ReferenceFit:
    """Fit the check in one go: labelled images against the reference (plus ``ood_path``)."""
    from app.core.ood import run_ood

    try:
        result = run_ood(session, in_path, ood_path, "auto", tpr, progress, cancel.is_set,
                         reference="all")
    except ProbscopeError:
        if cancel.is_set():  # the core reports a cancel as a data error
            raise Cancelled from None
        raise
    if cancel.is_set():
        raise Cancelled
    kinds = [row["kind"] for row in result.per_kind]
    for rows in (v.get("per_kind", []) for v in result.by_score.values()):
        kinds += [row["kind"] for row in rows if row["kind"] not in kinds]
    fit = ReferenceFit(result, int(result.detector.fit_info_.get("n") or 0), tpr=tpr)
    drawable = _all_kinds(session)  # "your no-class images" has no generator, so no picture
    fit.thumbnails = thumbnails_for(session, [k for k in kinds if k in drawable])
    if ood_path is not None:
        # Outputs are cached on disk by the core, so this does not run the model again.
        run = outputs_for(session, ood_path, False, progress, cancel)
        o = run.outputs.outputs
        fit.no_class_scores = result.detector.scores_all(o.logits, o.features, o.stats)
        fit.no_class_name, fit.n_no_class = "Your no-class images", len(run.outputs)
    elif result.reference["kinds"]:
        fit.no_class_scores, fit.n_no_class = reference_sample_scores(
            session, result.detector, list(result.reference["kinds"]), cancel)
        fit.no_class_name = "Built-in reference, fresh sample"
    return fit


def _all_kinds(session: ModelSession) -> set[str]:
    from app.core.ood import kinds_for

    return set(kinds_for(session.named_classes))
