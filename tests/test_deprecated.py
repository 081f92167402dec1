"""``trainer.on_nan`` moved to ``model.on_nan``; the old key still works, with a warning, for
one release."""

from __future__ import annotations

import warnings

import pytest
import torch

from seg_f1.config.deprecated import move_deprecated_keys
from seg_f1.training import build_datamodule, build_module, build_trainer, train


def test_model_on_nan_reaches_the_module_without_a_warning(compose_cfg):
    cfg = compose_cfg("model.on_nan=stop")
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        move_deprecated_keys(cfg)
        build_trainer(cfg)  # on_nan is no Trainer argument
    assert "on_nan" not in cfg.trainer
    assert build_module(cfg, build_datamodule(cfg)).hparams.on_nan == "stop"


@pytest.mark.parametrize("preset", [["trainer=cpu"], ["debug=fdr"], ["trainer=ddp_cpu"]])
def test_trainer_on_nan_still_counts_and_warns_naming_the_new_key(compose_cfg, preset):
    cfg = compose_cfg(*preset, "trainer.on_nan=stop")
    with pytest.warns(FutureWarning, match=r"trainer.on_nan is deprecated.*model.on_nan=stop"):
        move_deprecated_keys(cfg)
    assert cfg.model.on_nan == "stop" and "on_nan" not in cfg.trainer
    move_deprecated_keys(cfg)  # a second call (build_trainer makes one) changes nothing
    assert cfg.model.on_nan == "stop"
    build_trainer(cfg)


def test_build_trainer_alone_drops_the_alias(compose_cfg):
    """Callers that build a Trainer from a composed config without train()."""
    cfg = compose_cfg()
    assert cfg.trainer.on_nan == "skip"  # the alias follows model.on_nan
    build_trainer(cfg)
    assert "on_nan" not in cfg.trainer


@pytest.mark.slow
def test_a_run_with_the_old_key_trains_with_it(compose_cfg, tmp_path):
    cfg = compose_cfg("trainer.on_nan=stop")
    with pytest.warns(FutureWarning, match="model.on_nan=stop"):
        train(cfg)
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["hyper_parameters"]["on_nan"] == "stop"
    assert checkpoint["config"]["model"]["on_nan"] == "stop"
    assert "on_nan" not in checkpoint["config"]["trainer"]
