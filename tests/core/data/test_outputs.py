"""Model outputs of a data set are cached; a damaged cache entry is discarded and rebuilt."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.core import open_model
from app.core.data import compute_outputs, load_data


@pytest.mark.parametrize("damage", [b"", b"PK\x03\x04 truncated zip", b"\x93NUMPY garbage"])
def test_a_corrupt_cache_entry_is_rebuilt(colour_model, colour_folder, tmp_path, monkeypatch, damage,
                                          caplog):
    monkeypatch.setenv("PROBSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    session = open_model(colour_model)
    try:
        data = load_data(colour_folder, session.classes, labelled=True)
        first = compute_outputs(session, data)
        (entry,) = (tmp_path / "cache").glob("*.npz")
        entry.write_bytes(damage)
        with caplog.at_level("WARNING", logger="probscope"):
            again = compute_outputs(session, data)
        (note,) = [r.getMessage() for r in caplog.records if r.name == "probscope"]
        assert note.startswith(f"note: {entry}: damaged cached model outputs discarded (")
        np.testing.assert_allclose(again.outputs.logits, first.outputs.logits, rtol=1e-5)
        assert entry.stat().st_size > 100  # written anew
    finally:
        session.close()


def test_many_missing_or_unknown_classes_say_how_many(tmp_path: Path) -> None:
    """26 classes, three folders: the note names a few and says how many are missing."""
    import string

    from app.core.data.labelled import load_labelled_folder
    from app.core.errors import DataError
    from tests.conftest import write_png

    classes = list(string.ascii_uppercase)
    for name in "ABC":
        write_png(tmp_path / "abc" / name / "x.png", np.zeros((4, 4, 3), np.uint8))
    data = load_labelled_folder(tmp_path / "abc", classes)
    assert data.notes == ["no images for class(es) D, E, F, G, H, I… (23 in all)"]
    for name in "ABCDE":
        write_png(tmp_path / "five" / name / "x.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(DataError) as err:
        load_labelled_folder(tmp_path / "five", ["0", "1", "2", "3", "4"])
    # Five classes are all shown, with no "…" after the last.
    assert "(classes: 0, 1, 2, 3, 4)" in err.value.message
    assert "card init MODEL --like idg|dataset|arrays --class-dir" in err.value.message
