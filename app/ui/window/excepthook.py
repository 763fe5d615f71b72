"""Unexpected exceptions in Qt callbacks go to the window's message line, not to a crash."""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any

Hook = Callable[[type[BaseException], BaseException, TracebackType | None], Any]


def install_excepthook(report: Callable[[str], None]) -> Hook:
    """Route uncaught exceptions to ``report`` (one line) and the traceback to stderr.

    Returns the previous hook so callers (and tests) can restore it.
    """
    previous = sys.excepthook

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            previous(exc_type, exc, tb)
            return
        # Keep the details for a bug report, but never show the user a traceback.
        traceback.print_exception(exc_type, exc, tb, file=sys.stderr)
        text = " ".join(str(exc).split())[:200]
        with contextlib.suppress(Exception):  # the window may be gone during shutdown
            report(f"Unexpected error ({exc_type.__name__}{': ' + text if text else ''}); "
                   "details were written to the terminal")

    sys.excepthook = hook
    return previous
