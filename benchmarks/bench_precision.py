"""Does a faster training setting keep the default run's F1, and how much time does it save?

    python benchmarks/bench_precision.py     # today's defaults against the former ones, seeds 1-3
    python benchmarks/bench_precision.py --out outputs/bench_bf16 \
        --candidate "trainer.precision=bf16-mixed model.channels_last=false optimizer.fused=false"

For each seed, the default run (``python train.py``) is trained with the ``--baseline``
overrides and then with the ``--candidate`` ones, one right after the other, so a noisy
neighbour hits both alike; runs already finished in ``--out`` are kept, not run again. Then it
prints per seed and as a paired difference with its 95% t-interval: test F1 (the end point) and
the run's wall time (``result.json``). Run it on a quiet machine.

The baseline defaults to the run as it was before precision, layout and optimizer were chosen
for speed (float32, NCHW, AdamW's per-tensor loop); the candidate to today's defaults
(``trainer.precision=auto``, ``model.channels_last=auto``, fused AdamW). Both arms leave out the
decision-offset calibration after the test (``calibrate=false``): it is not training, and the
same 10-15 s in both arms would only pull the ratio towards 1.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

from seg_f1.runs.results import RESULT_FILE, read_result
from seg_f1.sweeps.ablation import paired_difference

ROOT = Path(__file__).resolve().parents[1]
ARMS = ("baseline", "candidate")


def finished(run_dir: Path) -> bool:
    path = run_dir / RESULT_FILE
    return path.is_file() and read_result(path).get("status") == "ok"


def train(run_dir: Path, seed: int, overrides: list[str]) -> None:
    command = [sys.executable, "train.py", f"seed={seed}", f"hydra.run.dir={run_dir}",
               "~callbacks.progress_bar", "calibrate=false", *overrides]  # fmt: skip
    print("+", shlex.join(command), flush=True)
    subprocess.run(command, cwd=ROOT, check=True)


def read_runs(out: Path) -> dict[str, dict[int, dict]]:
    """arm -> seed -> the result.json of each finished run under ``out/<arm>/seed<seed>``."""
    runs: dict[str, dict[int, dict]] = {arm: {} for arm in ARMS}
    for arm in ARMS:
        for run_dir in sorted((out / arm).glob("seed*")):
            if finished(run_dir):
                runs[arm][int(run_dir.name.removeprefix("seed"))] = read_result(
                    run_dir / RESULT_FILE
                )
    return runs


def report(runs: dict[str, dict[int, dict]]) -> str:
    base, cand = (runs[arm] for arm in ARMS)
    seeds = sorted(base.keys() & cand.keys())
    lines = ["| seed | test F1, baseline | test F1, candidate | run time, baseline | "
             "run time, candidate | time ratio |", "|---|---|---|---|---|---|"]  # fmt: skip
    for seed in seeds:
        a, b = base[seed], cand[seed]
        lines.append(f"| {seed} | {a['test_f1']:.4f} | {b['test_f1']:.4f} | "
                     f"{a['wall_time_s']:.0f} s | {b['wall_time_s']:.0f} s | "
                     f"{b['wall_time_s'] / a['wall_time_s']:.2f} |")  # fmt: skip
    f1 = paired_difference(*({s: r[s]["test_f1"] for s in seeds} for r in (cand, base)))
    if f1 is not None:
        verdict = f1.verdict("candidate better", "candidate worse")
        interval = f"[{f1.low:+.4f}, {f1.high:+.4f}] (95% t-interval, {f1.pairs} pairs)"
        lines += ["", f"test F1, candidate - baseline: {f1.mean:+.4f} {interval}: {verdict}"]
    ratios = [cand[s]["wall_time_s"] / base[s]["wall_time_s"] for s in seeds]
    if ratios:
        each = ", ".join(f"{r:.2f}" for r in ratios)
        median = statistics.median(ratios)
        lines.append(f"run time ratio candidate / baseline: median {median:.2f} (per seed {each})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--baseline", default="trainer.precision=32-true optimizer.fused=false")
    parser.add_argument("--candidate", default="", help="overrides; empty: today's defaults")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench_precision")
    args = parser.parse_args()
    out = args.out.resolve()
    arms = {"baseline": args.baseline.split(), "candidate": args.candidate.split()}
    for seed in (int(s) for s in args.seeds.split(",")):
        for arm, overrides in arms.items():
            run_dir = out / arm / f"seed{seed}"
            if not finished(run_dir):
                train(run_dir, seed, overrides)
    print(f"baseline: {args.baseline}\ncandidate: {args.candidate or '(the defaults)'}\n")
    print(report(read_runs(out)))


if __name__ == "__main__":
    main()
