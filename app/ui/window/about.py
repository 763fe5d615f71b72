"""Help → About: probscope's version and the versions of what it runs on."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import qVersion
from PySide6.QtWidgets import QMessageBox, QWidget

import app


def _dist_version(*names: str) -> str:
    # Metadata only: importing TensorFlow just to print its version would take seconds.
    for name in names:
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return "not installed"


def versions() -> dict[str, str]:
    return {
        "probscope": app.__version__,
        "TensorFlow": _dist_version("tensorflow", "tensorflow-cpu", "tensorflow-macos"),
        "Keras": _dist_version("keras"),
        "Qt": f"{qVersion()} (PySide6 {pyside_version})",
        "OpenCV": _dist_version("opencv-python-headless", "opencv-python", "opencv-contrib-python"),
        "pyqtgraph": _dist_version("pyqtgraph"),
    }


def about_text() -> str:
    rows = "".join(f"<tr><td>{k}</td><td>&nbsp;{v}</td></tr>" for k, v in versions().items())
    return (
        f"<h3>probscope {app.__version__}</h3>"
        "<p>See whether a Keras image classifier can be trusted: recorded preprocessing, "
        "calibrated probabilities and a 'none of the classes' check.</p>"
        f"<table>{rows}</table>"
    )


def show_about(parent: QWidget) -> None:
    QMessageBox.about(parent, "About probscope", about_text())
