"""Hostile and broken cards (issue 16): one-line CardErrors, and only standard JSON is written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.core.cards.card_file import ModelCard, new_card, read_card, write_card
from app.core.errors import CardError, DataError
from app.core.json_io import dumps_standard, loads_checked
from app.core.numeric import check_temperature
from app.core.preprocessing.spec import PreprocessingSpec

REPO = Path(__file__).resolve().parents[3]


def _card_text(**changes: object) -> str:
    data = new_card(["a", "b"], {"color_mode": "rgb", "target_size": [8, 8]}).data
    data.update(changes)
    return json.dumps(data)


@pytest.mark.parametrize("text, match", [
    (_card_text(calibration={"temperature": "Infinity"}).replace('"Infinity"', "Infinity"),
     "Infinity is not a JSON number"),
    (_card_text(calibration={"temperature": 5e-324}), "temperature must be a number from 0.0001 to 10000"),
    (_card_text(notes="NaN").replace('"NaN"', "NaN"), "NaN is not a JSON number"),
    ('{"classes": ["a"], "x": ' + "[" * 5000 + "]" * 5000 + "}", "nests deeper than 100 levels"),
])
def test_non_standard_or_unusable_numbers_and_deep_nesting_are_card_errors(tmp_path, text, match):
    path = tmp_path / "m.keras.probscope.json"
    path.write_text(text)
    with pytest.raises(CardError, match=match) as info:
        read_card(path)
    assert len(str(info.value).splitlines()) == 1


def test_a_card_that_is_not_utf8_is_a_card_error(tmp_path):
    path = tmp_path / "m.keras.probscope.json"
    path.write_bytes(_card_text(source="CAFE").replace("CAFE", "caf\u00e9").encode("latin-1"))
    with pytest.raises(CardError, match="not a text file in UTF-8"):
        read_card(path)


def test_temperatures_that_would_give_nan_probabilities_are_refused():
    from app.core.numeric import softmax

    for bad in (5e-324, 1e-300, float("inf"), float("nan"), 0.0, -1.0, 1e300):
        with pytest.raises(DataError):
            check_temperature(bad)
    logits = [[1e30, -1e30, 3.0]]
    for good in (1e-4, 0.05, 20.0, 1e4):
        assert check_temperature(good) == good
        assert all(v == v for v in softmax(logits, good)[0])


@pytest.mark.parametrize("key, value", [("scale", 1e300), ("scale", 1e-300), ("std", [1e-300] * 3),
                                        ("offset", 1e300), ("mean", [1e300, 0, 0])])
def test_preprocessing_numbers_out_of_range_are_refused(key, value):
    with pytest.raises(CardError, match=f"preprocessing.{key} .* out of range"):
        PreprocessingSpec.from_dict({key: value})


def test_writing_never_produces_non_standard_json(tmp_path):
    card = ModelCard(new_card(["a"], {}).data, tmp_path / "m.keras.probscope.json")
    write_card(card)
    card.data["notes"] = float("nan")  # put there by code, not read from a file
    with pytest.raises(CardError, match="not written: a value is not valid in JSON"):
        write_card(card)
    assert "NaN" not in card.path.read_text()
    assert dumps_standard({"a": float("nan"), "b": [float("inf"), 1.5]}) == '{"a": null, "b": [null, 1.5]}'
    assert loads_checked("[1.5]") == [1.5]


def test_a_symlinked_card_is_written_through_to_its_target(tmp_path):
    real = tmp_path / "shared" / "digits.probscope.json"
    real.parent.mkdir()
    real.write_text(_card_text())
    link = tmp_path / "m.keras.probscope.json"
    link.symlink_to(real)
    card = read_card(link)
    card.temperature = 1.5
    write_card(card)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert json.loads(real.read_text())["calibration"]["temperature"] == 1.5


def test_a_write_killed_midway_leaves_a_temporary_that_the_next_write_removes(tmp_path):
    """kill -9 a real process in the middle of writing a card (no finally block can run)."""
    target = tmp_path / "m.keras.probscope.json"
    target.write_text(_card_text())
    code = (
        "import sys, time\n"
        "from app.core.files import atomic_write\n"
        "def slow(stream):\n"
        "    stream.write(b'{\"half\": ')\n"
        "    stream.flush()\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
        "atomic_write(sys.argv[1], slow)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code, str(target)], cwd=REPO,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "writing"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    leftovers = list(tmp_path.glob(".m.keras.probscope.json.*.tmp"))
    assert len(leftovers) == 1, "the killed write left its temporary file"
    assert read_card(target).classes == ["a", "b"], "the old card is intact"
    # A fresh temporary may belong to a write still running elsewhere: only old ones go.
    card = read_card(target)
    write_card(card)
    assert leftovers[0].exists()
    old = time.time() - 3600
    os.utime(leftovers[0], (old, old))
    write_card(card)
    assert not leftovers[0].exists()
    assert list(tmp_path.glob(".*.tmp")) == []
