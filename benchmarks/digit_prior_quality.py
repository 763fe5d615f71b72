"""What the digit prior does for users' own plain digit models, prior against prior.

Three ordinary CNNs are trained here as a user would train them, on the project's generated
digits and with no outlier exposure: an ``.h5`` in Keras 2's format (colour 32x32, x/255 in the
card), a Keras 3 ``.keras`` whose ``Rescaling`` layer scales its input, and a grayscale 28x28
one. Each is fitted exactly as the README says, ``probscope ood --model M --data VAL --save``
(VAL: 600 held-out digits, no no-class images), once with each prior, and judged on what none
of that saw: 1,500 held-out digits (held-out fonts, pen style and scikit-learn digits), 900
no-digit images from the nine test generators that are not in the built-in reference
(``tests/core/ood/junk_images.py``) and 520 capital letters in held-out fonts. The prior
``none`` is the probe alone (no bundled model in reach).

Run from the repository, with the training fonts (``make digits-fonts``)::

    PROBSCOPE_FONT_DIRS=build/digit-fonts .venv/bin/python -m benchmarks.digit_prior_quality \\
        --prior previous=OLD/digits.keras --prior this=resources/digits/digits.keras

Each prior must have its card beside it (``digits.keras.probscope.json``): its temperature
scales the prior's energy.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import string
import tempfile
import time
from pathlib import Path

import numpy as np

DIGITS = [str(d) for d in range(10)]
CARD_SUFFIX = ".probscope.json"
# name -> (file name, card preprocessing, the network as a user might write it: the small
# Keras 2 example CNN; the Keras 3 tutorial's, its scaling in a Rescaling layer; MNIST's)
MODELS = {
    "Keras 2 .h5, colour 32x32": ("plain.h5", {"color_mode": "rgb", "target_size": [32, 32],
                                               "scale": 1 / 255}, "small"),
    "Keras 3, Rescaling, colour 32x32": ("rescaling.keras", {
        "color_mode": "rgb", "target_size": [32, 32], "scale": 1.0}, "rescaling"),
    "Keras 3, grayscale 28x28": ("gray.keras", {"color_mode": "grayscale",
                                                "target_size": [28, 28], "scale": 1 / 255}, "mnist"),
}


def _network(keras, kind: str, shape: tuple[int, ...]):
    layers = keras.layers
    if kind == "small":
        body = [layers.Conv2D(16, 3, activation="relu", padding="same"), layers.MaxPooling2D(),
                layers.Conv2D(32, 3, activation="relu", padding="same"), layers.MaxPooling2D(),
                layers.Flatten(), layers.Dense(64, activation="relu")]
    elif kind == "rescaling":
        body = [layers.Rescaling(1 / 255), layers.Conv2D(32, 3, activation="relu"),
                layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
                layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(),
                layers.Flatten(), layers.Dropout(0.3), layers.Dense(128, activation="relu")]
    else:
        body = [layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
                layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(),
                layers.Flatten(), layers.Dropout(0.5)]
    return keras.Sequential([keras.Input(shape), *body, layers.Dense(10, activation="softmax")])


def _data() -> dict[str, np.ndarray]:
    """Training, fitting and test images, all 32x32 RGB uint8 as probscope would receive them."""
    from app.training.digits import synth, train
    from app.training.digits.evaluate import nondigits_of
    from tests.core.ood.junk_images import no_digit_test

    held = train.held_out_pools()
    x_tr, y_tr, _ = synth.generate(24000, 0, 11, train.training_pools(), workers=2)
    x_val, y_val, _ = synth.generate(600, 0, 12, held, workers=2)
    x_te, y_te, _ = synth.generate(1500, 0, 13, held, workers=2)
    junk, _ = no_digit_test(100, 32, gray=False, seed=5)
    letters = nondigits_of("held_letters", None, 520, 14, held, letters=string.ascii_uppercase)
    return {"x_tr": x_tr, "y_tr": y_tr, "x_val": x_val, "y_val": y_val, "x_te": x_te,
            "y_te": y_te, "junk": junk, "letters": letters}


def _train(folder: Path, name: str, data: dict[str, np.ndarray]) -> tuple[Path, float]:
    """One plain model and its card; returns its path and its held-out accuracy."""
    from app.core import PreprocessingSpec, open_model, prepare_batch, record_by_hand
    from app.core.tf_runtime import import_keras

    file_name, preprocessing, kind = MODELS[name]
    path = folder / file_name
    keras = import_keras()
    keras.utils.set_random_seed(4 + list(MODELS).index(name))
    recorded = {"interpolation": "area", "resize_backend": "opencv", **preprocessing}
    x = prepare_batch(list(data["x_tr"]), PreprocessingSpec.from_dict(recorded)).inputs
    model = _network(keras, kind, x.shape[1:])
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy")
    model.fit(x, data["y_tr"], epochs=6, batch_size=64, verbose=0)
    model.save(path)
    record_by_hand(DIGITS, path, **recorded)
    session = open_model(path)
    try:
        answers = [r.label for r in session.classify(list(data["x_te"]))]
    finally:
        session.close()
    return path, float(np.mean(np.array(answers) == data["y_te"].astype(str)))


def _resources_with(prior: Path | None, root: Path) -> Path:
    """A resources folder whose bundled model is ``prior`` (none: an empty one)."""
    folder = Path(tempfile.mkdtemp(dir=root))
    if prior is not None:
        (folder / "digits").mkdir()
        for suffix in ("", CARD_SUFFIX):
            os.symlink(Path(str(prior) + suffix).resolve(), folder / "digits" / (prior.name + suffix))
    return folder


def _accepted(path: Path, image_sets: dict[str, np.ndarray]) -> dict[str, float]:
    """Share of each set the fitted check accepts, with the model opened once."""
    from app.core import open_model

    session = open_model(path)
    try:
        return {name: float(np.mean([r.ood.in_distribution for r in session.classify(list(x))]))
                for name, x in image_sets.items()}
    finally:
        session.close()


def _fit_and_judge(path: Path, val: Path, data: dict[str, np.ndarray]) -> dict:
    from app.cli import main

    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = main(["ood", "--model", str(path), "--data", str(val), "--save", "--json"])
    if code != 0:
        raise SystemExit(f"probscope ood failed on {path.name} (exit {code})")
    report = json.loads(out.getvalue())
    return {"fit_seconds": round(time.perf_counter() - started, 1), "score": report["score"],
            "digit_prior": report["reference"]["digit_prior"],
            **_accepted(path, {"digits": data["x_te"], "no_digit": data["junk"],
                               "letters": data["letters"]})}


def measure(priors: dict[str, Path | None], work: Path) -> dict:
    data = _data()
    val = work / "val.npz"
    np.savez(val, images=data["x_val"], labels=data["y_val"])
    models = {name: _train(work, name, data) for name in MODELS}
    results: dict = {name: {"accuracy": round(acc, 4), "priors": {}}
                     for name, (_, acc) in models.items()}
    before = os.environ.get("PROBSCOPE_RESOURCES")
    try:
        for prior_name, prior in priors.items():
            os.environ["PROBSCOPE_RESOURCES"] = str(_resources_with(prior, work))
            for name, (path, _) in models.items():
                results[name]["priors"][prior_name] = _fit_and_judge(path, val, data)
    finally:
        if before is None:
            os.environ.pop("PROBSCOPE_RESOURCES", None)
        else:
            os.environ["PROBSCOPE_RESOURCES"] = before
    return results


def markdown(results: dict) -> str:
    priors = list(next(iter(results.values()))["priors"])
    lines = ["| user model (held-out accuracy) | " + " | ".join(priors) + " |",
             "|---|" + "---|" * len(priors)]
    for name, row in results.items():
        cells = [" / ".join(f"{100 * r[k]:.1f}" for k in ("digits", "no_digit", "letters")) + " %"
                 for r in row["priors"].values()]
        lines.append(f"| {name} ({100 * row['accuracy']:.1f} %) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\ndigits / no-digit / letters accepted"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--prior", action="append", default=[], metavar="NAME=MODEL",
                   help="a bundled model to use as the prior (repeat); 'none' is always measured")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    priors: dict[str, Path | None] = {"none": None}
    for item in args.prior:
        name, _, model = item.partition("=")
        priors[name] = Path(model)
    with tempfile.TemporaryDirectory(prefix="probscope-prior-") as work:
        results = measure(priors, Path(work))
    print(json.dumps(results, indent=2) if args.json else markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
