"""The model card contract: minimal cards load, unknown keys survive, writes are atomic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.core.cards.card_file import card_path_for, read_card, write_card
from app.core.errors import CardError

MINIMAL = {
    "format": "probscope.model-card",
    "version": 1,
    "classes": ["cat", "dog"],
    "preprocessing": {"color_mode": "rgb", "target_size": [8, 8], "interpolation": "bilinear",
                      "resize_backend": "opencv", "scale": 1.0, "offset": 0.0, "mean": None,
                      "std": None, "per_image_standardization": False,
                      "keras_applications_mode": None, "source": "by hand"},
    "calibration": {"temperature": 1.5},
    "ood": {"score": "msp", "threshold": 0.4},
}


def test_card_path_is_beside_model_file_and_savedmodel_folder(tmp_path: Path) -> None:
    assert card_path_for(tmp_path / "digits.keras").name == "digits.keras.probscope.json"
    assert card_path_for(tmp_path / "exported/").name == "exported.probscope.json"


def test_minimal_card_loads_and_unknown_keys_survive_rewrite(tmp_path: Path) -> None:
    data = dict(MINIMAL, my_team={"owner": "ana"})
    data["preprocessing"] = dict(MINIMAL["preprocessing"], future_option=3)
    p = tmp_path / "m.keras.probscope.json"
    p.write_text(json.dumps(data))
    card = read_card(p)
    assert card.classes == ["cat", "dog"] and card.temperature == 1.5
    card.temperature = 2.0
    write_card(card)
    again = json.loads(p.read_text())
    assert again["my_team"] == {"owner": "ana"}
    assert again["preprocessing"]["future_option"] == 3
    assert again["calibration"]["temperature"] == 2.0
    assert not list(tmp_path.glob("*.tmp"))


def test_newer_version_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    p = tmp_path / "m.probscope.json"
    p.write_text(json.dumps(dict(MINIMAL, version=7)))
    with pytest.raises(CardError, match="newer than this probscope"):
        read_card(p)


@pytest.mark.parametrize(
    "broken",
    ["{not json", json.dumps(dict(MINIMAL, classes=[])),
     json.dumps(dict(MINIMAL, calibration={"temperature": -1})),
     json.dumps(dict(MINIMAL, format="something-else"))],
)
def test_broken_cards_raise_card_error(tmp_path: Path, broken: str) -> None:
    p = tmp_path / "m.probscope.json"
    p.write_text(broken)
    with pytest.raises(CardError):
        read_card(p)


def test_failed_write_keeps_the_old_card(tmp_path: Path) -> None:
    p = tmp_path / "m.probscope.json"
    p.write_text(json.dumps(MINIMAL))
    card = read_card(p)
    card.data["calibration"]["temperature"] = float("nan")
    with pytest.raises(CardError):
        write_card(card)
    assert json.loads(p.read_text())["calibration"]["temperature"] == 1.5


def test_rewriting_a_card_keeps_its_permissions(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import stat

    from app.core.cards.card_file import card_path_for, new_card, read_card, write_card
    from app.core.preprocessing.spec import PreprocessingSpec

    path = card_path_for(tmp_path / "m.keras")
    write_card(new_card(["a", "b"], PreprocessingSpec().to_dict()), path)
    first = stat.S_IMODE(path.stat().st_mode)
    assert first & 0o044 == 0o044 & ~_umask()  # as readable as any new file, not 0600
    path.chmod(0o640)
    write_card(read_card(path), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask
