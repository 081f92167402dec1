"""The loss table's numbers: every job of ``python train.py -m hparams_search=ablation`` read once
(its ``result.json`` and ``metrics.csv``), and paired differences over seeds with a t-interval.

Runs with the same seed share their data order and initial weights, so comparing two
configurations seed by seed removes most of the run-to-run noise; the interval on the pairs says
what is left."""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from seg_f1.report.jobs import parse_overrides
from seg_f1.runs.results import RESULT_FILE, read_result

# (experiment, label), in the order of the table
ROWS = [
    ("ablation/ce", "CE only"),
    ("ablation/ce_dice05", "CE + 0.5·Dice"),
    ("ablation/ce_dice10", "CE + 1.0·Dice"),
    ("ablation/ce_dice05_median_freq", "CE + 0.5·Dice + median-freq weights"),
    ("ablation/focal_dice05", "Focal + 0.5·Dice"),
    ("ablation/ce_tversky03_07", "CE + 0.5·Tversky(0.3, 0.7)"),
    ("ablation/ce_lovasz", "0.5·CE + 0.5·Lovasz"),
]
LABELS = dict(ROWS)
CE_ONLY = "ablation/ce"
CE_DICE = "ablation/ce_dice05"
REFERENCES = (CE_ONLY, CE_DICE)
EARLY_EPOCH = 4
SMALLEST = 5
CONFIDENCE = 0.95
NOT_BUDGET = ("experiment", "seed", "hparams_search", "hydra", "paths", "~")


@dataclass(frozen=True)
class Expectation:
    """A gain the training-objective note expects on a real face-parsing set at full budget."""

    experiment: str
    reference: str
    stated: str  # as the note states it
    low: float  # expected relative gain over the reference, as a fraction
    high: float


# CE 0.65 -> +0.5 Dice 0.70 -> +1.0 Dice 0.73 val F1; class weights +3-5%; Focal +4-6%, the
# last two over CE + 0.5·Dice
EXPECTATIONS = [
    Expectation(
        "ablation/ce_dice05", CE_ONLY, "0.65 → 0.70 val F1", 0.70 / 0.65 - 1, 0.70 / 0.65 - 1
    ),
    Expectation(
        "ablation/ce_dice10", CE_DICE, "0.70 → 0.73 val F1", 0.73 / 0.70 - 1, 0.73 / 0.70 - 1
    ),
    Expectation("ablation/ce_dice05_median_freq", CE_DICE, "+3–5%", 0.03, 0.05),
    Expectation("ablation/focal_dice05", CE_DICE, "+4–6%", 0.04, 0.06),
]


@dataclass
class Job:
    """One finished run: its end point and its validation curve."""

    test_f1: float
    val_f1: float
    wall_s: float
    curve: dict[int, float]  # epochs completed -> val F1
    per_class: dict[str, float]
    decoded: dict | None = None  # calibration.json's report split: F1 with argmax and tuned


@dataclass
class Sweep:
    """What the report needs from a multirun directory, read in one pass over its results."""

    jobs: dict[str, dict[int, Job]]  # experiment -> seed -> job
    seeds: list[int]  # every seed any job was started with
    pixels: dict[str, float]  # mean target pixel count per class
    budget: list[str]  # the overrides every finished run shared, as typed
    unfinished: list[str] = field(default_factory=list)  # one line per run without a result
    first_job: Path | None = None  # a finished job's directory, for its resolved config
    span_s: float = 0.0  # wall clock from the first job's start to the last job's end


def read_curve(job_dir: Path) -> dict[int, float]:
    """``val/f1`` per completed epoch from a job's ``metrics.csv`` (the last row of an epoch
    wins, so a resumed run's repeated rows count once)."""
    path = job_dir / "metrics.csv"
    if not path.is_file():
        return {}
    curve = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get("val/f1") and row.get("epoch"):
                curve[int(float(row["epoch"])) + 1] = float(row["val/f1"])
    return curve


def read_decoding(job_dir: Path) -> dict | None:
    """The job's ``calibration.json`` test scores (argmax and tuned offsets, one pass) with the
    share of the tuned offsets kept; None when the job was not calibrated."""
    path = job_dir / "calibration.json"
    if not path.is_file():
        return None
    record = read_result(path)
    split = record.get("reported_on")
    if split not in record:
        return None
    return {**record[split], "kept_share": record.get("kept_share")}


