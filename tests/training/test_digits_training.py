"""The bundled digit model: its training script runs end to end, and the shipped model works."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

DIGITS_DIR = Path(__file__).resolve().parents[2] / "resources" / "digits"
CARD_KEYS = {"format", "version", "classes", "preprocessing", "calibration", "ood"}
PREPROCESSING_KEYS = {"color_mode", "target_size", "interpolation", "resize_backend", "scale",
                      "offset", "mean", "std", "per_image_standardization",
                      "keras_applications_mode", "source"}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("digits")
    result = subprocess.run(
        [sys.executable, "-m", "app.training.digits.train", "--samples", "300", "--epochs", "1",
         "--towers", "2", "--out", str(out), "--workers", "1"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_tiny_run_writes_every_output(tiny_run: Path) -> None:
    for name in ("digits.keras", "digits.keras.probscope.json", "calibration.npz", "ood.npz"):
        assert (tiny_run / name).is_file(), name
    pngs = list((tiny_run / "samples").glob("*.png"))
    assert len(pngs) >= 10
    assert any(p.name.startswith("nodigit_") for p in pngs)


def test_tiny_run_card_follows_the_contract(tiny_run: Path) -> None:
    card = json.loads((tiny_run / "digits.keras.probscope.json").read_text())
    assert card.keys() >= CARD_KEYS
    assert card["format"] == "probscope.model-card" and card["version"] == 1
    assert card["classes"] == [str(d) for d in range(10)]
    pre = card["preprocessing"]
    assert pre.keys() >= PREPROCESSING_KEYS
    assert (pre["color_mode"], pre["target_size"], pre["interpolation"],
            pre["resize_backend"]) == ("rgb", [32, 32], "area", "opencv")
    assert pre["scale"] == pytest.approx(1 / 255)
    assert card["calibration"]["temperature"] == 1.0
    assert card["ood"]["score"] == "msp"
    assert card["training"]["samples"] == 300 and card["training"]["epochs"] == 1
    # By default the two towers learn non-digits the two ways.
    oe = card["training"]["outlier_exposure"]
    assert oe[0].startswith("uniform") and oe[1].startswith("energy-bounded")


def test_tiny_run_data_sets_have_the_documented_shape(tiny_run: Path) -> None:
    with np.load(tiny_run / "calibration.npz") as cal:
        images, labels = cal["images"], cal["labels"]
    assert images.dtype == np.uint8 and images.shape[1:] == (32, 32, 3)
    assert labels.dtype == np.int64 and labels.shape == (len(images),)
    assert set(np.unique(labels)) <= set(range(10)) and len(np.unique(labels)) >= 5
    with np.load(tiny_run / "ood.npz") as ood:
        assert ood["images"].dtype == np.uint8 and ood["images"].shape[1:] == (32, 32, 3)


def test_tiny_run_model_loads_safely_and_gives_ten_probabilities(tiny_run: Path) -> None:
    import keras

    model = keras.saving.load_model(tiny_run / "digits.keras", safe_mode=True)
    last = model.layers[-1]
    assert isinstance(last, keras.layers.Dense) and last.name == "predictions"
    assert last.get_config()["activation"] == "softmax"
    assert model.get_layer("features").output.shape[-1] == 2 * 128  # both towers' features
    x = np.random.default_rng(0).random((4, 32, 32, 3), dtype=np.float32)
    probs = np.asarray(model(x, training=False))
    assert probs.shape == (4, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    card = json.loads((tiny_run / "digits.keras.probscope.json").read_text())
    assert card["training"]["towers"] == 2


def test_joined_towers_answer_with_the_mean_of_their_logits() -> None:
    import keras

    from app.training.digits.train import build_model, join_towers

    keras.utils.set_random_seed(7)
    towers = [build_model(f"_{k}") for k in range(2)]
    rng = np.random.default_rng(1)
    for tower in towers:  # trained-looking heads, so the towers disagree
        w, b = tower.layers[-1].get_weights()
        tower.layers[-1].set_weights([rng.normal(0, 0.5, w.shape), rng.normal(0, 0.5, b.shape)])
    joined = join_towers(towers)
    x = rng.random((5, 32, 32, 3), dtype=np.float32)

    def logits(model: keras.Model) -> np.ndarray:
        z = np.log(np.asarray(model(x, training=False)))
        return z - z.mean(axis=1, keepdims=True)

    np.testing.assert_allclose(logits(joined), np.mean([logits(t) for t in towers], axis=0),
                               atol=1e-4)
    assert join_towers(towers[:1]) is towers[0]


def test_shipped_model_classifies_its_calibration_set() -> None:
    import keras

    model_path = DIGITS_DIR / "digits.keras"
    assert model_path.stat().st_size <= 2 * 1024 * 1024
    model = keras.saving.load_model(model_path, safe_mode=True)
    with np.load(DIGITS_DIR / "calibration.npz") as cal:
        images, labels = cal["images"], cal["labels"]
    assert len(images) >= 2000
    predictions = np.concatenate([
        np.asarray(model(images[i:i + 500].astype(np.float32) / 255.0, training=False)).argmax(1)
        for i in range(0, len(images), 500)])
    assert (predictions == labels).mean() >= 0.95


def test_shipped_check_passes_digits_and_stops_its_ood_set() -> None:
    """The card's energy threshold, applied to logits taken from the model itself."""
    import keras

    from app.core.ood import energy_score

    model = keras.saving.load_model(DIGITS_DIR / "digits.keras", safe_mode=True)
    card = json.loads((DIGITS_DIR / "digits.keras.probscope.json").read_text())
    assert card["ood"]["score"] == "energy"
    features = keras.Model(model.inputs, model.get_layer("features").output)
    weights, bias = model.get_layer("predictions").get_weights()
    temperature = card["calibration"]["temperature"]

    def energy(images: np.ndarray) -> np.ndarray:
        z = np.asarray(features(images.astype(np.float32) / 255.0, training=False)) @ weights + bias
        return energy_score(z, temperature)

    with np.load(DIGITS_DIR / "ood.npz") as ood:
        others = energy(ood["images"][:500])
    with np.load(DIGITS_DIR / "calibration.npz") as cal:
        digits = energy(cal["images"][:500])
    threshold = card["ood"]["threshold"]
    assert (digits >= threshold).mean() >= 0.94
    assert (others >= threshold).mean() <= 0.03


