"""Which system libraries Qt's X11 platform plugin needs and this machine lacks, and their packages.

Qt starting with ``QT_QPA_PLATFORM=offscreen`` proves nothing about the window: the ``xcb``
plugin a desktop uses links a dozen X11 libraries that the offscreen plugin does not, and
when one is missing Qt only says "Could not load the Qt platform plugin xcb" (and blames
``libxcb-cursor0`` whatever is really missing). This script asks the dynamic linker itself
(``ldd`` on the plugin and on ``libQt6XcbQpa``) which libraries are not found and names the
Debian packages that provide them::

    python packaging/linux/qt_system_libs.py            # list; exit 1 if anything is missing
    python packaging/linux/qt_system_libs.py --install  # as root with apt-get: install them

Used by ``make run`` and ``make test``. It runs only system tools (``ldd``, ``apt-get``) and
needs no third-party Python package.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

# Shared library (soname) -> Debian package, for every library Qt 6's xcb plugin and
# libQt6Gui load beyond glibc; checked against Debian 12 and 13 (package names are stable).
DEBIAN_PACKAGES = {
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libGLX.so.0": "libglx0",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb.so.1": "libxcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-util.so.1": "libxcb-util1",
    "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
}
# A font Qt can draw with: without one every label is empty boxes.
FONT_PACKAGE = "fonts-dejavu-core"
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found\s*$")


def qt_libraries() -> list[Path]:
    """The xcb platform plugin and the Qt library that implements it, as PySide6 installed them."""
    import importlib.util

    spec = importlib.util.find_spec("PySide6")
    if spec is None or spec.origin is None:
        raise SystemExit("qt_system_libs: PySide6 is not installed in this Python")
    qt = Path(spec.origin).parent / "Qt"
    found = [qt / "plugins" / "platforms" / "libqxcb.so", *sorted((qt / "lib").glob("libQt6XcbQpa.so*"))]
    return [p for p in found if p.is_file()]


def missing_in_ldd_output(text: str) -> list[str]:
    """Sonames ``ldd`` reported as ``not found``, in order, each once."""
    seen: dict[str, None] = {}
    for line in text.splitlines():
        match = _NOT_FOUND.match(line)
        if match:
            seen.setdefault(match.group(1))
    return list(seen)


def missing_libraries(libraries: Iterable[Path]) -> list[str]:
    """Sonames the dynamic linker cannot find for any of ``libraries``."""
    seen: dict[str, None] = {}
    for library in libraries:
        result = subprocess.run(["ldd", str(library)], capture_output=True, text=True, check=False)
        for name in missing_in_ldd_output(result.stdout):
            seen.setdefault(name)
    return list(seen)


def packages_for(sonames: Sequence[str]) -> tuple[list[str], list[str]]:
    """(Debian packages providing ``sonames``, sonames no package is known for)."""
    packages = sorted({DEBIAN_PACKAGES[s] for s in sonames if s in DEBIAN_PACKAGES})
    unknown = [s for s in sonames if s not in DEBIAN_PACKAGES]
    return packages, unknown


def _has_font() -> bool:
    return any(Path(d).is_dir() and any(Path(d).rglob("*.ttf")) for d in ("/usr/share/fonts",))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--install", action="store_true",
                        help="install what is missing with apt-get (needs root)")
    args = parser.parse_args(argv)
    if not sys.platform.startswith("linux") or shutil.which("ldd") is None:
        print("qt_system_libs: not a Linux system with ldd; nothing to check")
        return 0
    libraries = qt_libraries()
    if not libraries:
        print("qt_system_libs: this PySide6 has no xcb platform plugin; nothing to check")
        return 0
    packages, unknown = packages_for(missing_libraries(libraries))
    if not _has_font():
        packages.append(FONT_PACKAGE)
    if not packages and not unknown:
        print("qt_system_libs: the window's system libraries are all present")
        return 0
    if unknown:
        print("qt_system_libs: missing libraries with no known package: " + ", ".join(unknown))
    if not packages:
        return 1
    can_install = shutil.which("apt-get") is not None and os.geteuid() == 0
    if not (args.install and can_install):
        print("qt_system_libs: the window needs these packages; install them with your package "
              "manager: " + " ".join(packages))
        return 1
    print("qt_system_libs: installing " + " ".join(packages))
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        if subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=False).returncode:
            print("qt_system_libs: " + " ".join(command[:2]) + " failed")
            return 1
    left, _ = packages_for(missing_libraries(libraries))
    if left:
        print("qt_system_libs: still missing after the install: " + " ".join(left))
        return 1
    return 0 if not unknown else 1


if __name__ == "__main__":
    sys.exit(main())
