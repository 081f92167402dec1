"""Does hyperband pruning find the same best val/f1 for fewer epochs? Two Optuna studies of the
same search (conf/hparams_search/optuna.yaml, the same sampler seed), one unpruned and one with
hyperband, run one after the other on the same machine.

    python benchmarks/bench_pruning.py [--trials 16] [--epochs 6] [--out DIR] [override ...]

Prints, per study, the best val/f1, the epochs spent (summed over trials, from the study's
intermediate values), the wall time and the CPU time; each study directory gets its
sweep_report.md and trials.png. Target: the same best within noise for at most half the epochs.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import optuna

from seg_f1.study import open_storage
from seg_f1.sweep_report import report

ROOT = Path(__file__).resolve().parents[1]
PRUNERS = {
    "unpruned": ["hydra/sweeper/pruner=none"],
    "hyperband": ["hydra/sweeper/pruner=hyperband"],
}


def run_study(name: str, args: argparse.Namespace) -> dict[str, float]:
    sweep_dir = args.out / name
    if sweep_dir.exists():
        sys.exit(f"{sweep_dir} exists: a resumed study would not measure a fresh search")
    command = [
        sys.executable, "train.py", "-m", "hparams_search=optuna", *PRUNERS[name],
        f"hydra.sweeper.n_trials={args.trials}", f"trainer.max_epochs={args.epochs}",
        f"hydra.sweeper.study_name={name}", f"hydra.sweep.dir={sweep_dir}",
        "~callbacks.progress_bar", *args.overrides,
    ]  # fmt: skip
    if name == "hyperband":
        command.append(f"hydra.sweeper.pruner.max_resource={args.epochs}")
    start, cpu = time.perf_counter(), _children_cpu_s()
    subprocess.run(command, cwd=ROOT, check=True)
    wall, cpu = time.perf_counter() - start, _children_cpu_s() - cpu
    storage = open_storage(f"sqlite:///{sweep_dir}/optuna.db")
    trials = optuna.load_study(study_name=name, storage=storage).get_trials()
    report(sweep_dir)
    return {
        "best": max(t.value for t in trials if t.state == optuna.trial.TrialState.COMPLETE),
        "epochs": sum(len(t.intermediate_values) for t in trials),
        "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in trials),
        "wall": wall,
        "cpu": cpu,
    }


def _children_cpu_s() -> float:
    """CPU seconds of finished child processes: the compute a study took, which other load on
    a shared machine inflates far less than its wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "pruning_benchmark")
    parser.add_argument("overrides", nargs="*", help="more train.py overrides for both studies")
    args = parser.parse_args()
    results = {name: run_study(name, args) for name in PRUNERS}
    print(f"\n{args.trials} trials, at most {args.epochs} epochs each\n")
    print("| study | best val/f1 | epochs spent | pruned trials | wall time (s) | CPU time (s) |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r['best']:.4f} | {r['epochs']} | {r['pruned']} | {r['wall']:.0f} | "
            f"{r['cpu']:.0f} |"
        )


if __name__ == "__main__":
    main()
