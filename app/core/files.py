"""Writing files atomically: the one way probscope replaces a card, statistics or a cache entry.

Readers never see a half-written file and a failed write leaves the old one intact: the data
go to a unique temporary file in the target's folder (two processes never share one), are
flushed to disk, given the permissions a normal write would have, and renamed over the target.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

# A temporary file this old was left by a process that died mid-write (kill -9, power loss).
STALE_SECONDS = 600.0


def _default_mode() -> int:
    # The umask can only be read by setting it; restore it at once.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _remove_stale_temporaries(target: Path) -> None:
    now = time.time()
    with contextlib.suppress(OSError):
        for leftover in target.parent.glob(f".{target.name}.*.tmp"):
            with contextlib.suppress(OSError):
                if now - leftover.stat().st_mtime > STALE_SECONDS:
                    leftover.unlink()


def atomic_write(path: str | os.PathLike[str], data: bytes | str | Callable[[BinaryIO], None]) -> Path:
    """Replace ``path`` with ``data`` atomically; return the path written.

    Parameters
    ----------
    path : path-like
        The file to replace. A symbolic link is written through: its target is replaced and
        the link stays a link.
    data : bytes, str or callable
        The new content (text is written as UTF-8), or a function that writes it to a binary
        stream (``np.savez`` and the like).

    Raises
    ------
    OSError
        The folder is missing or not writable, or the disk is full; nothing was changed.
    """
    target = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    _remove_stale_temporaries(target)
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except OSError:
        mode = _default_mode()
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            if callable(data):
                data(stream)
            else:
                stream.write(data.encode("utf-8") if isinstance(data, str) else data)
            stream.flush()
            os.fsync(stream.fileno())
        # mkstemp makes owner-only files; a card shared with colleagues stays as readable
        # as the model beside it.
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return target
