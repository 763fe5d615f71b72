"""The ``probscope`` command: the window by default, subcommands for headless work.

Thin by design: parse arguments, call :mod:`app.core`, print. Exit codes: 0 success,
1 a user error (one line on stderr), 2 a usage error.
"""

from __future__ import annotations

import os
import signal
import sys


def _interrupted_during_start_up(signum: int, frame: object) -> None:
    # Ctrl+C while the command's own modules import would print a traceback of an import.
    os.write(2, b"probscope: interrupted\n")
    os._exit(130)


if os.path.basename(sys.argv[0] if sys.argv else "") in ("probscope", "-m", "__main__.py"):
    signal.signal(signal.SIGINT, _interrupted_during_start_up)

import argparse  # noqa: E402
from collections.abc import Sequence  # noqa: E402

from app.cli import (  # noqa: E402
    classify_commands,
    explain_commands,
    export_commands,
    fit_commands,
    model_commands,
)
from app.cli.common import (  # noqa: E402
    VersionAction,
    add_model_args,
    alpha_value,
    positive_int,
    tpr_value,
)

SUBCOMMANDS = ("gui", "classify", "preprocess", "info", "calibrate", "ood", "diagnose", "card",
               "explain", "export", "score")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="probscope",
        description="See whether a Keras image classifier can be trusted.",
        epilog="Run 'probscope' alone to open the window.",
    )
    parser.add_argument("--version", action=VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("gui", help="open the window (default)")
    p.add_argument("model_path", nargs="?", metavar="MODEL", help="model to open")
    p.add_argument("images", nargs="*", metavar="IMAGE", help="images to classify at start")
    p.add_argument("--screenshot", metavar="PNG", help="save the window after classifying, then exit")
    add_model_args(p, json_flag=False, default="the last model opened, else the bundled digits")
    p.set_defaults(func=model_commands.cmd_gui)

    p = sub.add_parser("classify", help="classify image files and folders")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--top", type=positive_int, default=1, metavar="K", help="also list the top K classes")
    p.add_argument("--batch-size", type=positive_int, default=64, help=argparse.SUPPRESS)
    add_model_args(p)
    p.set_defaults(func=classify_commands.cmd_classify)

    p = sub.add_parser("preprocess", help="write the exact float32 batch the model receives")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--out", required=True, metavar="FILE.npy")
    p.add_argument("--card", metavar="JSON", help="use this model card instead of the model's own")
    add_model_args(p)
    p.set_defaults(func=classify_commands.cmd_preprocess)

    p = sub.add_parser("calibrate", help="fit a temperature on labelled held-out data")
    p.add_argument("--data", required=True, metavar="DIR_OR_NPZ",
                   help="labelled folder (one sub-folder per class) or .npz with images/logits + labels")
    p.add_argument("--alpha", type=alpha_value, default=0.1, metavar="A",
                   help="prediction sets miss the true class for at most this share of new "
                        "images (default 0.1: 90 %% sets)")
    p.add_argument("--conformal", choices=["lac", "aps", "raps", "none"], default=None,
                   help="prediction-set method (default lac when there are enough images; none: "
                        "T only, fitted on every image)")
    p.add_argument("--by-class", action="store_true",
                   help="promise the coverage for every class (Mondrian), not only overall")
    p.add_argument("--save", action="store_true", help="write T (and the sets) into the model card")
    p.add_argument("--force", action="store_true",
                   help="save even a fit that should not be trusted (T on a search bound, a worse "
                        "NLL, a model near chance)")
    add_model_args(p)
    p.set_defaults(func=fit_commands.cmd_calibrate)

    p = sub.add_parser("ood", help="fit and evaluate the 'none of the classes' check")
    p.add_argument("--data", required=True, metavar="DIR_OR_NPZ", help="labelled in-distribution data")
    p.add_argument("--ood-data", metavar="DIR_OR_NPZ",
                   help="your own images that belong to no class (optional: a built-in "
                        "reference is used either way)")
    p.add_argument("--reference", default="all", metavar="KINDS",
                   help="kinds of the built-in no-class reference, comma-separated (plain, "
                        "gradient, clouds, stripes, checkers, bricks, wood, paper, dots, noise, "
                        "shapes, blobs, photo, face, glyphs), all (default) or none")
    p.add_argument("--score", default="auto",
                   choices=["auto", "msp", "max_logit", "energy", "mahalanobis", "knn", "probe"],
                   help="score to use (auto: the one that lets the least held-out no-class "
                        "junk through)")
    p.add_argument("--tpr", type=tpr_value, default=0.95, metavar="SHARE", help="share of real images to accept (0.95)")
    p.add_argument("--save", action="store_true", help="write the check into the model card")
    p.add_argument("--force", action="store_true",
                   help="save even a check that should not be trusted (it accepts most of "
                        "--ood-data, or separates it worse than chance)")
    add_model_args(p)
    p.set_defaults(func=fit_commands.cmd_ood)

    p = sub.add_parser("card", help="write a model card from the command line")
    card_sub = p.add_subparsers(dest="card_command", metavar="ACTION", required=True)
    p = card_sub.add_parser("init", help="record how the model was trained (idg, dataset or a "
                                         "keras.applications name)")
    p.add_argument("model_path", nargs="?", metavar="MODEL", help="the model (or --model PATH)")
    p.add_argument("--model", metavar="PATH", default=None, help="the model, as in every subcommand")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--trust-model", action="store_true",
                   help="open a model that can run code (Lambda, custom layers, SavedModel) "
                        "to read its input and outputs")
    from app.cli.card_init_args import add_card_init_arguments

    add_card_init_arguments(p)
    p.set_defaults(func=model_commands.cmd_card_init)

    p = sub.add_parser("diagnose", help="find collapsed outputs, dead ReLUs and input mismatch")
    p.add_argument("--data", required=True, metavar="DIR_OR_NPZ",
                   help="folder of images (labelled by class sub-folders or not) or .npz")
    add_model_args(p)
    p.set_defaults(func=fit_commands.cmd_diagnose)

    explain_commands.add_explain_parser(sub)
    export_commands.add_export_parsers(sub)

    p = sub.add_parser("info", help="what the model is and how its inputs are prepared")
    add_model_args(p)
    p.set_defaults(func=model_commands.cmd_info)
    return parser


