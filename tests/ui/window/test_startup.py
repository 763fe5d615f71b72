"""Start-up in a fresh process: the window is up before TensorFlow, drops made meanwhile wait."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    t0 = time.perf_counter()
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    qapp = QApplication([])
    from app.ui.window.main_window import MainWindow
    tf_at_import = "tensorflow" in sys.modules
    win = MainWindow()
    win.show()
    qapp.processEvents()
    shown_after = time.perf_counter() - t0
    # Every state the status bar is given, not only those a 20 ms poll happens to see: with
    # LiteRT the bundled model can open and answer between two polls.
    announced = []
    set_state = win.status.set_state
    win.status.set_state = lambda text: (announced.append(text), set_state(text))
    win.start(sys.argv[1])
    qapp.processEvents()
    first_state = win.status.state
    win.classify_paths([sys.argv[2]])  # dropped while TensorFlow loads
    queued = len(win.sessions.pending)
    states, ticks = [first_state], []
    timer = QTimer()
    timer.timeout.connect(lambda: (ticks.append(time.perf_counter()),
                                   states.append(win.status.state)))
    timer.start(20)
    deadline = time.perf_counter() + 120
    while time.perf_counter() < deadline and not (win.history_results() and win.is_idle()):
        qapp.processEvents()
        time.sleep(0.005)
    states.append(win.status.state)
    busy = time.perf_counter() - ticks[0] if ticks else 0.0
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    seen = []
    for s in [*announced, *states]:
        if not seen or seen[-1] != s:
            seen.append(s)
    print(json.dumps({"tf_at_import": tf_at_import, "shown_after": shown_after,
                      "first_state": first_state, "queued": queued, "states": seen,
                      "results": [r.to_json()["label"] for r in win.history_results()],
                      "max_gap": max(gaps) if gaps else 0.0, "busy": busy,
                      "ticks": len(ticks)}))
    # Leave as `probscope gui` does: a background job still running must not race the
    # interpreter's teardown of Qt objects (seen as a segfault at exit on a busy machine).
    sys.stdout.flush()
    import os
    os._exit(0)
    """
)


def test_window_before_tensorflow_and_queued_drop(tmp_path, tiny_model, images):
    # A model with no LiteRT conversion yet (an empty cache) opens on TensorFlow: the slow
    # path whose import and load must not freeze the window. The bundled model's shipped
    # conversion answers before the first 20 ms poll and would prove nothing here.
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PROBSCOPE_CONFIG_DIR=str(tmp_path),
               PROBSCOPE_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tiny_model), str(images[0])],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["tf_at_import"] is False
    assert out["shown_after"] < 3.0
    assert out["first_state"] == "Loading TensorFlow…"
    assert out["queued"] == 1
    states = out["states"]
    assert states[0] == "Loading TensorFlow…" and states[-1] == "Ready"
    assert any(s.startswith("Loading model") for s in states)
    assert len(out["results"]) == 1 and out["results"][0] is not None
    # The event loop kept turning while TensorFlow imported and the model loaded: no single
    # stall took most of the wait. A bound relative to the wait, not in seconds, holds on a
    # loaded machine too (seconds belong in benchmarks/); a blocking load fails it.
    assert out["ticks"] >= 5, out
    assert out["max_gap"] < 0.5 * out["busy"], out
