"""The benchmark scripts run end to end at toy sizes and print well-formed, positive numbers.

Timings themselves are never asserted: they belong to the scripts' output, not to the tests.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys

import pytest
from conftest import ROOT, run_env


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