def load(multirun_dir: Path) -> Sweep:
    """Every job's ``result.json``, once. Each is written when its job ends and records how long
    the job ran, so the files' times give the sweep's wall-clock span."""
    sweep = Sweep(jobs=defaultdict(dict), seeds=[], pixels={}, budget=[])
    pixels: dict[str, list[float]] = defaultdict(list)
    budgets: list[list[str]] = []
    starts, ends = [], []
    for path in sorted(multirun_dir.rglob(RESULT_FILE)):
        data = read_result(path)
        ends.append(path.stat().st_mtime)
        starts.append(ends[-1] - (data.get("wall_time_s") or 0.0))
        params = parse_overrides(data.get("overrides", []))
        experiment, seed = params.get("experiment", "?"), int(params.get("seed", -1))
        sweep.seeds.append(seed)
        if data.get("status") != "ok" or data.get("test_f1") is None:
            error = (data.get("error") or "").splitlines()
            line = f"{experiment} seed {seed}: {data.get('status')} {error[0] if error else ''}"
            sweep.unfinished.append(line.strip())
            continue
        sweep.first_job = sweep.first_job or path.parent
        budgets.append([o for o in data["overrides"] if not o.lstrip("+").startswith(NOT_BUDGET)])
        per_class = {k: v for k, v in (data.get("per_class_f1") or {}).items() if v is not None}
        sweep.jobs[experiment][seed] = Job(
            test_f1=data["test_f1"],
            val_f1=data["best"],
            wall_s=data.get("wall_time_s") or 0.0,
            curve=read_curve(path.parent),
            per_class=per_class,
            decoded=read_decoding(path.parent),
        )
        for name, count in (data.get("class_pixels") or {}).items():
            pixels[name].append(count)
    sweep.seeds = sorted(set(sweep.seeds))
    sweep.pixels = {k: statistics.fmean(v) for k, v in pixels.items()}
    sweep.budget = [o for o in budgets[0] if all(o in b for b in budgets)] if budgets else []
    sweep.span_s = max(ends) - min(starts) if ends else 0.0
    return sweep


@dataclass(frozen=True)
class PairedDifference:
    """Mean of ``a - b`` over the seeds both finished, with a t-interval on those pairs."""

    mean: float
    low: float
    high: float
    pairs: int

    def verdict(self, ahead: str, behind: str) -> str:
        if self.low > 0:
            return ahead
        if self.high < 0:
            return behind
        return "within noise"


def paired_difference(a: dict[int, float], b: dict[int, float]) -> PairedDifference | None:
    """``None`` with fewer than two common seeds: one pair has no spread to judge noise by."""
    from scipy.stats import t

    seeds = sorted(a.keys() & b.keys())
    if len(seeds) < 2:
        return None
    diffs = [a[s] - b[s] for s in seeds]
    mean = statistics.fmean(diffs)
    half = t.ppf(0.5 + CONFIDENCE / 2, len(diffs) - 1) * statistics.stdev(diffs) / len(diffs) ** 0.5
    return PairedDifference(mean, mean - half, mean + half, len(diffs))


def end_points(jobs: dict[int, Job]) -> dict[int, float]:
    return {seed: job.test_f1 for seed, job in jobs.items()}


def early_points(jobs: dict[int, Job], epoch: int) -> dict[int, float]:
    return {seed: job.curve[epoch] for seed, job in jobs.items() if epoch in job.curve}


def smallest_classes(pixels: dict[str, float], count: int = SMALLEST) -> list[str]:
    """The foreground classes with the fewest target pixels (present ones only)."""
    present = {name: n for name, n in pixels.items() if n > 0 and name != "background"}
    return sorted(present, key=present.get)[:count]


def missing_seeds(sweep: Sweep) -> list[str]:
    """Seeds a configuration lacks: reported, never averaged over silently."""
    lines = []
    for experiment, label in ROWS:
        have = sweep.jobs.get(experiment, {})
        lacking = [str(seed) for seed in sweep.seeds if seed not in have]
        if have and lacking:
            lines.append(f"- {label}: no finished run for seed {', '.join(lacking)}")
    return lines
