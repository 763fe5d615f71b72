"""The LiteRT figures (issue 17), each beside its TensorFlow baseline in the same run."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.timing import fresh_process_json, median_ms

TARGETS = {
    "first_result_cli_s": "<= 1.0 s",
    "first_result_vs_tf_import": "<= 0.5x",
    "litert_single_image_speedup_vs_predict": ">= 100x",
    "litert_folder_vs_compiled_tf": ">= 1.2x",
    "litert_peak_rss_mb": "<= 400 MB",
}


def first_result_s(image: Path, repeats: int = 3) -> dict[str, float]:
    """Fresh ``probscope classify IMAGE --json``: launch to the first result line (wall clock).

    The bundled model's conversion ships beside it, so this is the "conversion cached" case;
    the child also reports whether TensorFlow was imported.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONUNBUFFERED"] = "1"  # the result line leaves the child when it is printed
    code = ("import json, sys; from app.cli import main; code = main(['classify', sys.argv[1], "
            "'--json']); sys.stdout.flush(); print(json.dumps({'tf': 'tensorflow' in sys.modules}));"
            " sys.exit(code)")
    times, imported = [], []
    for attempt in range(repeats + 1):  # the first run writes bytecode caches, unrecorded
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", code, str(image)], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, env=env)
        assert proc.stdout is not None
        first = proc.stdout.readline()
        elapsed = time.perf_counter() - start
        rest = proc.stdout.read()
        proc.wait()
        if proc.returncode != 0 or not first.startswith("{"):
            raise RuntimeError("probscope classify failed in the first-result benchmark")
        if attempt:
            times.append(elapsed)
            imported.append(json.loads(rest.strip().splitlines()[-1])["tf"])
    return {"first_result_cli_s": statistics.median(times), "first_result_imported_tf": any(imported)}


def single_image_ms(lite: Any, keras_model: Any, image: Path) -> dict[str, float]:
    """One file through LiteRT (whole path, and the model call alone) vs ``model.predict``."""
    x = lite.prepare([image]).inputs
    return {
        "litert_classify": median_ms(lambda: lite.classify([image]), repeats=100),
        "litert_infer": median_ms(lambda: lite.infer(x), repeats=200),
        "keras_predict": median_ms(lambda: keras_model.predict(x, verbose=0), repeats=20),
    }


def folder_images_per_s(lite: Any, tf: Any, files: list[Path]) -> dict[str, float]:
    """LiteRT end to end (decode overlapped) vs compiled TensorFlow on pre-decoded tensors."""
    from app.core.preprocessing.pipeline import prepare_batch

    inputs = prepare_batch(files, lite.spec).inputs

    def end_to_end() -> float:
        start = time.perf_counter()
        n = sum(len(batch) for batch in lite.iter_classify(files, batch_size=128))
        return n / (time.perf_counter() - start)

    def raw(session: Any) -> float:
        start = time.perf_counter()
        for i in range(0, len(inputs), 128):
            session.infer(inputs[i : i + 128])
        return len(inputs) / (time.perf_counter() - start)

    end_to_end(), raw(tf), raw(lite)  # warm-up
    runs = [(end_to_end(), raw(tf), raw(lite)) for _ in range(3)]
    return {"litert_end_to_end": statistics.median(r[0] for r in runs),
            "compiled_tf_predecoded": statistics.median(r[1] for r in runs),
            "litert_predecoded": statistics.median(r[2] for r in runs)}


def peak_rss_mb(folder: Path) -> dict[str, Any]:
    """Peak memory of a fresh process that opens the bundled model and classifies ``folder``."""
    code = (
        "import json, sys; from pathlib import Path\n"
        "from app.core import open_model\n"
        "from app.core.resources import bundled_model_path\n"
        "s = open_model(bundled_model_path())\n"
        f"files = sorted(Path({str(folder)!r}).rglob('*.png'))\n"
        "n = sum(len(b) for b in s.iter_classify(files, batch_size=128))\n"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the (large) forking parent.
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
        "print(json.dumps({'mb': int(hwm) / 1024, "
        "'n': n, 'tf': 'tensorflow' in sys.modules, 'runtime': s.runtime_name}))\n"
    )
    run = fresh_process_json(code, repeats=1)[0]
    return {"litert_peak_rss_mb": run["mb"], "litert_peak_rss_imported_tf": run["tf"]}


def measure(image: Path, files: list[Path], folder: Path, tf_import_s: float) -> dict[str, Any]:
    """Every LiteRT figure and its ratio; TensorFlow is imported here for the baselines."""
    from app.core import open_model
    from app.core.resources import bundled_model_path

    res: dict[str, Any] = first_result_s(image)
    res.update(peak_rss_mb(folder))
    lite = open_model(bundled_model_path())
    os.environ["PROBSCOPE_RUNTIME"] = "tensorflow"
    try:
        tf = open_model(bundled_model_path())
    finally:
        del os.environ["PROBSCOPE_RUNTIME"]
    assert (lite.runtime_name, tf.runtime_name) == ("litert", "tensorflow")
    single = single_image_ms(lite, tf.loaded.model, image)
    rates = folder_images_per_s(lite, tf, files)
    res.update({"litert_single_image_ms": single, "litert_folder_images_per_s": rates})
    res["litert_ratios"] = {
        "first_result_vs_tf_import": res["first_result_cli_s"] / tf_import_s,
        "litert_single_image_speedup_vs_predict": single["keras_predict"] / single["litert_classify"],
        "litert_infer_speedup_vs_predict": single["keras_predict"] / single["litert_infer"],
        "litert_folder_vs_compiled_tf": rates["litert_end_to_end"] / rates["compiled_tf_predecoded"],
        "litert_raw_vs_compiled_tf": rates["litert_predecoded"] / rates["compiled_tf_predecoded"],
    }
    lite.close()
    tf.close()
    return res


def print_rows(res: dict[str, Any], row: Any) -> None:
    """Add the LiteRT rows to the benchmark table (``row(name, value, target)``)."""
    row("first_result_cli_s (fresh classify, LiteRT)", f"{res['first_result_cli_s']:.2f} s",
        TARGETS["first_result_cli_s"])
    row("  TensorFlow imported on that path", str(res["first_result_imported_tf"]))
    for k, v in res["litert_single_image_ms"].items():
        row(f"litert_single_image_ms.{k}", f"{v:.3f} ms")
    for k, v in res["litert_folder_images_per_s"].items():
        row(f"litert_folder_images_per_s.{k}", f"{v:.0f} img/s")
    row("litert_peak_rss_mb", f"{res['litert_peak_rss_mb']:.0f} MB", TARGETS["litert_peak_rss_mb"])
    row("  TensorFlow imported on that path", str(res["litert_peak_rss_imported_tf"]))
    for k, v in res["litert_ratios"].items():
        row(k, f"{v:.2f}x", TARGETS.get(k, ""))
