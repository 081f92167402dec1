"""The benchmark scripts run end to end at toy sizes and print well-formed, positive numbers.

Timings themselves are never asserted: they belong to the scripts' output, not to the tests.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import subprocess
import sys
from datetime import datetime

import pytest
import torch
from conftest import ROOT, run_env

from seg_f1.data.labels import CELEBAMASK_HQ_CLASSES as CLASSES
from seg_f1.module import SegmentationModule
from seg_f1.network import channel_vector


def run_benchmark(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=ROOT,
        env=run_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def number_after(label: str, text: str) -> float:
    match = re.search(re.escape(label) + r"\s*([0-9.]+)", text)
    assert match, f"{label!r} not in output:\n{text[-2000:]}"
    return float(match.group(1))


def load_benchmark(script: str):
    spec = importlib.util.spec_from_file_location(script, ROOT / "benchmarks" / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_overhead_feeds_both_loops_what_the_loader_yields_and_the_module_makes_of_it():
    bench = load_benchmark("bench_overhead")
    batch = {key: torch.stack([item[key] for item in bench.InMemory(2, 8, len(CLASSES))])
             for key in ("image", "mask")}  # fmt: skip
    assert batch["image"].dtype == batch["mask"].dtype == torch.uint8
    mean, std = [0.4, 0.5, 0.6], [0.2, 0.25, 0.3]
    module = SegmentationModule(list(CLASSES), mean=mean, std=std)
    on_device = module.on_after_batch_transfer(dict(batch), 0)
    image, mask = bench.bare_inputs(batch, channel_vector(mean), channel_vector(std))
    assert torch.equal(image, on_device["image"]) and image.dtype == torch.float32
    assert torch.equal(mask, on_device["mask"]) and mask.dtype == torch.int64
    assert image[0, 1, 0, 0] == pytest.approx((int(batch["image"][0, 1, 0, 0]) / 255 - 0.5) / 0.25)


@pytest.mark.slow
def test_bench_overhead_prints_a_ratio_from_both_loops():
    out = run_benchmark(
        "bench_overhead.py", "--size", "32", "--batch", "2", "--steps", "3", "--warmup", "1",
        "--rounds", "1", "--threads", "1",
    )  # fmt: skip
    ratio = number_after("ratio seg_f1/bare per step:", out)
    bare = number_after("bare", out.split("\n\n")[-1])
    assert math.isfinite(ratio) and ratio > 0 and bare > 0


@pytest.mark.slow
def test_bench_metrics_prints_the_update_share():
    out = run_benchmark("bench_metrics.py", "--size", "32", "--batch", "2", "--repeats", "1")
    assert "2x19x32^2 on cpu" in out
    assert 0 < number_after("F1 update share of a step:", out) < 100


@pytest.mark.slow
def test_bench_gpu_runs_on_cpu_at_64px_and_prints_one_table():
    out = run_benchmark(
        "bench_gpu.py", "--device", "cpu", "--size", "64", "--batch", "1", "--steps", "1",
        "--warmup", "1", "--configs", "fp32,bf16_cl", "--threads", "1",
    )  # fmt: skip
    rows = [line for line in out.splitlines() if line.startswith("| ") and "config" not in line]
    assert [row.split("|")[1].strip() for row in rows] == ["fp32", "bf16 + channels_last"]
    for row in rows:
        images_per_s = float(row.split("|")[2])
        assert images_per_s > 0
    assert number_after("batch 1, 19 classes, on cpu;", out) > 0  # GFLOP per image


@pytest.mark.slow
def test_bench_data_prints_item_bare_and_former_rates_and_the_cores_to_feed_a_gpu():
    out = run_benchmark(
        "bench_data.py", "--images", "4", "--size", "64", "--rounds", "1", "--workers", "1",
        "--batch-size", "2",
    )  # fmt: skip
    assert "4 photos 128² JPEG" in out and "64² PNG masks -> data.image_size=64" in out
    rates = {name: number_after(label, out) for name, label in (
        ("item", "reduced decode, light)"), ("bare", "+ mask read)"),
        ("former", "float32 on CPU)"))}  # fmt: skip
    assert all(rate > 0 for rate in rates.values())
    cost = number_after("item cost / bare cost:", out)
    assert cost == pytest.approx(rates["bare"] / rates["item"], rel=0.01, abs=0.01)
    assert number_after("item / former images/s:", out) > 0
    assert number_after("DataLoader, 1 workers, batch 2:", out) > 0
    gflops = number_after("U-Net-resnet34 at 64²:", out)
    assert gflops == pytest.approx(190.4 * (64 / 512) ** 2, rel=0.02)  # FLOPs scale with pixels
    demand = number_after("989 TFLOP/s:", out)
    assert demand == pytest.approx(0.4 * 989e3 / gflops, rel=0.01)
    cores = number_after("loader cores needed:", out)
    assert cores == pytest.approx(demand / rates["item"], rel=0.02)


def test_bench_precision_pairs_the_two_settings_by_seed(tmp_path):
    """Hand-made results: the candidate is 0.002, 0.004 and 0.000 below the baseline (mean
    -0.002, sd 0.002, t(0.975, 2) = 4.303 -> half-width 4.303 * 0.002 / sqrt(3) = 0.00497), at
    0.6, 0.7 and 0.65 of its run time; a failed run is left out of the pairs."""
    bench = load_benchmark("bench_precision")
    runs = {1: (0.850, 0.848, 0.6), 2: (0.860, 0.856, 0.7), 3: (0.855, 0.855, 0.65)}
    for seed, (base, cand, ratio) in runs.items():
        for arm, f1, wall in (("baseline", base, 100.0), ("candidate", cand, 100.0 * ratio)):
            run_dir = tmp_path / arm / f"seed{seed}"
            run_dir.mkdir(parents=True)
            record = {"status": "ok", "test_f1": f1, "wall_time_s": wall}
            (run_dir / "result.json").write_text(json.dumps(record))
    (tmp_path / "candidate" / "seed4").mkdir()
    (tmp_path / "candidate" / "seed4" / "result.json").write_text('{"status": "failed"}')
    text = bench.report(bench.read_runs(tmp_path))
    assert "test F1, candidate - baseline: -0.0020 [-0.0070, +0.0030]" in text
    assert "within noise" in text
    assert "median 0.65 (per seed 0.60, 0.70, 0.65)" in text
    assert "| 2 | 0.8600 | 0.8560 | 100 s | 70 s | 0.70 |" in text
    assert "| 4 |" not in text


@pytest.mark.slow
def test_bench_levers_prints_a_ratio_per_lever_against_float32():
    out = run_benchmark(
        "bench_levers.py", "--models", "default", "--steps", "1", "--warmup", "0",
        "--rounds", "1", "--threads", "1",
    )  # fmt: skip
    rows = [line.split("|") for line in out.splitlines() if line.startswith("| default")]
    levers = [row[2].strip() for row in rows]
    assert levers[:2] == ["float32 (the former default)", "bf16-mixed"]
    assert "bf16-mixed + channels_last + fused AdamW (the default)" in levers
    assert float(rows[0][4].strip(" *")) == 1.0  # the baseline against itself
    for row in rows[:6]:
        assert float(row[4].strip(" *")) > 0 and float(row[5]) > 0  # ratio, GFLOP/s
    assert "F1 confusion update" in levers


@pytest.mark.slow
def test_bench_predict_prints_time_and_memory_of_the_variants_and_the_command():
    # the whole command with the export only: the checkpoint's rows are 4 more fresh processes
    out = run_benchmark("bench_predict.py", "--width", "640", "--height", "480", "--size", "64",
                        "--commands", "onnx")  # fmt: skip
    for variant in ("before", "none", "auto"):
        row = re.search(rf"^{variant}\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)$", out, re.M)
        assert row, out
        wall, parse_s, rss = map(float, row.groups())
        assert 0 < parse_s < wall and rss > 100
    assert number_after("align=none mask equal to before's at", out) > 99.9
    for overlay in ("true", "false"):
        row = re.search(rf"^onnx\s+auto\s+{overlay}\s+([0-9.]+)\s+([0-9.]+)$", out, re.M)
        assert row and float(row[1]) > 0 and float(row[2]) > 50, out


def test_bench_debug_fdr_reads_each_stage_off_the_runs_log():
    bench = load_benchmark("bench_debug_fdr")
    log = "\n".join([
        "[2026-12-07 10:00:05,500][seg_f1.runs.directory][INFO] - train: run directory /r",
        "[2026-12-07 10:00:09,000][seg_f1.epochs][INFO] - epoch 1/1: train loss 1.2 F1 0.1",
        "[2026-12-07 10:00:10,250][seg_f1.inference.calibration][INFO] - tuning decision offsets",
        "[2026-12-07 10:00:13,000][seg_f1.runs.directory][INFO] - train done; its log ...",
    ])  # fmt: skip
    began = datetime(2026, 12, 7, 10, 0, 0).timestamp()
    assert bench.stage_spans(log, began) == pytest.approx([5.5, 3.5, 1.25, 2.75])
    assert math.isnan(bench.stage_spans(log.replace("train done", "x"), began)[3])
