"""What every subcommand shares: the model options, opening the model, terminal progress."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any


class UserError(Exception):
    """A one-line problem to report with exit code 1."""


class VersionAction(argparse.Action):
    """``--version``, reading package metadata only when asked (it slows every start-up)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kw: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="show the version and exit", **kw)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        import app

        print(f"probscope {app.__version__}")
        parser.exit()


def default_model() -> str:
    from app.core.resources import bundled_model_path

    return str(bundled_model_path())


def positive_int(text: str) -> int:
    """An option that counts something: a whole number of at least 1 (else a usage error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def alpha_value(text: str) -> float:
    """``--alpha``: a share strictly between 0 and 1 (0.1 means 90 % prediction sets)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number between 0 and 1, not {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (e.g. 0.1), not {value:g}")
    return value


def tpr_value(text: str) -> float:
    """``--tpr``: the share of real images the check accepts, from 0.5 up to (not) 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number from 0.5 to 1, not {text!r}") from None
    if not 0.5 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be from 0.5 up to 1 (e.g. 0.95), not {value:g}")
    return value


def add_model_args(p: argparse.ArgumentParser, json_flag: bool = True,
                    default: str = "bundled digits") -> None:
    p.add_argument("--model", metavar="PATH", default=None,
                   help=f"model file (.keras, .h5, .tflite) or SavedModel folder (default: {default})")
    p.add_argument("--trust-model", action="store_true",
                   help="allow a model that can run code (Lambda, custom layers, SavedModel)")
    if json_flag:
        p.add_argument("--json", action="store_true", help="machine-readable output")


def open_session(args: argparse.Namespace, note_guess: bool = False) -> Any:
    """The model's session; with ``note_guess``, a one-line note on stderr when its
    preprocessing is a guess (answers and fits on a guessed input scale can be wrong) and a
    warning when the card and the model's own layers both scale the input."""
    from app.core import open_model
    from app.core.cards.inferred import double_preprocessing_warnings, recording_hint

    session = open_model(args.model or default_model(), trust=args.trust_model)
    if note_guess and not session.spec.recorded:
        print(f"probscope: note: the preprocessing is a guess ({session.spec.source}); "
              f"{recording_hint(session.loaded.path)}", file=sys.stderr)
    if note_guess:
        # Every answer and fit on a doubly scaled input is wrong: said where they are made.
        # Sets whose coverage no longer holds (T changed since) would be used without a word.
        sets_warnings = session.sets.warnings_ if session.sets is not None else []
        for warning in double_preprocessing_warnings(session.spec, session.loaded) + sets_warnings:
            print(f"probscope: warning: {warning}", file=sys.stderr)
    return session


def progress(done: int, total: int) -> None:
    if total >= 50 and sys.stderr.isatty():
        end = "\n" if done >= total else ""
        bar = "#" * int(30 * done / total)
        print(f"\r[{bar:<30}] {done}/{total}", end=end, file=sys.stderr, flush=True)


