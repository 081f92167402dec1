"""Does hyperband pruning find the same best val/f1 for fewer epochs? Two Optuna studies of the
same search (conf/hparams_search/optuna.yaml, the same sampler seed), one unpruned and one with
hyperband, run side by side (one core each) or one after the other on the same machine.

    python benchmarks/bench_pruning.py [--trials 16] [--epochs 6] [--out DIR]
        [--hyperband reduction_factor=4 ...] [--one-after-the-other] [override ...]

Prints, per study, the best val/f1, the epochs spent (summed over trials, from the study's
intermediate values), the wall time and the CPU time; each study directory gets its
sweep_report.md and trials.png. Target: the same best within noise for at most half the epochs.
"""

from __future__ import annotations

import argparse
import os
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


def study_command(name: str, args: argparse.Namespace) -> list[str]:
    command = [
        sys.executable, "train.py", "-m", "hparams_search=optuna", *PRUNERS[name],
        f"hydra.sweeper.n_trials={args.trials}", f"trainer.max_epochs={args.epochs}",
        f"hydra.sweeper.study_name={name}", f"hydra.sweep.dir={args.out / name}",
        "~callbacks.progress_bar", *args.overrides,
    ]  # fmt: skip
    if name == "hyperband":
        command.append(f"hydra.sweeper.pruner.max_resource={args.epochs}")
        command += [f"hydra.sweeper.pruner.{option}" for option in args.hyperband]
    return command


def start_study(name: str, args: argparse.Namespace, threads: str | None) -> subprocess.Popen:
    if (args.out / name).exists():
        sys.exit(f"{args.out / name} exists: a resumed study would not measure a fresh search")
    env = {**os.environ, **({"OMP_NUM_THREADS": threads} if threads else {})}
    return subprocess.Popen(study_command(name, args), cwd=ROOT, env=env)


def wait_for_studies(running: dict[str, subprocess.Popen], start: float) -> dict[str, tuple]:
    """Reap the studies as they end: each one's wall time to its own end, and its own rusage
    as its CPU time, whatever ran beside it."""
    names = {process.pid: name for name, process in running.items()}
    ended = {}
    while len(ended) < len(running):
        pid, status, usage = os.wait4(-1, 0)
        if pid in names:
            if os.waitstatus_to_exitcode(status) != 0:
                sys.exit(f"study {names[pid]} failed: {os.waitstatus_to_exitcode(status)}")
            ended[names[pid]] = (time.perf_counter() - start, usage.ru_utime + usage.ru_stime)
    return ended


def summarise(name: str, out: Path, wall: float, cpu: float) -> dict:
    storage = open_storage(f"sqlite:///{out / name}/optuna.db")
    trials = optuna.load_study(study_name=name, storage=storage).get_trials()
    report(out / name)
    return {
        "best": max(t.value for t in trials if t.state == optuna.trial.TrialState.COMPLETE),
        "epochs": sum(len(t.intermediate_values) for t in trials),
        "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in trials),
        "wall": wall,
        "cpu": cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "pruning_benchmark")
    parser.add_argument("--hyperband", nargs="*", default=[], metavar="KEY=VALUE",
                        help="HyperbandPruner options, e.g. reduction_factor=4")  # fmt: skip
    parser.add_argument("--one-after-the-other", action="store_true",
                        help="the studies in turn with every core, not side by side")  # fmt: skip
    parser.add_argument("overrides", nargs="*", help="more train.py overrides for both studies")
    args = parser.parse_args()
    ended = {}
    if args.one_after_the_other:
        for name in PRUNERS:
            start = time.perf_counter()
            ended |= wait_for_studies({name: start_study(name, args, None)}, start)
    else:
        start = time.perf_counter()
        ended = wait_for_studies({n: start_study(n, args, "1") for n in PRUNERS}, start)
    results = {name: summarise(name, args.out, *ended[name]) for name in PRUNERS}
    print(f"\n{args.trials} trials, at most {args.epochs} epochs each; hyperband {args.hyperband}")
    print("| study | best val/f1 | epochs spent | pruned trials | wall time (s) | CPU time (s) |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r['best']:.4f} | {r['epochs']} | {r['pruned']} | {r['wall']:.0f} | "
            f"{r['cpu']:.0f} |"
        )
    ratio = results["hyperband"]["epochs"] / results["unpruned"]["epochs"]
    print(f"\nepochs hyperband / unpruned: {ratio:.2f}")


if __name__ == "__main__":
    main()
