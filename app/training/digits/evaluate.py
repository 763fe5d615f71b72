"""Independent check of the bundled digit model, per source, through probscope's own path.

Every image is generated fresh with another seed from what training never used: font families
held out of training (Lato, Carlito, Cantarell, Linux Biolinum, B612 and Old Standard, when
installed; ``make digits-fonts`` unpacks them), held-out scikit-learn digits (every fifth;
``load_digits`` carries no writer ids), the held-out pen style of the stroke templates (more
jitter, slant and warp than any training hand), the held-out textures (wood, polka dots) and the
held-out sample photo (the flower). Faces, and letters and
symbols in held-out fonts, come from trained generators with fresh seeds: there is no second face
generator, and the characters a digit can pass for are reported on their own lines: every letter
of the probe's wide ``LOOKALIKES``, and those of them trained as non-digits (not in
``TRAINING_LOOKALIKES``: B D Q Z z), and the whole capital alphabet.

The images go through ``open_model`` exactly as a dropped file does: the card's preprocessing,
temperature and "no digit" check. Per source it reports accuracy, ECE (15 bins) of the raw and
of the temperature-scaled probabilities (the card's T, fitted on ``calibration.npz``, not on
this data) and the share the check accepts as a digit. Run::

    .venv/bin/python -m app.training.digits.evaluate [--model resources/digits/digits.keras]
        [--n 600] [--seed 777] [--json] [--stress] [--scans FILE] [--photos DIR] [--by-font]

``--stress`` adds the old stretched test (28-96 px crops, wider aspect, more rotation, channels
permuted and hue rotated) for printed and house-number crops. ``--scans`` adds real labelled
scans (:mod:`app.training.digits.real_scans`: an MNIST-style CSV or an ``.npz``), as given and
inverted: the generated scans above are only as good as the generator that drew them.
``--photos`` adds real photos with no digit, whole and cropped
(:mod:`app.training.digits.real_photos`), for the same reason.
``--by-font`` adds printed and house-number accuracy per held-out font family.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import string
import sys
from pathlib import Path

import numpy as np

from app.core.images.opencv import cv2
from app.core.ood.reference import glyph_fonts
from app.core.ood.reference.kinds import LOOKALIKES, TRAINING_LOOKALIKES
from app.training.digits import real_photos, real_scans, synth, train

HERE = train.HERE
DIGIT_ROWS = {  # report row -> generator source
    "printed": "printed", "house numbers": "svhn", "handwriting white-on-black": "mnist",
    "handwriting dark-on-paper": "mnist_paper", "handwriting, natural crops": "handwritten",
    "scikit-learn digits, natural crops": "sklearn",
}
NONDIGIT_ROWS = {  # report row -> (generator kind, glyph framing or None)
    "letters": ("held_letters", None),
    "letters styled like house numbers": ("held_letters", "staged"),
    "letters styled like handwriting": ("held_letters", "written"),
    "symbols": ("held_symbols", None),
    "textures": ("held_texture", None),
    "photos": ("held_photo", None),
    "faces": ("face", None),
}


def _lookalike_letters(lookalikes: dict[str, str]) -> set[str]:
    return {c for d in train.CLASSES for c in lookalikes.get(d, "") if c.isalpha()}


# Every letter of the probe's wide look-alike list, and, on their own row, those of them the
# model is trained on as non-digits (in LOOKALIKES but not in TRAINING_LOOKALIKES).
LOOKALIKE_LETTERS = "".join(sorted(_lookalike_letters(LOOKALIKES)))
TRAINED_LOOKALIKE_LETTERS = "".join(sorted(_lookalike_letters(LOOKALIKES)
                                           - _lookalike_letters(TRAINING_LOOKALIKES)))

STRETCHED_LOOKS = {
    name: dataclasses.replace(look, heights=(28, 96), aspect=(0.4, 2.0),
                              max_rot=look.max_rot + 4, fill=(0.4, 0.98))
    for name, look in synth.LOOKS.items()
}
STRETCHED_LOOKS["svhn"] = dataclasses.replace(STRETCHED_LOOKS["svhn"], neighbours=0.9)


def recolour(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Colour schemes outside training: permuted channels and a rotated hue, per image."""
    out = images.copy()
    for i in range(len(out)):
        img = out[i][..., rng.permutation(3)]
        hsv = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2HSV)
        hsv[..., 0] = (hsv[..., 0].astype(int) + int(rng.integers(0, 180))) % 180
        out[i] = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return out


