"""``probscope info``, ``card init`` and ``gui``: what the model is, recording its card, the window."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from app.cli.common import default_model, open_session
from app.core.json_io import dumps_standard


# -- info ----------------------------------------------------------------------------------
def cmd_info(args: argparse.Namespace) -> int:
    from app.core.cards.card_file import card_path_for
    from app.core.errors import CardError, UnsafeModelError
    from app.core.models.inspection import inspect_model

    path = args.model or default_model()
    inspection = inspect_model(path)
    info: dict[str, Any] = {
        "model": str(path),
        "format": inspection.format,
        "risky_layers": inspection.risky,
        "preprocessing_layers": inspection.preprocessing_layers,
        "layer_classes": inspection.layer_classes,
        "notes": inspection.notes,
    }
    try:
        session = open_session(args)
    except UnsafeModelError as exc:
        info.update({"loaded": False, "refused": str(exc)})
    except CardError as exc:
        # Still describe the model: this is the command people run to find what is wrong.
        card = card_path_for(path)
        fix = (f"fix or delete {card}" if card.exists() else
               f"there is no card file: write one with 'probscope card init {path} ...'")
        info.update({"loaded": False, "card_error": str(exc), "refused": f"{exc} ({fix})"})
    else:
        info.update({
            "loaded": True,
            "input_shape": list(session.loaded.input_shape),
            # What answers: "litert" (a verified conversion or a .tflite) or "tensorflow".
            "runtime": session.runtime_name,
            "classes": session.classes,
            "logits": session.loaded.logits_source,
            "features": session.loaded.has_features,
            "card": str(session.card_path) if session.has_card_file else None,
            "preprocessing": session.spec.to_dict(),
            "preprocessing_recorded": session.spec.recorded,
            "temperature": session.temperature,
            "ood": {**session.card.ood, "checked": session.ood.checked},
            "prediction_sets": _sets_summary(session),
            "warnings": session.warnings,
            # Loaded, the layers say what adapt() taught them (a Normalization's mean).
            "preprocessing_layers": session.loaded.inspection.preprocessing_layers,
        })
        session.close()
    if args.json:
        print(dumps_standard(info))
    else:
        _print_info(info)
    if "card_error" in info:
        # Exit 1 says something is wrong; stderr must say what, as for every user error.
        print(f"probscope: error: {info['refused']}", file=sys.stderr)
        return 1
    return 0


def _sets_summary(session: Any) -> dict[str, Any] | None:
    """The card's conformal sets as ``calibrate`` wrote them, when the session uses them."""
    if session.sets is None:
        return None
    fitted = session.card.data.get("calibration", {}).get("conformal") or {}
    keys = ("method", "by_class", "n", "held_out")
    return {k: fitted[k] for k in keys if k in fitted} | {"alpha": session.sets.alpha}


def _print_info(info: dict[str, Any]) -> None:
    from app.core.cards import layer_text

    print(f"model:          {info['model']} ({info['format']})")
    if info["loaded"]:
        h, w, c = info["input_shape"]
        print(f"input:          {h or 'any'}x{w or 'any'}x{c}")
        print(f"runtime:        {info['runtime']}")
        classes = info["classes"]
        shown = ", ".join(classes[:12]) + (f", … ({len(classes)} in all)" if len(classes) > 12 else "")
        print(f"classes:        {shown}")
        print(f"logits:         {info['logits']}; penultimate features: {'yes' if info['features'] else 'no'}")
        print(f"card:           {info['card'] or 'none (preprocessing inferred)'}")
        if not info["preprocessing_recorded"]:
            from app.core.cards.inferred import recording_hint

            print(f"                next step: {recording_hint(info['model'])}")
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
            print("none-of-classes check: not set up (fit one with 'probscope ood --data "
                  "LABELLED_DIR --save'; no images of other things are needed)")
        sets = info["prediction_sets"]
        if sets:
            held = sets.get("held_out") or {}
            measured = (f" (held-out coverage {held['coverage']:.1%}, mean size "
                        f"{held['mean_set_size']:.2f})" if "coverage" in held else "")
            print(f"prediction sets: {sets.get('method', 'conformal').upper()}, "
                  f"{1 - sets['alpha']:.0%} coverage promised{measured}")
        else:
            print("prediction sets: none (fit them with 'probscope calibrate --data LABELLED_DIR "
                  "--save': 90 % sets, or --alpha 0.05 for 95 %)")
    else:
        print(f"not loaded:     {info['refused']}")
    layers = info["preprocessing_layers"]
    print("in-model preprocessing: " + (", ".join(layer_text(p) for p in layers)
                                         if layers else "none"))
    risky = info["risky_layers"]
    print("risky parts:    " + ("; ".join(risky) if risky else "none"))
    for note in info.get("notes", []):
        print(f"note:           {note}")
    for w in info.get("warnings", []):
        print(f"warning:        {w}")


