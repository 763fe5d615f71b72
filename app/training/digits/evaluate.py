"""Independent check of the bundled digit model on crops styled beyond its training data.

The test set is generated fresh with a different seed, from font families held out of training
(Lato, Carlito, Cantarell, Linux Biolinum, when installed), held-out scikit-learn digits, and
looks pushed past the training ranges: 28-96 px crops, wider aspect ratios and fill, more
rotation, more neighbours, and colour schemes the generator never makes (channels permuted, hue
rotated). Non-digits come from generators never trained on (wood, polka dots, the "flower" photo,
letters and symbols in held-out fonts) and fresh samples of the trained kinds.

Run::

    .venv/bin/python -m app.training.digits.evaluate [--model resources/digits/digits.keras]
        [--digits 3000] [--nondigits 1500] [--seed 777]

It prints accuracy overall and per source, and the OOD numbers for the max-softmax score: AUROC,
and the share of non-digits accepted at the threshold that keeps 95 % (and 90 %) of digits.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from app.core.images.opencv import cv2
from app.training.digits import synth, train

HERE = train.HERE

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


def fpr_at_tpr(pos: np.ndarray, neg: np.ndarray, tpr: float) -> tuple[float, float]:
    """Threshold that accepts ``tpr`` of positives, and the share of negatives it accepts."""
    threshold = float(np.quantile(pos, 1 - tpr))
    return threshold, float((neg >= threshold).mean())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=HERE / train.MODEL_NAME)
    p.add_argument("--digits", type=int, default=3000)
    p.add_argument("--nondigits", type=int, default=1500)
    p.add_argument("--seed", type=int, default=777)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)

    import keras

    model = keras.saving.load_model(args.model, safe_mode=True, compile=False)
    held = train.held_out_pools()
    held.looks = dict(STRETCHED_LOOKS)
    x, y, s = synth.generate(args.digits, 0, args.seed, held, workers=args.workers)
    rng = np.random.default_rng(args.seed + 1)
    recoloured = rng.random(len(x)) < 0.3
    x[recoloured] = recolour(x[recoloured], rng)
    s = np.where(recoloured, np.char.add(s.astype(str), "+recoloured"), s)

    seen_kinds = train.training_pools()
    x_h, _, s_h = synth.generate(0, args.nondigits // 2, args.seed + 2, held,
                                 workers=args.workers)
    x_s, _, s_s = synth.generate(0, args.nondigits - args.nondigits // 2, args.seed + 3,
                                 seen_kinds, workers=args.workers)
    x_ood, s_ood = np.concatenate([x_h, x_s]), np.concatenate([s_h, s_s])

    probs = train.predict(model, x)
    correct = probs.argmax(axis=1) == y
    base = np.array([v.split("+")[0] for v in s])
    report = {
        "accuracy": round(float(correct.mean()), 4), "n": int(len(y)),
        "accuracy_by_source": {k: round(float(correct[base == k].mean()), 4)
                               for k in sorted(set(base))},
        "accuracy_recoloured": round(float(correct[recoloured].mean()), 4),
    }
    msp_in, msp_out = probs.max(axis=1), train.predict(model, x_ood).max(axis=1)
    held_mask = np.char.startswith(s_ood.astype(str), "held_")
    report["ood"] = {
        "msp_auroc": round(train.auroc(msp_in, msp_out), 4),
        "msp_auroc_held_out_kinds": round(train.auroc(msp_in, msp_out[held_mask]), 4),
        "msp_auroc_seen_kinds": round(train.auroc(msp_in, msp_out[~held_mask]), 4),
    }
    for tpr in (0.95, 0.90):
        threshold, accepted = fpr_at_tpr(msp_in, msp_out, tpr)
        report["ood"][f"at_{int(tpr * 100)}pct_digits"] = {
            "threshold": round(threshold, 4), "nondigits_accepted": round(accepted, 4),
            "by_kind": {k: round(float((msp_out[s_ood == k] >= threshold).mean()), 4)
                        for k in sorted(set(s_ood))}}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
