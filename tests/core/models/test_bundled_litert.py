"""The bundled model ships its LiteRT conversion: fresh (made from this .keras) and exact."""

from __future__ import annotations

import json

import numpy as np

from app.core import open_model
from app.core.models.conversion import parity_problem
from app.core.models.litert_cache import GRAPH_VERSION, beside_paths, file_digest
from app.core.resources import bundled_model_path, bundled_samples_dir

REBUILD = "rebuild it: .venv/bin/python -m app.training.digits.convert"


def test_shipped_conversion_is_fresh() -> None:
    model = bundled_model_path()
    tflite, meta_path = beside_paths(model)
    meta = json.loads(meta_path.read_text())
    assert meta["verified"], meta.get("problem")
    assert meta["key"] == {"model_sha256": file_digest(model), "graph_version": GRAPH_VERSION}, (
        f"{tflite.name} was made from another digits.keras; {REBUILD}")
    assert file_digest(tflite) == meta["tflite_sha256"], f"{tflite.name} was edited; {REBUILD}"


def test_shipped_conversion_matches_tensorflow(monkeypatch) -> None:
    lite = open_model(bundled_model_path())
    assert lite.runtime_name == "litert"
    monkeypatch.setenv("PROBSCOPE_RUNTIME", "tensorflow")
    tf = open_model(bundled_model_path())
    assert tf.runtime_name == "tensorflow"
    samples = sorted(str(p) for p in bundled_samples_dir().glob("*.png"))
    x = tf.prepare(samples).inputs
    rng = np.random.default_rng(3)
    x = np.concatenate([x, rng.uniform(0, 1, (32, *x.shape[1:])).astype(np.float32)])
    expected, got = tf.infer(x), lite.infer(x)
    assert parity_problem(expected, got) is None, f"{parity_problem(expected, got)}; {REBUILD}"
    np.testing.assert_array_equal(expected.logits.argmax(1), got.logits.argmax(1))
    for what in ("features", "stats"):  # every output the graph has, whatever its width
        a, b = getattr(expected, what), getattr(got, what)
        assert (a is None) == (b is None), f"{what}: {REBUILD}"
