"""The "none of the classes" check on plain user models, fitted with no no-class images at all.

Two ordinary CNNs are trained here on synthetic digits (no outlier exposure): a colour one
(house-number-like crops) and a grayscale MNIST-like one. The check is fitted exactly as the
README says, ``probscope ood --data VAL --save`` with no ``--ood-data``, and judged on new
digits and on junk from generators that are not in the built-in reference.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.cli import main
from app.core import open_model
from app.core.cards.card_file import card_path_for, new_card, write_card
from tests.core.ood.junk_images import no_digit_test

DIGITS = [str(d) for d in range(10)]
FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
         cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX)


def _digit(rng: np.random.Generator, d: int, size: int, gray: bool) -> np.ndarray:
    """One digit drawn with a Hershey font, jittered in place, size, slant and colour."""
    work = 64
    if gray:
        bg, fg = np.zeros(3), np.full(3, 255.0)
    else:
        bg = rng.uniform(0, 255, 3)
        fg = np.where(bg > 127, rng.uniform(0, 90, 3), rng.uniform(165, 255, 3))
    img = np.empty((work, work, 3), np.uint8)
    img[:] = np.round(bg).astype(np.uint8)
    font = FONTS[int(rng.integers(len(FONTS)))]
    scale = rng.uniform(1.5, 2.2)
    thick = int(rng.integers(2, 6))
    (tw, th), _ = cv2.getTextSize(str(d), font, scale, thick)
    org = (int((work - tw) / 2 + rng.uniform(-5, 5)), int((work + th) / 2 + rng.uniform(-5, 5)))
    cv2.putText(img, str(d), org, font, scale, tuple(int(v) for v in fg), thick, cv2.LINE_AA)
    m = cv2.getRotationMatrix2D((work / 2, work / 2), rng.uniform(-12, 12), 1.0)
    m[0, 1] += rng.uniform(-0.2, 0.2)
    img = cv2.warpAffine(img.astype(np.float32), m, (work, work), borderMode=cv2.BORDER_REPLICATE)
    if not gray:
        img += rng.normal(0, rng.uniform(2, 14), img.shape)
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.2))
    small = cv2.resize(np.clip(img, 0, 255).astype(np.uint8), (size, size),
                       interpolation=cv2.INTER_AREA)
    return small


def _digits(n: int, seed: int, size: int, gray: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    return np.stack([_digit(rng, int(d), size, gray) for d in y]), y


def _plain_model(root: Path, size: int, gray: bool) -> Path:
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(4)
    x, y = _digits(3000, 1, size, gray)
    x = x[..., :1] if gray else x
    layers = keras.layers
    model = keras.Sequential([
        keras.Input((size, size, 1 if gray else 3)),
        layers.Conv2D(16, 3, activation="relu", padding="same"), layers.MaxPooling2D(),
        layers.Conv2D(32, 3, activation="relu", padding="same"), layers.MaxPooling2D(),
        layers.Flatten(), layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy")
    model.fit(x.astype("float32") / 255.0, y, epochs=6, batch_size=64, verbose=0)
    path = root / ("gray.keras" if gray else "colour.keras")
    model.save(path)
    card = new_card(DIGITS, {"color_mode": "grayscale" if gray else "rgb",
                             "target_size": [size, size], "interpolation": "area",
                             "resize_backend": "opencv", "scale": 1 / 255, "source": "test"})
    write_card(card, card_path_for(path))
    return path


# Unseen junk a check fitted without any may let through: the issue asks for 5 %. The colour
# model (busy backgrounds, like house numbers) reached only 10 % on its own layers; with the
# digit prior (the bundled model's opinion, for digit classes) it is at about 2.5 %.
JUNK_BOUND = {False: 0.05, True: 0.05}


@pytest.fixture(scope="module", params=[(32, False), (28, True)], ids=["colour", "grayscale"])
def fitted(request, tmp_path_factory):
    size, gray = request.param
    root = tmp_path_factory.mktemp("plain")
    model = _plain_model(root, size, gray)
    x_val, y_val = _digits(600, 2, size, gray)
    np.savez(root / "val.npz", images=x_val, labels=y_val)
    return model, root / "val.npz", size, gray


def _accepted(model: Path, images: np.ndarray) -> float:
    session = open_model(model)
    try:
        results = session.classify(list(images))
        return float(np.mean([r.ood.in_distribution for r in results]))
    finally:
        session.close()


def test_fitted_without_no_class_images_it_rejects_unseen_junk(fitted, capsys, tmp_path,
                                                                monkeypatch):
    monkeypatch.setenv("PROBSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    model, val, size, gray = fitted
    assert main(["ood", "--model", str(model), "--data", str(val), "--save", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["reference"]["n"] > 1000 and "glyphs" in report["reference"]["kinds"]
    assert {"kind", "accepted", "held_out_accepted"} <= set(report["per_kind"][0])
    assert report["reference"]["digit_prior"] is True
    assert not any("digit prior" in w for w in report["warnings"])  # good news is no warning
    session = open_model(model)
    try:  # the card reopens with the prior in its statistics, and the check is on
        assert ("digit prior", "energy") in [s[:2] for s in session.stats_layout.slots]
        assert session.ood.checked and session.ood.score_name == "probe"
    finally:
        session.close()
    x_new, _ = _digits(600, 3, size, gray)
    junk, _ = no_digit_test(40, size, gray, seed=5)
    digits_ok, junk_ok = _accepted(model, x_new), _accepted(model, junk)
    assert digits_ok >= 0.93, f"{report['score']}: {digits_ok:.1%} of new digits accepted"
    assert junk_ok <= JUNK_BOUND[gray], f"{report['score']}: {junk_ok:.1%} of unseen junk accepted"


def test_leave_one_kind_out_figures_are_what_a_direct_computation_gives(fitted, tmp_path,
                                                                        monkeypatch):
    from app.core.ood.fitting import run_ood
    from app.core.ood.probe import ProbeScore

    monkeypatch.setenv("PROBSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    model, val, _, _ = fitted
    session = open_model(model)
    try:
        result = run_ood(session, val, score="probe", reference="plain,stripes,face,glyphs")
    finally:
        session.close()
    probe = result.detector.probe_
    kinds = probe._kinds
    rows = {r["kind"]: r for r in result.per_kind}
    assert set(rows) == {"plain", "stripes", "face", "glyphs"} - set(probe.dropped_kinds_)
    # "accepted": the out-of-fold scores of the kind against the probe's own threshold.
    for kind, row in rows.items():
        expected = np.mean(probe.oof_ref_[kinds == kind] >= probe.threshold_)
        assert row["accepted"] == pytest.approx(expected)
    # "held_out_accepted": a probe fitted without the kind, thresholded on unseen labelled rows.
    kind = "face" if "face" in rows else next(iter(rows))
    test = probe._fin == 0
    train = (kinds != kind) & ~np.isin(kinds, list(probe.dropped_kinds_))
    direct = ProbeScore(C=probe.C)
    direct.log_mask_ = probe.log_mask_
    coef, icept = direct._fit_lr(
        np.vstack([probe._z_in[~test], probe._z_extra[probe._fextra != 0], probe._z_ref[train]]),
        np.r_[np.ones((~test).sum() + (probe._fextra != 0).sum()), np.zeros(train.sum())])
    threshold = np.quantile(probe._z_in[test] @ coef + icept, 1 - probe.tpr)
    expected = np.mean(probe._z_ref[kinds == kind] @ coef + icept >= threshold)
    assert rows[kind]["held_out_accepted"] == pytest.approx(expected, abs=0.02)


def test_bad_input_gives_one_line_and_writes_nothing(fitted, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PROBSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    model, val, _, _ = fitted
    card_before = card_path_for(model).read_text()
    few = tmp_path / "few.npz"
    with np.load(val) as z:
        np.savez(few, images=z["images"][:30], labels=z["labels"][:30])
        np.savez(tmp_path / "one.npz", images=z["images"][:80], labels=np.zeros(80, int))
    assert main(["ood", "--model", str(model), "--data", str(few), "--score", "probe",
                 "--save"]) == 1
    assert "at least 50 labelled images" in capsys.readouterr().err
    assert main(["ood", "--model", str(model), "--data", str(tmp_path / "one.npz"), "--save"]) == 1
    assert "one class" in capsys.readouterr().err
    assert main(["ood", "--model", str(model), "--data", str(val), "--reference", "moon"]) == 1
    assert "unknown kind(s) moon" in capsys.readouterr().err
    assert card_path_for(model).read_text() == card_before


def test_the_export_carries_the_probe_and_the_digit_prior(fitted, capsys, tmp_path, monkeypatch):
    """A servable from such a card gives classify's no-class scores, with no probscope code."""
    import subprocess
    import sys

    from tests.cli.test_export import FRESH_PROCESS

    monkeypatch.setenv("PROBSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    model, val, size, gray = fitted
    _ensure_probe(model, val)
    images = np.r_[_digits(12, 11, size, gray)[0], no_digit_test(2, size, gray, seed=12)[0]]
    paths = []
    for i, img in enumerate(images):
        paths.append(str(tmp_path / f"{i}.png"))
        cv2.imwrite(paths[-1], img[:, :, ::-1])
    assert main(["export", "--model", str(model), "--out", str(tmp_path / "servable")]) == 0
    assert main(["classify", "--model", str(model), "--json", *paths]) == 0
    want = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    run = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(tmp_path / "servable")],
                         input=json.dumps(paths), capture_output=True, text=True, timeout=180,
                         cwd="/")
    assert run.returncode == 0, run.stderr[-2000:]
    got = json.loads(run.stdout.splitlines()[-1])
    np.testing.assert_allclose(got["ood_score"], [r["ood"]["score"] for r in want], atol=2e-3)
    assert got["in_distribution"] == [r["ood"]["in_distribution"] for r in want]


