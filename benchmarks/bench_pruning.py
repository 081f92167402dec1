"""Does pruning find the same best val/f1 for fewer epochs? Optuna studies of the same search
(conf/hparams_search/optuna.yaml, the same sampler seed): one unpruned, one per pruner named,
run side by side (one thread each) or one after the other on the same machine.

    python benchmarks/bench_pruning.py [--trials 16] [--epochs 6] [--out DIR]
        [--pruners hyperband,successive_halving] [--option hyperband.reduction_factor=4]
        [--reuse] [--one-after-the-other] [override ...]

Prints, per study, the best val/f1, the epochs spent (summed over trials, from the study's
intermediate values) and their ratio to the unpruned study, the wall time and the CPU time;
each study directory gets its sweep_report.md and trials.png. Target: the same best within
noise for at most half the epochs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import optuna

from seg_f1.sweeps.report import report
from seg_f1.sweeps.study import open_storage

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "unpruned"


def study_command(name: str, args: argparse.Namespace) -> list[str]:
    pruner = "none" if name == BASELINE else name
    command = [
        sys.executable, "train.py", "-m", "hparams_search=optuna", f"hydra/sweeper/pruner={pruner}",
        f"hydra.sweeper.n_trials={args.trials}", f"trainer.max_epochs={args.epochs}",
        f"hydra.sweeper.study_name={name}", f"hydra.sweep.dir={args.out / name}",
        "~callbacks.progress_bar", *args.overrides,
    ]  # fmt: skip
    if name == "hyperband":
        command.append(f"hydra.sweeper.pruner.max_resource={args.epochs}")
    prefix = f"{name}."
    options = [o.removeprefix(prefix) for o in args.option if o.startswith(prefix)]
    return command + [f"hydra.sweeper.pruner.{option}" for option in options]


def study_trials(name: str, out: Path) -> list:
    storage = open_storage(f"sqlite:///{out / name}/optuna.db")
    return optuna.load_study(study_name=name, storage=storage).get_trials()


def check_study_folders(names: list[str], args: argparse.Namespace) -> list[str]:
    """The studies to run, checked before any starts: an existing folder is refused (a resumed
    study would not measure a fresh search) unless --reuse, and then it must be finished."""
    to_run = []
    for name in names:
        if not (args.out / name).exists():
            to_run.append(name)
        elif not args.reuse:
            sys.exit(f"{args.out / name} exists: a resumed study would not measure a fresh search")
        elif sum(t.state.is_finished() for t in study_trials(name, args.out)) < args.trials:
            sys.exit(f"--reuse: {args.out / name} has fewer than {args.trials} finished trials")
    return to_run


def start_study(name: str, args: argparse.Namespace, threads: str | None) -> subprocess.Popen:
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


def summarise(name: str, out: Path, wall: float | None, cpu: float | None) -> dict:
    trials = study_trials(name, out)
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
    parser.add_argument("--pruners", type=lambda s: s.split(","), default=["hyperband"],
                        help="comma-separated hydra/sweeper/pruner options")  # fmt: skip
    parser.add_argument("--option", action="append", default=[], metavar="PRUNER.KEY=VALUE",
                        help="a pruner's argument, e.g. hyperband.reduction_factor=4")  # fmt: skip
    parser.add_argument("--reuse", action="store_true",
                        help="read studies already in --out instead of refusing them")  # fmt: skip
    parser.add_argument("--one-after-the-other", action="store_true",
                        help="the studies in turn with every core, not side by side")  # fmt: skip
    parser.add_argument("overrides", nargs="*", help="more train.py overrides for every study")
    args = parser.parse_args()
    names = [BASELINE, *args.pruners]
    to_run = check_study_folders(names, args)
    ended = {n: (None, None) for n in names if n not in to_run}
    if args.one_after_the_other:
        for name in to_run:
            start = time.perf_counter()
            ended |= wait_for_studies({name: start_study(name, args, None)}, start)
    elif to_run:
        start = time.perf_counter()
        ended |= wait_for_studies({n: start_study(n, args, "1") for n in to_run}, start)
    results = {name: summarise(name, args.out, *ended[name]) for name in names}
    print(f"\n{args.trials} trials, at most {args.epochs} epochs each; options {args.option}")
    print(
        "| study | best val/f1 | epochs spent | of unpruned | pruned trials | wall (s) | CPU (s) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        share = r["epochs"] / results[BASELINE]["epochs"]
        wall, cpu = (
            f"{r[k]:.0f}" if r[k] is not None else "(earlier run)" for k in ("wall", "cpu")
        )
        print(
            f"| {name} | {r['best']:.4f} | {r['epochs']} | {share:.2f}x | {r['pruned']} | {wall} | "
            f"{cpu} |"
        )


if __name__ == "__main__":
    main()
