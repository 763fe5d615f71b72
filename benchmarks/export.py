"""``python -m benchmarks.export [--images N]``: the export and ``score`` against probscope's path.

* ``score_vs_classify``: wall time of ``probscope classify --json`` over N files divided by
  that of ``probscope score`` on the DirectRunner over the same files (both as commands, so
  both include start-up; > 1 means score is faster).
* ``single_image_ms``: median latency of one encoded image through the exported signature and
  through ``ModelSession.classify`` (decode, preprocess, infer, check), in one process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=False, capture_output=True)
    return time.perf_counter() - start


def run(n_images: int) -> dict:
    from app.core import open_model
    from app.core.export.saved_model import export_saved_model
    from app.core.resources import bundled_model_path
    from tests.core.export.image_files import write_image_files

    res: dict = {"images": n_images}
    with tempfile.TemporaryDirectory() as tmp:
        files = write_image_files(Path(tmp) / "in", n_images)
        session = open_model(bundled_model_path())
        export = export_saved_model(session, Path(tmp) / "export")
        exe = [sys.executable, "-m", "app.cli"]
        res["classify_s"] = _timed([*exe, "classify", "--json", str(Path(tmp) / "in")])
        res["score_direct_s"] = _timed([*exe, "score", str(Path(tmp) / "in"), "--out",
                                        str(Path(tmp) / "out" / "run"), "--export", str(export)])
        res["score_vs_classify"] = res["classify_s"] / res["score_direct_s"]
        import tensorflow as tf

        serve = tf.saved_model.load(str(export)).signatures["serving_default"]
        data = files[-1].read_bytes()
        for _ in range(5):
            serve(image_bytes=tf.constant([data]))
            session.classify([data])
        export_ms, session_ms = [], []
        for _ in range(100):
            t = time.perf_counter()
            serve(image_bytes=tf.constant([data]))["probabilities"].numpy()
            export_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            session.classify([data])
            session_ms.append((time.perf_counter() - t) * 1000)
        res["single_image_ms"] = {"export": statistics.median(export_ms),
                                  "probscope": statistics.median(session_ms)}
        session.close()
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=2000)
    print(json.dumps(run(parser.parse_args().images), indent=2))


if __name__ == "__main__":
    main()
