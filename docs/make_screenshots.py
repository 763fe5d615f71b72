"""Render the README's screenshots from the real window on the bundled model.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_screenshots.py

Writes docs/screenshots/{window,heatmap,calibration,ood,diagnostics}.png. Settings and caches go to
temporary folders, so the user's own are neither read nor changed.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
DIGITS = ROOT / "resources" / "digits"

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Settings, cache and the model copy live in one throw-away folder, removed before os._exit.
SCRATCH = Path(tempfile.mkdtemp(prefix="probscope-shots-"))
os.environ["PROBSCOPE_CONFIG_DIR"] = str(SCRATCH / "settings")
os.environ["PROBSCOPE_CACHE_DIR"] = str(SCRATCH / "cache")
sys.path.insert(0, str(ROOT))

from PySide6.QtWidgets import QApplication  # noqa: E402


def wait(app: QApplication, done, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not done():
        if time.monotonic() > end:
            raise TimeoutError("the window did not finish in time")
        app.processEvents()
        time.sleep(0.02)
    for _ in range(30):  # let layouts and plots settle
        app.processEvents()
        time.sleep(0.01)


def shoot_heatmap(app: QApplication, window) -> None:  # type: ignore[no-untyped-def]
    """A house number with its Grad-CAM overlay on both pictures (heatmap.png)."""
    entries = window.history.model.entries
    photo = next(e for e in entries if e.result.path.endswith("digit_8_housenumber.png"))
    window.history.select_key(photo.key)
    model = window.history.model
    window.history.view.scrollTo(model.index(model.row_of(photo.key) or 0, 0))  # row in view
    wait(app, window.is_idle)
    window.result_view.heatmap.buttons["gradcam"].click()
    wait(app, lambda: window.explain.heat is not None and window.is_idle())
    window.grab().save(str(OUT / "heatmap.png"))
    window.result_view.heatmap.buttons[None].click()  # the other shots show plain pictures
    window.history.select_key(next(e for e in entries if e.result.path.endswith(
        "digit_7_handwritten.png")).key)
    wait(app, window.is_idle)


def shoot_ood_reference(app: QApplication, window) -> None:  # type: ignore[no-untyped-def]
    """The None-of-the-classes tab set up from labelled images alone (ood.png)."""
    ood = window.panels["ood"]
    window.tabs.setCurrentIndex(window.tabs.indexOf(ood.parentWidget().parentWidget()))
    ood.load_data(str(DIGITS / "calibration.npz"))  # no no-class folder: the built-in reference
    wait(app, lambda: ood.detector is not None and window.is_idle(), timeout=600.0)
    ood.score_box.setCurrentIndex(ood.score_box.findData("probe"))
    wait(app, lambda: True)
    window.grab().save(str(OUT / "ood.png"))


def main() -> int:
    app = QApplication(sys.argv[:1])
    from app.ui.window.main_window import MainWindow

    OUT.mkdir(parents=True, exist_ok=True)
    window = MainWindow(interactive=False)
    window.resize(1200, 780)  # the default size: every tab must read without scrolling
    window.show()
    # A copy: Save in the Calibration shot writes the card, and the bundled one must not change.
    model_dir = SCRATCH / "model"
    model_dir.mkdir()
    for part in DIGITS.glob("digits.keras*"):
        shutil.copy2(part, model_dir / part.name)
    window.start(str(model_dir / "digits.keras"))
    wait(app, lambda: window.session is not None and window.is_idle())
    samples = sorted(str(p) for p in (DIGITS / "samples").glob("*.png"))
    window.classify_paths(samples)
    wait(app, window.is_idle)
    window.message_banner.clear()
    entries = window.history.model.entries
    pick = next(e for e in entries if e.result.path.endswith("digit_7_handwritten.png"))
    window.history.select_key(pick.key)
    wait(app, window.is_idle)
    window.grab().save(str(OUT / "window.png"))
    shoot_heatmap(app, window)

    calibration = window.panels["calibration"]
    window.tabs.setCurrentIndex(window.tabs.indexOf(calibration.parentWidget().parentWidget()))
    calibration.load_data(str(DIGITS / "calibration.npz"))
    wait(app, lambda: calibration.has_data)
    calibration.set_temperature(1.0)
    wait(app, lambda: True)
    calibration.fit()
    wait(app, window.is_idle)
    # Saved, so the headline and the History show the prediction sets too.
    calibration.save(force=True)
    wait(app, window.is_idle)
    window.grab().save(str(OUT / "calibration.png"))

    shoot_ood_reference(app, window)

    diagnostics = window.panels["diagnostics"]
    window.tabs.setCurrentIndex(window.tabs.indexOf(diagnostics.parentWidget().parentWidget()))
    diagnostics.load_data(str(DIGITS / "calibration.npz"))
    wait(app, lambda: diagnostics.diagnosis is not None and not diagnostics.is_busy())
    window.grab().save(str(OUT / "diagnostics.png"))
    print(f"wrote {OUT}")
    window.close()
    shutil.rmtree(SCRATCH, ignore_errors=True)
    sys.stdout.flush()
    os._exit(0)  # see app/cli.py: skip the crash-prone final garbage collection


if __name__ == "__main__":
    raise SystemExit(main())
