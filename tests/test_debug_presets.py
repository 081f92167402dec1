"""debug presets with any trainer preset, null entries dropped, the config tree."""

from __future__ import annotations

import pytest
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.loggers import CSVLogger

from seg_f1.callbacks.checkpoint import RunCheckpoint
from seg_f1.callbacks.console import ProgressBar
from seg_f1.runs.results import read_result
from seg_f1.training import build_trainer, train


@pytest.mark.parametrize("trainer", ["cpu", "gpu", "ddp"])
def test_debug_presets_keep_the_trainer_presets_device(compose_cfg, trainer):
    fdr, overfit, limit, profiler = (
        compose_cfg(f"trainer={trainer}", f"debug={name}", tiny=False)
        for name in ("fdr", "overfit", "limit", "profiler")
    )
    device = compose_cfg(f"trainer={trainer}", tiny=False).trainer.accelerator
    for cfg in (fdr, overfit, limit, profiler):
        assert cfg.trainer.accelerator == device
        assert cfg.data.num_workers == 0 and cfg.data.persistent_workers is False
        assert cfg.trainer.detect_anomaly is (cfg is not profiler)  # it would skew timings
    assert fdr.trainer.fast_dev_run is True and fdr.test is True
    assert (overfit.trainer.overfit_batches, overfit.trainer.max_epochs) == (3, 20)
    assert dict(overfit.data.augment) == {}  # the same pixels every epoch
    assert (limit.trainer.limit_train_batches, limit.trainer.max_epochs) == (5, 3)
    assert profiler.trainer.profiler._target_.endswith("SimpleProfiler")


@pytest.mark.slow
def test_fdr_runs_the_test_stage_and_saves_the_config_tree(compose_cfg, tmp_path, capsys):
    train(compose_cfg("debug=fdr"))
    result = read_result(tmp_path / "result.json")
    assert result["test_f1"] is not None and result["per_class_split"] == "test"
    tree = (tmp_path / "config_tree.log").read_text()
    assert "dice_weight: 0.5" in tree and "fast_dev_run: true" in tree
    assert tree.index("data") < tree.index("loss") < tree.index("seed: 42")
    out = capsys.readouterr().out  # the short form at start: choices, overrides, the file
    assert "loss=focal_dice" in out and "debug=fdr" in out and "dice_weight" not in out
    assert f"the whole config: {tmp_path / 'config_tree.log'}" in out
    assert not list(tmp_path.glob("*.png")), "one batch draws no figures (seconds, not curves)"
    assert "throughput" not in result, "one step has no rate to report"


@pytest.mark.slow
def test_profiler_preset_writes_its_report(compose_cfg, tmp_path):
    train(compose_cfg("debug=profiler", "test=false"))
    assert "run_training_epoch" in (tmp_path / "fit-profile.txt").read_text()


def test_null_drops_a_callback_or_a_logger(compose_cfg):
    kept = build_trainer(compose_cfg())
    assert any(isinstance(c, LearningRateMonitor) for c in kept.callbacks)
    assert any(isinstance(lg, CSVLogger) for lg in kept.loggers)
    trainer = build_trainer(compose_cfg("callbacks.learning_rate_monitor=null", "logger.csv=null"))
    assert not any(isinstance(c, LearningRateMonitor) for c in trainer.callbacks)
    assert trainer.loggers == []
    with_bar = build_trainer(compose_cfg(tiny=False))  # (TINY drops the bar)
    assert isinstance(with_bar.progress_bar_callback, ProgressBar)
    dropped = build_trainer(compose_cfg("callbacks.progress_bar=null", tiny=False))
    assert dropped.progress_bar_callback is None  # and no Lightning default bar instead


def test_the_profiler_times_without_anomaly_detection_and_debug_runs_keep_lighter_checkpoints(
    compose_cfg,
):
    profiled = compose_cfg("debug=profiler", tiny=False)
    assert profiled.trainer.detect_anomaly is False
    assert compose_cfg("debug=limit", tiny=False).trainer.detect_anomaly is True
    trainer = build_trainer(compose_cfg("debug=limit", tiny=False))
    assert trainer.checkpoint_callback.best_weights_only is True
    bare = build_trainer(compose_cfg("debug=limit", "callbacks=none", tiny=False))
    assert not isinstance(bare.checkpoint_callback, RunCheckpoint)  # the preset's settings alone
