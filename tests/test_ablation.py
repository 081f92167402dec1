"""The loss ablation report on hand-made job trees: paired t-intervals, the two verdicts,
learning curves from metrics.csv, and missing seeds reported rather than averaged over."""

from __future__ import annotations

import json
import os
import statistics

import pytest
import yaml
from test_sweep_report import write_job

from seg_f1.ablation import main
from seg_f1.sweeps.ablation import load, paired_difference
from seg_f1.sweeps.ablation_report import curves_figure, render

T_975_DF2 = 4.302653  # Student's t, 97.5% quantile, 2 degrees of freedom (3 pairs)
PIXELS = {"background": 1000, "skin": 500, "nose": 20, "l_eye": 5, "r_eye": 6, "hat": 10,
          "neck_l": 0, "cloth": 50, "hair": 300}  # fmt: skip
# experiment -> (test F1 per seed 0, 1, 2; val F1 after epoch 4 per seed)
RUNS = {
    "ce": ([0.40, 0.42, 0.44], [0.30, 0.31, 0.35]),
    "ce_dice05": ([0.50, 0.53, 0.54], [0.40, 0.40, 0.46]),
    "focal_dice05": ([0.41, 0.45, 0.43], [0.45, 0.47, 0.49]),
}


def write_metrics(job_dir, epoch4: float, epochs: int = 6) -> None:
    """Lightning's CSV layout: train and val rows per epoch; val F1 rises to ``epoch4`` at the
    fourth completed epoch (epoch column 3) and by 0.01 per epoch after it."""
    lines = ["epoch,step,train/loss,val/f1"]
    for epoch in range(epochs):
        lines.append(f"{epoch},{10 * epoch + 9},1.0,")
        lines.append(f"{epoch},{10 * epoch + 9},,{epoch4 + 0.01 * (epoch - 3):.4f}")
    (job_dir / "metrics.csv").write_text("\n".join(lines) + "\n")


