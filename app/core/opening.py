"""Open a model with everything it needs: the one place the core's rooms are put together.

Loading (``models``), the card (``cards``), the preprocessing (``preprocessing``) and the
card's "none of the classes" check (``ood``) and prediction sets (``calibration``) meet here, so no room has to know the others.
"""

from __future__ import annotations

import os
from concurrent.futures import Future

from app.core.calibration.conformal_card import prediction_sets_from_card
from app.core.cards.card_file import ModelCard, card_path_for, load_card_for
from app.core.cards.inferred import (
    card_problems,
    double_preprocessing_warnings,
    infer_card,
    recording_hint,
)
from app.core.errors import CardError, ModelError
from app.core.models.choice import ModelRuntime, open_runtime
from app.core.numeric import near_chance
from app.core.ood.prior.digit_prior import extra_heads_for
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
        ``.keras``, ``.h5``/``.hdf5``, ``.tflite`` or a SavedModel folder. A Keras file
        with a verified LiteRT conversion (cached or shipped beside it) opens without
        TensorFlow; otherwise it is compiled and converted in the background.
    trust : bool, default=False
        Allow models that can execute code (Lambda layers, custom objects, SavedModel).
    card : ModelCard, optional
        Use this card instead of the one beside the model.

    Raises
    ------
    ModelError, UnsafeModelError, CardError
        With a one-line message naming the problem.
    """
    choice = open_runtime(path, trust=trust)
    loaded = choice.loaded
    has_card_file = False
    if card is None:
        card = load_card_for(path)
        has_card_file = card is not None
    if card is None:
        card = infer_card(loaded)
        card.path = card_path_for(path)
    try:
        spec = PreprocessingSpec.from_dict(card.preprocessing)
    except CardError as exc:  # named by its file: the user has to find what to fix
        raise _in_card_file(exc, path, has_card_file) from None
    if spec.target_size is None and all(loaded.input_shape[:2]):
        spec = spec.with_changes(target_size=tuple(loaded.input_shape[:2]))
    problems = card_problems(card, spec, loaded)
    if problems:
        raise CardError(f"{card_path_for(path).name}: {problems[0]}")
    warnings = list(loaded.notes) + choice.notes
    if not spec.recorded:
        warnings.insert(0, f"preprocessing is unrecorded ({spec.source}); {recording_hint(path)}")
    warnings += double_preprocessing_warnings(spec, loaded)
    try:
        ood = OODRuntime.from_card(card, card_path_for(path))
    except CardError as exc:
        raise _in_card_file(exc, path, has_card_file) from None
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
    session = ModelSession(loaded, card, spec, choice.runtime, ood, warnings, has_card_file, sets)
    session.untrustworthy = untrustworthy
    if ood.needs_layer_statistics:
        # The probe reads layer statistics the plain (and the converted) graph do not give.
        probe = ood.detector.probe_
        try:
            extras = extra_heads_for(probe.extra_stats if probe is not None else (), spec)
        except Exception as exc:  # the model must still open, so the check can be refitted
            extras = []
            session.warnings.append(f"the 'none of the classes' check is off ({exc}); refit it "
                                    "with probscope ood --data DIR --save")
            session.ood = OODRuntime.unchecked(card.ood_label)
            probe = None
        session.enable_layer_statistics(extras)
        if probe is not None and len(probe.coef_) != session.predictor.stats_width:
            # Not an error: the model must still open, or the check could never be refitted.
            session.warnings.append(
                f"the 'none of the classes' check in {card_path_for(path).name} was fitted on "
                f"{len(probe.coef_)} layer statistics but the model gives "
                f"{session.predictor.stats_width} (another probscope or model version): it is "
                "off until you refit it with probscope ood --data DIR --save")
            session.ood = OODRuntime.unchecked(card.ood_label)
    if choice.conversion is not None:
        # Adopt first, then publish: whoever waits on session.conversion sees the switch made.
        adopted: Future = Future()

        def adopt(done: Future) -> None:
            _adopt_conversion(session, choice, done)
            adopted.set_result(session.runtime_name)

        session.conversion = adopted
        choice.conversion.add_done_callback(adopt)
    return session


def _adopt_conversion(session: ModelSession, choice: ModelRuntime, done: Future) -> None:
    """Switch a session to its freshly converted and verified LiteRT file, or say why not."""
    from app.core.models.conversion import rejection_warning
    from app.core.models.litert_runtime import LiteRTRuntime

    try:
        conversion = done.result()
        if session.stats_layout is not None:
            # The check reads layer statistics the converted graph does not carry: stay on TF.
            session.warnings.append("LiteRT is not used: the card's probe needs TensorFlow's "
                                    "layer statistics")
        elif conversion.verified:
            session.predictor = LiteRTRuntime(conversion.model, choice.loaded.name,
                                              outputs=conversion.meta.get("outputs"))
        else:
            session.warnings.append(rejection_warning(conversion))
        session.warnings += conversion.notes
    except Exception as exc:  # a failed background job must not break the session using TF
        session.warnings.append(f"LiteRT is not used: the conversion failed ({str(exc)[:160]})")


def _in_card_file(exc: CardError, path: str | os.PathLike[str], from_file: bool) -> CardError:
    return CardError(f"{card_path_for(path).name}: {exc.message}") if from_file else exc
