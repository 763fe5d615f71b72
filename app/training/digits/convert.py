"""Ship the bundled model's LiteRT conversion beside it, so that it answers without TensorFlow.

Run after every retraining (``tests/core/models/test_bundled_litert.py`` fails until then)::

    .venv/bin/python -m app.training.digits.convert [--model resources/digits/digits.keras]

It converts the model's inference graph exactly as the app does on first open, refuses to
write a file that does not match TensorFlow on the probe batch, and writes
``digits.keras.litert.tflite`` and ``digits.keras.litert.json`` (whose key records the
``.keras`` file's SHA-256).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from app.core.models.conversion import convert
from app.core.models.litert_cache import write_beside
from app.core.models.loading import load_model
from app.core.models.predictor import TensorflowRuntime
from app.core.resources import bundled_model_path


def build(model: Path) -> tuple[Path, Path]:
    """Convert ``model``, check it against TensorFlow and write its shipped conversion.

    Raises
    ------
    SystemExit
        The conversion was rejected (the message says why); nothing was written.
    """
    loaded = load_model(model)
    content, meta = convert(loaded, TensorflowRuntime(loaded))
    if content is None:
        raise SystemExit(f"not written: {meta['problem']}")
    return write_beside(model, content, meta)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m app.training.digits.convert")
    parser.add_argument("--model", type=Path, default=bundled_model_path())
    args = parser.parse_args()
    for path in build(args.model):
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