@pytest.fixture
def sweep_dir(tmp_path):
    root = tmp_path / "multirun"
    job = 0
    budget = ["data.image_size=48", "trainer.max_epochs=6", "hydra.sweep.dir=x"]
    for name, (tests, early) in RUNS.items():
        for seed, (test_f1, epoch4) in enumerate(zip(tests, early, strict=True)):
            overrides = [f"experiment=ablation/{name}", f"seed={seed}", *budget]
            per_class = {cls: test_f1 for cls in PIXELS if cls != "neck_l"}
            write_job(root, str(job), overrides, best=test_f1 + 0.01, test_f1=test_f1,
                      per_class_f1=per_class, class_pixels=PIXELS, wall_time_s=100.0)  # fmt: skip
            write_metrics(root / str(job), epoch4)
            job += 1
    write_job(root, str(job), ["experiment=ablation/ce_lovasz", "seed=0", *budget],
              status="failed", best=None, error="RuntimeError: boom\nTraceback")  # fmt: skip
    for seed, test_f1 in ((1, 0.45), (2, 0.48)):
        job += 1
        overrides = ["experiment=ablation/ce_lovasz", f"seed={seed}", *budget]
        write_job(root, str(job), overrides, best=test_f1, test_f1=test_f1, class_pixels=PIXELS)
        write_metrics(root / str(job), 0.4)
    config = {"data": {"image_size": 48, "batch_size": 8}, "trainer": {"max_epochs": 6}}
    for index in range(job + 1):
        (root / str(index) / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
        os.utime(root / str(index) / "result.json", (1000.0 + 60 * index,) * 2)
    return root


def interval(diffs: list[float], t: float = T_975_DF2) -> tuple[float, float, float]:
    mean = sum(diffs) / len(diffs)
    half = t * statistics.stdev(diffs) / len(diffs) ** 0.5
    return mean, mean - half, mean + half


def test_paired_difference_is_a_t_interval_on_matched_seeds():
    diff = paired_difference({0: 0.50, 1: 0.53, 2: 0.54, 7: 0.9}, {0: 0.40, 1: 0.42, 2: 0.44})
    mean, low, high = interval([0.10, 0.11, 0.10])
    assert diff.pairs == 3  # seed 7 has no partner
    assert (diff.mean, diff.low, diff.high) == pytest.approx((mean, low, high), abs=1e-6)
    assert diff.verdict("better", "worse") == "better"
    assert paired_difference({0: 0.5}, {0: 0.4}) is None  # one pair: no spread, no verdict


def test_curves_are_read_per_completed_epoch_from_metrics_csv(sweep_dir):
    sweep = load(sweep_dir)
    ce = sweep.jobs["ablation/ce"]
    assert sorted(ce[0].curve) == [1, 2, 3, 4, 5, 6]
    assert [ce[seed].curve[4] for seed in (0, 1, 2)] == [0.30, 0.31, 0.35]
    assert ce[2].curve[6] == pytest.approx(0.37)
    assert sweep.seeds == [0, 1, 2]


def test_verdicts_early_and_at_the_end_against_both_references(sweep_dir):
    text = render(load(sweep_dir), sweep_dir)
    against_ce, against_dice = text.split("### Against CE only")[1].split("### Against CE + 0.5")
    against_dice = against_dice.split("## The reference expectations")[0]

    def cell(diffs, verdict, t=T_975_DF2):
        mean, low, high = interval(diffs, t)
        return f"{mean:+.4f} [{low:+.4f}, {high:+.4f}] **{verdict}**"

    dice_row = f"| CE + 0.5·Dice | {cell([0.10, 0.09, 0.11], 'faster')} | "
    assert dice_row + f"{cell([0.10, 0.11, 0.10], 'better')} |" in against_ce
    focal_vs_ce = cell([0.01, 0.03, -0.01], "within noise")
    assert f"| Focal + 0.5·Dice | {cell([0.15, 0.16, 0.14], 'faster')} | {focal_vs_ce} |" in (
        against_ce
    )
    focal_vs_dice = f"{cell([0.05, 0.07, 0.03], 'faster')} | {cell([-0.09, -0.08, -0.11], 'worse')}"
    assert f"| Focal + 0.5·Dice | {focal_vs_dice} |" in against_dice
    # Lovasz finished seeds 1 and 2 only: two pairs, t with 1 degree of freedom
    lovasz = cell([0.45 - 0.42, 0.48 - 0.44], "within noise", t=12.706205)
    assert lovasz in against_ce.split("| 0.5·CE + 0.5·Lovasz |")[1].splitlines()[0]


def test_expectations_are_labelled_and_judged_at_the_end_point(sweep_dir):
    text = render(load(sweep_dir), sweep_dir)
    table = text.split("## The reference expectations")[1]
    assert "These are expectations, not measurements." in table
    mean, low, high = interval([0.10, 0.11, 0.10])
    gain = f"{mean:+.4f} ({mean / 0.42:+.1%}), 95% CI [{low:+.4f}, {high:+.4f}]"
    assert f"| CE + 0.5·Dice | CE only | 0.65 → 0.70 val F1 | {gain} | **yes**, larger" in table
    assert "| CE + 1.0·Dice | CE + 0.5·Dice | 0.70 → 0.73 val F1 | not measured |" in table
    focal = table.split("| Focal + 0.5·Dice | CE + 0.5·Dice | +4–6% |")[1].splitlines()[0]
    assert focal.endswith("| **no**: a loss beyond noise |")
    assert "seed's" not in text and "the seed " not in text


def test_end_table_smallest_classes_and_missing_seeds(sweep_dir):
    text = render(load(sweep_dir), sweep_dir)
    assert "| CE only | 0.4200 ± 0.0200 | 3 of 3 | 0.4300 | 100 s |" in text
    assert "| CE + 1.0·Dice | not run | 0 of 3 |" in text
    assert "| 0.5·CE + 0.5·Lovasz | 0.4650 ± 0.0212 | 2 of 3 |" in text
    assert "| configuration | l_eye | r_eye | hat | nose | cloth |" in text
    assert "| CE + 0.5·Dice | 0.5233 | 0.5233 | 0.5233 | 0.5233 | 0.5233 |" in text
    assert "- ablation/ce_lovasz seed 0: failed RuntimeError: boom" in text
    assert "- 0.5·CE + 0.5·Lovasz: no finished run for seed 0" in text
    assert "`data.image_size=48 trainer.max_epochs=6`" in text
    assert "| image size (px) | `48` |" in text


def test_curves_figure_shows_mean_and_band_per_configuration(sweep_dir):
    fig = curves_figure(load(sweep_dir))
    ax = fig.axes[0]
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["CE only (n=3)", "CE + 0.5·Dice (n=3)", "Focal + 0.5·Dice (n=3)",
                      "0.5·CE + 0.5·Lovasz (n=2)"]  # fmt: skip
    assert "mean ± 1 sd" in ax.get_title()
    assert ax.get_xlabel() == "epoch" and "val F1" in ax.get_ylabel()
    ce_line = ax.get_lines()[0]
    assert list(ce_line.get_xdata()) == [1, 2, 3, 4, 5, 6]
    assert ce_line.get_ydata()[3] == pytest.approx(statistics.fmean([0.30, 0.31, 0.35]))
    assert len(ax.collections) == 4  # one ±1 sd band per configuration


def test_cli_writes_report_and_figure(sweep_dir, tmp_path):
    out = tmp_path / "docs" / "ablation.md"
    main([str(sweep_dir), "--out", str(out), "--early-epoch", "2"])
    assert (tmp_path / "docs" / "img" / "ablation_curves.png").read_bytes()[:4] == b"\x89PNG"
    text = out.read_text()
    assert "![val F1 per epoch, mean ± 1 sd over seeds](img/ablation_curves.png)" in text
    assert "val F1 after epoch 2: faster?" in text


def write_calibration(job_dir, argmax: float, tuned: float, l_eye: tuple[float, float]) -> None:
    per_class = {"l_eye": {"pixel_share": 0.001, "argmax": l_eye[0], "f1": l_eye[1]}}
    record = {"tuned_on": "val", "reported_on": "test", "kept_share": 0.5,
              "test": {"argmax": argmax, "f1": tuned, "per_class": per_class}}  # fmt: skip
    (job_dir / "calibration.json").write_text(json.dumps(record))


def test_decoding_section_pairs_tuned_offsets_with_argmax_and_the_gap_left(sweep_dir):
    ce = ([0.40, 0.42, 0.44], [0.45, 0.46, 0.50])
    ce_dice = ([0.50, 0.53, 0.54], [0.51, 0.535, 0.55])
    for first_job, (argmax, tuned) in ((0, ce), (3, ce_dice)):
        for seed in range(3):
            write_calibration(sweep_dir / str(first_job + seed), argmax[seed], tuned[seed],
                              (0.1, 0.3))  # fmt: skip
    text = render(load(sweep_dir), sweep_dir)
    assert "## Decoding for F1" in text
    mean, low, high = interval([t - a for a, t in zip(*ce, strict=True)])
    row = (
        f"| CE only | 0.4200 | 0.4700 | {mean:+.4f} [{low:+.4f}, {high:+.4f}] | **better** | 0.50 |"
    )
    assert row in text
    with_argmax = interval([d - c for c, d in zip(ce[0], ce_dice[0], strict=True)])
    with_tuned = interval([d - c for c, d in zip(ce[1], ce_dice[1], strict=True)])
    left = with_tuned[0] / with_argmax[0]
    assert f"| CE + 0.5·Dice − CE only | {with_argmax[0]:+.4f} [{with_argmax[1]:+.4f}, " in text
    assert (
        f"{with_tuned[0]:+.4f} [{with_tuned[1]:+.4f}, {with_tuned[2]:+.4f}] | {left:.0%} |" in text
    )
    assert "| Focal + 0.5·Dice | " not in text.split("## Decoding for F1")[1].split("###")[0]
    assert "| CE only | +0.2000 | — | — | — | — |" in text  # l_eye: the smallest class


def test_no_decoding_section_without_calibrated_jobs(sweep_dir):
    assert "Decoding for F1" not in render(load(sweep_dir), sweep_dir)
