"""The window's system libraries: asked of the dynamic linker, mapped to Debian packages."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "packaging" / "linux" / "qt_system_libs.py"
spec = importlib.util.spec_from_file_location("qt_system_libs", SCRIPT)
qt_system_libs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(qt_system_libs)

LDD_OUTPUT = """\
\tlinux-vdso.so.1 (0x00007ffd3a5f2000)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f0f3c000000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f0f3bf00000)
\tlibxcb-icccm.so.4 => not found
"""


def test_not_found_lines_are_read_once_each_in_order():
    assert qt_system_libs.missing_in_ldd_output(LDD_OUTPUT) == [
        "libxcb-icccm.so.4", "libxcb-keysyms.so.1"]


def test_missing_libraries_map_to_their_debian_packages():
    packages, unknown = qt_system_libs.packages_for(["libxcb-icccm.so.4", "libxcb-keysyms.so.1",
                                                     "libmystery.so.9"])
    assert packages == ["libxcb-icccm4", "libxcb-keysyms1"]
    assert unknown == ["libmystery.so.9"]


@pytest.mark.skipif(shutil.which("ldd") is None, reason="needs ldd (Linux)")
def test_what_the_linker_reports_for_this_pyside6_is_what_the_script_reports():
    libraries = qt_system_libs.qt_libraries()
    assert any(p.name == "libqxcb.so" for p in libraries)
    expected: list[str] = []
    for lib in libraries:
        out = subprocess.run(["ldd", str(lib)], capture_output=True, text=True).stdout
        for line in out.splitlines():
            name = line.split("=>")[0].strip()
            if "not found" in line and name not in expected:
                expected.append(name)
    assert qt_system_libs.missing_libraries(libraries) == expected
    _, unknown = qt_system_libs.packages_for(expected)
    assert unknown == [], f"add these to DEBIAN_PACKAGES: {unknown}"


def test_the_script_exits_0_only_when_nothing_is_missing():
    proc = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True)
    missing = qt_system_libs.missing_libraries(qt_system_libs.qt_libraries())
    assert proc.returncode == (1 if missing else 0), proc.stdout
    for package in qt_system_libs.packages_for(missing)[0]:
        assert package in proc.stdout
