"""``probscope classify`` and ``probscope preprocess``: images in, answers or tensors out."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import Any

from app.cli.common import default_model, open_session, progress


# -- classify ------------------------------------------------------------------------------
def cmd_classify(args: argparse.Namespace) -> int:
    from app.core.images.files import PathProblem, find_image_files
    from app.core.json_io import dumps_standard
    from app.core.session.results import Classification

    entries = find_image_files(args.paths)
    files = [e for e in entries if not isinstance(e, PathProblem)]
    # A path that yields no image (an unreadable folder, a link loop) gets its error record
    # like an unreadable image: the run goes on and exits 1 at the end.
    problems = [Classification(path=e.path, error=e.message) for e in entries if isinstance(e, PathProblem)]
    session = open_session(args, note_guess=True)
    failed = 0
    done = 0
    alpha_dropped = moot_sets = 0
    total = len(files) + len(problems)
    longest = max((len(c) for c in session.classes), default=5)
    # Columns fit the class names, and sets of up to two in parentheses; a larger set may not.
    columns = _Columns(check=max(len(w) for w in ("unchecked", session.ood.label)),
                       sets=session.sets is not None, label=min(max(longest, 12), 32),
                       set_width=min(max(2 * longest + 6, 10), 60))
    if not args.json:
        print(columns.header(1 - session.sets.alpha if columns.sets else None))
    for batch in _with_first(problems, session.iter_classify(files, batch_size=args.batch_size)):
        for r in batch:
            failed += r.error is not None
            if args.json:
                print(dumps_standard(r.to_json()), flush=False)
            else:
                alpha_dropped += r.transparency_dropped
                moot_sets += bool(r.no_class and r.prediction_set)
                print(_human_row(r, session, args.top, columns) +
                      ("  (transparency dropped)" if r.transparency_dropped else ""))
        done += len(batch)
        sys.stdout.flush()
        progress(done, total)
    session.close()
    if not args.json and not session.ood.checked and done > failed:
        print("probscope: note: 'unchecked' means no 'none of the classes' check is fitted for "
              "this model yet; fit one with: probscope ood --data LABELLED_DIR --save",
              file=sys.stderr)
    if moot_sets:
        print(f"probscope: note: a set in parentheses belongs to an image the check calls "
              f"'{session.ood.label}': it says which class the image would be, were it one",
              file=sys.stderr)
    if alpha_dropped:
        print(f"probscope: note: {alpha_dropped} image(s) have transparency, which is dropped as in "
              "training: the model saw the colours under it, which a viewer does not show",
              file=sys.stderr)
    if failed:
        # A path that held no image is not an image that failed: each is counted as what it is.
        parts = [f"{len(problems)} path(s) gave no image"] if problems else []
        if failed > len(problems):
            parts.append(f"{failed - len(problems)} of {len(files)} image(s) could not be classified")
        print(f"probscope: {'; '.join(parts)}", file=sys.stderr)
    return 1 if failed else 0


def _with_first(first: list[Any], batches: Any) -> Any:
    if first:
        yield first
    yield from batches


@dataclass(frozen=True)
class _Columns:
    """The human table's layout: the check column fits its longest word ("None of the
    classes"), and a prediction-set column appears when the card has sets."""
    check: int
    sets: bool
    set_width: int = 10
    label: int = 12

    def header(self, coverage: float | None) -> str:
        sets = f"{f'{coverage:.0%} set':<{self.set_width}} " if self.sets else ""
        return f"{'label':<{self.label}} {'prob':>6}  {'check':<{self.check}}  {sets}path"

    def row(self, label: str, prob: str, check: str, members: list[str] | None, path: str,
            moot: bool = False) -> str:
        sets = ""
        if self.sets:
            shown = "" if members is None else _fitted_set(members, self.set_width - 2 * moot)
            # The check says "none of the classes": the set only says which, if it were one.
            shown = f"({shown})" if moot and shown else shown
            sets = f"{shown:<{self.set_width}} "
        return f"{label:<{self.label}} {prob:>6}  {check:<{self.check}}  {sets}{path}"


def _fitted_set(members: list[str], width: int) -> str:
    """``{a, b, c}``, or as many members as fit and how many more: ``{a, b, …+3}``.

    A set wider than its column pushed the paths out of line; --json has every member.
    """
    whole = "{" + ", ".join(members) + "}"
    if len(whole) <= width:
        return whole
    for k in range(len(members) - 1, 0, -1):
        short = "{" + ", ".join(members[:k]) + f", …+{len(members) - k}}}"
        if len(short) <= width:
            return short
    return f"{{…{len(members)}}}"


def _human_row(r: Any, session: Any, top: int, columns: _Columns) -> str:
    if r.error:
        # Errors name the file already ("x.png: not an image file"); the path replaces the name.
        error = r.error.removeprefix(f"{r.path}: ").removeprefix(f"{os.path.basename(r.path)}: ")
        return columns.row("ERROR", "", "", None, f"{r.path}: {error}")
    check = ("ok" if r.ood.in_distribution else session.ood.label) if r.ood.checked else "unchecked"
    line = columns.row(r.label, f"{r.confidence:6.1%}", check, r.prediction_set, r.path,
                       moot=r.no_class)
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
    from app.core.files import atomic_write
    from app.core.images.files import PathProblem, find_image_files
    from app.core.json_io import dumps_standard
    from app.core.preprocessing.pipeline import prepare_batch

    out = _output_file(args.out)
    entries = find_image_files(args.paths)
    problem = next((e for e in entries if isinstance(e, PathProblem)), None)
    if problem is not None:
        raise ImageError(problem.message)
    files = [e for e in entries if not isinstance(e, PathProblem)]
    card = read_card(args.card) if args.card else None
    session = open_model(args.model or default_model(), trust=args.trust_model, card=card)
    batch = prepare_batch(files, session.spec, session.executor)
    session.close()
    bad = [(f, e) for f, e in zip(files, batch.errors, strict=True) if e]
    if bad:
        raise ImageError(bad[0][1] + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""))
    inputs = batch.inputs.astype(np.float32)
    # np.save(path) appends ".npy" to a name without it; writing to a stream keeps the name
    # the user gave, so "wrote X" is true. Atomic: an interrupted run leaves no half file.
    written = atomic_write(out, lambda stream: np.save(stream, inputs))
    info = {"out": str(written), "shape": list(inputs.shape), "dtype": "float32",
            "files": [str(f) for f in files], "preprocessing": session.spec.to_dict()}
    print(dumps_standard(info) if args.json else
          f"wrote {written}: float32 {tuple(inputs.shape)} ({session.spec.summary()})")
    return 0


def _output_file(out: str) -> str:
    from app.core.errors import ProbscopeError

    if os.path.isdir(out):
        raise ProbscopeError(f"--out {out}: is a folder; name the file to write, e.g. "
                             f"{os.path.join(out, 'batch.npy')}")
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise ProbscopeError(f"--out {out}: the folder {folder} does not exist")
    return out


