"""``python -m seg_f1.ablation <multirun_dir> --out docs/ablation.md``: which loss gives the best
F1, and which one gets there faster.

The sweep itself is ``python train.py -m hparams_search=ablation`` (7 loss configurations of
``conf/experiment/ablation/`` x the same seeds for each; ``make ablation`` runs both). This module
only reads the jobs' ``result.json`` and ``metrics.csv`` files. Every configuration is compared
with CE only and with CE + 0.5·Dice twice: at an early epoch (val F1, is it faster?) and at the
end (test F1 of the best checkpoint, is it better?). Runs with the same seed share their data
order and initial weights, so each comparison is a paired difference over seeds, with a 95%
t-interval on the pairs.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from seg_f1.report.figures import mean_band_figure
from seg_f1.report.files import save_figure, save_text
from seg_f1.report.jobs import mean_std, parse_overrides
from seg_f1.report.tables import markdown_lines, text_table
from seg_f1.results import RESULT_FILE, read_result

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
CURVE_AXES = {
    "xlabel": "epoch",
    "ylabel": "val F1 (mean over foreground classes)",
    "title": "Loss ablation: val F1 per epoch, mean ± 1 sd over seeds",
}


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


def _cell(diff: PairedDifference | None, ahead: str, behind: str) -> str:
    if diff is None:
        return "fewer than 2 paired seeds"
    verdict = diff.verdict(ahead, behind)
    return f"{diff.mean:+.4f} [{diff.low:+.4f}, {diff.high:+.4f}] **{verdict}**"


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
        rows.append([label, f"`{value}`"])
    return [*markdown_lines(text_table(["budget", "value"], rows)), ""]


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


def end_table(sweep: Sweep) -> list[str]:
    header = ["configuration", "test F1 (mean ± std)", "seeds", "best val F1",
              "training time per run"]  # fmt: skip
    rows = []
    for experiment, label in ROWS:
        jobs = sweep.jobs.get(experiment, {})
        if not jobs:
            rows.append([label, "not run", f"0 of {len(sweep.seeds)}", None, None])
            continue
        mean, std = mean_std([job.test_f1 for job in jobs.values()])
        val = statistics.fmean(job.val_f1 for job in jobs.values())
        wall = statistics.fmean(job.wall_s for job in jobs.values())
        rows.append([label, f"{mean:.4f} ± {std:.4f}", f"{len(jobs)} of {len(sweep.seeds)}",
                     f"{val:.4f}", f"{wall:.0f} s"])  # fmt: skip
    return [*markdown_lines(text_table(header, rows)), ""]


def verdict_table(sweep: Sweep, reference: str, early_epoch: int) -> list[str]:
    """Paired differences against one reference, early (val F1) and at the end (test F1)."""
    base = sweep.jobs.get(reference, {})
    lines = [f"### Against {LABELS[reference]}", ""]
    if not base:
        return [*lines, f"{LABELS[reference]} has no finished run: no comparison.", ""]
    header = ["configuration", f"val F1 after epoch {early_epoch}: faster?",
              "test F1 at the end: better?"]  # fmt: skip
    rows = []
    for experiment, label in ROWS:
        jobs = sweep.jobs.get(experiment, {})
        if experiment == reference or not jobs:
            continue
        early = paired_difference(early_points(jobs, early_epoch), early_points(base, early_epoch))
        end = paired_difference(end_points(jobs), end_points(base))
        rows.append([label, _cell(early, "faster", "slower"), _cell(end, "better", "worse")])
    return [*lines, *markdown_lines(text_table(header, rows)), ""]


def expectation_table(sweep: Sweep) -> list[str]:
    """The note's expected gains beside the measured paired gain at the end point."""
    header = ["configuration", "against", "expected (reference, not measured here)",
              "measured gain at the end", "held?"]  # fmt: skip
    rows = []
    for expectation in EXPECTATIONS:
        jobs, base = (
            sweep.jobs.get(e, {}) for e in (expectation.experiment, expectation.reference)
        )
        diff = paired_difference(end_points(jobs), end_points(base)) if jobs and base else None
        labels = [LABELS[expectation.experiment], LABELS[expectation.reference]]
        rows.append(
            [*labels, expectation.stated, _relative(diff, base), _held(expectation, diff, base)]
        )
    return [*markdown_lines(text_table(header, rows)), ""]


def _relative(diff: PairedDifference | None, base: dict[int, Job]) -> str:
    if diff is None:
        return "not measured"
    scale = statistics.fmean(job.test_f1 for job in base.values())
    return (
        f"{diff.mean:+.4f} ({diff.mean / scale:+.1%}), 95% CI [{diff.low:+.4f}, {diff.high:+.4f}]"
    )


def _held(expectation: Expectation, diff: PairedDifference | None, base: dict[int, Job]) -> str:
    """Held: the gain is positive beyond noise. Its size agrees with the expected one when the
    expected range overlaps the measured interval (both relative to the reference)."""
    if diff is None:
        return "not measured"
    if diff.low <= 0:
        return "**no**: " + ("a loss beyond noise" if diff.high < 0 else "within noise")
    scale = statistics.fmean(job.test_f1 for job in base.values())
    if diff.high / scale < expectation.low:
        size = "smaller than expected"
    elif diff.low / scale > expectation.high:
        size = "larger than expected"
    else:
        size = "of the expected size"
    return f"**yes**, {size}"


