"""``python -m seg_f1.sweep_report <multirun_dir>``: what a sweep found, even while it runs.

Reads every job's ``result.json`` (and lists jobs that have none yet), then writes beside them:
``sweep_report.md`` and ``sweep_report.csv`` (trials sorted by the objective, one column per
swept parameter, pruned trials listed apart), ``best_experiment.yaml`` (the best configuration
as a ``conf/experiment/`` file), ``sweep.png`` and, for an Optuna sweep, ``trials.png``.
When ``seed`` is swept, configurations are ranked by their mean over seeds, and the plot
shows the spread as error bars.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from seg_f1.sweeps.report import report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m seg_f1.sweep_report", description=__doc__)
    parser.add_argument("multirun_dir", type=Path, help="a Hydra sweep directory")
    parser.add_argument("--out", type=Path, default=None, help="where to write (default: there)")
    args = parser.parse_args(argv)
    try:
        print(report(args.multirun_dir, args.out))
    except FileNotFoundError as error:
        parser.exit(2, f"{error}\n")


if __name__ == "__main__":
    main()