# -- card ----------------------------------------------------------------------------------
def cmd_card_init(args: argparse.Namespace) -> int:
    from app.cli.card_init_args import card_from_args
    from app.core.cards.card_file import load_card_for
    from app.core.cards.inferred import card_problems, double_preprocessing_warnings
    from app.core.cards.recording import fits_left_stale, save_card_for_model
    from app.core.errors import CardError, UnsafeModelError
    from app.core.models.choice import open_runtime
    from app.core.models.loading import load_model
    from app.core.preprocessing.spec import PreprocessingSpec

    if bool(args.model_path) == bool(args.model):
        print("probscope card init: error: give the model once: MODEL or --model PATH",
              file=sys.stderr)
        return 2
    args.model_path = args.model_path or args.model
    # A card that contradicts its model would make every later command fail: refuse to write it.
    try:
        if str(args.model_path).lower().endswith(".tflite"):
            loaded = open_runtime(args.model_path).loaded  # no Keras model: its interpreter
        else:
            loaded = load_model(args.model_path, trust=args.trust_model)
    except UnsafeModelError:
        loaded = None  # cannot be opened without trust; the card is checked when it is
    outputs = None if loaded is None else [str(i) for i in range(loaded.n_classes)]
    card = card_from_args(args, default_classes=outputs,
                          input_shape=None if loaded is None else loaded.input_shape)
    notes = []
    if outputs is not None and not args.classes and not args.class_dir and card.classes == outputs:
        notes.append(f"classes: 0..{len(outputs) - 1}, the model's {len(outputs)} outputs "
                     "(name them with --classes a,b,c or --class-dir DIR)")
    scales_itself = loaded is not None and any(
        e.get("class_name") == "Rescaling" for e in loaded.inspection.preprocessing_layers)
    if (args.like == "arrays" and args.rescale is None and not scales_itself
            and card.preprocessing.get("scale") == 1.0):
        # The Keras tutorials divide x_train by 255 before fit(); the card cannot tell.
        notes.append("pixel values are fed as they are, 0-255: if your arrays were divided by "
                     "255 before fit() (x_train / 255), run this again with --rescale 1/255")
    if args.class_dir and args.like == "arrays":
        # Keras' folder loaders sort the names; arrays carry whatever order the labels had.
        notes.append(f"classes: {', '.join(card.classes[:8])}{'…' if len(card.classes) > 8 else ''}"
                     " — the sub-folder names sorted, as Keras' folder loaders sort them; with "
                     "arrays, check that it is your labels' order (else give --classes a,b,c)")
    warnings: list[str] = []
    if loaded is None and not args.target_size:
        # A SavedModel is read only when trusted: its input size is unknown, and the preset's
        # default (Keras' 256x256) would be written without a word.
        size = card.preprocessing.get("target_size")
        warnings.append(f"the model's input size cannot be read without opening it: target_size "
                        f"{size[0]}x{size[1]} is the pipeline's default; give --target-size H W, "
                        "or --trust-model to read it" if size else
                        "the model cannot be opened without --trust-model: the card is not "
                        "checked against it")
    if loaded is not None:
        spec = PreprocessingSpec.from_dict(card.preprocessing)
        problems = card_problems(card, spec, loaded)
        if problems:
            hint = " (give the names with --classes)" if "classes" in problems[0] else ""
            raise CardError(f"card not written: {problems[0]}{hint}")
        # Written all the same: the user may mean it, and info/diagnose/the window repeat it.
        warnings = double_preprocessing_warnings(spec, loaded)
    stale = fits_left_stale(load_card_for(args.model_path), card)
    if stale:
        named = stale[0] if len(stale) == 1 else f"{', '.join(stale[:-1])} and {stale[-1]}"
        notes.append(f"the card's {named} were fitted under the previous "
                     "preprocessing and are kept; refit them on labelled images: probscope "
                     "calibrate --data DIR --save, probscope ood --data DIR --save")
    path = save_card_for_model(card, args.model_path)
    if args.json:
        print(dumps_standard({"card": str(path), "notes": notes, "warnings": warnings}))
        return 0
    print(f"wrote {path}")
    print(f"preprocessing: {PreprocessingSpec.from_dict(card.preprocessing).summary()}")
    for note in notes:
        print(f"note: {note}")
    for warning in warnings:
        print(f"probscope: warning: {warning}", file=sys.stderr)
    return 0


# -- gui -----------------------------------------------------------------------------------
def split_gui_arguments(
    first: str | None, rest: list[str], model_option: str | None
) -> tuple[str | None, list[str]]:
    """(model, images) of ``probscope gui [MODEL] [IMAGE...]`` and ``--model``.

    With ``--model`` every positional is an image or folder; without it the first one is the
    model only when it looks like one (``probscope gui a.png b/`` opens the last model).
    """
    from app.core.models.inspection import looks_like_model

    if first is None:
        return model_option, list(rest)
    if model_option or not looks_like_model(first):
        return model_option, [first, *rest]
    return first, list(rest)


def cmd_gui(args: argparse.Namespace) -> int:
    from app.ui.window.launch import run_gui

    model, images = split_gui_arguments(args.model_path, list(args.images), args.model)
    code = run_gui(
        model=model,
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


