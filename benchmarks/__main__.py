"""``python -m benchmarks [--json] [--images N]``: measure and print every figure with its ratio."""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from benchmarks import litert, measure
from benchmarks.conformal import conformal_ms
from benchmarks.explain import explain_ms
from benchmarks.fixtures import make_digit_folder
from benchmarks.no_class_check import no_class_check_ms

TARGETS = {
    "window_visible_s": "<= 1.0 s",
    "single_image_speedup_vs_predict": ">= 10x",
    "folder_vs_raw_model": ">= 0.8x",
    "folder_vs_naive_loop": ">= 10x",
    "temperature_fit_ms_100k": "<= 50 ms",
    "slider_update_ms_10k": "<= 20 ms",
    "peak_rss_mb": "<= 1000 MB",
    "explain_ms.gradcam": "<= 50 ms",
    "explain_ms.occlusion": "<= 300 ms",
    "no_class_check_ms.probe_added": "<= 0.2 ms",
}


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def run(n_images: int, skip_gui: bool, only_litert: bool = False) -> dict:
    from app.core import open_model
    from app.core.resources import bundled_model_path, bundled_samples_dir

    started = time.perf_counter()
    res: dict = {"machine": _machine()}
    res["tf_import_s"] = measure.tf_import_s()
    # Today's figures are TensorFlow's: the bundled model would otherwise answer on LiteRT.
    os.environ["PROBSCOPE_RUNTIME"] = "tensorflow"
    session = open_model(bundled_model_path())
    del os.environ["PROBSCOPE_RUNTIME"]
    samples = sorted(bundled_samples_dir().glob("digit_*.png")) or sorted(bundled_samples_dir().glob("*.png"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "digits"
        files = make_digit_folder(folder, n_images)
        image = samples[0] if samples else files[0]
        res.update(litert.measure(image, files, folder, res["tf_import_s"]))
        if only_litert:
            res["n_images"], res["bench_s"] = n_images, time.perf_counter() - started
            return res
        if not skip_gui:
            res.update(measure.gui_startup([image]))
        res["single_image_ms"] = measure.single_image_ms(session, image)
        res["folder_images_per_s"] = measure.folder_images_per_s(session, folder, files)
        res.update(measure.calibration_ms())
        res["ood_score_ms"] = measure.ood_score_ms(session)
        res["no_class_check_ms"] = no_class_check_ms()
        res["explain_ms"] = explain_ms(session, image)
        res["conformal_ms"] = conformal_ms()
        if not skip_gui:
            res["peak_rss_mb"] = measure.peak_rss_mb(folder)
    single, folder_rates = res["single_image_ms"], res["folder_images_per_s"]
    res["ratios"] = {
        "single_image_speedup_vs_predict": single["keras_predict"] / single["probscope"],
        "single_image_speedup_vs_call": single["keras_call"] / single["probscope"],
        "folder_vs_raw_model": folder_rates["probscope"] / folder_rates["raw_model"],
        "folder_vs_naive_loop": folder_rates["probscope"] / folder_rates["naive_loop"],
        "folder_vs_keras_dataset": folder_rates["probscope"] / folder_rates["keras_dataset"],
        # The model's own rate while another process decodes: what 2 cores allow any pipeline.
        "folder_vs_raw_model_beside_decoder": (
            folder_rates["probscope"] / folder_rates["raw_model_beside_decoder"]
        ),
    }
    res["n_images"] = n_images
    res["bench_s"] = time.perf_counter() - started
    session.close()
    return res


def print_table(res: dict) -> None:
    def row(name: str, value: str, target: str = "") -> None:
        print(f"  {name:<46}{value:>14}  {target}")

    print(f"probscope benchmarks on {res['machine']}")
    row("tf_import_s", f"{res['tf_import_s']:.2f} s")
    litert.print_rows(res, row)
    if "ratios" not in res:  # --only-litert
        print(f"  ({res['n_images']} images; whole run {res['bench_s']:.0f} s)")
        return
    if "window_visible_s" in res:
        row("window_visible_s", f"{res['window_visible_s']:.2f} s", TARGETS["window_visible_s"])
        row("first_result_s", f"{res['first_result_s']:.2f} s")
    for k, v in res["single_image_ms"].items():
        row(f"single_image_ms.{k}", f"{v:.2f} ms")
    for k, v in res["folder_images_per_s"].items():
        row(f"folder_images_per_s.{k}", f"{v:.0f} img/s")
    row("temperature_fit_ms_100k", f"{res['temperature_fit_ms_100k']:.1f} ms", TARGETS["temperature_fit_ms_100k"])
    row("slider_update_ms_10k", f"{res['slider_update_ms_10k']:.1f} ms", TARGETS["slider_update_ms_10k"])
    for k, v in res["ood_score_ms"].items():
        row(f"ood_score_ms.{k}", f"{v:.3f} ms")
    for k, v in res["no_class_check_ms"].items():
        row(f"no_class_check_ms.{k}", f"{v:.2f} ms", TARGETS.get(f"no_class_check_ms.{k}", ""))
    for k, v in res["explain_ms"].items():
        row(f"explain_ms.{k}", f"{v:.1f} ms", TARGETS.get(f"explain_ms.{k}", ""))
    for k, v in res.get("conformal_ms", {}).items():
        row(f"conformal_ms.{k}", f"{v:.1f} ms", "<= 20 ms")
    if "peak_rss_mb" in res:
        row("peak_rss_mb", f"{res['peak_rss_mb']:.0f} MB", TARGETS["peak_rss_mb"])
    for k, v in res["ratios"].items():
        row(k, f"{v:.2f}x", TARGETS.get(k, ""))
    print(f"  ({res['n_images']} images; whole run {res['bench_s']:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--json", action="store_true", help="also print one JSON object on the last line")
    parser.add_argument("--images", type=int, default=2000, help="folder size (default 2000)")
    parser.add_argument("--skip-gui", action="store_true", help="skip the fresh-process GUI figures")
    parser.add_argument("--only-litert", action="store_true", help="only the LiteRT figures")
    args = parser.parse_args()
    res = run(args.images, args.skip_gui, args.only_litert)
    print_table(res)
    if args.json:
        print(json.dumps(res))


if __name__ == "__main__":
    main()
