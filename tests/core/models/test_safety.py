"""Models that can run code are refused unless trusted, and refusing runs none of their code."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core import open_model
from app.core.errors import ModelError, UnsafeModelError
from app.core.models.inspection import inspect_model


def _save_lambda_model(folder: Path, marker: Path, fmt: str) -> Path:
    """A model whose Lambda writes ``marker`` whenever its code runs."""
    from app.core.tf_runtime import import_keras

    keras = import_keras()

    # Keras stores a lambda's bytecode in the file; running it leaves a trace on disk.
    touch_marker = eval(f"lambda t: (open({str(marker)!r}, 'a').write('ran'), t)[1]")  # noqa: S307
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Lambda(touch_marker)(inp)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(2, activation="softmax")(x)
    marker.unlink(missing_ok=True)  # building the graph traced the function once
    path = folder / f"lambda.{fmt}"
    keras.Model(inp, out).save(path)
    marker.unlink(missing_ok=True)
    return path


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_lambda_model_is_refused_and_its_code_never_runs(tmp_path: Path, fmt: str) -> None:
    marker = tmp_path / "marker.txt"
    path = _save_lambda_model(tmp_path, marker, fmt)
    with pytest.raises(UnsafeModelError) as info:
        open_model(path)
    assert "Lambda" in str(info.value) and "--trust-model" in str(info.value)
    assert not marker.exists(), "refusing the model must not run its Lambda"


def test_trusted_lambda_model_loads_and_runs(tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    path = _save_lambda_model(tmp_path, marker, "keras")
    session = open_model(path, trust=True)
    assert session.loaded.trusted
    assert marker.exists(), "a trusted model runs its code: this proves the refusal test can fail"


def test_savedmodel_needs_trust(tmp_path: Path, colour_model: Path) -> None:
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    model = keras.saving.load_model(colour_model)
    export = tmp_path / "exported"
    model.export(export, verbose=False)
    assert inspect_model(export).format == "savedmodel"
    with pytest.raises(UnsafeModelError, match="SavedModel"):
        open_model(export)
    session = open_model(export, trust=True)
    assert session.loaded.n_classes == 3


def test_text_file_named_keras_and_truncated_h5_are_model_errors(tmp_path: Path, colour_model: Path) -> None:
    fake = tmp_path / "fake.keras"
    fake.write_text("this is not a model")
    with pytest.raises(ModelError, match="not a Keras model file"):
        open_model(fake)
    from app.core.tf_runtime import import_keras

    h5 = tmp_path / "m.h5"
    import_keras().saving.load_model(colour_model).save(h5)
    data = h5.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelError):
        open_model(cut)


def test_non_image_and_multi_output_models_are_refused(tmp_path: Path) -> None:
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    vec = keras.Sequential([keras.Input((20,)), keras.layers.Dense(3, activation="softmax")])
    vec.save(tmp_path / "vec.keras")
    with pytest.raises(ModelError, match="vector of 20 values, not a flattened square image"):
        open_model(tmp_path / "vec.keras")
    inp = keras.Input((8, 8, 3))
    flat = keras.layers.Flatten()(inp)
    two = keras.Model(inp, [keras.layers.Dense(2, activation="softmax")(flat), keras.layers.Dense(3)(flat)])
    two.save(tmp_path / "two.keras")
    with pytest.raises(ModelError, match="2 outputs"):
        open_model(tmp_path / "two.keras")
