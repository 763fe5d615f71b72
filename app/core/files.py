"""Atomic replacement that keeps the permissions a normal write would have given."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def _default_mode() -> int:
    # The umask can only be read by setting it; restore it at once.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def replace_file(temporary: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """``os.replace`` after giving ``temporary`` the target's mode (or the umask's default).

    ``tempfile.mkstemp`` creates files readable by their owner only; a model card or
    statistics file shared with colleagues must stay as readable as the model beside it.
    """
    target = Path(target)
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except OSError:
        mode = _default_mode()
    os.chmod(temporary, mode)
    os.replace(temporary, target)
