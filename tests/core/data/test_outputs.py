"""Model outputs of a data set are cached; a damaged cache entry is discarded and rebuilt."""

from __future__ import annotations

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
