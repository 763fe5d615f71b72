"""Grad-CAM and occlusion per image, beside what a user would write by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.timing import median_ms


def explain_ms(session: Any, image: Path) -> dict[str, float]:
    """probscope's maps for one prepared image vs tf-keras-vis Gradcam and a naive occlusion loop."""
    from app.core.explain import Explainer

    explainer = Explainer(session)
    x = session.prepare([image]).inputs
    res = {"gradcam": median_ms(lambda: explainer.maps(x, "gradcam"), repeats=30),
           "occlusion": median_ms(lambda: explainer.maps(x, "occlusion"), repeats=10, warmup=2)}
    model = session.loaded.model
    plan = explainer.plan
    h, w = x.shape[1:3]

    def naive_occlusion() -> None:
        # One model(x) call per patch position: what a hand-written loop does.
        fill = x[0].mean(axis=(0, 1))
        for r in plan.starts(h):
            for c in plan.starts(w):
                y = x.copy()
                y[0, r : r + plan.patch, c : c + plan.patch] = fill
                model(y, training=False)

    res["naive_occlusion_loop"] = median_ms(naive_occlusion, repeats=3, warmup=1)
    try:
        from tf_keras_vis.gradcam import Gradcam
        from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
        from tf_keras_vis.utils.scores import CategoricalScore
    except ImportError:
        return res
    cam = Gradcam(model, model_modifier=ReplaceToLinear(), clone=True)
    cls = int(np.argmax(session.infer(x).logits[0]))
    res["tf_keras_vis_gradcam"] = median_ms(
        lambda: cam(CategoricalScore([cls]), x, penultimate_layer=explainer.gradcam.target.name,
                    seek_penultimate_conv_layer=False), repeats=10)
    return res
