"""Hostile .keras files (issue 16): bombs, deep nesting, zip slip and Keras' own unsafe switches."""

from __future__ import annotations

import json
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from app.core.errors import ModelError
from app.core.models.inspection import MAX_CONFIG_BYTES, inspect_model


def _keras_file(path: Path, config: bytes | str, extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", config)
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


def _layer(class_name: str, module: str = "keras.layers", **config: object) -> dict:
    return {"module": module, "class_name": class_name, "config": {"name": "x", **config},
            "registered_name": None}


def _model(*layers: dict) -> str:
    return json.dumps({"module": "keras", "class_name": "Sequential",
                       "config": {"name": "m", "layers": list(layers)}, "registered_name": None})


def test_a_config_zip_bomb_is_refused_quickly_and_cheaply(tmp_path):
    # A few hundred kB on disk that inflate past the limit (the trial's cost 24.6 s and 2.78 GB).
    bomb = _keras_file(tmp_path / "bomb.keras", b"[" + b" " * (MAX_CONFIG_BYTES + 2**20) + b"]")
    assert bomb.stat().st_size < MAX_CONFIG_BYTES // 50
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(ModelError, match=r"bomb.keras: config.json inflates to more than 64 MB"):
        inspect_model(bomb)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 5.0 and peak < 2 * MAX_CONFIG_BYTES


def test_a_deeply_nested_config_is_a_model_error_not_a_recursion_error(tmp_path):
    deep = _keras_file(tmp_path / "deep.keras", "[" * 50_000 + "]" * 50_000)
    with pytest.raises(ModelError, match="nests deeper than 100 levels") as info:
        inspect_model(deep)
    assert len(str(info.value).splitlines()) == 1


def test_a_zip_slip_archive_is_refused_before_keras_sees_it(tmp_path):
    slip = _keras_file(tmp_path / "slip.keras", _model(_layer("Dense", units=2)),
                       {"../../outside.txt": b"x", "assets/ok.txt": b"y"})
    with pytest.raises(ModelError, match=r"holds a file outside itself \('../../outside.txt'\)"):
        inspect_model(slip)


def test_tfsmlayer_and_keras_unsafe_switches_are_named_as_risky(tmp_path):
    tfsm = _keras_file(tmp_path / "tfsm.keras", _model(_layer("TFSMLayer", filepath="/tmp/sm")))
    assert any(r.startswith("TFSMLayer 'x'") and "SavedModel" in r for r in inspect_model(tfsm).risky)
    switch = {"module": "keras.config", "class_name": "function",
              "config": "enable_unsafe_deserialization", "registered_name": "function"}
    unsafe = _keras_file(tmp_path / "unsafe.keras",
                         _model(_layer("Dense", units=2, activation=switch)))
    risky = inspect_model(unsafe).risky
    assert any("keras.config" in r for r in risky)
    assert any("enable_unsafe_deserialization" in r for r in risky)
    hidden = _keras_file(tmp_path / "hidden.keras", _model(_layer(
        "Dense", units=2, note="keras.config.enable_unsafe_deserialization()")))
    assert any("enable_unsafe_deserialization" in r for r in inspect_model(hidden).risky)


def test_a_plain_keras_model_has_no_risky_parts(colour_model):
    assert inspect_model(colour_model).risky == []


def test_the_bundled_model_has_no_risky_parts():
    from app.core.resources import bundled_model_path

    assert inspect_model(bundled_model_path()).risky == []
