"""Grad-CAM through a nested model, the transfer-learning layout (a base model as one layer).

The trained glyph CNN is rewrapped with the same weights: its convolutions become a nested
model inside a Sequential and inside a functional model. Grad-CAM must give exactly the
flat model's maps; a model whose outer layers are not a chain is refused for occlusion.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from app.core import open_model
from app.core.cards.card_file import card_path_for
from app.core.explain import GradCAM, GradCAMUnavailable
from tests.core.explain import glyphs


@pytest.fixture(scope="module")
def flat(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return glyphs.glyph_model(tmp_path_factory.mktemp("glyphs"))


def _rewrap(flat: Path, root: Path, kind: str) -> Path:
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    model = keras.saving.load_model(flat)
    convs = model.layers[:5]  # conv, pool, conv, pool, conv: the "base"
    inp = keras.Input((glyphs.CANVAS, glyphs.CANVAS, 3))
    x = inp
    for layer in convs:
        x = layer(x)
    base = keras.Model(inp, x, name="base")
    pool, dense = model.layers[5], model.layers[6]
    if kind == "sequential":
        wrapped = keras.Sequential([keras.Input((glyphs.CANVAS, glyphs.CANVAS, 3)), base, pool, dense])
    else:
        outer_in = keras.Input((glyphs.CANVAS, glyphs.CANVAS, 3))
        feats = pool(base(outer_in, training=False))
        if kind == "branching":  # a second path around the base: not a chain
            side = keras.layers.GlobalAveragePooling2D()(outer_in)
            feats = keras.layers.Concatenate()([feats, keras.layers.Dense(32)(side) * 0.0])
            dense = keras.layers.Dense(len(glyphs.CLASSES), activation="softmax")
        wrapped = keras.Model(outer_in, dense(feats))
    path = root / f"{kind}.keras"
    wrapped.save(path)
    shutil.copy(card_path_for(flat), card_path_for(path))
    return path


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_gradcam_through_a_nested_base_equals_the_flat_models(flat: Path, tmp_path: Path,
                                                               kind: str) -> None:
    x, _, _ = glyphs.dataset(seed=5, n=6)
    inputs = x.astype(np.float32) / 255.0
    flat_session, nested_session = open_model(flat), open_model(_rewrap(flat, tmp_path, kind))
    try:
        want = GradCAM(flat_session.loaded)(inputs)
        cam = GradCAM(nested_session.loaded)
        got = cam(inputs)
    finally:
        flat_session.close()
        nested_session.close()
    assert cam.target.spatial_size == (12, 12)
    np.testing.assert_array_equal(got.classes, want.classes)
    assert want.maps.max() > 0
    np.testing.assert_allclose(got.maps, want.maps, rtol=1e-4, atol=1e-5 * float(want.maps.max()))


def test_a_base_inside_branching_layers_is_refused_for_occlusion(flat: Path, tmp_path: Path) -> None:
    session = open_model(_rewrap(flat, tmp_path, "branching"))
    try:
        with pytest.raises(GradCAMUnavailable, match="not a chain.*use occlusion instead"):
            GradCAM(session.loaded)
    finally:
        session.close()


def test_what_the_config_tells_before_anything_is_built(flat: Path, tmp_path: Path) -> None:
    """The window turns Grad-CAM off from the config alone (a LiteRT session loads no model)."""
    from app.core.explain import gradcam_unavailable
    from app.core.models.inspection import inspect_model

    for path in (flat, _rewrap(flat, tmp_path, "sequential")):
        assert gradcam_unavailable("keras", inspect_model(path).layer_classes) is None
    assert "no convolutional layer" in gradcam_unavailable("keras", ["Dense", "Flatten", "InputLayer"])
    assert ".tflite" in gradcam_unavailable("tflite", [])
    assert "SavedModel" in gradcam_unavailable("savedmodel", [])
