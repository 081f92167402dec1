"""The loss table's decoding section: test F1 with argmax and with per-class offsets tuned for F1
on val (each job's ``calibration.json``), the paired gain of the tuned rule, what remains of the
gaps between losses once every run decides for F1, and the effect on the smallest classes."""

from __future__ import annotations

import statistics

from seg_f1.report.tables import markdown_lines, text_table
from seg_f1.sweeps.ablation import (
    CE_ONLY,
    CONFIDENCE,
    LABELS,
    ROWS,
    Job,
    PairedDifference,
    Sweep,
    paired_difference,
    smallest_classes,
)

# the comparisons the loss table exists for, asked again under the tuned decision rule
GAPS = [
    ("ablation/ce_dice05", CE_ONLY),
    ("ablation/ce_dice10", CE_ONLY),
    ("ablation/focal_dice05", CE_ONLY),
    ("ablation/focal_dice05", "ablation/ce_dice05"),
]


def decoded(jobs: dict[int, Job], rule: str) -> dict[int, float]:
    return {seed: job.decoded[rule] for seed, job in jobs.items() if job.decoded}


def interval(diff: PairedDifference | None) -> str:
    if diff is None:
        return "—"
    return f"{diff.mean:+.4f} [{diff.low:+.4f}, {diff.high:+.4f}]"


def verdict(diff: PairedDifference | None, ahead: str, behind: str) -> str:
    return "—" if diff is None else diff.verdict(f"**{ahead}**", f"**{behind}**")


def gain_table(sweep: Sweep) -> list[str]:
    rows = []
    for experiment, label in ROWS:
        jobs = sweep.jobs.get(experiment, {})
        argmax, tuned = decoded(jobs, "argmax"), decoded(jobs, "f1")
        if not argmax:
            continue
        diff = paired_difference(tuned, argmax)
        shares = [job.decoded["kept_share"] for job in jobs.values() if job.decoded]
        rows.append([
            label, f"{statistics.fmean(argmax.values()):.4f}",
            f"{statistics.fmean(tuned.values()):.4f}", interval(diff),
            verdict(diff, "better", "worse"), f"{statistics.fmean(shares):.2f}",
        ])  # fmt: skip
    header = ["configuration", "test F1, argmax", "test F1, tuned offsets",
              "tuned − argmax (paired)", "verdict", "share of the offsets kept"]  # fmt: skip
    return [*markdown_lines(text_table(header, rows)), ""]


def gap_table(sweep: Sweep) -> list[str]:
    rows = []
    for better, base in GAPS:
        a, b = sweep.jobs.get(better, {}), sweep.jobs.get(base, {})
        gaps = {
            rule: paired_difference(decoded(a, rule), decoded(b, rule)) for rule in ("argmax", "f1")
        }
        if gaps["argmax"] is None or gaps["f1"] is None:
            continue
        left = gaps["f1"].mean / gaps["argmax"].mean if gaps["argmax"].mean else float("nan")
        rows.append([
            f"{LABELS[better]} − {LABELS[base]}", interval(gaps["argmax"]),
            interval(gaps["f1"]), f"{left:.0%}",
        ])  # fmt: skip
    header = ["gap", "with argmax", "with tuned offsets on both sides", "share remaining"]
    return [*markdown_lines(text_table(header, rows)), ""]


def small_class_table(sweep: Sweep) -> list[str]:
    small = smallest_classes(sweep.pixels)
    rows = []
    for experiment, label in ROWS:
        runs = [j.decoded for j in sweep.jobs.get(experiment, {}).values() if j.decoded]
        cells = []
        for name in small:
            pairs = [(run["per_class"][name]["f1"], run["per_class"][name]["argmax"])
                     for run in runs if name in run.get("per_class", {})]  # fmt: skip
            pairs = [(t, a) for t, a in pairs if t == t and a == a]  # NaN: class absent
            cells.append(f"{statistics.fmean(t - a for t, a in pairs):+.4f}" if pairs else "—")
        if runs:
            rows.append([label, *cells])
    return [*markdown_lines(text_table(["configuration", *small], rows)), ""]


def decoding_section(sweep: Sweep) -> list[str]:
    """Empty when no job has a ``calibration.json``."""
    if not any(job.decoded for jobs in sweep.jobs.values() for job in jobs.values()):
        return []
    return [
        "## Decoding for F1: argmax against per-class offsets tuned on val",
        "",
        "Argmax is the rule that maximises pixel accuracy; for F1 the optimal rule weights the "
        "classes, `argmax(log p + b)`. Each run's offsets `b` were tuned on its validation split "
        "(`python -m seg_f1.calibrate`, or `calibrate=true` at the end of training), keeping the "
        "share of them that held up on held-out validation images, and scored on the test split "
        "with both rules in one pass (so the argmax column is that pass's, in float32). Gains "
        f"are paired by run, with {CONFIDENCE:.0%} t-intervals over seeds.",
        "",
        *gain_table(sweep),
        "### Once every run decides for F1, how much of the gap between losses remains?",
        "",
        *gap_table(sweep),
        "### Tuned − argmax test F1 of the smallest classes (mean over seeds)",
        "",
        *small_class_table(sweep),
    ]
