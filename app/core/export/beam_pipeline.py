"""``probscope score``: an Apache Beam pipeline that scores image files with an export.

Files (local paths and folders, or patterns on any filesystem Beam has: ``gs://``, ``s3://``,
``hdfs://``) are read, checked one by one (a file that cannot be decoded becomes a record with
``error`` and the run goes on), batched and run through Beam's ``RunInference`` with its
TensorFlow model handler, and written as sharded JSON lines in the ``classify --json``
format. ``apache_beam`` is imported only when a pipeline is built: it is the optional extra
``probscope[scale]``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from app.core.errors import ProbscopeError
from app.core.export.records import answer_record, decoding_problem, error_record
from app.core.export.saved_model import SIGNATURE, read_metadata
from app.core.images.decoding import has_alpha

RUNNERS = ("DirectRunner", "DataflowRunner", "FlinkRunner", "SparkRunner", "PortableRunner")
MAX_BATCH = 64


def import_beam() -> Any:
    """``apache_beam``, or a ProbscopeError saying how to install it."""
    try:
        import apache_beam
        from apache_beam.ml.inference import tensorflow_inference  # noqa: F401
    except ImportError as exc:
        raise ProbscopeError(
            f"probscope score needs Apache Beam ({exc.name or exc}): pip install 'probscope[scale]'"
        ) from None
    return apache_beam


def signature_inference_fn(model: Any, batch: Sequence[Any], inference_args: dict[str, Any],
                           model_id: str | None = None) -> Any:
    """RunInference's ``inference_fn``: the batch of encoded images through the signature."""
    import tensorflow as tf
    from apache_beam.ml.inference.utils import _convert_to_result

    outputs = model.signatures[SIGNATURE](image_bytes=tf.stack(list(batch)), **inference_args)
    return _convert_to_result(batch, {k: v.numpy() for k, v in outputs.items()}, model_id)


def _model_handler(export_dir: str) -> Any:
    import tensorflow as tf
    from apache_beam.ml.inference.base import KeyedModelHandler
    from apache_beam.ml.inference.tensorflow_inference import TFModelHandlerTensor

    class SavedModelHandler(TFModelHandlerTensor):  # type: ignore[misc]
        """Beam's TensorFlow handler, loading the export with ``tf.saved_model.load``.

        The stock loader calls ``tf.keras.models.load_model``, which Keras 3 refuses for a
        SavedModel; batching, sharing and metrics are the handler's own.
        """

        def load_model(self) -> Any:
            return tf.saved_model.load(self._model_uri)

    return KeyedModelHandler(SavedModelHandler(export_dir, inference_fn=signature_inference_fn,
                                               min_batch_size=1, max_batch_size=MAX_BATCH))


def _read_and_check(beam: Any) -> Any:
    class ReadAndCheck(beam.DoFn):  # type: ignore[misc, name-defined]
        """Read one file; good images go on as ((path, has transparency), bytes), others as
        error records."""

        def setup(self) -> None:
            import tensorflow as tf

            self.tf = tf

        def process(self, path: str) -> Any:
            from apache_beam.io.filesystems import FileSystems

            try:
                with FileSystems.open(path, compression_type="uncompressed") as f:
                    data = f.read()
            except Exception as exc:  # any filesystem's error: one record, the run goes on
                yield beam.pvalue.TaggedOutput("errors", (path, f"{path}: cannot read it ({exc})"))
                return
            problem = decoding_problem(path, data, self.tf)
            if problem:
                yield beam.pvalue.TaggedOutput("errors", (path, problem))
            else:
                yield (path, has_alpha(data)), self.tf.constant(data)

    return ReadAndCheck()


def list_inputs(inputs: Sequence[str]) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """(local image files, remote patterns, (path, problem) of local paths with no image)."""
    from app.core.images.files import PathProblem, find_image_files

    remote = [i for i in inputs if "://" in i]
    local = [i for i in inputs if "://" not in i]
    files, problems = [], []
    for entry in find_image_files(local) if local else []:
        if isinstance(entry, PathProblem):
            problems.append((entry.path, entry.message))
        else:
            files.append(str(entry))
    return files, remote, problems


def run_score_pipeline(inputs: Sequence[str], export_dir: str, out_prefix: str,
                       runner: str = "DirectRunner", beam_args: Sequence[str] = ()) -> Any:
    """Score image files with an export through Apache Beam; write JSON lines shards.

    Parameters
    ----------
    inputs : sequence of str
        Local files and folders (searched as ``classify`` searches them) or file patterns on
        any Beam filesystem (``gs://bucket/images/*.png``).
    export_dir : str
        A folder written by :func:`app.core.export.saved_model.export_saved_model`, readable
        by every worker (a bucket path for a cluster).
    out_prefix : str
        Shards are ``PREFIX-00000-of-0000N.jsonl``.
    runner : str, default="DirectRunner"
        One of ``RUNNERS``.
    beam_args : sequence of str
        Further Beam pipeline options (``--project``, ``--region``, ``--flink_master``, ...).

    Returns
    -------
    PipelineResult
        Of the finished run.
    """
    beam = import_beam()
    from apache_beam.ml.inference.base import RunInference
    from apache_beam.options.pipeline_options import PipelineOptions

    if runner not in RUNNERS:
        raise ProbscopeError(f"--runner {runner}: choose one of {', '.join(RUNNERS)}")
    metadata = read_metadata(export_dir)
    files, remote, problems = list_inputs(inputs)
    options = PipelineOptions(list(beam_args), runner=runner)
    pipeline = beam.Pipeline(options=options)
    paths = [pipeline | "Local files" >> beam.Create(files)] if files else []
    if remote:
        from apache_beam.io import fileio

        paths.append(pipeline | "Patterns" >> beam.Create(remote) | fileio.MatchAll()
                     | "Paths" >> beam.Map(lambda m: m.path))
    if not paths and not problems:
        raise ProbscopeError("no image files to score")
    records = []
    if problems:
        records.append(pipeline | "Path problems" >> beam.Create(problems)
                       | "Problem records" >> beam.Map(lambda e: error_record(e[0], e[1], metadata)))
    if paths:
        read = (paths | "All paths" >> beam.Flatten() | "Read and check" >> beam.ParDo(
            _read_and_check(beam)).with_outputs("errors", main="images"))
        records.append(read.errors | "Error records" >> beam.Map(
            lambda e: error_record(e[0], e[1], metadata)))
        records.append(read.images | "RunInference" >> RunInference(_model_handler(export_dir))
                       | "Answer records" >> beam.Map(
                           lambda kv: answer_record(kv[0][0], kv[1].inference, metadata, kv[0][1])))
    from app.core.json_io import dumps_standard

    _ = (records | "All records" >> beam.Flatten() | "JSON" >> beam.Map(lambda r: dumps_standard(r))
         | "Write" >> beam.io.WriteToText(out_prefix, file_name_suffix=".jsonl"))
    result = pipeline.run()
    result.wait_until_finish()
    return result


def read_records(out_prefix: str) -> list[dict[str, Any]]:
    """Every record of a local run's shards (for tests and benchmarks)."""
    folder = os.path.dirname(os.path.abspath(out_prefix))
    base = os.path.basename(out_prefix)
    rows = []
    for name in sorted(os.listdir(folder)):
        if name.startswith(base + "-") and name.endswith(".jsonl"):
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                rows += [json.loads(line) for line in f if line.strip()]
    return rows
