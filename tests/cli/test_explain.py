"""`probscope explain` in-process: the JSON contract, the overlay files, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from tests.conftest import COLOURS, colour_image, write_png
from tests.core.explain import glyphs


@pytest.fixture(scope="module")
def glyph_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return glyphs.glyph_model(tmp_path_factory.mktemp("glyphs"))


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_json_contract_and_peaks_in_original_pixels(capsys: pytest.CaptureFixture[str],
                                                     glyph_model: Path, tmp_path: Path) -> None:
    """A glyph on a 96×96 image (resized to the 48×48 input): the peak is in 96×96 pixels."""
    rng = np.random.default_rng(77)
    boxes = {}
    for kind in range(4):
        image, _, (top, left, h, w) = glyphs.sample(rng, kind, (26, 6), 16)
        big = np.repeat(np.repeat(image, 2, axis=0), 2, axis=1)
        boxes[f"g{kind}.png"] = (2 * top, 2 * left, 2 * h, 2 * w)
        write_png(tmp_path / "in" / f"g{kind}.png", big)
    for method in ("gradcam", "occlusion"):
        code = main(["explain", str(tmp_path / "in"), "--model", str(glyph_model),
                     "--method", method, "--out", str(tmp_path / "maps"), "--json"])
        out, err = capsys.readouterr()
        assert code == 0, err
        lines = _lines(out)
        assert len(lines) == 4 and f"written to {tmp_path / 'maps'}" in err
        inside = 0
        for line in lines:
            assert {"path", "class", "method", "peak", "map_path"} <= set(line)
            assert line["method"] == method and line["error"] is None
            assert line["class"] in glyphs.CLASSES
            row, col = line["peak"]
            assert isinstance(row, int) and 0 <= row < 96 and 0 <= col < 96
            top, left, h, w = boxes[Path(line["path"]).name]
            inside += top <= row < top + h and left <= col < left + w
            overlay = Path(line["map_path"])
            assert overlay.parent == tmp_path / "maps" and overlay.name.endswith(f".{method}.png")
            from PIL import Image

            with Image.open(overlay) as im:
                assert im.size == (96, 96) and im.mode == "RGB"
        assert inside >= 3, f"{method}: {inside} of 4 peaks inside the glyph (in 96×96 pixels)"


def test_class_option_and_human_output(capsys: pytest.CaptureFixture[str], colour_model: Path,
                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    img = write_png(tmp_path / "red.png", colour_image(np.random.default_rng(0), COLOURS["red"], (20, 30)))
    code = main(["explain", str(img), "--model", str(colour_model), "--class", "blue", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    (line,) = _lines(out)
    assert line["class"] == "blue" and line["index"] == 2
    assert Path(line["map_path"]) == Path("probscope-explain") / "red.blue.gradcam.png"
    assert (tmp_path / "probscope-explain" / "red.blue.gradcam.png").is_file()  # the default folder
    # The map of another class of the same image sits beside it, it does not replace it.
    code = main(["explain", str(img), "--model", str(colour_model), "--class", "red", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert _lines(out)[0]["map_path"] == str(Path("probscope-explain") / "red.red.gradcam.png")
    assert (tmp_path / "probscope-explain" / "red.blue.gradcam.png").is_file()
    code = main(["explain", str(img), "--model", str(colour_model), "--method", "occlusion"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "red.occlusion.png" in out and "written to probscope-explain" in out


def test_unknown_class_lists_the_classes(capsys: pytest.CaptureFixture[str], colour_model: Path,
                                         tmp_path: Path) -> None:
    img = write_png(tmp_path / "a.png", colour_image(np.random.default_rng(1), COLOURS["green"], (16, 16)))
    code = main(["explain", str(img), "--model", str(colour_model), "--class", "purple",
                 "--out", str(tmp_path / "o")])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "'purple'" in err and "red, green, blue" in err
    assert "Traceback" not in err


def test_model_without_convolutions_suggests_occlusion(capsys: pytest.CaptureFixture[str],
                                                       tmp_path: Path) -> None:
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(2, activation="softmax")])
    path = tmp_path / "dense.keras"
    model.save(path)
    img = write_png(tmp_path / "a.png", np.zeros((4, 4, 3), np.uint8))
    code = main(["explain", str(img), "--model", str(path), "--out", str(tmp_path / "o")])
    _, err = capsys.readouterr()
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "no convolutional layer" in err and "--method occlusion" in err
    code = main(["explain", str(img), "--model", str(path), "--method", "occlusion", "--json",
                 "--patch", "50", "--out", str(tmp_path / "o")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "larger than half the model input" in err  # the patch was adapted, and it says so
    (line,) = _lines(out)
    # A black image: covering any of it changes nothing, so there is no peak to point at.
    assert line["peak"] is None and line["map_path"]
    assert "nothing in that image speaks for the class (occlusion is 0 everywhere)" in err
    code = main(["explain", str(write_png(tmp_path / "b.png", np.random.default_rng(3).integers(
        0, 255, (4, 4, 3), dtype=np.uint8))), "--model", str(path), "--method", "occlusion",
        "--json", "--patch", "50", "--out", str(tmp_path / "o")])
    out, err = capsys.readouterr()
    (line,) = _lines(out)
    assert code == 0 and line["peak"][0] in range(4) and line["peak"][1] in range(4)
    assert "speaks" not in err


def test_unreadable_image_is_reported_per_file(capsys: pytest.CaptureFixture[str],
                                               colour_model: Path, tmp_path: Path) -> None:
    good = write_png(tmp_path / "ok.png", colour_image(np.random.default_rng(2), COLOURS["red"], (16, 16)))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    code = main(["explain", str(good), str(bad), "--model", str(colour_model), "--json",
                 "--out", str(tmp_path / "o")])
    out, err = capsys.readouterr()
    assert code == 1 and "1 of 2 image(s) could not be explained" in err
    first, second = _lines(out)
    assert first["error"] is None and first["map_path"]
    assert second["error"] and second["peak"] is None and second["map_path"] is None
    assert "written to" in err
    code = main(["explain", str(bad), "--model", str(colour_model), "--out", str(tmp_path / "p")])
    out, err = capsys.readouterr()
    # Nothing was written: the last line must not say it was.
    assert code == 1 and "written to" not in out + err
    assert "no overlay written: none of the 1 image(s) could be explained" in out


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["explain"], ["explain", "a.png", "--method", "lime"],
                 ["explain", "a.png", "--opacity", "2"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    capsys.readouterr()
