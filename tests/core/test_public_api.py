"""The public API: every name a room or ``app.core`` exports exists, and importing is cheap."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

ROOMS = ["app.core", "app.core.images", "app.core.preprocessing", "app.core.models",
         "app.core.cards", "app.core.session", "app.core.data", "app.core.calibration",
         "app.core.ood", "app.core.diagnostics", "app.core.explain"]


@pytest.mark.parametrize("name", ROOMS)
def test_every_exported_name_resolves(name: str) -> None:
    package = importlib.import_module(name)
    assert package.__all__, name
    for attr in package.__all__:
        assert getattr(package, attr) is not None, f"{name}.{attr}"
    with pytest.raises(AttributeError):
        package.no_such_name  # noqa: B018


def test_importing_the_api_imports_nothing_heavy() -> None:
    code = (
        "import sys, app.core, app.core.ood, app.core.calibration, app.core.models\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('numpy', 'cv2', 'PIL', 'sklearn', 'tensorflow', 'keras')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_open_model_is_the_public_entry(model_path_for_api) -> None:
    from app.core import Classification, open_model

    session = open_model(model_path_for_api)
    try:
        (result,) = session.classify([b"not an image"], names=["x"])
        assert isinstance(result, Classification) and result.error
    finally:
        session.close()


@pytest.fixture(scope="module")
def model_path_for_api(colour_model):
    return colour_model
