"""The shipped samples say what their names say: digits read right, no-digit images flagged,
and the two honest mistakes are the mistakes their names describe."""

from __future__ import annotations

import pytest

from app.core import open_model
from app.core.resources import bundled_model_path, bundled_samples_dir


@pytest.fixture(scope="module")
def results():
    session = open_model(bundled_model_path())
    try:
        files = sorted(bundled_samples_dir().glob("*.png"))
        return {f.name: r for f, r in zip(files, session.classify([str(f) for f in files]), strict=True)}
    finally:
        session.close()


def test_every_sample_is_named_for_what_it_shows(results):
    assert len(results) >= 15
    for name, r in results.items():
        assert r.ok, name
        if name.startswith("digit_"):
            assert r.label == name.split("_")[1] and r.ood.in_distribution, name
        elif name.startswith("nodigit_"):
            assert not r.ood.in_distribution, name
        else:
            assert name.startswith("mistake_"), name
    assert results["mistake_9_handwritten_read_as_7.png"].label == "7"
    assert not results["mistake_0_housenumber_called_no_digit.png"].ood.in_distribution
