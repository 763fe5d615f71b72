"""The ``probscope`` command: the window by default, subcommands for headless work.

Thin by design: parse arguments, call :mod:`app.core`, print. Exit codes: 0 success,
1 a user error (one line on stderr), 2 a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SUBCOMMANDS = ("gui", "classify", "preprocess", "info", "calibrate", "ood", "diagnose", "card")


class UserError(Exception):
    """A one-line problem to report with exit code 1."""


class _VersionAction(argparse.Action):
    """``--version``, reading package metadata only when asked (it slows every start-up)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kw: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="show the version and exit", **kw)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        import app

        print(f"probscope {app.__version__}")
        parser.exit()


def _default_model() -> str:
    from app.core.resources import bundled_model_path

    return str(bundled_model_path())


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _add_model_args(p: argparse.ArgumentParser, json_flag: bool = True,
                    default: str = "bundled digits") -> None:
    p.add_argument("--model", metavar="PATH", default=None,
                   help=f"model file (.keras, .h5) or SavedModel folder (default: {default})")
    p.add_argument("--trust-model", action="store_true",
                   help="allow a model that can run code (Lambda, custom layers, SavedModel)")
    if json_flag:
        p.add_argument("--json", action="store_true", help="machine-readable output")


def _open(args: argparse.Namespace) -> Any:
    from app.core import open_model

    return open_model(args.model or _default_model(), trust=args.trust_model)


def _progress(done: int, total: int) -> None:
    if total >= 50 and sys.stderr.isatty():
        end = "\n" if done >= total else ""
        bar = "#" * int(30 * done / total)
        print(f"\r[{bar:<30}] {done}/{total}", end=end, file=sys.stderr, flush=True)


# -- classify ------------------------------------------------------------------------------
def cmd_classify(args: argparse.Namespace) -> int:
    from app.core.images.files import collect_image_files

    files = collect_image_files(args.paths)
    session = _open(args)
    failed = 0
    done = 0
    if not args.json:
        print(f"{'label':<12} {'prob':>6}  {'check':<10} path")
    for batch in session.iter_classify(files, batch_size=args.batch_size):
        for r in batch:
            failed += r.error is not None
            if args.json:
                print(json.dumps(r.to_json()), flush=False)
            else:
                print(_human_row(r, session, args.top))
        done += len(batch)
        sys.stdout.flush()
        _progress(done, len(files))
    session.close()
    if failed:
        print(f"probscope: {failed} of {len(files)} image(s) could not be classified", file=sys.stderr)
    return 1 if failed else 0


def _human_row(r: Any, session: Any, top: int) -> str:
    if r.error:
        # Errors name the file already ("x.png: not an image file"); the path replaces the name.
        error = r.error.removeprefix(f"{os.path.basename(r.path)}: ")
        return f"{'ERROR':<12} {'':>6}  {'':<10} {r.path}: {error}"
    check = ("ok" if r.ood.in_distribution else session.ood.label) if r.ood.checked else "unchecked"
    line = f"{r.label:<12} {r.confidence:6.1%}  {check:<10} {r.path}"
    if top > 1:
        order = r.probabilities.argsort()[::-1][:top]
        line += "  [" + ", ".join(f"{session.classes[i]} {r.probabilities[i]:.1%}" for i in order) + "]"
    return line


# -- preprocess ----------------------------------------------------------------------------
def cmd_preprocess(args: argparse.Namespace) -> int:
    import numpy as np

    from app.core import open_model
    from app.core.cards.card_file import read_card
    from app.core.errors import ImageError
    from app.core.images.files import collect_image_files
    from app.core.preprocessing.pipeline import prepare_batch

    files = collect_image_files(args.paths)
    card = read_card(args.card) if args.card else None
    session = open_model(args.model or _default_model(), trust=args.trust_model, card=card)
    batch = prepare_batch(files, session.spec, session.executor)
    session.close()
    bad = [(f, e) for f, e in zip(files, batch.errors, strict=True) if e]
    if bad:
        raise ImageError(bad[0][1] + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""))
    np.save(args.out, batch.inputs.astype(np.float32))
    info = {"out": str(args.out), "shape": list(batch.inputs.shape), "dtype": "float32",
            "files": [str(f) for f in files], "preprocessing": session.spec.to_dict()}
    print(json.dumps(info) if args.json else
          f"wrote {args.out}: float32 {tuple(batch.inputs.shape)} ({session.spec.summary()})")
    return 0


