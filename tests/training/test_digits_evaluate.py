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