def _normalise_argv(argv: Sequence[str]) -> list[str]:
    argv = list(argv)
    if not argv or (argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help", "--version")):
        return ["gui", *argv]
    return argv


def _own_stderr() -> None:
    """Write probscope's own lines to a copy of file descriptor 2.

    TensorFlow's import silences fd 2 for a while (on its own thread) to hide CUDA probing;
    a message printed meanwhile, such as "interrupted" after Ctrl+C, would vanish with it.
    """
    try:
        fd = os.dup(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):
        return
    sys.stderr = os.fdopen(fd, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",
                           errors="backslashreplace")


def _report_notes() -> None:
    """Print the core's notes ("damaged cache discarded") as probscope's own stderr lines."""
    import logging

    class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
        # sys.stderr as it is at each message (tests and _own_stderr replace it).
        stream = property(lambda self: sys.stderr, lambda self, value: None)

    logger = logging.getLogger("probscope")
    if not any(type(h).__name__ == "StderrHandler" for h in logger.handlers):
        handler = StderrHandler()
        handler.setFormatter(logging.Formatter("probscope: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False


def _leave_now(code: int) -> None:
    # Python's exit would wait for TensorFlow's thread to finish its import (seconds), whose
    # quieted output then reaches the terminal as it fails in the shutting-down interpreter.
    import contextlib

    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``probscope`` command; returns the exit code."""
    if argv is None:
        _own_stderr()
    _report_notes()
    try:
        from app.core.errors import ProbscopeError

        parser = build_parser()
        # From here on Ctrl+C is a KeyboardInterrupt, reported below.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        args, extra = parser.parse_known_args(_normalise_argv(sys.argv[1:] if argv is None else argv))
        if extra and not getattr(args, "accepts_beam_options", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.beam_args = extra  # `score` hands them to Beam's PipelineOptions
    except KeyboardInterrupt:
        print("probscope: interrupted", file=sys.stderr)
        return 130
    try:
        return int(args.func(args) or 0)
    except ProbscopeError as exc:
        print(f"probscope: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("probscope: interrupted", file=sys.stderr)
        if argv is None:
            _leave_now(130)
        return 130
    except BrokenPipeError:
        # `probscope classify … | head` closed the pipe: stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:  # a file the command writes or reads outside the image decoder
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"probscope: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # never a traceback for the user; keep it for bug reports
        if os.environ.get("PROBSCOPE_DEBUG"):
            raise
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        print(f"probscope: error: {type(exc).__name__}: {first} "
              "(set PROBSCOPE_DEBUG=1 for details)", file=sys.stderr)
        return 1