# -- info ----------------------------------------------------------------------------------
def cmd_info(args: argparse.Namespace) -> int:
    from app.core.cards.card_file import card_path_for
    from app.core.errors import CardError, UnsafeModelError
    from app.core.models.inspection import inspect_model

    path = args.model or _default_model()
    inspection = inspect_model(path)
    info: dict[str, Any] = {
        "model": str(path),
        "format": inspection.format,
        "risky_layers": inspection.risky,
        "preprocessing_layers": inspection.preprocessing_layers,
        "layer_classes": inspection.layer_classes,
    }
    try:
        session = _open(args)
    except UnsafeModelError as exc:
        info.update({"loaded": False, "refused": str(exc)})
    except CardError as exc:
        # Still describe the model: this is the command people run to find what is wrong.
        info.update({"loaded": False, "card_error": str(exc),
                     "refused": f"{exc} (fix or delete {card_path_for(path)})"})
    else:
        info.update({
            "loaded": True,
            "input_shape": list(session.loaded.input_shape),
            "classes": session.classes,
            "logits": session.loaded.logits_source,
            "features": session.loaded.has_features,
            "card": str(session.card_path) if session.has_card_file else None,
            "preprocessing": session.spec.to_dict(),
            "preprocessing_recorded": session.spec.recorded,
            "temperature": session.temperature,
            "ood": {**session.card.ood, "checked": session.ood.checked},
            "warnings": session.warnings,
        })
        session.close()
    if args.json:
        print(json.dumps(info))
    else:
        _print_info(info)
    return 1 if "card_error" in info else 0


def _print_info(info: dict[str, Any]) -> None:
    print(f"model:          {info['model']} ({info['format']})")
    if info["loaded"]:
        h, w, c = info["input_shape"]
        print(f"input:          {h}x{w}x{c}")
        classes = info["classes"]
        shown = ", ".join(classes[:12]) + (f", … ({len(classes)} in all)" if len(classes) > 12 else "")
        print(f"classes:        {shown}")
        print(f"logits:         {info['logits']}; penultimate features: {'yes' if info['features'] else 'no'}")
        print(f"card:           {info['card'] or 'none (preprocessing inferred)'}")
        from app.core.preprocessing.spec import PreprocessingSpec

        spec = PreprocessingSpec.from_dict(info["preprocessing"])
        print(f"preprocessing:  {spec.summary()}")
        if spec.source:
            print(f"                source: {spec.source}")
        print(f"temperature:    {info['temperature']:g}")
        ood = info["ood"]
        if ood.get("checked", True):
            print(f"none-of-classes check: score {ood.get('score')}, threshold {ood.get('threshold'):g}")
        else:
            print("none-of-classes check: not set up (fit one with 'probscope ood --data DIR "
                  "--ood-data DIR --save')")
    else:
        print(f"not loaded:     {info['refused']}")
    layers = info["preprocessing_layers"]
    print("in-model preprocessing: " + (", ".join(
        f"{p['class_name']} '{p.get('name')}'" for p in layers) if layers else "none"))
    risky = info["risky_layers"]
    print("risky parts:    " + ("; ".join(risky) if risky else "none"))
    for w in info.get("warnings", []):
        print(f"warning:        {w}")


# -- calibrate -----------------------------------------------------------------------------
def cmd_calibrate(args: argparse.Namespace) -> int:
    from app.core.calibration.run import run_calibration, save_calibration

    session = _open(args)
    result = run_calibration(session, args.data, progress=_progress)
    saved = save_calibration(session, result) if args.save else None
    session.close()
    if args.json:
        print(json.dumps({**result.to_json(), "saved": saved}))
        return 0
    print(f"temperature T = {result.temperature:.4f}  (fitted on {result.n} images of {result.data})")
    print(f"{'metric':<14}{'before (T=1)':>14}{'after':>12}")
    for key in ("accuracy", "nll", "brier", "ece", "adaptive_ece", "mce", "classwise_ece"):
        print(f"{key:<14}{result.before[key]:>14.4f}{result.after[key]:>12.4f}")
    for w in result.warnings:
        print(f"warning: {w}")
    print(f"saved to {saved}" if saved else "not saved (add --save to write T into the model card)")
    return 0


