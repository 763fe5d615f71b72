"""The LiteRT runtime: parity with TensorFlow, the conversion cache and its failure modes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.core import open_model
from app.core.models.conversion import LOGIT_TOLERANCE, parity_problem
from app.core.models.litert_cache import cache_key, cache_paths, key_parts

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def converting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Background conversion on, into a cache of this test's own."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("PROBSCOPE_CONVERT", "1")
    monkeypatch.setenv("PROBSCOPE_CACHE_DIR", str(cache))
    monkeypatch.delenv("PROBSCOPE_RUNTIME", raising=False)
    return cache


def _model_copy(colour_model: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    for f in colour_model.parent.iterdir():
        shutil.copy(f, folder / f.name)
    return folder / colour_model.name


def _images(colour_folder: Path) -> list[str]:
    return sorted(str(p) for p in colour_folder.rglob("*.png"))


def test_litert_matches_tensorflow(converting: Path, colour_model: Path, colour_folder: Path,
                                   tmp_path: Path) -> None:
    model = _model_copy(colour_model, tmp_path)
    session = open_model(model)
    assert session.runtime_name == "tensorflow"
    batch = session.prepare(_images(colour_folder))
    tf_out = session.infer(batch.inputs)
    assert session.wait_for_conversion(120) == "litert", session.warnings
    lite_out = session.infer(batch.inputs)
    assert parity_problem(tf_out, lite_out) is None
    np.testing.assert_array_equal(tf_out.logits.argmax(1), lite_out.logits.argmax(1))
    spread = float(np.ptp(tf_out.logits))
    assert np.abs(tf_out.logits - lite_out.logits).max() <= LOGIT_TOLERANCE * spread
    assert lite_out.features is not None and lite_out.features.shape == tf_out.features.shape
    np.testing.assert_allclose(lite_out.probabilities.sum(1), 1.0, atol=1e-5)
    session.close()


def test_parity_check_rejects_a_different_model() -> None:
    from app.core.models.predictor import ModelOutputs

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(8, 3)).astype(np.float32)
    same = ModelOutputs(logits, logits, None)
    assert parity_problem(same, ModelOutputs(logits + 1e-7, logits, None)) is None
    assert "top class" in parity_problem(same, ModelOutputs(-logits, logits, None))
    assert "differ by" in parity_problem(same, ModelOutputs(logits + 0.01, logits, None))


def _run(code: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_second_open_uses_litert_without_tensorflow(converting: Path, colour_model: Path,
                                                    colour_folder: Path, tmp_path: Path) -> None:
    model = _model_copy(colour_model, tmp_path)
    image = _images(colour_folder)[0]
    env = dict(os.environ)
    first = _run(
        "from app.core import open_model\n"
        f"s = open_model({str(model)!r})\n"
        "print(s.runtime_name, s.wait_for_conversion(240))\n", env)
    assert first == "tensorflow litert"
    second = _run(
        "import sys, json\n"
        "from app.core import open_model\n"
        f"s = open_model({str(model)!r})\n"
        f"r = s.classify([{image!r}])[0]\n"
        "print(json.dumps([s.runtime_name, r.label, r.error, 'tensorflow' in sys.modules]))\n",
        env)
    runtime, label, error, imported = json.loads(second)
    assert (runtime, error, imported) == ("litert", None, False)
    assert label == Path(image).parent.name
    # What needs the Keras model still gets it: loading it now imports TensorFlow.
    third = _run(
        "import sys\n"
        "from app.core import open_model\n"
        f"s = open_model({str(model)!r})\n"
        "print(type(s.loaded.model).__name__, 'tensorflow' in sys.modules)\n", env)
    assert third == "Sequential True"


def test_corrupt_cache_entry_is_rebuilt(converting: Path, colour_model: Path, tmp_path: Path) -> None:
    model = _model_copy(colour_model, tmp_path)
    assert open_model(model).wait_for_conversion(120) == "litert"
    tflite, meta = cache_paths(cache_key(key_parts(model)))
    good = tflite.read_bytes()
    tflite.write_bytes(good[: len(good) // 2])  # a truncated write, a flipped disk block
    session = open_model(model)
    assert session.runtime_name == "tensorflow"  # the damaged file was not used
    assert session.wait_for_conversion(120) == "litert"
    record = json.loads(meta.read_text())
    rebuilt = tflite.read_bytes()
    assert record["verified"] and rebuilt[4:8] == b"TFL3" and len(rebuilt) > len(good) // 2
    assert hashlib.sha256(rebuilt).hexdigest() == record["tflite_sha256"]
    assert open_model(model).runtime_name == "litert"


def test_unwritable_cache_still_works(monkeypatch: pytest.MonkeyPatch, colour_model: Path,
                                      colour_folder: Path, tmp_path: Path) -> None:
    # A cache under a regular file cannot be created, for root as for anyone (chmod would not
    # stop root, which runs CI).
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("PROBSCOPE_CONVERT", "1")
    monkeypatch.setenv("PROBSCOPE_CACHE_DIR", str(blocker / "cache"))
    session = open_model(_model_copy(colour_model, tmp_path))
    assert session.wait_for_conversion(120) == "litert"
    notes = [w for w in session.warnings if "not writable" in w]
    assert len(notes) == 1, session.warnings
    results = session.classify(_images(colour_folder)[:6])
    assert all(r.ok for r in results)


def test_runtime_can_be_forced_to_tensorflow(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.core.resources import bundled_model_path

    assert open_model(bundled_model_path()).runtime_name == "litert"
    monkeypatch.setenv("PROBSCOPE_RUNTIME", "tensorflow")
    assert open_model(bundled_model_path()).runtime_name == "tensorflow"