def digits_of(source: str, n: int, seed: int, pools: synth.Pools) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    images = np.stack([synth.to_model_input(synth.make_digit(rng, int(d), source, pools))
                       for d in labels])
    return images, labels


def nondigits_of(kind: str, framing: str | None, n: int, seed: int,
                 pools: synth.Pools, letters: str | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pools = dataclasses.replace(pools, glyph_framing=framing, letters=letters or pools.letters)
    return np.stack([synth.to_model_input(synth.make_nondigit(rng, kind, pools))
                     for _ in range(n)])


def run_model(session, images: np.ndarray | list[np.ndarray]) -> dict[str, np.ndarray]:
    """Raw and calibrated probabilities and the check's verdict, batch by batch."""
    raw, cal, accepted = [], [], []
    for i in range(0, len(images), 256):
        for r in session.classify(list(images[i:i + 256])):
            raw.append(r.raw_probabilities)
            cal.append(r.probabilities)
            accepted.append(r.ood.in_distribution)
    return {"raw": np.stack(raw), "calibrated": np.stack(cal), "accepted": np.array(accepted)}


def digit_row(out: dict[str, np.ndarray], labels: np.ndarray) -> dict:
    from app.core.calibration.metrics import expected_calibration_error as ece

    correct = out["raw"].argmax(1) == labels
    return {"n": int(len(labels)),
            "accuracy": round(float(correct.mean()), 4),
            "ece": round(ece(out["raw"], labels), 4),
            "ece_after_t": round(ece(out["calibrated"], labels), 4),
            "accepted": round(float(out["accepted"].mean()), 4),
            # What a user sees answered as a digit: how often that answer is right.
            "accuracy_when_accepted": round(float(correct[out["accepted"]].mean()), 4)
            if out["accepted"].any() else None}


def evaluate(model: Path, n: int, seed: int, stress: bool = False,
             scans: Path | None = None, photos: Path | None = None) -> dict:
    from app.core import open_model

    session = open_model(model)
    held = train.held_out_pools()
    held_fonts = len(glyph_fonts.split_fonts(held_out=True))
    if not held_fonts:
        print("warning: no held-out font family is installed (see train.py's docstring); "
              "printed rows use the training fonts", file=sys.stderr)
    report: dict = {"model": str(model), "temperature": session.temperature,
                    "held_out_fonts": held_fonts,
                    "check": {"score": session.ood.score_name,
                              "threshold": session.ood.threshold},
                    "digits": {}, "nondigits": {}}
    all_out, all_labels = [], []
    try:
        for k, (row, source) in enumerate(DIGIT_ROWS.items()):
            x, y = digits_of(source, n, seed + k, held)
            out = run_model(session, x)
            report["digits"][row] = digit_row(out, y)
            all_out.append(out)
            all_labels.append(y)
        merged = {key: np.concatenate([o[key] for o in all_out]) for key in all_out[0]}
        report["digits"]["all digits above"] = digit_row(merged, np.concatenate(all_labels))
        if scans is not None:
            images, labels = real_scans.load_scans(scans)
            for how, x in real_scans.both_polarities(images).items():
                report["digits"][f"real scans ({scans.name}), {how}"] = digit_row(
                    run_model(session, x), labels)
        if stress:
            stretched = dataclasses.replace(held, looks=dict(STRETCHED_LOOKS))
            for k, (row, source) in enumerate((("printed", "printed"),
                                               ("house numbers", "svhn"))):
                x, y = digits_of(source, n, seed + 50 + k, stretched)
                x = recolour(x, np.random.default_rng(seed + 60 + k))
                report["digits"][f"stress: {row}, stretched + recoloured"] = digit_row(
                    run_model(session, x), y)
        for k, (row, (kind, framing)) in enumerate(NONDIGIT_ROWS.items()):
            x = nondigits_of(kind, framing, n, seed + 100 + k, held)
            report["nondigits"][row] = _nondigit_row(run_model(session, x))
        x = nondigits_of("held_letters", None, n, seed + 200, held, letters=LOOKALIKE_LETTERS)
        report["nondigits"][f"look-alike letters ({LOOKALIKE_LETTERS}), probe's list"] = \
            _nondigit_row(run_model(session, x))
        x = nondigits_of("held_letters", None, n, seed + 201, held,
                         letters=TRAINED_LOOKALIKE_LETTERS)
        report["nondigits"][f"look-alike letters trained as non-digits "
                            f"({TRAINED_LOOKALIKE_LETTERS})"] = _nondigit_row(run_model(session, x))
        # Someone testing "letters" types the alphabet: O, I and S among them, as often as Y.
        x = nondigits_of("held_letters", None, n, seed + 202, held, letters=string.ascii_uppercase)
        report["nondigits"]["every capital A-Z, look-alikes included"] = _nondigit_row(
            run_model(session, x))
        if photos is not None:
            report["nondigits"][f"real photos ({photos.name}), whole and cropped"] = \
                _nondigit_row(run_model(session, real_photos.photo_crops(photos, seed=seed)))
    finally:
        session.close()
    return report


def by_font(model: Path, n: int, seed: int) -> dict:
    """Accuracy of printed and house-number crops per held-out font family: which typefaces
    the errors of those rows sit on."""
    from app.core import open_model

    held = train.held_out_pools()
    families: dict[str, list[str]] = {}
    for path in held.fonts:
        families.setdefault(glyph_fonts.font_family(path), []).append(path)
    session = open_model(model)
    report: dict = {}
    try:
        for family, fonts in sorted(families.items()):
            pools = dataclasses.replace(held, fonts=tuple(fonts))
            report[family] = {"fonts": len(fonts), "n": n}
            for k, (row, source) in enumerate((("printed", "printed"), ("house numbers", "svhn"))):
                x, y = digits_of(source, n, seed + 300 + k, pools)
                report[family][row] = digit_row(run_model(session, x), y)["accuracy"]
    finally:
        session.close()
    return report


def _nondigit_row(out: dict[str, np.ndarray]) -> dict:
    return {"n": int(len(out["accepted"])), "accepted": round(float(out["accepted"].mean()), 4),
            "mean_confidence_after_t": round(float(out["calibrated"].max(1).mean()), 4)}


def markdown(report: dict) -> str:
    """The README's table: one line per source."""
    pct = "{:.1f} %".format
    lines = ["| source (held out) | n | accuracy | ECE before T | ECE after T | accepted as a digit "
             "| accuracy of the accepted |", "|---|---|---|---|---|---|---|"]
    for row, r in report["digits"].items():
        when = r.get("accuracy_when_accepted")
        lines.append(f"| {row} | {r['n']} | {pct(100 * r['accuracy'])} | {pct(100 * r['ece'])} "
                     f"| {pct(100 * r['ece_after_t'])} | {pct(100 * r['accepted'])} "
                     f"| {'—' if when is None else pct(100 * when)} |")
    for row, r in report["nondigits"].items():
        lines.append(f"| {row} | {r['n']} | — | — | — | {pct(100 * r['accepted'])} | — |")
    if "by_font" in report:
        held = report.get("held_out_fonts", 1) > 0
        title = "held-out font family" if held else "font family (no held-out one installed)"
        lines += ["", f"| {title} | files | n | printed | house numbers |",
                  "|---|---|---|---|---|"]
        lines += [f"| {family} | {r['fonts']} | {r['n']} | {pct(100 * r['printed'])} "
                  f"| {pct(100 * r['house numbers'])} |" for family, r in report["by_font"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=HERE / train.MODEL_NAME)
    p.add_argument("--n", type=int, default=600, help="images per source")
    p.add_argument("--seed", type=int, default=777)
    p.add_argument("--stress", action="store_true", help="add the stretched, recoloured rows")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--by-font", action="store_true", help="add printed and house-number "
                   "accuracy per held-out font family (--n crops each)")
    p.add_argument("--scans", type=Path, help="labelled real scans to add (evaluation only): an "
                   "MNIST-style CSV (.csv or .csv.gz: 784 pixels and a label a row) or an .npz "
                   "of images and labels; reported as given and inverted")
    p.add_argument("--photos", type=Path, metavar="DIR", help="a folder of real photos with no "
                   "digit (evaluation only): each whole, its centre square and 48 random crops")
    args = p.parse_args(argv)
    if args.scans is not None and not args.scans.is_file():
        p.error(f"--scans: no such file: {args.scans}")
    if args.photos is not None and not args.photos.is_dir():
        p.error(f"--photos: no such folder: {args.photos}")
    report = evaluate(args.model, args.n, args.seed, args.stress, args.scans, args.photos)
    if args.by_font:
        report["by_font"] = by_font(args.model, args.n, args.seed)
    print(json.dumps(report, indent=2) if args.json else markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
