"""Configs that cannot train are refused before any data is generated, naming the key."""

from __future__ import annotations

import pytest
import torch

from seg_f1.losses import CELoss, TverskyLoss


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["data.image_size=0"], "data.image_size=0"),
        (["data.image_size=-32"], "data.image_size=-32"),
        (["model.arch=FPN", "data.image_size=48"], "data.image_size=48"),
        (["optimizer.lr=-0.001"], "optimizer.lr=-0.001"),
        (["optimizer.weight_decay=-1"], "optimizer.weight_decay=-1"),
        (["trainer.max_epochs=0"], "trainer.max_epochs=0"),
        (["data.std=[0.2,0.0,0.2]"], "data.std"),
        (["data.eval_batch_size=0"], "data.eval_batch_size=0"),
        (["data.batch_size=0"], "data.batch_size=0"),
        (["loss=ce_tversky", "loss.tversky.alpha=0", "loss.tversky.beta=0"],
         "loss.tversky: alpha + beta must be > 0"),
        (["loss=ce_dice", "loss.ce.label_smoothing=1.0"],
         "loss.ce: label_smoothing must be in [0, 1)"),
        (["loss=ce_dice", "loss.ce.label_smoothing=-0.1"],
         "loss.ce: label_smoothing must be in [0, 1)"),
    ],
)  # fmt: skip
def test_a_config_that_cannot_train_is_refused_before_data_exists(
    compose_cfg, tmp_path, overrides, named
):
    from seg_f1.training import train

    data_dir = tmp_path / "fresh-data"
    with pytest.raises(ValueError) as refused:
        train(compose_cfg(f"paths.data_dir={data_dir}", *overrides))
    assert named in str(refused.value)
    assert not data_dir.exists()  # nothing generated, nothing read


def test_sizes_the_architecture_takes_are_accepted(compose_cfg):
    from seg_f1.config.checks import check_train_config

    check_train_config(compose_cfg("data.image_size=48"))  # smp 0.6's U-Net takes any size
    check_train_config(compose_cfg("model.arch=FPN", "data.image_size=64"))
    check_train_config(compose_cfg("data.eval_batch_size=null", "trainer.max_epochs=-1"))


def test_loss_constructors_refuse_what_cannot_train():
    with pytest.raises(ValueError, match=r"alpha \+ beta must be > 0"):
        TverskyLoss(alpha=0.0, beta=0.0)
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\), got 1"):
        CELoss(label_smoothing=1)
    with pytest.warns(UserWarning, match="label_smoothing=0.6"):
        CELoss(label_smoothing=0.6)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the machine has a GPU")
def test_the_gpu_preset_without_a_gpu_and_several_cpu_devices_are_refused_with_the_fix(compose_cfg):
    from seg_f1.config.checks import check_train_config

    with pytest.raises(ValueError, match="trainer=gpu.*no CUDA GPU here.*use trainer=cpu"):
        check_train_config(compose_cfg("trainer=gpu"))
    for devices in ("2", "[0,1]"):
        with pytest.raises(ValueError, match=r"trainer=cpu would start 2 DDP .*trainer=ddp_cpu"):
            check_train_config(compose_cfg(f"trainer.devices={devices}"))
    check_train_config(compose_cfg("trainer=ddp_cpu"))  # asked for: accepted
