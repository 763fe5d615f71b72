"""``probscope calibrate``, ``ood`` and ``diagnose``: fitting and checking on a data set."""

from __future__ import annotations

import argparse
from typing import Any

from app.cli.common import open_session, progress
from app.core.errors import DataError
from app.core.json_io import dumps_standard


# -- calibrate -----------------------------------------------------------------------------
def cmd_calibrate(args: argparse.Namespace) -> int:
    from app.core.calibration.run import run_calibration, save_calibration

    session = open_session(args, note_guess=True)
    result = run_calibration(session, args.data, progress=progress, conformal=args.conformal,
                             alpha=args.alpha, by_class=args.by_class)
    saved, refusal = _save(save_calibration, args, session, result)
    session.close()
    if args.json:
        print(dumps_standard({**result.to_json(), "saved": saved}))
        return _refused(refusal)
    sets = result.conformal
    if sets is None:
        print(f"temperature T = {result.temperature:.4f}  (fitted on {result.n} images of "
              f"{result.data})")
    else:
        n_t = result.n_temperature
        print(f"temperature T = {result.temperature:.4f}  (fitted on {n_t} of the {result.n} "
              f"images of {result.data}; the other {result.n - n_t} fit the prediction sets)")
    print(f"{'metric':<14}{'before (T=1)':>14}{'after':>12}")
    for key in ("accuracy", "nll", "brier", "ece", "adaptive_ece", "mce", "classwise_ece"):
        print(f"{key:<14}{result.before[key]:>14.4f}{result.after[key]:>12.4f}")
    if sets is not None:
        c = sets.to_json()
        scope = "per class" if args.by_class else "overall"
        print(f"prediction sets: {c['method'].upper()}, {1 - c['alpha']:.0%} coverage promised "
              f"({scope}); on held-out images: coverage {sets.coverage:.1%}, mean set size "
              f"{sets.mean_set_size:.2f} (5-fold: each fifth judged by a T and a threshold "
              "fitted without it)")
    warnings = list(result.warnings)
    if result.near_chance_problem and not saved:  # --save refuses it; a look says it too
        warnings.append(result.near_chance_problem)
    for w in warnings:
        print(f"warning: {w}")
    if refusal is None:
        print(f"saved to {saved}" if saved else "not saved (add --save to write T into the model card)")
    return _refused(refusal)


def _save(save: Any, args: argparse.Namespace, session: Any, result: Any) -> tuple[str | None, Any]:
    """``save(session, result, force)`` when ``--save`` asks; a refusal is kept, not raised,
    so that the report it refers to is printed first."""
    if not args.save:
        return None, None
    try:
        return save(session, result, force=args.force), None
    except DataError as exc:
        return None, exc


def _refused(refusal: DataError | None) -> int:
    if refusal is not None:
        raise refusal
    return 0


# -- ood -----------------------------------------------------------------------------------
def cmd_ood(args: argparse.Namespace) -> int:
    from app.core.ood.fitting import run_ood, save_ood

    session = open_session(args, note_guess=True)
    result = run_ood(session, args.data, args.ood_data, args.score, args.tpr, progress=progress,
                     reference=args.reference)
    saved, refusal = _save(save_ood, args, session, result)
    session.close()
    if args.json:
        print(dumps_standard({**result.to_json(), "saved": saved}))
        return _refused(refusal)
    d = result.detector
    print(f"score {d.score_name}: threshold {d.threshold:.4g} accepts {d.tpr_target:.0%} of {result.in_data}")
    if result.ood_accepted is not None:
        in_table = any(r["score"] == d.score_name for r in result.table)
        learned = ("; the probe learned from these very images: for new ones expect its "
                   "held-out figure below" if d.score_name == "probe" else "")
        print(f"at this threshold {result.ood_accepted:.1%} of {result.ood_data} is accepted"
              f"{learned} (the table below: fitted on 70 % of the data, measured on the rest"
              + ("" if in_table else f"; {d.score_name} is not in it: its held-out figures "
                 "follow it") + ")")
    if result.table:
        print(f"{'score':<12}{'AUROC':>8}{'FPR@95':>9}{'AUPR':>8}{'accepted OOD':>14}")
        for r in result.table:
            if r["auroc"] is None:
                print(f"{r['score']:<12}  unavailable: {r['reason']}")
                continue
            mark = " <" if r["score"] == d.score_name else ""
            print(f"{r['score']:<12}{r['auroc']:>8.3f}{r['fpr_at_95_tpr']:>9.3f}{r['aupr']:>8.3f}"
                  f"{r['fpr_at_threshold']:>14.1%}{mark}")
    _print_held_out(result)
    for w in result.warnings:
        print(f"warning: {w}")
    if refusal is None:
        print(f"saved to {saved}" if saved else "not saved (add --save to write it into the model card)")
    if saved and d.score_name == "probe" and session.loaded.format != "tflite":
        print("note: the probe reads layer statistics that only TensorFlow computes, so this "
              "model now answers on TensorFlow (a few seconds to start) instead of LiteRT; "
              "--score energy keeps LiteRT")
    return _refused(refusal)


def _print_held_out(result: Any) -> None:
    """Per score and per no-class kind: how much gets through that the score never saw."""
    if not result.by_score:
        return
    chosen = result.detector.score_name
    print(f"no-class images accepted (built-in reference, {result.reference['n']} images; "
          "held out: the probe fitted without that kind)")
    width = max(len(name) for name in result.by_score)  # "mahalanobis" is the longest
    for name, v in result.by_score.items():
        mark = "  <- chosen" if name == chosen else ""
        print(f"  {name:<{width}} {v['held_out']:>8.1%} held out, AUROC "
              f"{(v['auroc'] or float('nan')):.3f}{mark}")
    if result.reference.get("digit_prior"):
        print("the probe includes the digit prior: probscope's own digit model's opinion of "
              "every image")
    print(f"{'kind':<22}{'accepted':>10}{'held out':>10}   ({chosen})")
    for row in result.per_kind:
        print(f"{row['kind']:<22}{row['accepted']:>10.1%}{row['held_out_accepted']:>10.1%}")


# -- diagnose ------------------------------------------------------------------------------
def cmd_diagnose(args: argparse.Namespace) -> int:
    from app.core.diagnostics.run import diagnose_model

    session = open_session(args)
    result = diagnose_model(session, args.data, progress=progress)
    session.close()
    if args.json:
        print(dumps_standard(result.to_json()))
        return 0
    state = ("COLLAPSED" if result.collapsed else "near collapse" if result.near_collapse
             else "at chance" if result.at_chance else "ok" if result.judged else "not judged")
    print(f"outputs: {state} (spread {result.output_spread.get('mean_tv', 0.0):.3g} over "
          f"{result.n} inputs of {result.data})")
    # As wide as the longest name: "mobilenetv2_1.00_96/block_10_expand_relu" cut to 27
    # characters read the same as block_1's.
    width = max([len("layer")] + [len(r["name"]) for r in result.layers]) + 1
    print(f"{'layer':<{width}}{'activation':<12}{'units':>7}{'dead':>8}{'zeros':>8}  verdict")
    for r in result.layers:
        print(f"{r['name']:<{width}}{r['activation'][:11]:<12}{r['units']:>7}"
              f"{r['dead_fraction']:>8.1%}{r['zero_fraction']:>8.1%}  {r['verdict']}")
    for w in result.warnings:
        print(f"warning: {w}")
    for a in result.advice:
        print(f"try:     {a}")
    for note in result.notes:
        print(f"note:    {note}")
    return 0


