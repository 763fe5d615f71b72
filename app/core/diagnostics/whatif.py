"""What if the preprocessing were wrong? One image under the two most common mistakes.

Shows how much an answer depends on preprocessing: the prediction as recorded, with the
rescale step missing (raw 0–255 pixels, what ``cv2.imread`` or ``PIL`` gives), and with
the colour channels reversed (BGR for RGB). For a model that takes raw pixels the
"rescale" mistake is the opposite one: an extra ``x / 255``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.core.cards.inferred import card_value_steps
from app.core.preprocessing.pipeline import ImageSource, normalize, resize_source
from app.core.session.model_session import ModelSession


@dataclass
class WhatIfPrediction:
    """The model's answer for one variant of the preprocessing."""

    key: str  # "as_recorded", "no_rescale" / "extra_rescale", "bgr"
    description: str
    label: str
    index: int
    probability: float  # of ``label``, calibrated with the card's temperature
    probabilities: np.ndarray
    in_distribution: bool

    def to_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "description": self.description,
            "label": self.label,
            "index": self.index,
            "probability": self.probability,
            "probabilities": [float(p) for p in self.probabilities],
            "in_distribution": self.in_distribution,
        }


def what_if(session: ModelSession, source: ImageSource, name: str = "image") -> list[WhatIfPrediction]:
    """Predict one image as recorded, without the rescale, and with channels reversed.

    Parameters
    ----------
    session : ModelSession
    source : path, encoded bytes or RGB uint8 array
        The image, as for :meth:`ModelSession.classify`.
    name : str
        For error messages.

    Returns
    -------
    list of WhatIfPrediction
        Always three, in the order as-recorded, rescale mistake, BGR.

    Raises
    ------
    ImageError
        The image cannot be read.
    """
    spec = session.spec
    pixels = resize_source(source, spec, name)  # 0-255, channel order per the card
    recorded = normalize(pixels, spec)
    if not card_value_steps(spec):  # the model takes raw 0-255 pixels
        scale_key, scale_text = "extra_rescale", "rescaled by 1/255 (the model takes raw 0-255 pixels)"
        wrong_scale = normalize(pixels, spec.with_changes(scale=1.0 / 255.0))
    else:
        scale_key, scale_text = "no_rescale", "raw 0-255 pixels, no rescaling or normalisation"
        wrong_scale = pixels.astype(np.float32)
    swapped = normalize(np.ascontiguousarray(pixels[..., ::-1]), spec)
    bgr_text = ("channels reversed (BGR for RGB)" if pixels.shape[-1] == 3
                else "channels reversed (grayscale: the same input)")
    batch = np.stack([recorded, wrong_scale, swapped]).astype(np.float32)
    outputs = session.infer(batch)
    results = session.results_from_outputs([name] * 3, outputs)
    keys = [("as_recorded", "as recorded in the model card"), (scale_key, scale_text),
            ("bgr", bgr_text)]
    return [
        WhatIfPrediction(key, text, r.label or "", int(r.index or 0), float(r.confidence or 0.0),
                         np.asarray(r.probabilities), bool(r.ood and r.ood.in_distribution))
        for (key, text), r in zip(keys, results, strict=True)
    ]