def test_a_font_without_a_glyph_falls_back_to_pillows_font() -> None:
    """A font with no ink for a character (Libertine Italic's "^") still draws it."""
    from app.core.ood.reference import glyph_fonts

    fallback = glyph_fonts.PrintStyle("pil_default", size=36).render("^")
    fonts = [p for p in glyph_fonts.discover_fonts() if "LinLibertine_I." in p]
    if not fonts:
        pytest.skip("Linux Libertine Italic is not installed")
    drawn = glyph_fonts.PrintStyle("font", path=fonts[0], size=36).render("^")
    assert drawn.max() > 0.05
    np.testing.assert_array_equal(drawn, fallback)


def test_font_families_are_read_from_file_names() -> None:
    from app.core.ood.reference.glyph_fonts import font_family

    names = {"Inter-BoldItalic.otf": "inter", "FreeSansBoldOblique.ttf": "freesans",
             "PTS55F.ttf": "pts", "LinLibertine_RBI.otf": "linlibertine", "B612-Bold.otf": "b612",
             "C059-Roman.otf": "c059", "tuffy_bold_italic.ttf": "tuffy",
             "DejaVuSansMono.ttf": "dejavusansmono"}
    assert {n: font_family(f"/fonts/x/{n}") for n in names} == names


def test_each_font_family_is_drawn_equally_often() -> None:
    """A family with 36 weights gets no more draws than a family of one file."""
    from app.core.ood.reference.glyph_fonts import pick_font

    fonts = tuple(f"/f/Inter-W{i}.otf" for i in range(36)) + ("/f/Humor-Sans.ttf",
                                                              "/f/OCRB.otf", "/f/OCRBL.otf")
    rng = np.random.default_rng(0)
    drawn = [pick_font(rng, fonts) for _ in range(3000)]
    inter = sum("Inter" in p for p in drawn) / len(drawn)
    humor = drawn.count("/f/Humor-Sans.ttf") / len(drawn)
    ocrb = sum("OCRB" in p for p in drawn) / len(drawn)  # OCRB and OCRBL are one family
    assert abs(inter - 1 / 3) < 0.04 and abs(humor - 1 / 3) < 0.04 and abs(ocrb - 1 / 3) < 0.04
    assert len(set(drawn)) == len(fonts)


def test_key_cap_and_segment_fonts_are_not_used(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Key caps (Biolinum Keyboard) and seven segments (DSEG) are skipped; Biolinum is kept."""
    from app.core.ood.reference import glyph_fonts

    for name in ("LinBiolinum_K.otf", "DSEG7Classic-Bold.ttf", "LinBiolinum_R.otf"):
        (tmp_path / name).write_bytes(b"")  # discovery reads names, not contents
    monkeypatch.setenv(glyph_fonts.FONT_DIRS_ENV, str(tmp_path))
    glyph_fonts.discover_fonts.cache_clear()
    try:
        found = {Path(p).name for p in glyph_fonts.discover_fonts()}
    finally:
        glyph_fonts.discover_fonts.cache_clear()
    assert "LinBiolinum_R.otf" in found
    assert not {"LinBiolinum_K.otf", "DSEG7Classic-Bold.ttf"} & found
