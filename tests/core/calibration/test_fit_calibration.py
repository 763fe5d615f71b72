"""fit_calibration, as calibrate and the window call it: what it refuses, and why it says so."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.errors import DataError


def test_by_class_without_enough_images_in_any_class_is_an_error_that_counts_the_halves():
    """20 images a class: halved, 10 fit the thresholds, 19 are needed for 95 %. --by-class
    asked for sets, so no quiet 'T saved, no sets'."""
    from app.core.calibration.run import fit_calibration
    from app.core.data.outputs import DataOutputs
    from app.core.models.predictor import ModelOutputs
    from app.core.numeric import softmax

    rng = np.random.default_rng(0)
    labels = np.arange(100) % 5
    logits = rng.normal(0, 1, (100, 5)).astype(np.float32)
    logits[np.arange(100), labels] += 3.0
    outputs = DataOutputs(ModelOutputs(logits, softmax(logits), None), labels)
    with pytest.raises(DataError) as err:
        fit_calibration(outputs, "val", alpha=0.05, by_class=True)
    assert "largest class has 10" in err.value.message
    assert "split in half" in err.value.message and "drop --by-class" in err.value.message
    # Without --by-class the same images give overall sets.
    assert fit_calibration(outputs, "val", alpha=0.05).conformal is not None
