"""History export to CSV and JSON, and clearing it."""

from __future__ import annotations

import csv
import json

from tests.ui.conftest import wait_idle


def test_export_csv_and_json(qtbot, window, images, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"garbage")
    window.classify_paths([str(images[0]), str(bad), str(images[1])])
    qtbot.waitUntil(lambda: len(window.history_results()) == 3, timeout=30_000)
    wait_idle(qtbot, window)

    csv_path = tmp_path / "out.csv"
    window.history.export(str(csv_path), "csv")
    rows = list(csv.DictReader(csv_path.open(encoding="utf-8")))
    assert [r["path"] for r in rows] == [str(images[0]), str(bad), str(images[1])]
    good = rows[0]
    assert good["label"] in window.session.classes and good["error"] == ""
    assert 0.0 < float(good["probability"]) <= 1.0
    assert good["in_distribution"] in ("true", "false")
    assert rows[1]["label"] == "" and rows[1]["error"]

    json_path = tmp_path / "out.json"
    window.history.export(str(json_path), "json")
    records = json.loads(json_path.read_text(encoding="utf-8"))
    assert len(records) == 3
    first = records[0]
    assert set(first) >= {"path", "label", "index", "probabilities", "raw_probabilities",
                          "temperature", "ood", "error"}
    assert len(first["probabilities"]) == len(window.session.classes)
    assert abs(sum(first["probabilities"]) - 1.0) < 1e-4
    assert records[1]["error"] and records[1]["label"] is None
    assert "Exported 3 results" in window.message_banner.label.text()

    cleared = []
    window.state.history_cleared.connect(lambda: cleared.append(True))
    window.history.clear_button.click()
    assert window.history_results() == [] and cleared
