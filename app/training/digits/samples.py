"""Pick the shipped samples: crops that show what the app does, named by what the model says.

Candidates are generated from the held-out generators (fonts, pen style and scikit-learn digits
never trained on), saved as PNG and classified from those PNG bytes with the shipped card, so a
sample's name is what a user will see when dropping that file:

- ``digit_<d>_<source>.png``: read right, confidently, and accepted by the check;
- ``digit_<d>_<source>_hard.png``: read right and accepted, but with a visibly lower confidence;
- ``nodigit_<kind>.png``: called "no digit" (a photo, a face, a texture, shapes, letters);
- ``mistake_<d>_<source>_read_as_<e>.png``: an honest mistake, the model says ``e``.

Run after the card is refitted (``probscope calibrate`` / ``probscope ood``)::

    .venv/bin/python -m app.training.digits.samples [--seed 516]
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from app.core.images.opencv import cv2
from app.training.digits import synth, train

NAMES = {"printed": "printed", "svhn": "housenumber", "handwritten": "handwritten",
         "sklearn": "sklearn", "mnist": "scan", "mnist_paper": "paperscan"}
# (digit, source) of the confident samples; the tests and README name 7 printed/handwritten.
CLEAR = [(1, "printed"), (7, "printed"), (3, "printed"), (4, "svhn"), (6, "svhn"),
         (8, "svhn"), (7, "handwritten"), (2, "handwritten"), (0, "mnist"), (5, "mnist"),
         (9, "mnist"), (3, "mnist_paper"), (8, "mnist_paper"), (2, "sklearn"), (6, "sklearn")]
HARD = [(4, "mnist"), (1, "handwritten")]
NONDIGITS = {"photo": ("held_photo", None), "face": ("face", None),
             "texture": ("held_texture", None), "shapes": ("shapes", None),
             "letters": ("held_letters", "staged"), "letter_handwritten": ("held_letters",
                                                                          "written")}
MISTAKE_SOURCES = ("mnist", "handwritten", "mnist_paper")
# Clear samples stay in the 90 % prediction set a test fits; hard ones are visibly unsure.
CLEAR_CONFIDENCE, HARD_CONFIDENCE = 0.995, (0.45, 0.8)


def as_png(img: np.ndarray) -> bytes:
    """The crop as the PNG it is shipped as (at most 64 px tall, natural aspect)."""
    if img.shape[0] > 64:
        img = cv2.resize(img, (max(8, img.shape[1] * 64 // img.shape[0]), 64),
                         interpolation=cv2.INTER_AREA)
    h, w = img.shape[:2]
    if min(h, w) < synth.INPUT_SIZE < max(h, w):
        # One side shrinking and one growing is the case the export graph does not reproduce
        # exactly (OpenCV's area resize then mixes two kernels), so samples avoid it.
        k = synth.INPUT_SIZE / min(h, w)
        img = cv2.resize(img, (max(synth.INPUT_SIZE, round(w * k)),
                               max(synth.INPUT_SIZE, round(h * k))),
                         interpolation=cv2.INTER_CUBIC)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert ok
    return buf.tobytes()


def pick(session, make, accept, tries: int = 400) -> tuple[bytes, object] | None:
    """The first candidate ``make()`` whose classification passes ``accept``."""
    for _ in range(tries // 20):
        pngs = [as_png(make()) for _ in range(20)]
        for png, result in zip(pngs, session.classify(pngs), strict=True):
            if result.ok and accept(result):
                return png, result
    return None


def choose(session, seed: int) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    held = train.held_out_pools()
    out: dict[str, bytes] = {}

    def digit_maker(d: int, source: str):
        return lambda: synth.make_digit(rng, d, source, held)

    def top(r) -> float:
        return float(np.max(r.probabilities))

    for d, source in CLEAR:
        got = pick(session, digit_maker(d, source), lambda r, d=d: r.index == d
                   and r.ood.in_distribution and top(r) >= CLEAR_CONFIDENCE)
        if got:
            out[f"digit_{d}_{NAMES[source]}.png"] = got[0]
    lo, hi = HARD_CONFIDENCE
    for d, source in HARD:
        got = pick(session, digit_maker(d, source), lambda r, d=d: r.index == d
                   and r.ood.in_distribution and lo <= top(r) <= hi, tries=2000)
        if got:
            out[f"digit_{d}_{NAMES[source]}_hard.png"] = got[0]
    for name, (kind, framing) in NONDIGITS.items():
        pools = dataclasses.replace(held, glyph_framing=framing)
        got = pick(session, lambda kind=kind, pools=pools: synth.make_nondigit(rng, kind, pools),
                   lambda r: not r.ood.in_distribution)
        if got:
            out[f"nodigit_{name}.png"] = got[0]
    for source in MISTAKE_SOURCES:  # the first hand the model misreads, and says so
        d = int(rng.integers(10))
        got = pick(session, digit_maker(d, source), lambda r, d=d: r.index != d
                   and r.ood.in_distribution, tries=3000)
        if got:
            out[f"mistake_{d}_{NAMES[source]}_read_as_{got[1].label}.png"] = got[0]
            break
    return out


def main(argv: list[str] | None = None) -> int:
    from app.core import open_model
    from app.core.resources import bundled_model_path

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=bundled_model_path())
    p.add_argument("--seed", type=int, default=516)
    args = p.parse_args(argv)
    folder = args.model.parent / "samples"
    session = open_model(args.model)
    try:
        chosen = choose(session, args.seed)
    finally:
        session.close()
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    for name, png in sorted(chosen.items()):
        (folder / name).write_bytes(png)
        print(name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