# -- ood -----------------------------------------------------------------------------------
def cmd_ood(args: argparse.Namespace) -> int:
    from app.core.ood.fitting import run_ood, save_ood

    session = _open(args)
    result = run_ood(session, args.data, args.ood_data, args.score, args.tpr, progress=_progress)
    saved = save_ood(session, result) if args.save else None
    session.close()
    if args.json:
        print(json.dumps({**result.to_json(), "saved": saved}))
        return 0
    d = result.detector
    print(f"score {d.score_name}: threshold {d.threshold:.4g} accepts {d.tpr_target:.0%} of {result.in_data}")
    if result.ood_accepted is not None:
        print(f"at this threshold {result.ood_accepted:.1%} of {result.ood_data} is accepted "
              "(the table below: fitted on 70 % of the data, measured on the rest)")
    if result.table:
        print(f"{'score':<12}{'AUROC':>8}{'FPR@95':>9}{'AUPR':>8}{'accepted OOD':>14}")
        for r in result.table:
            if r["auroc"] is None:
                print(f"{r['score']:<12}  unavailable: {r['reason']}")
                continue
            mark = " <" if r["score"] == d.score_name else ""
            print(f"{r['score']:<12}{r['auroc']:>8.3f}{r['fpr_at_95_tpr']:>9.3f}{r['aupr']:>8.3f}"
                  f"{r['fpr_at_threshold']:>14.1%}{mark}")
    for w in result.warnings:
        print(f"warning: {w}")
    print(f"saved to {saved}" if saved else "not saved (add --save to write it into the model card)")
    return 0


# -- card ----------------------------------------------------------------------------------
def cmd_card_init(args: argparse.Namespace) -> int:
    from app.cli.card_init_args import card_from_args
    from app.core.cards.inferred import card_problems
    from app.core.cards.recording import save_card_for_model
    from app.core.errors import CardError, UnsafeModelError
    from app.core.models.loading import load_model
    from app.core.preprocessing.spec import PreprocessingSpec

    card = card_from_args(args)
    # A card that contradicts its model would make every later command fail: refuse to write it.
    try:
        loaded = load_model(args.model_path)
    except UnsafeModelError:
        loaded = None  # cannot be opened without trust; the card is checked when it is
    if loaded is not None:
        problems = card_problems(card, PreprocessingSpec.from_dict(card.preprocessing), loaded)
        if problems:
            hint = " (give the names with --classes)" if "classes" in problems[0] else ""
            raise CardError(f"card not written: {problems[0]}{hint}")
    path = save_card_for_model(card, args.model_path)
    print(json.dumps({"card": str(path)}) if args.json else f"wrote {path}")
    return 0


# -- diagnose ------------------------------------------------------------------------------
def cmd_diagnose(args: argparse.Namespace) -> int:
    from app.core.diagnostics.run import diagnose_model

    session = _open(args)
    result = diagnose_model(session, args.data, progress=_progress)
    session.close()
    if args.json:
        print(json.dumps(result.to_json()))
        return 0
    state = "COLLAPSED" if result.collapsed else ("near collapse" if result.near_collapse else "ok")
    print(f"outputs: {state} (spread {result.output_spread.get('mean_tv', 0.0):.3g} over "
          f"{result.n} inputs of {result.data})")
    print(f"{'layer':<28}{'activation':<12}{'units':>7}{'dead':>8}{'zeros':>8}  verdict")
    for r in result.layers:
        print(f"{r['name'][:27]:<28}{r['activation'][:11]:<12}{r['units']:>7}"
              f"{r['dead_fraction']:>8.1%}{r['zero_fraction']:>8.1%}  {r['verdict']}")
    for w in result.warnings:
        print(f"warning: {w}")
    for a in result.advice:
        print(f"try:     {a}")
    for note in result.notes:
        print(f"note:    {note}")
    return 0