def _ensure_probe(model: Path, val: Path) -> None:
    from app.core.cards.card_file import load_card_for

    if load_card_for(model).ood.get("score") != "probe":
        assert main(["ood", "--model", str(model), "--data", str(val), "--save", "--score",
                     "probe"]) == 0


def test_a_check_fitted_with_another_digit_prior_turns_itself_off(fitted, tmp_path, monkeypatch):
    """Scored by another bundled model than it was fitted with, its threshold means nothing."""
    import shutil

    from app.core.cards.card_file import load_card_for

    monkeypatch.setenv("PROBSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    model, val, _, _ = fitted
    _ensure_probe(model, val)
    copy = tmp_path / model.name
    for part in model.parent.glob(model.name + "*"):
        shutil.copy(part, tmp_path / part.name)
    stats = tmp_path / load_card_for(copy).ood["stats"]
    with np.load(stats) as z:
        arrays = dict(z)
    (name,) = arrays["probe_extra_stats"]
    assert name.startswith("digit prior/energy#")
    arrays["probe_extra_stats"] = np.array(["digit prior/energy#000000000000"])
    np.savez(stats, **arrays)
    session = open_model(copy)
    try:
        assert not session.ood.checked
        assert any("another version of probscope's digit model" in w for w in session.warnings)
    finally:
        session.close()
