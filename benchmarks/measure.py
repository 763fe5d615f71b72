"""Each benchmark figure, measured side by side with its baseline in the same run."""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.timing import fresh_process_json, median_ms


def tf_import_s() -> float:
    code = ("import time; t=time.perf_counter(); import tensorflow; "
            "import json; print(json.dumps({'s': time.perf_counter()-t}))")
    return statistics.median(r["s"] for r in fresh_process_json(code, env={"TF_CPP_MIN_LOG_LEVEL": "3"}))


def gui_startup(images: list[Path]) -> dict[str, float]:
    """Fresh offscreen GUI processes: time to a visible window and to the first result."""
    code = (
        "import sys, time; t0 = time.perf_counter(); "
        "from app.ui.window.launch import measure_startup; "
        f"measure_startup({[str(p) for p in images]!r}, t0)"
    )
    runs = fresh_process_json(code, env={"QT_QPA_PLATFORM": "offscreen"})
    return {k: statistics.median(r[k] for r in runs) for k in ("window_visible_s", "first_result_s")}


def single_image_ms(session: Any, image: Path) -> dict[str, float]:
    """probscope's whole path for one file vs Keras' own ways to run one image."""
    from app.core.images.opencv import cv2

    model = session.loaded.model
    x = session.prepare([image]).inputs
    probscope = median_ms(lambda: session.classify([image]), repeats=50)
    keras_predict = median_ms(lambda: model.predict(x, verbose=0), repeats=20)
    keras_call = median_ms(lambda: model(x, training=False), repeats=50)
    naive = median_ms(
        lambda: model.predict(cv2.resize(cv2.imread(str(image)), (32, 32))[None] / 255.0, verbose=0),
        repeats=20,
    )
    return {"probscope": probscope, "keras_predict": keras_predict, "keras_call": keras_call,
            "naive_imread_predict": naive}


def folder_images_per_s(session: Any, folder: Path, files: list[Path]) -> dict[str, float]:
    """End-to-end folder classification vs the compiled model alone, a naive loop and Keras' dataset."""
    from app.core.images.opencv import cv2
    from app.core.preprocessing.pipeline import prepare_batch
    from app.core.tf_runtime import import_keras

    keras = import_keras()
    model = session.loaded.model
    inputs = prepare_batch(files, session.spec).inputs

    def probscope_rate() -> float:
        start = time.perf_counter()
        n = sum(len(batch) for batch in session.iter_classify(files, batch_size=128))
        return n / (time.perf_counter() - start)

    def raw_rate() -> float:
        start = time.perf_counter()
        for i in range(0, len(inputs), 128):
            session.infer(inputs[i : i + 128])
        return len(inputs) / (time.perf_counter() - start)

    def decode_rate() -> float:
        start = time.perf_counter()
        prepare_batch(files, session.spec)
        return len(files) / (time.perf_counter() - start)

    probscope_rate(), raw_rate()  # warm-up
    # Interleaved repeats: a shared machine drifts, so each ratio compares neighbours.
    runs = [(probscope_rate(), raw_rate(), decode_rate()) for _ in range(3)]
    probscope = statistics.median(r[0] for r in runs)
    raw_model = statistics.median(r[1] for r in runs)
    decode_only = statistics.median(r[2] for r in runs)
    with _decoder_process(files, session.spec.to_dict()):
        raw_beside_decoder = statistics.median(raw_rate() for _ in range(3))

    subset = files[:150]
    start = time.perf_counter()
    for f in subset:
        img = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)
        model.predict(cv2.resize(img, (32, 32), interpolation=cv2.INTER_AREA)[None] / 255.0, verbose=0)
    naive_loop = len(subset) / (time.perf_counter() - start)

    start = time.perf_counter()
    ds = keras.utils.image_dataset_from_directory(
        folder, labels=None, image_size=(32, 32), batch_size=128, shuffle=False, verbose=False
    ).map(lambda t: t / 255.0)
    n_ds = len(model.predict(ds, verbose=0))
    keras_dataset = n_ds / (time.perf_counter() - start)
    return {"probscope": probscope, "raw_model": raw_model, "naive_loop": naive_loop,
            "keras_dataset": keras_dataset, "decode_only": decode_only,
            "raw_model_beside_decoder": raw_beside_decoder}