def smallest_table(sweep: Sweep) -> list[str]:
    small = smallest_classes(sweep.pixels)
    rows = []
    for experiment, label in ROWS:
        jobs = sweep.jobs.get(experiment, {})
        if jobs:
            cells = [
                _mean([j.per_class[n] for j in jobs.values() if n in j.per_class]) for n in small
            ]
            rows.append([label, *cells])
    share = sum(sweep.pixels.values()) or 1.0
    sizes = ", ".join(f"{name} {sweep.pixels[name] / share:.2%}" for name in small)
    return [
        f"## Test F1 of the {len(small)} smallest classes at the end (mean over seeds)",
        "",
        *markdown_lines(text_table(["configuration", *small], rows)),
        "",
        f"Their share of the test pixels: {sizes}.",
        "",
    ]


def missing_seeds(sweep: Sweep) -> list[str]:
    """Seeds a configuration lacks: reported, never averaged over silently."""
    lines = []
    for experiment, label in ROWS:
        have = sweep.jobs.get(experiment, {})
        lacking = [str(seed) for seed in sweep.seeds if seed not in have]
        if have and lacking:
            lines.append(f"- {label}: no finished run for seed {', '.join(lacking)}")
    return lines


def render(
    sweep: Sweep, multirun_dir: Path, early_epoch: int = EARLY_EPOCH, curves_png: str = ""
) -> str:
    if not sweep.jobs:
        raise FileNotFoundError(f"ablation: no finished {RESULT_FILE} under {multirun_dir}")
    wall = sum(job.wall_s for jobs in sweep.jobs.values() for job in jobs.values())
    runs = sum(len(jobs) for jobs in sweep.jobs.values())
    lines = [
        "# Which loss maximises F1? The loss table, measured",
        "",
        f"Generated by `python -m seg_f1.ablation {multirun_dir}` from the jobs of "
        "`python train.py -m hparams_search=ablation` (`make ablation`).",
        "",
        f"**Budget** (the same for every run): `{' '.join(sweep.budget) or 'the defaults'}`, on "
        f"top of `conf/config.yaml`. Seeds {', '.join(map(str, sweep.seeds))}, the same for every "
        f"configuration so that comparisons are paired. {runs} finished runs took "
        f"{wall / 60:.1f} min of training in total, {sweep.span_s / 60:.1f} min of wall clock "
        "from the first job's start to the last one's end.",
        "",
        *(budget_table(sweep.first_job) if sweep.first_job else []),
        "Test F1 is the mean over the foreground classes of one confusion matrix accumulated "
        "over the test split, for the best-val-F1 checkpoint.",
        "",
        *end_table(sweep),
    ]
    if curves_png:
        lines += [f"![val F1 per epoch, mean ± 1 sd over seeds]({curves_png})", ""]
    lines += [
        "## Faster or better? Paired differences over seeds",
        "",
        f"Each cell is the mean over seeds of (configuration − reference) with its "
        f"{CONFIDENCE:.0%} t-interval on the paired differences (Student's t with pairs − 1 "
        "degrees of freedom; with 3 seeds that is 2, so the interval is wide). A verdict other "
        f"than *within noise* means the interval excludes 0. *Faster* compares val F1 after "
        f"epoch {early_epoch}; *better* compares the end point's test F1.",
        "",
    ]
    for reference in REFERENCES:
        lines += verdict_table(sweep, reference, early_epoch)
    lines += [
        "## The reference expectations, against the measurements",
        "",
        "The training-objective note this project follows expects, on a real face-parsing "
        "set at full budget: CE 0.65, CE + 0.5·Dice 0.70, CE + 1.0·Dice 0.73 val F1; "
        "median-frequency class weights +3–5% and Focal + Dice +4–6% over CE + 0.5·Dice. "
        "These are expectations, not measurements. An expectation *held* here when the "
        "measured paired gain at the end is positive with its interval above 0.",
        "",
        *expectation_table(sweep),
        *smallest_table(sweep),
    ]
    lacking = missing_seeds(sweep)
    if sweep.unfinished or lacking:
        lines += ["## Runs without a result", ""]
        lines += [*(f"- {run}" for run in sweep.unfinished), *lacking, ""]
    return "\n".join(lines)


def curves_figure(sweep: Sweep):
    """``val/f1`` per epoch for every configuration: mean over seeds with a ±1 sd band."""
    series = []
    for experiment, label in ROWS:
        jobs = sweep.jobs.get(experiment, {})
        epochs = sorted({e for job in jobs.values() for e in job.curve})
        if not epochs:
            continue
        points = [[j.curve[e] for j in jobs.values() if e in j.curve] for e in epochs]
        spreads = [mean_std(p) for p in points]
        series.append((f"{label} (n={len(jobs)})", epochs, *zip(*spreads, strict=True)))
    return mean_band_figure(series, CURVE_AXES)


def _mean(values: list[float]) -> str:
    return f"{statistics.fmean(values):.4f}" if values else "—"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m seg_f1.ablation", description=__doc__)
    parser.add_argument("multirun_dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/ablation.md"))
    parser.add_argument(
        "--curves", type=Path, default=None, help="default: img/ablation_curves.png beside --out"
    )
    parser.add_argument("--early-epoch", type=int, default=EARLY_EPOCH)
    args = parser.parse_args(argv)
    if not args.multirun_dir.is_dir():
        parser.exit(2, f"ablation: no such multirun directory {args.multirun_dir}\n")
    if args.early_epoch < 1:
        parser.exit(2, f"ablation: --early-epoch must be >= 1, got {args.early_epoch}\n")
    sweep = load(args.multirun_dir)
    curves = args.curves or args.out.parent / "img" / "ablation_curves.png"
    save_figure(curves_figure(sweep), curves)
    link = os.path.relpath(curves.resolve(), args.out.parent.resolve())
    text = render(sweep, args.multirun_dir, args.early_epoch, curves_png=link)
    save_text(text, args.out)
    print(text)


if __name__ == "__main__":
    main()