# -- gui -----------------------------------------------------------------------------------
def cmd_gui(args: argparse.Namespace) -> int:
    from app.core.models.inspection import looks_like_model
    from app.ui.launch import run_gui

    model, images = args.model_path, list(args.images)
    # `probscope gui a.png b.png` means images for the default model, not a model named a.png.
    if model and not args.model and not looks_like_model(model) and Path(model).exists():
        model, images = None, [model, *images]
    code = run_gui(
        model=model or args.model,
        images=images,
        trust=args.trust_model,
        screenshot=args.screenshot,
    )
    # The window is closed and its settings saved. Leaving now skips the interpreter's final
    # garbage collection of Qt wrappers and TensorFlow's thread pools, which can crash
    # (PySide6 6.12 aborts in bool_dealloc) and would turn a clean exit into a failure.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="probscope",
        description="See whether a Keras image classifier can be trusted.",
        epilog="Run 'probscope' alone to open the window.",
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("gui", help="open the window (default)")
    p.add_argument("model_path", nargs="?", metavar="MODEL", help="model to open")
    p.add_argument("images", nargs="*", metavar="IMAGE", help="images to classify at start")
    p.add_argument("--screenshot", metavar="PNG", help="save the window after classifying, then exit")
    _add_model_args(p, json_flag=False, default="the last model opened, else the bundled digits")
    p.set_defaults(func=cmd_gui)

    p = sub.add_parser("classify", help="classify image files and folders")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--top", type=_positive_int, default=1, metavar="K", help="also list the top K classes")
    p.add_argument("--batch-size", type=int, default=64, help=argparse.SUPPRESS)
    _add_model_args(p)
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("preprocess", help="write the exact float32 batch the model receives")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--out", required=True, metavar="FILE.npy")
    p.add_argument("--card", metavar="JSON", help="use this model card instead of the model's own")
    _add_model_args(p)
    p.set_defaults(func=cmd_preprocess)

    p = sub.add_parser("calibrate", help="fit a temperature on labelled held-out data")
    p.add_argument("--data", required=True, metavar="DIR_OR_NPZ",
                   help="labelled folder (one sub-folder per class) or .npz with images/logits + labels")
    p.add_argument("--save", action="store_true", help="write T into the model card")
    _add_model_args(p)
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("ood", help="fit and evaluate the 'none of the classes' check")
    p.add_argument("--data", required=True, metavar="DIR_OR_NPZ", help="labelled in-distribution data")
    p.add_argument("--ood-data", metavar="DIR_OR_NPZ", help="images that belong to no class")
    p.add_argument("--score", default="auto",
                   choices=["auto", "msp", "max_logit", "energy", "mahalanobis", "knn"],
                   help="score to use (auto: best AUROC on --ood-data, else energy)")
    p.add_argument("--tpr", type=float, default=0.95, help="share of real images to accept (0.95)")
    p.add_argument("--save", action="store_true", help="write the check into the model card")
    _add_model_args(p)
    p.set_defaults(func=cmd_ood)

    p = sub.add_parser("card", help="write a model card from the command line")
    card_sub = p.add_subparsers(dest="card_command", metavar="ACTION", required=True)
    p = card_sub.add_parser("init", help="record how the model was trained (idg, dataset or a "
                                         "keras.applications name)")
    p.add_argument("model_path", metavar="MODEL")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    from app.cli.card_init_args import add_card_init_arguments

    add_card_init_arguments(p)
    p.set_defaults(func=cmd_card_init)

    p = sub.add_parser("diagnose", help="find collapsed outputs, dead ReLUs and input mismatch")
    p.add_argument("--data", required=True, metavar="DIR_OR_NPZ",
                   help="folder of images (labelled by class sub-folders or not) or .npz")
    _add_model_args(p)
    p.set_defaults(func=cmd_diagnose)

    p = sub.add_parser("info", help="what the model is and how its inputs are prepared")
    _add_model_args(p)
    p.set_defaults(func=cmd_info)
    return parser


def _normalise_argv(argv: Sequence[str]) -> list[str]:
    argv = list(argv)
    if not argv or (argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help", "--version")):
        return ["gui", *argv]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``probscope`` command; returns the exit code."""
    from app.core.errors import ProbscopeError

    parser = build_parser()
    args = parser.parse_args(_normalise_argv(sys.argv[1:] if argv is None else argv))
    try:
        return int(args.func(args) or 0)
    except ProbscopeError as exc:
        print(f"probscope: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("probscope: interrupted", file=sys.stderr)
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

