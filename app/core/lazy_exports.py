"""Packages that name their public API without importing it until it is used.

``import app.core`` (or one of its rooms) must stay cheap: the window is drawn before
NumPy-heavy modules, OpenCV or scikit-learn load, and ``import app.cli`` builds its parser in
a few hundredths of a second. A room's ``__init__`` therefore maps each public name to the
module that defines it, and the module is imported on first access (PEP 562).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, exports: dict[str, list[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """Build ``__getattr__``, ``__dir__`` and ``__all__`` for ``package``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : dict of str to list of str
        Module (relative to ``package``, e.g. ``".decoding"``) to the public names it defines.

    Returns
    -------
    tuple
        ``(__getattr__, __dir__, __all__)`` to assign at the package's top level.
    """
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:  # noqa: N807 (module-level hook)
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)  # later lookups skip this hook
        return value

    def __dir__() -> list[str]:  # noqa: N807
        return sorted(set(where) | set(vars(sys.modules[package])))

    return __getattr__, __dir__, sorted(where)
