"""``probscope explain``: where the model looks, as overlay PNGs and peaks."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from app.cli.common import add_model_args, open_session, positive_int

DEFAULT_OUT = "probscope-explain"  # in the current folder: never beside the user's images
_CHUNK = 32  # images explained at once: bounds memory for big folders


def add_explain_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="heat maps of where the model looks (Grad-CAM, occlusion)")
    p.add_argument("paths", nargs="+", metavar="IMAGE", help="image files or folders")
    p.add_argument("--method", choices=["gradcam", "occlusion"], default="gradcam",
                   help="gradcam (last convolutional block; default) or occlusion (slides a "
                        "patch over the input; any model)")
    p.add_argument("--class", dest="class_name", metavar="NAME",
                   help="class to explain (default: the predicted class of each image)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help=f"folder for the overlay PNGs (default: ./{DEFAULT_OUT})")
    p.add_argument("--patch", type=positive_int, default=None, metavar="PX",
                   help="occlusion patch side in model-input pixels (default: a twelfth of the input)")
    p.add_argument("--opacity", type=_opacity, default=0.5, help="heat map opacity 0-1 (0.5)")
    add_model_args(p)
    p.set_defaults(func=cmd_explain)


def _opacity(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number between 0 and 1, not {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {value:g}")
    return value


def _unique_name(stem: str, method: str, taken: set[str], class_name: str | None = None) -> str:
    # Two inputs named a/x.png and b/x.png must not overwrite each other's overlay, nor a map
    # asked for with --class the map of another class of the same image.
    if class_name is not None:
        stem = f"{stem}.{re.sub(r'[^A-Za-z0-9_-]+', '_', class_name)}"
    name, k = f"{stem}.{method}.png", 2
    while name in taken:
        name, k = f"{stem}-{k}.{method}.png", k + 1
    taken.add(name)
    return name


def cmd_explain(args: argparse.Namespace) -> int:
    from app.core.errors import ProbscopeError
    from app.core.explain import Explainer, GradCAMUnavailable, save_overlay
    from app.core.images.files import collect_image_files

    files = collect_image_files(args.paths)
    out_dir = Path(args.out or DEFAULT_OUT)
    session = open_session(args)
    explainer = Explainer(session, patch=args.patch)
    if args.method == "occlusion" and explainer.plan.note:
        print(f"probscope: note: {explainer.plan.note}", file=sys.stderr)
    explainer.class_index(args.class_name)  # an unknown class fails before any work
    try:
        if args.method == "gradcam":
            _ = explainer.gradcam
    except GradCAMUnavailable as exc:
        raise GradCAMUnavailable(f"{session.loaded.name}: {exc} (--method occlusion)") from None
    except ProbscopeError as exc:  # e.g. a .tflite: no layers to take gradients through
        raise type(exc)(f"{exc.message}; --method occlusion needs only the model's answers") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    failed = nowhere = 0
    if not args.json:
        print(f"{'class':<12} {'peak (row, col)':<16} overlay  <-  image")
    for start in range(0, len(files), _CHUNK):
        chunk = files[start : start + _CHUNK]
        for e in explainer.explain(chunk, method=args.method, class_name=args.class_name):
            map_path = None
            if e.ok:
                target = out_dir / _unique_name(Path(e.path).stem, args.method, taken,
                                                      args.class_name)
                try:
                    map_path = save_overlay(e, target, opacity=args.opacity)
                except (OSError, ProbscopeError) as exc:
                    e.error = f"{target}: cannot write the overlay ({getattr(exc, 'strerror', None) or exc})"
            failed += not e.ok
            nowhere += e.ok and e.peak is None
            if args.json:
                print(json.dumps(e.to_json(map_path)))
            elif e.ok:
                peak = f"({e.peak[0]}, {e.peak[1]})" if e.peak is not None else "none"
                print(f"{e.class_name:<12} {peak:<16} {map_path}  <-  {e.path}")
            else:
                print(f"{'ERROR':<12} {'':<16} {e.path}: {e.error.removeprefix(os.path.basename(e.path) + ': ')}")
        sys.stdout.flush()
    session.close()
    written = len(files) - failed
    where = (f"overlays ({args.method}) written to {out_dir}{os.sep}" if written
             else f"no overlay written: none of the {len(files)} image(s) could be explained")
    # With --json stdout holds only the JSON lines.
    print(f"probscope: {where}" if args.json else where, file=sys.stderr if args.json else sys.stdout)
    if nowhere:
        print(f"probscope: peak none: nothing in {'that image' if nowhere == 1 else f'{nowhere} images'} "
              f"speaks for the class ({args.method} is 0 everywhere)", file=sys.stderr)
    if failed:
        print(f"probscope: {failed} of {len(files)} image(s) could not be explained", file=sys.stderr)
    return 1 if failed else 0
