"""``python -m seg_f1.ablation <multirun_dir> --out docs/ablation.md``: the seed's loss table,
measured.

The sweep itself is ``python train.py -m hparams_search=ablation`` (7 loss configurations of
``conf/experiment/ablation/`` x 3 seeds; ``make ablation`` runs both). This module only reads
the jobs' ``result.json`` files and writes the table next to the seed's predictions, with a
verdict that says when a difference is within the seed-to-seed noise.
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from seg_f1.io import write_atomically
from seg_f1.results import RESULT_FILE, read_result
from seg_f1.sweep_report import mean_std, parse_overrides

# (experiment, label, the seed's predicted val F1 or gain)
ROWS = [
    ("ablation/ce", "CE only", "0.65"),
    ("ablation/ce_dice05", "CE + 0.5·Dice", "0.70"),
    ("ablation/ce_dice10", "CE + 1.0·Dice", "0.73"),
    ("ablation/ce_dice05_median_freq", "CE + 0.5·Dice + median-freq weights", "+3–5%"),
    ("ablation/focal_dice05", "Focal + 0.5·Dice", "+4–6%"),
    ("ablation/ce_tversky03_07", "CE + 0.5·Tversky(0.3, 0.7)", "—"),
    ("ablation/ce_lovasz", "0.5·CE + 0.5·Lovasz", "—"),
]
BASELINE = "ablation/ce"
# the seed's relative predictions (+3–5%, +4–6%) are gains over its own CE + 0.5·Dice setup
SEED_SETUP = "ablation/ce_dice05"
SMALLEST = 5
NOT_BUDGET = ("experiment", "seed", "hparams_search", "hydra", "paths", "~")


@dataclass
class Runs:
    """The finished seeds of one configuration."""

    test_f1: list[float]
    val_f1: list[float]
    per_class: dict[str, list[float]]
    wall_s: list[float]

    @property
    def mean(self) -> float:
        return mean_std(self.test_f1)[0]

    @property
    def std(self) -> float:
        return mean_std(self.test_f1)[1]

    @property
    def sem(self) -> float:
        """Standard error of the mean, for the noise verdict."""
        return self.std / math.sqrt(len(self.test_f1))


# (config key, how the report names it): the budget every run shared, read from a job's config
BUDGET_KEYS = [
    ("data.image_size", "image size (px)"),
    ("data.source.num_train", "training images"),
    ("data.batch_size", "batch size"),
    ("trainer.max_epochs", "epochs"),
    ("trainer.limit_train_batches", "training batches per epoch"),
    ("model.arch", "architecture"),
    ("model.encoder_name", "encoder"),
    ("model.encoder_weights", "encoder weights"),
    ("optimizer.lr", "learning rate"),
]


def budget_table(job_dir: Path) -> list[str]:
    """The budget as resolved in one finished job's ``.hydra/config.yaml``, so the report says
    what the runs were, not only what was overridden; empty when that file is missing."""
    path = job_dir / ".hydra" / "config.yaml"
    if not path.is_file():
        return []
    config = OmegaConf.load(path)
    rows = []
    for key, label in BUDGET_KEYS:
        value = OmegaConf.select(config, key, default="—", throw_on_resolution_failure=False)
        if key == "trainer.limit_train_batches" and value == "—":
            value = "all"
        elif value is None:
            value = "null"
        rows.append(f"| {label} | `{value}` |")
    return ["| budget | value |", "|---|---|", *rows, ""]


@dataclass
class Sweep:
    """What the report needs from a multirun directory, read in one pass over its results."""

    runs: dict[str, Runs]
    pixels: dict[str, float]  # mean target pixel count per class
    budget: list[str]  # the overrides every finished run shared, as typed
    unfinished: list[str]  # one line per run that failed, was interrupted or is still running
    first_job: Path | None  # a finished job's directory, for its resolved config
    span_s: float  # wall clock from the first job's start to the last job's end


def load(multirun_dir: Path) -> Sweep:
    """Every job's ``result.json``, once. Each is written when its job ends and records how long
    the job ran, so the files' times give the sweep's wall-clock span."""
    runs: dict[str, Runs] = {}
    pixels: dict[str, list[float]] = defaultdict(list)
    budgets: list[list[str]] = []
    unfinished = []
    first_job = None
    starts, ends = [], []
    for path in sorted(multirun_dir.rglob(RESULT_FILE)):
        data = read_result(path)
        end = path.stat().st_mtime
        starts.append(end - (data.get("wall_time_s") or 0.0))
        ends.append(end)
        params = parse_overrides(data.get("overrides", []))
        run = f"{params.get('experiment', '?')} seed {params.get('seed')}"
        if data.get("status") != "ok" or data.get("test_f1") is None:
            error = (data.get("error") or "").splitlines()
            unfinished.append(f"{run}: {data.get('status')} {error[0] if error else ''}".strip())
            continue
        first_job = first_job or path.parent
        budgets.append([o for o in data["overrides"] if not o.lstrip("+").startswith(NOT_BUDGET)])
        group = runs.setdefault(params.get("experiment", "?"), Runs([], [], defaultdict(list), []))
        group.test_f1.append(data["test_f1"])
        group.val_f1.append(data["best"])
        group.wall_s.append(data.get("wall_time_s") or 0.0)
        for name, value in (data.get("per_class_f1") or {}).items():
            if value is not None:
                group.per_class[name].append(value)
        for name, count in (data.get("class_pixels") or {}).items():
            pixels[name].append(count)
    shared = [o for o in budgets[0] if all(o in b for b in budgets)] if budgets else []
    return Sweep(
        runs=runs,
        pixels={k: statistics.fmean(v) for k, v in pixels.items()},
        budget=shared,
        unfinished=unfinished,
        first_job=first_job,
        span_s=max(ends) - min(starts) if ends else 0.0,
    )


def smallest_classes(pixels: dict[str, float], count: int = SMALLEST) -> list[str]:
    """The foreground classes with the fewest target pixels (present ones only)."""
    present = {name: n for name, n in pixels.items() if n > 0 and name != "background"}
    return sorted(present, key=present.get)[:count]


def verdict(row: Runs, base: Runs) -> str:
    """Better/worse when the gap exceeds twice its standard error, else within noise."""
    gap = row.mean - base.mean
    noise = 2 * math.sqrt(row.sem**2 + base.sem**2)
    if len(row.test_f1) < 2 or len(base.test_f1) < 2:
        return "one seed: no verdict"
    if abs(gap) <= noise:
        return f"within noise (±{noise:.4f})"
    return "better" if gap > 0 else "worse"


def summary(runs: dict[str, Runs], base: Runs | None) -> str:
    """One sentence on what separated from CE only, so the table cannot be over-read."""
    if base is None:
        return "CE only did not finish, so there is no baseline to compare with."
    verdicts = {label: verdict(runs[e], base) for e, label, _ in ROWS[1:] if e in runs}
    better = [label for label, v in verdicts.items() if v == "better"]
    worse = [label for label, v in verdicts.items() if v == "worse"]
    if not better and not worse:
        return (
            "**At this budget no configuration differs from CE only by more than the "
            "seed-to-seed noise**: the seed's predicted gains are not reproduced here."
        )
    parts = []
    if better:
        parts.append("better than CE only beyond noise: " + ", ".join(better))
    if worse:
        parts.append("worse than CE only beyond noise: " + ", ".join(worse))
    text = "; ".join(parts)
    within = [label for label, v in verdicts.items() if v.startswith("within noise")]
    rest = f" Within noise of CE only: {', '.join(within)}." if within else ""
    return f"**{text[0].upper()}{text[1:]}.**{rest}"


def against_seed_setup(runs: dict[str, Runs]) -> list[str]:
    """The rows the seed predicted as relative gains, measured against CE + 0.5·Dice."""
    setup = runs.get(SEED_SETUP)
    rows = [(e, label, p) for e, label, p in ROWS if p.startswith("+") and e in runs]
    if setup is None or not rows or not setup.mean:
        return []
    lines = [
        "## The seed's relative predictions, against CE + 0.5·Dice",
        "",
        "| configuration | gain over CE + 0.5·Dice | verdict | seed's prediction |",
        "|---|---|---|---|",
    ]
    for experiment, label, predicted in rows:
        points = runs[experiment].mean - setup.mean
        lines.append(
            f"| {label} | {points:+.4f} ({points / setup.mean:+.1%}) | "
            f"{verdict(runs[experiment], setup)} | {predicted} |"
        )
    return [*lines, ""]


def render(multirun_dir: Path) -> str:
    sweep = load(multirun_dir)
    runs, pixels, budget, unfinished = sweep.runs, sweep.pixels, sweep.budget, sweep.unfinished
    if not runs:
        raise FileNotFoundError(f"ablation: no finished {RESULT_FILE} under {multirun_dir}")
    base = runs.get(BASELINE)
    small = smallest_classes(pixels)
    wall = sum(sum(r.wall_s) for r in runs.values())
    lines = [
        "# The seed's loss table, measured",
        "",
        f"Generated by `python -m seg_f1.ablation {multirun_dir}` from the jobs of "
        "`python train.py -m hparams_search=ablation` (`make ablation`).",
        "",
        f"**Budget** (the same for every run): `{' '.join(budget) or 'the defaults'}`, on top of "
        f"`conf/config.yaml`. {sum(len(r.test_f1) for r in runs.values())} finished runs took "
        f"{wall / 60:.1f} min of training in total, {sweep.span_s / 60:.1f} min of wall clock "
        "from the first job's start to the last one's end.",
        "",
        *(budget_table(sweep.first_job) if sweep.first_job else []),
        "Test F1 is the mean over the foreground classes of one confusion matrix accumulated "
        "over the test split, for the best-val-F1 checkpoint; mean ± std over seeds. The verdict "
        "calls a gap noise unless it exceeds twice its standard error. The seed's "
        "numbers were predictions for a real dataset at full budget, not measurements; they are "
        "shown only for comparison.",
        "",
        "| configuration | test F1 (mean ± std) | seeds | val F1 | gain over CE only | "
        "verdict vs CE only | seed's prediction |",
        "|---|---|---|---|---|---|---|",
    ]
    for experiment, label, predicted in ROWS:
        row = runs.get(experiment)
        if row is None:
            lines.append(f"| {label} | not run | 0 | | | | {predicted} |")
            continue
        gain = verdict_text = ""
        if base is not None and experiment != BASELINE:
            points = row.mean - base.mean
            gain = f"{points:+.4f} ({points / base.mean:+.1%})" if base.mean else f"{points:+.4f}"
            verdict_text = verdict(row, base)
        lines.append(
            f"| {label} | {row.mean:.4f} ± {row.std:.4f} | {len(row.test_f1)} | "
            f"{statistics.fmean(row.val_f1):.4f} | {gain} | {verdict_text} | {predicted} |"
        )
    lines += ["", summary(runs, base), ""]
    lines += against_seed_setup(runs)
    lines += [f"## Test F1 of the {len(small)} smallest classes (mean over seeds)", ""]
    lines += ["| configuration | " + " | ".join(small) + " |", "|---|" + "---|" * len(small)]
    for experiment, label, _ in ROWS:
        row = runs.get(experiment)
        if row is not None:
            cells = [_mean(row.per_class.get(name, [])) for name in small]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    share = sum(pixels.values()) or 1.0
    sizes = ", ".join(f"{name} {pixels[name] / share:.2%}" for name in small)
    lines += ["", f"Their share of the test pixels: {sizes}.", ""]
    if unfinished:
        lines += ["## Runs without a result", "", *(f"- {run}" for run in unfinished), ""]
    return "\n".join(lines)


def _mean(values: list[float]) -> str:
    return f"{statistics.fmean(values):.4f}" if values else "—"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m seg_f1.ablation", description=__doc__)
    parser.add_argument("multirun_dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/ablation.md"))
    args = parser.parse_args(argv)
    if not args.multirun_dir.is_dir():
        parser.exit(2, f"ablation: no such multirun directory {args.multirun_dir}\n")
    text = render(args.multirun_dir)
    write_atomically(args.out, lambda tmp: tmp.write_text(text))
    print(text)


if __name__ == "__main__":
    main()
