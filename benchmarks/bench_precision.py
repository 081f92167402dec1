"""Does bf16 autocast keep the default run's F1, and how much training time does it save?

    python benchmarks/bench_precision.py                        # seeds 1,2,3, the default run
    python benchmarks/bench_precision.py --seeds 1,2 --reuse outputs/bench_precision

Runs ``python train.py -m seed=<seeds> trainer.precision=32-true,bf16-mixed`` (Hydra runs the
two precisions of a seed one after the other, so a noisy neighbour hits both alike), then
prints per seed and as a paired difference with its 95% t-interval: test F1 (the end point)
and the training wall time (``result.json``). Run it on a quiet machine; it takes about
3 x (1 + 0.7) default runs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

from seg_f1.report.jobs import parse_overrides
from seg_f1.runs.results import RESULT_FILE, read_result
from seg_f1.sweeps.ablation import paired_difference

ROOT = Path(__file__).resolve().parents[1]
PRECISIONS = ("32-true", "bf16-mixed")


def run_sweep(sweep_dir: Path, seeds: str, extra: list[str]) -> None:
    command = [sys.executable, "train.py", "-m", f"seed={seeds}",
               f"trainer.precision={','.join(PRECISIONS)}", f"hydra.sweep.dir={sweep_dir}",
               "~callbacks.progress_bar", *extra]  # fmt: skip
    subprocess.run(command, cwd=ROOT, check=True)


def read_runs(sweep_dir: Path) -> dict[str, dict[int, dict]]:
    """precision -> seed -> result.json of every finished job."""
    runs: dict[str, dict[int, dict]] = {p: {} for p in PRECISIONS}
    for path in sorted(sweep_dir.rglob(RESULT_FILE)):
        data = read_result(path)
        params = parse_overrides(data.get("overrides", []))
        if data.get("status") == "ok" and params.get("trainer.precision") in runs:
            runs[params["trainer.precision"]][int(params["seed"])] = data
    return runs


def report(runs: dict[str, dict[int, dict]]) -> str:
    fp32, bf16 = (runs[p] for p in PRECISIONS)
    seeds = sorted(fp32.keys() & bf16.keys())
    lines = ["| seed | test F1, 32-true | test F1, bf16-mixed | run time, 32-true | "
             "run time, bf16-mixed | time ratio |", "|---|---|---|---|---|---|"]  # fmt: skip
    for seed in seeds:
        a, b = fp32[seed], bf16[seed]
        lines.append(f"| {seed} | {a['test_f1']:.4f} | {b['test_f1']:.4f} | "
                     f"{a['wall_time_s']:.0f} s | {b['wall_time_s']:.0f} s | "
                     f"{b['wall_time_s'] / a['wall_time_s']:.2f} |")  # fmt: skip
    f1 = paired_difference(*({s: r[s]["test_f1"] for s in seeds} for r in (bf16, fp32)))
    ratios = [bf16[s]["wall_time_s"] / fp32[s]["wall_time_s"] for s in seeds]
    if f1 is not None:
        verdict = f1.verdict("bf16 better", "bf16 worse")
        interval = f"[{f1.low:+.4f}, {f1.high:+.4f}] (95% t-interval, {f1.pairs} pairs)"
        lines += ["", f"test F1, bf16-mixed - 32-true: {f1.mean:+.4f} {interval}: {verdict}"]
    if ratios:
        each = ", ".join(f"{r:.2f}" for r in ratios)
        median = statistics.median(ratios)
        lines.append(f"run time ratio bf16-mixed / 32-true: median {median:.2f} (per seed {each})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench_precision")
    parser.add_argument("--reuse", action="store_true", help="report the runs already in --out")
    parser.add_argument("overrides", nargs="*", help="more train.py overrides")
    args = parser.parse_args()
    if not args.reuse:
        run_sweep(args.out.resolve(), args.seeds, args.overrides)
    print(report(read_runs(args.out)))


if __name__ == "__main__":
    main()
