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
