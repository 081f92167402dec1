"""sweep_report on a hand-made multirun directory: known ranking, mean over seeds, best config."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import CONF, ROOT, run_env
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from seg_f1.report.jobs import parse_overrides
from seg_f1.sweeps.report import best_experiment, report
from seg_f1.sweeps.summary import summary_lines

PLACE = ["hydra.sweep.dir=/somewhere", "paths.data_dir=/data", "data.image_size=32"]


def write_job(root: Path, job: str, overrides: list[str], **result) -> None:
    job_dir = root / job
    (job_dir / ".hydra").mkdir(parents=True)
    (job_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if result:
        data = {"status": "ok", "overrides": overrides, "epochs": 2, "wall_time_s": 3.0, **result}
        (job_dir / "result.json").write_text(json.dumps(data))


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """dice 0.3: val 0.50, 0.60 (mean 0.55); dice 0.8: 0.70, 0.62 (mean 0.66); one failure,
    one job killed before it wrote anything, one still running."""
    root = tmp_path / "multirun"
    scores = [("0.3", "0", 0.50), ("0.3", "1", 0.60), ("0.8", "0", 0.70), ("0.8", "1", 0.62)]
    for job, (dice, seed, best) in enumerate(scores):
        overrides = [*PLACE, f"loss.dice_weight={dice}", f"seed={seed}"]
        write_job(root, str(job), overrides, best=best, test_f1=best - 0.02)
    bad = [*PLACE, "loss.dice_weight=1.5", "seed=0"]
    write_job(root, "4", bad, status="failed", best=None, error="FloatingPointError: NaN\nTrace")
    write_job(root, "5", [*PLACE, "loss.dice_weight=1.5", "seed=1"])
    write_job(root, "6", [*PLACE, "loss.dice_weight=1.0", "seed=0"], status="running", best=None)
    return root


def test_table_is_sorted_by_val_f1_with_swept_columns_only(sweep):
    report(sweep)
    with open(sweep / "sweep_report.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "job", "status", "loss.dice_weight", "seed", "val/f1", "test/f1", "epochs", "wall_s"
    ]  # fmt: skip
    assert [row["job"] for row in rows[:4]] == ["2", "3", "1", "0"]
    assert [row["val/f1"] for row in rows[:4]] == ["0.7000", "0.6200", "0.6000", "0.5000"]
    assert rows[0]["test/f1"] == "0.6800"
    assert {row["job"]: row["status"] for row in rows[4:]} == {
        "4": "failed", "5": "missing", "6": "running"
    }  # fmt: skip


def test_markdown_ranks_configs_by_mean_over_seeds_and_lists_failures(sweep):
    markdown = report(sweep)
    assert "7 jobs: 1 failed, 1 missing, 4 ok, 1 running." in markdown
    mean_table = markdown.split("## Mean over seeds")[1]
    assert mean_table.index("| 0.8 | 0.6600 ± 0.0566 | 2 | 0.6400 |") < mean_table.index(
        "| 0.3 | 0.5500 ± 0.0707 | 2 | 0.5300 |"
    )
    assert "- job 4 (failed): FloatingPointError: NaN" in markdown
    assert "- job 5 (missing): no result.json" in markdown
    assert "job 6" not in markdown.split("## Failed trials")[1]
    assert (sweep / "sweep_report.md").read_text() == markdown


def test_best_config_is_the_best_mean_without_the_seed(sweep):
    report(sweep)
    text = (sweep / "best_experiment.yaml").read_text()
    assert text.startswith("# @package _global_\n")
    assert yaml.safe_load(text) == {"data": {"image_size": 32}, "loss": {"dice_weight": 0.8}}


def test_sampled_values_read_at_four_digits_and_the_budget_stays_out_of_the_best_config(tmp_path):
    root = tmp_path / "optuna"
    for job, (dice, best) in enumerate([("1.6648852816008435", 0.7), ("0.30000000000000004", 0.5)]):
        overrides = [
            "+trainer.limit_train_batches=0.1",
            "loss=focal_dice",
            f"loss.dice_weight={dice}",
        ]
        write_job(root, str(job), overrides, best=best)
    markdown = report(root)
    assert "| 0 | ok | 1.665 | 0.7000 |" in markdown and "| 1 | ok | 0.3 | 0.5000 |" in markdown
    best = yaml.safe_load((root / "best_experiment.yaml").read_text())
    assert best == {"defaults": [{"override /loss": "focal_dice"}],
                    "loss": {"dice_weight": 1.6648852816008435}}  # fmt: skip
    lines = summary_lines(root)
    assert lines[0].endswith(
        "2 of 2 trials finished; the best is trial 0: val/f1 0.7000, loss focal_dice"
    )
    assert lines[1] == "  its settings: loss=focal_dice loss.dice_weight=1.665"
    assert lines[2].startswith("  ahead of the next (loss.dice_weight=0.3: 0.5000) by +0.2000, one")
    assert "the seed-to-seed noise is unknown" in lines[2]
    assert (
        lines[3]
        == "  train it: python -m seg_f1.train loss=focal_dice loss.dice_weight=1.6648852816008435"
    )


def test_a_sweep_over_seeds_names_the_mean_and_never_a_lucky_seed(tmp_path):
    root = tmp_path / "seeds"
    scores = {("0.3", "0"): 0.50, ("0.3", "1"): 0.60, ("0.8", "0"): 0.52, ("0.8", "1"): 0.70,
              ("0.8", "2"): 0.53, ("0.3", "2"): 0.58}  # fmt: skip
    for job, ((dice, seed), best) in enumerate(scores.items()):
        overrides = [f"loss.dice_weight={dice}", f"seed={seed}", "trainer.max_epochs=3",
                     "data.source.num_train=40"]  # fmt: skip
        write_job(root, str(job), overrides, best=best)
    lines = summary_lines(root)
    # dice 0.8: mean 0.5833 (sd 0.1012), 0.3: 0.5600 (sd 0.0529); 2 se of the gap: 0.1318
    assert "the best configuration: val/f1 0.5833 ± 0.1012 over 3 seeds" in lines[0]
    assert "ahead of the next (loss.dice_weight=0.3: 0.5600) by +0.0233: within the" in lines[2]
    assert lines[2].endswith("(2 standard errors: 0.1318)")
    assert (
        lines[3] == "  train it: python -m seg_f1.train loss.dice_weight=0.8"
    )  # no seed, no budget
    only_seeds = tmp_path / "only_seeds"
    for job, seed in enumerate("012"):
        write_job(only_seeds, str(job), [f"seed={seed}"], best=0.5 + 0.01 * job)
    lines = summary_lines(only_seeds)
    assert "only the seed varied" in lines[2] and "no seed is better than another" in lines[2]
    assert lines[3] == "  train it: python -m seg_f1.train "


def test_sweep_png_is_written(sweep):
    report(sweep)
    assert (sweep / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_group_overrides_become_defaults_and_the_yaml_composes(tmp_path):
    params = parse_overrides(["loss=focal_dice", "+loss.dice_weight=1.2", "optimizer.lr=5e-4"])
    assert best_experiment(params) == {
        "defaults": [{"override /loss": "focal_dice"}],
        "loss": {"dice_weight": 1.2},
        "optimizer": {"lr": 5e-4},
    }
    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf)
    write_job(tmp_path / "sweep", "0", ["loss=focal_dice", "loss.dice_weight=1.2"], best=0.6)
    write_job(tmp_path / "sweep", "1", ["loss=ce_dice", "loss.dice_weight=0.4"], best=0.5)
    report(tmp_path / "sweep", conf_dir=conf)
    shutil.copy(tmp_path / "sweep" / "best_experiment.yaml", conf / "experiment" / "best.yaml")
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose("config", overrides=["experiment=best"])
    GlobalHydra.instance().clear()
    assert cfg.loss.focal._target_ == "seg_f1.losses.FocalLoss"
    assert cfg.loss.dice_weight == 1.2


def test_cli_prints_the_report_and_names_a_missing_directory(sweep, tmp_path):
    command = [sys.executable, "-m", "seg_f1.sweep_report"]
    result = subprocess.run(
        [*command, str(sweep), "--out", str(tmp_path / "out")],
        cwd=ROOT, env=run_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "| 2 | ok | 0.8 | 0 | 0.7000 |" in result.stdout
    assert (tmp_path / "out" / "sweep_report.csv").is_file()
    missing = tmp_path / "no_such_sweep"
    result = subprocess.run(
        [*command, str(missing)], cwd=ROOT, env=run_env(), capture_output=True, text=True
    )
    assert result.returncode == 2
    assert str(missing) in result.stderr
    assert not missing.exists()  # a mistyped folder is named, not made
