"""Diagnosing a list of image files (the images classified so far) instead of a folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core import open_model
from app.core.diagnostics.run import diagnose_model, load_diagnosis_data
from app.core.errors import DataError
from app.core.images.files import collect_image_files


@pytest.fixture(scope="module")
def session(colour_model: Path):
    s = open_model(colour_model)
    yield s
    s.close()


def test_a_file_list_is_diagnosed_like_the_same_images_in_a_folder(
    session, colour_folder: Path
) -> None:
    files = collect_image_files([colour_folder])
    from_folder = diagnose_model(session, colour_folder)
    from_list = diagnose_model(session, [str(f) for f in files])

    assert from_list.n == from_folder.n == len(files)
    assert not from_list.labelled  # a list of files carries no labels
    assert from_list.data == f"{len(files)} image file(s)"
    assert [r["name"] for r in from_list.layers] == [r["name"] for r in from_folder.layers]
    for a, b in zip(from_list.layers, from_folder.layers, strict=True):
        assert a["dead_fraction"] == pytest.approx(b["dead_fraction"])
        assert a["zero_fraction"] == pytest.approx(b["zero_fraction"], abs=1e-6)
    assert from_list.output_spread["mean_tv"] == pytest.approx(
        from_folder.output_spread["mean_tv"], abs=1e-6
    )


def test_missing_files_in_the_list_are_skipped_not_fatal(
    session, colour_folder: Path, tmp_path: Path
) -> None:
    files = [str(f) for f in collect_image_files([colour_folder])[:9]]
    gone = str(tmp_path / "deleted.png")
    result = diagnose_model(session, [*files, gone])
    assert result.n == 9
    assert len(result.skipped) == 1 and "deleted.png" in result.skipped[0]
    assert any("1 unreadable image" in w for w in result.warnings)


def test_an_empty_list_is_a_one_line_error() -> None:
    with pytest.raises(DataError, match="no images to diagnose"):
        load_diagnosis_data([], ["a", "b"])


def test_judged_is_false_with_too_few_inputs(session, colour_folder: Path) -> None:
    files = [str(f) for f in collect_image_files([colour_folder])[:3]]
    result = diagnose_model(session, files)
    assert not result.judged and not result.collapsed
    assert result.to_json()["judged"] is False
