"""Results are re-judged from their stored logits: a new temperature or check, nothing re-run."""

from __future__ import annotations

import numpy as np

from app.core import open_model
from app.core.calibration import result_at_temperature
from app.core.data import compute_outputs, load_data
from app.core.numeric import softmax


def test_rescore_applies_a_temperature_to_stored_logits(colour_model, colour_folder):
    session = open_model(colour_model)
    try:
        files = sorted(colour_folder.rglob("*.png"))[:5]
        results = session.classify([str(f) for f in files]) + session.classify([b"junk"], ["bad"])
        again = session.rescore(results, temperature=3.0)
        for old, new in zip(results[:5], again[:5], strict=True):
            np.testing.assert_allclose(new.probabilities, softmax(old.logits[None], 3.0)[0], rtol=1e-6)
            assert new.label == old.label and new.temperature == 3.0
        assert again[5] is results[5]  # an error row has nothing to re-score
    finally:
        session.close()


def test_result_at_temperature_reports_the_chosen_t(colour_model, colour_folder):
    session = open_model(colour_model)
    try:
        outputs = compute_outputs(session, load_data(colour_folder, session.classes, labelled=True))
        chosen = result_at_temperature(outputs, 2.5, "colours")
        assert chosen.temperature == 2.5 and chosen.n == len(outputs)
        assert chosen.before["nll"] != chosen.after["nll"]
    finally:
        session.close()


def test_rescore_keeps_what_the_file_was(colour_model, colour_folder, tmp_path):
    from PIL import Image

    with Image.open(sorted(colour_folder.rglob("*.png"))[0]) as im:
        im.convert("RGBA").save(tmp_path / "alpha.png")
    session = open_model(colour_model)
    try:
        (result,) = session.classify([str(tmp_path / "alpha.png")])
        assert result.transparency_dropped
        (again,) = session.rescore([result], temperature=2.0)
        assert again is not result and again.transparency_dropped
    finally:
        session.close()
