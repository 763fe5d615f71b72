"""The shipped samples say what their names say: digits read right, no-digit images flagged,
and each honest mistake is the mistake its name describes."""

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
            # mistake_<digit>_<source>_read_as_<label> or mistake_<digit>_<source>_called_no_digit
            assert name.startswith("mistake_"), name
            truth, claim = name.split("_")[1], name.removesuffix(".png").split("_", 3)[3]
            if claim == "called_no_digit":
                assert not r.ood.in_distribution, name
            else:
                assert claim.startswith("read_as_"), name
                said = claim.removeprefix("read_as_")
                assert r.label == said != truth and r.ood.in_distribution, name
    assert any(n.startswith("mistake_") for n in results), "no honest mistake is shipped"
    assert any(n.startswith("nodigit_letter") for n in results), "no letter caught as no digit"
