"""Open a model with everything it needs: the one place the core's rooms are put together.

Loading (``models``), the card (``cards``), the preprocessing (``preprocessing``) and the
card's "none of the classes" check (``ood``) and prediction sets (``calibration``) meet here, so no room has to know the others.
"""

from __future__ import annotations

import os

from app.core.calibration.conformal_card import prediction_sets_from_card
from app.core.calibration.run import near_chance
from app.core.cards.card_file import ModelCard, card_path_for, load_card_for
from app.core.cards.inferred import (
    card_problems,
    double_preprocessing_warnings,
    infer_card,
    recording_hint,
)
from app.core.errors import CardError, ModelError
from app.core.models.loading import load_model
from app.core.models.predictor import Predictor
from app.core.ood.runtime import OODRuntime
from app.core.preprocessing.spec import PreprocessingSpec
from app.core.session.model_session import ModelSession


def open_model(
    path: str | os.PathLike[str],
    trust: bool = False,
    card: ModelCard | None = None,
) -> ModelSession:
    """Load a model safely with its card (or an inferred one) and compile its predictor.

    Parameters
    ----------
    path : path-like
        ``.keras``, ``.h5``/``.hdf5`` or a SavedModel folder.
    trust : bool, default=False
        Allow models that can execute code (Lambda layers, custom objects, SavedModel).
    card : ModelCard, optional
        Use this card instead of the one beside the model.

    Raises
    ------
    ModelError, UnsafeModelError, CardError
        With a one-line message naming the problem.
    """
    loaded = load_model(path, trust=trust)
    has_card_file = False
    if card is None:
        card = load_card_for(path)
        has_card_file = card is not None
    if card is None:
        card = infer_card(loaded)
        card.path = card_path_for(path)
    spec = PreprocessingSpec.from_dict(card.preprocessing)
    if spec.target_size is None and all(loaded.input_shape[:2]):
        spec = spec.with_changes(target_size=tuple(loaded.input_shape[:2]))
    problems = card_problems(card, spec, loaded)
    if problems:
        raise CardError(f"{card_path_for(path).name}: {problems[0]}")
    warnings = list(loaded.notes)
    if not spec.recorded:
        warnings.insert(0, f"preprocessing is unrecorded ({spec.source}); {recording_hint(path)}")
    warnings += double_preprocessing_warnings(spec, loaded)
    ood = OODRuntime.from_card(card, card_path_for(path))
    if not loaded.has_features and ood.score_name in ("mahalanobis", "knn"):
        raise ModelError(f"{loaded.name}: the card's OOD score needs features this model lacks")
    fitted = card.data.get("calibration", {}).get("fitted")
    accuracy = fitted.get("after", {}).get("accuracy") if isinstance(fitted, dict) else None
    untrustworthy = None
    if isinstance(accuracy, (int, float)) and near_chance(accuracy, len(card.classes)):
        untrustworthy = (f"this model is {accuracy:.0%} accurate on its calibration data, near "
                         "chance: its answers and checks cannot be trusted")
        warnings.append(untrustworthy)
    sets = prediction_sets_from_card(card.data.get("calibration", {}), card.temperature)
    if sets is not None:
        warnings += sets.warnings_
    predictor = Predictor(loaded)
    session = ModelSession(loaded, card, spec, predictor, ood, warnings, has_card_file, sets)
    session.untrustworthy = untrustworthy
    if ood.needs_layer_statistics:
        session.enable_layer_statistics()
        probe = ood.detector.probe_
        if probe is not None and len(probe.coef_) != session.predictor.stats_width:
            raise CardError(
                f"{card_path_for(path).name}: its 'none of the classes' check was fitted on "
                f"{len(probe.coef_)} layer statistics but the model gives "
                f"{session.predictor.stats_width}; refit it with probscope ood --data DIR --save")
    return session
