"""The loss table as a person reads it: ``docs/ablation.md`` (end points, paired verdicts against
CE only and CE + 0.5·Dice, the reference expectations, the smallest classes) and the val-F1 curves
figure."""

from __future__ import annotations

import statistics
from pathlib import Path

from omegaconf import OmegaConf

from seg_f1.report.figures import mean_band_figure
from seg_f1.report.jobs import mean_std
from seg_f1.report.tables import markdown_lines, text_table
from seg_f1.runs.results import RESULT_FILE
from seg_f1.sweeps.ablation import (
    CONFIDENCE,
    EARLY_EPOCH,
    EXPECTATIONS,
    LABELS,
    REFERENCES,
    ROWS,
    Expectation,
    Job,
    PairedDifference,
    Sweep,
    early_points,
    end_points,
    missing_seeds,
    paired_difference,
    smallest_classes,
)
from seg_f1.sweeps.ablation_decoding import decoding_section

CURVE_AXES = {
    "xlabel": "epoch",
    "ylabel": "val F1 (mean over foreground classes)",
    "title": "Loss ablation: val F1 per epoch, mean ± 1 sd over seeds",
}


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
        *decoding_section(sweep),
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
