"""The digit prior: probscope's own digit model asked, inside the user's inference call, "is
this a digit at all?".

A model trained only on digits has never had to tell a digit from anything else, so its layers
often carry too little to say "no digit" to a photo or a letter. probscope's bundled model was
trained for exactly that (outlier exposure on the built-in no-class reference). For a model
whose classes are digits, its energy score on the same image becomes one more column of the
probe's statistics, weighted up (``PRIOR_BOOST``): the probe still fits and thresholds on the
user's labelled images, so the promised share of real digits accepted holds, and the prior
only adds what the user's own model cannot see.

The image reaches it as the user's model input turned back into pixels
(:func:`app.core.preprocessing.pixels_in_graph.pixels_in_graph`), resized to the prior's input
and preprocessed as its card says, all in TensorFlow ops within the one compiled call.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from app.core.cards.card_file import load_card_for
from app.core.errors import ModelError
from app.core.models.loading import LoadedModel, load_model
from app.core.models.statistics.layer_statistics import ExtraHead
from app.core.ood.prior.folded_forward import Forward, folded_forward
from app.core.preprocessing.pixels_in_graph import pixels_in_graph
from app.core.preprocessing.spec import PreprocessingSpec
from app.core.resources import bundled_model_path
from app.core.tf_runtime import import_keras, import_tensorflow, on_tf_thread

# Where the prior's score sits in the statistics layout (the probe finds it by this name).
DIGIT_PRIOR_SLOT = ("digit prior", "energy")
DIGITS = frozenset("0123456789")
# The standardised prior column is multiplied by this before the L2-penalised fit: it then weighs
# like a dozen ordinary columns (3.5 ** 2). Measured on four independent plain digit models
# (colour .h5, Keras 3, two grayscale): 1 leaves much of its gain unused; from about 4.5 up the
# probe leans on the prior so hard that new digits in styles the prior finds odd are rejected.
PRIOR_BOOST = 3.5


def digit_prior_applies(classes: Iterable[str]) -> bool:
    """True when every class is one digit character (at least two classes) and the prior ships."""
    names = [str(c) for c in classes]
    return len(names) >= 2 and set(names) <= DIGITS and bundled_model_path().exists()


@functools.lru_cache(maxsize=1)
def _prior_model(path: str) -> tuple[LoadedModel, PreprocessingSpec, float, Forward | None]:
    card = load_card_for(path)
    if card is None:
        raise ModelError(f"{Path(path).name}: the digit prior has no card")
    loaded = load_model(Path(path))
    return (loaded, PreprocessingSpec.from_dict(card.preprocessing), float(card.temperature),
            on_tf_thread(_checked_folded_forward, loaded))


def _checked_folded_forward(loaded: LoadedModel) -> Forward | None:
    """The folded pass, if it gives the model's own logits on a random batch (else None)."""
    keras, tf = import_keras(), import_tensorflow()
    forward = folded_forward(loaded.model, keras)
    if forward is None:
        return None
    x = tf.constant(np.random.default_rng(0).uniform(0, 1, (4, *loaded.input_shape)), tf.float32)
    same = np.allclose(np.asarray(forward(tf, x)), np.asarray(loaded.heads(x)[0]), atol=1e-4)
    return forward if same else None


def digit_prior_head(spec: PreprocessingSpec) -> ExtraHead:
    """The prior as a statistics column of a model whose inputs ``spec`` prepares.

    Parameters
    ----------
    spec : PreprocessingSpec
        The user's model's preprocessing (to turn its inputs back into pixels).

    Returns
    -------
    ExtraHead
        One column, ``T * logsumexp(logits / T)`` of the bundled digit model at its card's
        temperature: higher is more digit-like.
    """
    loaded, prior_spec, temperature, forward = _prior_model(str(bundled_model_path()))
    height, width = prior_spec.target_size or loaded.input_shape[:2]

    def build(tf: Any, x: Any) -> Any:
        pixels = pixels_in_graph(tf, x, spec)
        # Shrinking averages like OpenCV's INTER_AREA (the prior's training); enlarging is
        # bilinear, as INTER_AREA is then.
        shrink = x.shape[1] >= height and x.shape[2] >= width
        pixels = tf.image.resize(pixels, (height, width), method="area" if shrink else "bilinear",
                                 antialias=False)
        if prior_spec.color_mode == "bgr":
            pixels = pixels[..., ::-1]
        if loaded.input_shape[-1] == 1:
            pixels = tf.reduce_mean(pixels, axis=-1, keepdims=True)
        inputs = pixels * float(prior_spec.scale) + float(prior_spec.offset)
        logits = forward(tf, inputs) if forward is not None else loaded.heads(inputs)[0]
        return temperature * tf.reduce_logsumexp(logits / temperature, axis=1, keepdims=True)

    # The folded pass holds its weights as graph constants; the Keras call reads the model's.
    return ExtraHead(*DIGIT_PRIOR_SLOT, width=1, build=build,
                     module=loaded.model if forward is None else None)


def slot_name(slot: tuple[str, str]) -> str:
    """``"digit prior/energy"``: how a probe records the extra statistics it was fitted on."""
    return "/".join(slot)


def prior_fingerprint() -> str:
    """Which digit prior: a hash of the bundled model file and its card's temperature.

    A probe records it with the column, so a check fitted against one version of the bundled
    model is not silently scored by another (its threshold would no longer mean anything).
    """
    return _fingerprint(str(bundled_model_path()))


@functools.lru_cache(maxsize=4)
def _fingerprint(path: str) -> str:
    digest = hashlib.sha256(Path(path).read_bytes())
    card = load_card_for(path)
    digest.update(repr(None if card is None else card.temperature).encode())
    return digest.hexdigest()[:12]


def recorded_name() -> str:
    """What a probe fitted with the prior stores in ``extra_stats``: slot and fingerprint."""
    return f"{slot_name(DIGIT_PRIOR_SLOT)}#{prior_fingerprint()}"


def extra_heads_for(names: Iterable[str], spec: PreprocessingSpec) -> list[ExtraHead]:
    """The extra statistics a fitted probe recorded (:attr:`ProbeScore.extra_stats`), rebuilt.

    Raises
    ------
    ModelError
        A name this probscope does not know (a probe from a newer version), or a prior other
        than the one the probe was fitted with (another probscope version's bundled model).
    """
    heads = []
    for name in names:
        base, _, fingerprint = name.partition("#")
        if base != slot_name(DIGIT_PRIOR_SLOT):
            raise ModelError(f"it needs the statistic {base!r}, unknown to this probscope")
        if fingerprint and fingerprint != prior_fingerprint():
            raise ModelError("it was fitted with another version of probscope's digit model "
                             "(the digit prior)")
        heads.append(digit_prior_head(spec))
    return heads
