"""``probscope export`` and ``probscope score``: the checked model as a servable, and at scale."""

from __future__ import annotations

import argparse
import sys
import tempfile

from app.cli.common import add_model_args, open_session


def add_export_parsers(sub: argparse._SubParsersAction) -> None:
    """The ``export`` and ``score`` subcommands."""
    p = sub.add_parser("export", help="write the model with its preprocessing, temperature, "
                                      "check and sets as one servable SavedModel")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to create")
    p.add_argument("--format", choices=["saved_model", "tflite"], default="saved_model")
    p.add_argument("--force", action="store_true", help="replace an existing folder")
    add_model_args(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("score", help="score many image files with Apache Beam (probscope[scale]); "
                                     "other options go to Beam")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="files, folders or patterns on any Beam filesystem (gs://…/*.png)")
    p.add_argument("--out", required=True, metavar="PREFIX",
                   help="JSON lines shards PREFIX-00000-of-0000N.jsonl")
    p.add_argument("--export", metavar="DIR", help="a folder written by probscope export "
                   "(default: export --model to a temporary folder first; a cluster needs a "
                   "folder its workers can read)")
    p.add_argument("--runner", default="DirectRunner",
                   choices=["DirectRunner", "DataflowRunner", "FlinkRunner", "SparkRunner",
                            "PortableRunner"])
    add_model_args(p)
    p.set_defaults(func=cmd_score, accepts_beam_options=True)


def cmd_export(args: argparse.Namespace) -> int:
    from app.core.errors import ProbscopeError
    from app.core.export.saved_model import check_output_folder, export_saved_model
    from app.core.json_io import dumps_standard

    if args.format == "tflite":
        raise ProbscopeError("--format tflite: not available yet (TFLite has no image decoding "
                             "ops without the Flex delegate); export a SavedModel")
    check_output_folder(args.out, args.force)  # before the model loads: fail fast
    session = open_session(args)
    folder = export_saved_model(session, args.out, force=args.force)
    info = {"out": str(folder), "format": args.format, "signature": "serving_default",
            "input": "image_bytes", "classes": session.classes,
            "ood": {"score": session.ood.score_name, "threshold": session.ood.threshold},
            "prediction_sets": session.sets is not None}
    print(dumps_standard(info) if args.json else
          f"wrote {folder}: SavedModel, serving_default(image_bytes) -> probabilities, label, "
          f"ood_score, in_distribution, prediction_set")
    session.close()
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from app.core.export.beam_pipeline import import_beam, read_records, run_score_pipeline
    from app.core.json_io import dumps_standard

    import_beam()  # a missing extra is said before a model loads
    with tempfile.TemporaryDirectory(prefix="probscope-export-") as tmp:
        export_dir = args.export
        if export_dir is None:
            from app.core.export.saved_model import export_saved_model

            session = open_session(args)
            export_dir = str(export_saved_model(session, f"{tmp}/export"))
            session.close()
        run_score_pipeline(args.inputs, export_dir, args.out, args.runner,
                           getattr(args, "beam_args", []))
    local = args.runner == "DirectRunner" and "://" not in args.out
    rows = read_records(args.out) if local else None
    failed = sum(r["error"] is not None for r in rows) if rows is not None else 0
    summary = {"out": args.out, "runner": args.runner,
               "records": None if rows is None else len(rows), "errors": failed}
    print(dumps_standard(summary) if args.json else
          f"wrote {args.out}-*.jsonl with {args.runner}"
          + ("" if rows is None else f": {len(rows)} record(s), {failed} error(s)"))
    if failed:
        print(f"probscope: {failed} of {len(rows)} image(s) could not be classified", file=sys.stderr)
    return 1 if failed else 0
