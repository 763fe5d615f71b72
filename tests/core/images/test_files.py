"""Finding image files and telling labelled folders from plain ones (one rule everywhere)."""

from __future__ import annotations

from app.core.images import class_folders, is_labelled_folder


def test_hidden_folders_do_not_make_or_break_a_labelled_folder(tmp_path):
    for name in ("cat", "dog", ".ipynb_checkpoints"):
        (tmp_path / name).mkdir()
    assert [p.name for p in class_folders(tmp_path)] == ["cat", "dog"]
    assert is_labelled_folder(tmp_path, ["cat", "dog", "bird"])


def test_a_folder_with_other_sub_folders_is_not_labelled(tmp_path):
    for name in ("cat", "holiday"):
        (tmp_path / name).mkdir()
    assert not is_labelled_folder(tmp_path, ["cat", "dog"])
    assert not is_labelled_folder(tmp_path / "cat", ["cat", "dog"])  # no sub-folders at all
    assert not is_labelled_folder(tmp_path / "missing", ["cat"])


def test_a_folder_run_leaves_hidden_folders_and_files_out(tmp_path):
    import cv2
    import numpy as np

    from app.core import collect_image_files

    img = np.full((8, 8, 3), 200, np.uint8)
    for rel in ("a.png", "sub/b.png", ".ipynb_checkpoints/a-checkpoint.png",
                "sub/.thumbnails/b.png", ".hidden.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp_path / rel), img)
    found = collect_image_files([tmp_path])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a.png", "sub/b.png"]
    # A hidden folder named on its own is still searched: the user asked for it.
    assert [p.name for p in collect_image_files([tmp_path / ".ipynb_checkpoints"])] == [
        "a-checkpoint.png"]