@contextlib.contextmanager
def _decoder_process(files: list[Path], spec: dict[str, Any]) -> Iterator[None]:
    """Another process decoding the folder flat out, for as long as the block runs.

    Shows what two cores give the model while images are being decoded, whatever
    threads or processes do it: the ceiling for any decode-and-infer pipeline.
    """
    import json
    import subprocess
    import sys

    code = (
        "import json, sys; from pathlib import Path; "
        "from app.core.preprocessing.pipeline import prepare_batch; "
        "from app.core.preprocessing.spec import PreprocessingSpec; "
        f"spec = PreprocessingSpec.from_dict(json.loads({json.dumps(spec)!r})); "
        "files = [Path(p) for p in sys.stdin.read().split(chr(10)) if p]; "
        "prepare_batch(files[:64], spec); print('ready', flush=True)\n"
        "while True: prepare_batch(files, spec)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("\n".join(str(f) for f in files))
        proc.stdin.close()
        proc.stdout.readline()  # decoding is under way
        yield
    finally:
        proc.kill()
        proc.wait()


def calibration_ms() -> dict[str, float]:
    from app.core.calibration.metrics import calibration_report_and_bins
    from app.core.calibration.temperature import fit_temperature

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 100_000)
    logits = rng.normal(0, 1, (100_000, 10))
    logits[np.arange(100_000), labels] += 3.0
    logits *= 2.5  # overconfident, as real networks are
    fit = median_ms(lambda: fit_temperature(logits, labels), repeats=7, warmup=1)
    small, small_labels = logits[:10_000], labels[:10_000]
    slider = median_ms(lambda: calibration_report_and_bins(small, small_labels, 1.7), repeats=30)
    return {"temperature_fit_ms_100k": fit, "slider_update_ms_10k": slider}


def ood_score_ms(session: Any, n: int = 256) -> dict[str, float]:
    """Per-image cost of each score, with the model's stored statistics (or fitted on the fly)."""
    from app.core.ood.detector import OODDetector
    from app.core.ood.scores import compute_scores

    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (n,) + tuple(session.loaded.input_shape)).astype(np.float32)
    out = session.infer(x)
    detector = session.ood.detector
    if detector.knn_ is None:
        bank = session.infer(rng.uniform(0, 1, (512,) + tuple(session.loaded.input_shape)).astype(np.float32))
        detector = OODDetector().fit(bank.logits, bank.features, bank.logits.argmax(1))
    stats = {"mahalanobis": detector.mahalanobis_, "knn": detector.knn_}
    res = {}
    for name in ("msp", "max_logit", "energy", "mahalanobis", "knn"):
        res[name] = median_ms(
            lambda name=name: compute_scores(name, out.logits[:1], out.features[:1], 1.0, stats),
            repeats=50,
        )
    return res


def peak_rss_mb(folder: Path) -> float:
    """Peak memory of the GUI process after classifying the whole folder (offscreen)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="probscope-bench-") as scratch:
        return _gui_peak_mb(folder, scratch)


def _gui_peak_mb(folder: Path, scratch: str) -> float:
    import os
    import subprocess
    import sys
    import time

    png = os.path.join(scratch, "s.png")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
           "PROBSCOPE_CONFIG_DIR": scratch}
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "gui", "--screenshot", png,
                             str(folder)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    # The child's own high-water mark, polled: ru_maxrss would carry over the RSS of this
    # (TensorFlow-sized) forking parent, and the GUI leaves with os._exit, so it cannot
    # report its own. VmHWM only grows, so the last reading is the peak to within a poll.
    peak_kb = 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as status:
                line = next(x for x in status if x.startswith("VmHWM"))
            peak_kb = max(peak_kb, int(line.split()[1]))
        except (OSError, StopIteration):
            pass
        time.sleep(0.02)
    if proc.returncode != 0:
        raise RuntimeError(f"the GUI run exited with {proc.returncode}")
    return peak_kb / 1024
