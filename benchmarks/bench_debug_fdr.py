"""Wall time of ``python train.py debug=fdr`` as a whole command (the goal: at most 20 s on 2
cores), and where its seconds go, read off the run's own log lines.

    python benchmarks/bench_debug_fdr.py [--repeats 3]

Each repeat is a fresh process in a fresh run folder, as a user types it; the synthetic data set
is made once beforehand (a first run on a new machine also draws it). Printed per repeat: the
whole wall time, then the spans between the log lines that mark the command's stages (Python
start and imports up to the first line; the config and data up to the first epoch's line; the
epoch to the test; the test and the decision offsets to the end).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = (  # (name, the log line that ends it)
    ("start + imports", r"train: run directory"),
    ("config, data, model", r"epoch 1/1: "),
    ("to the test", r"(tuning decision offsets|test F1 per class)"),
    ("test + offsets + end", r"train done"),
)
STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]")


def run_once(folder: Path) -> tuple[float, list[float]]:
    """The command's wall time and the span of each stage (from its start, in seconds)."""
    began_epoch = time.time()
    began = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "train.py", "debug=fdr", f"hydra.run.dir={folder}"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    wall = time.perf_counter() - began
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return wall, stage_spans((folder / "train.log").read_text(), began_epoch)


def stage_spans(log: str, began: float) -> list[float]:
    """Seconds from each stage's start to its end line; a stage whose line is missing is NaN."""
    marks, previous = [], began
    for _, pattern in STAGES:
        line = next((line for line in log.splitlines() if re.search(pattern, line)), None)
        stamp = STAMP.match(line or "")
        if stamp is None:
            marks.append(float("nan"))
            continue
        at = datetime.strptime(stamp[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        marks.append(at - previous)
        previous = at
    return marks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_once(Path(tmp) / "warm-up")  # draws the synthetic set on a new machine
        runs = [run_once(Path(tmp) / f"run{i}") for i in range(args.repeats)]
    header = " ".join(f"{name:>22}" for name, _ in STAGES)
    print(f"python train.py debug=fdr, {args.repeats} fresh processes (seconds)")
    print(f"{'run':>4} {'wall':>7} {header}")
    for i, (wall, spans) in enumerate(runs):
        print(f"{i:>4} {wall:>7.2f} " + " ".join(f"{s:>22.2f}" for s in spans))
    median = statistics.median(wall for wall, _ in runs)
    print(f"median wall {median:.2f} s; goal 20 s: {'met' if median <= 20 else 'not met'}")


if __name__ == "__main__":
    main()
