"""Fitting the probe: the user's labelled images against the built-in no-class reference.

The reference is generated at the model's input size, run through the model like any image
(the card's preprocessing, the one compiled call with layer statistics), and the probe is
fitted on the labelled images' statistics (plus jittered copies) against it. With the user's
own no-class images (``--ood-data``) they join the reference as one more kind.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.core.data.labelled import DataSet
from app.core.data.outputs import CancelFn, DataOutputs, ProgressFn, compute_outputs
from app.core.errors import DataError, ProbscopeError
from app.core.ood.prior.digit_prior import DIGIT_PRIOR_SLOT, PRIOR_BOOST, recorded_name
from app.core.ood.probe import MIN_LABELLED, ProbeScore
from app.core.ood.reference import generate_reference, jitter, kinds_for
from app.core.preprocessing.pipeline import resize_source
from app.core.session.model_session import ModelSession

# Images per reference kind. Glyphs (other characters) are the hardest no-class images for a
# character model: many more of them, in every font, with their total weight in the fit capped
# (ProbeScore's kind_weight) so they do not crowd out the other kinds.
REFERENCE_PER_KIND = 100
GLYPHS_PER_KIND = 1600
JITTER_COPIES = 2
PROBE_C = 0.05
REFERENCE_SEED = 7
USER_KIND = "your no-class images"


@dataclass
class ProbeFit:
    """A fitted probe and what the user should see of it."""

    probe: ProbeScore
    kinds: list[str]
    n_reference: int
    per_kind: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reference_outputs: dict[str, DataOutputs] = field(default_factory=dict)


def resolve_kinds(reference: str | Sequence[str] | None, classes: Sequence[str]) -> list[str]:
    """The reference kinds asked for: ``"all"``/None, ``"none"``, or names (comma-separated).

    Raises
    ------
    DataError
        An unknown kind, naming the available ones.
    """
    available = list(kinds_for(classes))
    if reference is None or reference == "all":
        named = kinds_named_like(available, classes)
        return [k for k in available if k not in named]
    if reference == "none":
        return []
    names = [k.strip() for k in reference.split(",")] if isinstance(reference, str) else list(reference)
    unknown = [k for k in names if k not in available]
    if unknown:
        raise DataError(f"--reference: unknown kind(s) {', '.join(unknown)}; available: "
                        f"{', '.join(available)}, or all, or none")
    return names


def kinds_named_like(kinds: Sequence[str], classes: Sequence[str]) -> list[str]:
    """Reference kinds one of the classes is named after ("stripes" for a class "striped").

    A model whose classes *are* stripes or faces must not learn that stripes or faces are
    none of its classes; a reference kind of another style is not told apart by the
    probe's own test (it tells the styles apart), so the names decide.
    """
    tokens = {t for c in classes for t in re.findall(r"[a-z]+", str(c).lower()) if len(t) >= 3}
    return [k for k in kinds
            if any(t.startswith(k.rstrip("s")) or k.rstrip("s").startswith(t) for t in tokens)]


def _generate(kinds: list[str], session: ModelSession, notes: list[str]) -> dict[str, np.ndarray]:
    h, w = session.spec.target_size or session.loaded.input_shape[:2]
    channels = session.spec.channels
    out: dict[str, np.ndarray] = {}
    for kind in kinds:
        n = GLYPHS_PER_KIND if kind == "glyphs" else REFERENCE_PER_KIND
        try:
            out.update(generate_reference([kind], n, int(h), int(w), channels, REFERENCE_SEED,
                                          session.named_classes))
        except Exception as exc:  # one odd kind at an odd size must not stop the others
            notes.append(f"reference kind {kind!r} could not be drawn at {h}x{w} ({exc}); left out")
    return out


def labelled_images_at_size(session: ModelSession, data: DataSet) -> np.ndarray:
    """The readable labelled images as RGB uint8 at the model's size (the rows of their outputs).

    Images that cannot be read are skipped, as :func:`~app.core.data.outputs.compute_outputs`
    skips them, so row ``i`` is the image of output row ``i``.
    """
    if data.images is not None:
        sources: list[Any] = list(data.images) if data.images.dtype == np.uint8 else []
    else:
        sources = list(data.files)
    images = []
    for source in sources:
        try:
            x = resize_source(source, session.spec)  # colour mode and size, still 0-255
        except ProbscopeError:
            continue
        x = np.repeat(x, 3, axis=2) if x.shape[2] == 1 else x
        images.append(np.clip(np.rint(x), 0, 255).astype(np.uint8))
    return np.stack(images) if images else np.zeros((0, 1, 1, 3), np.uint8)


def fit_probe(
    session: ModelSession,
    data: DataSet,
    in_outputs: DataOutputs,
    kinds: list[str],
    ood_outputs: DataOutputs | None = None,
    tpr: float = 0.95,
    progress: ProgressFn | None = None,
    cancelled: CancelFn | None = None,
) -> ProbeFit:
    """Fit the probe on ``in_outputs`` against the reference ``kinds`` (and the user's own).

    Raises
    ------
    DataError
        Too few labelled images, no layer statistics, or nothing to fit against.
    """
    stats_in = in_outputs.outputs.stats
    if stats_in is None:
        raise DataError("the model gave no layer statistics, so the probe cannot be fitted")
    if len(stats_in) < MIN_LABELLED:
        raise DataError(f"the 'none of the classes' check needs at least {MIN_LABELLED} labelled "
                        f"images to learn what they look like; got {len(stats_in)}")
    notes: list[str] = []
    images = _generate(kinds, session, notes)
    report = _stage(progress, len(images) + 1)
    ref_outputs: dict[str, DataOutputs] = {}
    for i, (kind, array) in enumerate(images.items()):
        ref_outputs[kind] = compute_outputs(session, DataSet(f"reference {kind}", images=array),
                                            None, cancelled)
        report(i + 1)
    parts = [(k, o.outputs.stats) for k, o in ref_outputs.items()]
    if ood_outputs is not None and ood_outputs.outputs.stats is not None:
        parts.append((USER_KIND, ood_outputs.outputs.stats))
    if not parts:
        raise DataError("nothing to fit the check against: --reference none and no --ood-data")
    ref_stats = np.concatenate([s for _, s in parts])
    ref_kinds = np.concatenate([[k] * len(s) for k, s in parts])
    originals = labelled_images_at_size(session, data)
    extra = source = None
    if len(originals) == len(stats_in):  # .npz of float inputs or logits: no pixels to jitter
        copies, source = jitter(originals, JITTER_COPIES)
        extra = compute_outputs(session, DataSet("jittered labelled images", images=copies),
                                None, cancelled).outputs.stats
    report(len(images) + 1)
    layout = session.stats_layout
    prior = [] if layout is None else [a for name, stat, a, _ in layout.slots
                                       if (name, stat) == DIGIT_PRIOR_SLOT]
    probe = ProbeScore(C=PROBE_C, tpr=tpr,
                       log_columns=None if layout is None else layout.columns(("mean", "std")),
                       boost_columns={a: PRIOR_BOOST for a in prior},
                       extra_stats=[recorded_name()] if prior else ())
    try:
        probe.fit(stats_in, ref_stats, ref_kinds, labels=in_outputs.labels, stats_extra=extra,
                  extra_source=source)
        per_kind = probe.leave_one_kind_out()
    except ValueError as exc:
        raise DataError(f"the probe cannot be fitted: {exc}") from None
    for kind, auroc in probe.dropped_kinds_.items():
        notes.append(f"reference kind {str(kind)!r} looks like your labelled images (AUROC "
                     f"{auroc:.2f}): left out, so images like it are not flagged")
    return ProbeFit(probe, list(probe.kinds_), int(len(ref_stats)), per_kind, notes, ref_outputs)


def _stage(progress: ProgressFn | None, total: int) -> Callable[[int], None]:
    def report(done: int) -> None:
        if progress is not None:
            progress(done, total)

    return report


