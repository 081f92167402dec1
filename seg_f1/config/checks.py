"""Values no run can train with, refused by key before any data is generated or read.

Each would otherwise fail late (a cv2 error in generation, an error after fit) or train on
nonsense (a zero std divides by zero). Losses check their own arguments in their constructors,
which run here once.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from seg_f1.losses import build_loss
from seg_f1.network import create_network


def check_train_config(cfg: DictConfig) -> None:
    """Raises ValueError naming the first key whose value cannot train."""
    data = cfg.data
    _require("data.image_size", data.image_size, _is_int(data.image_size) and data.image_size > 0,
             "a positive number of pixels")  # fmt: skip
    _require("data.batch_size", data.batch_size, _is_int(data.batch_size) and data.batch_size >= 1,
             "at least 1")  # fmt: skip
    eval_batch = data.get("eval_batch_size")
    _require("data.eval_batch_size", eval_batch,
             eval_batch is None or (_is_int(eval_batch) and eval_batch >= 1),
             "at least 1, or null for data.batch_size")  # fmt: skip
    std = list(data.get("std") or [])
    _require("data.std", std, all(_is_number(s) and s > 0 for s in std),
             "positive per channel (images are divided by it)")  # fmt: skip
    for key in ("lr", "weight_decay"):
        value = cfg.optimizer.get(key)
        _require(f"optimizer.{key}", value, value is None or (_is_number(value) and value >= 0),
                 ">= 0")  # fmt: skip
    epochs = cfg.trainer.get("max_epochs")
    _require("trainer.max_epochs", epochs, epochs is None or epochs == -1 or epochs >= 1,
             "at least 1 (or -1 with trainer.max_steps)")  # fmt: skip
    check_input_size(cfg)
    check_loss(cfg)
    check_devices(cfg.trainer)


def check_devices(trainer: DictConfig) -> None:
    """A GPU preset on a machine without one, and several CPU devices without a DDP preset
    (Lightning would start DDP processes unasked), refused with the preset that fits."""
    accelerator, devices = trainer.get("accelerator"), trainer.get("devices")
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"trainer.accelerator={accelerator} (trainer=gpu), but torch sees no CUDA GPU here "
            f"(torch {torch.__version__}): use trainer=cpu, or install a CUDA build of torch"
        )
    count = len(devices) if OmegaConf.is_list(devices) else devices if _is_int(devices) else 1
    if accelerator == "cpu" and count > 1 and trainer.get("strategy", "auto") == "auto":
        raise ValueError(
            f"trainer.devices={devices} with trainer=cpu would start {count} DDP processes "
            "unasked: use trainer=ddp_cpu for that, or trainer.devices=1"
        )


def check_loss(cfg: DictConfig) -> None:
    """Build the loss once without data, so its config and its terms' constructors are checked
    before the data is; the run builds it again once the class weights are known."""
    classes = len(cfg.data.classes)
    stand_in = None if cfg.loss.get("class_weights") is None else torch.ones(classes)
    build_loss(cfg.loss, num_classes=classes, ignore_index=cfg.data.ignore_index,
               class_weights=stand_in)  # fmt: skip


def check_input_size(cfg: DictConfig) -> None:
    """Some smp architectures take only sizes divisible by their output stride (FPN: 32); the
    network is built on the meta device to ask it, which allocates nothing."""
    model = cfg.model
    with torch.device("meta"):
        kwargs = model.get("model_kwargs")
        kwargs = OmegaConf.to_container(kwargs, resolve=True) if kwargs else {}
        network = create_network(model.arch, model.encoder_name, None, len(cfg.data.classes),
                                 **kwargs)  # fmt: skip
    stride = network.encoder.output_stride
    if getattr(network, "requires_divisible_input_shape", True) and cfg.data.image_size % stride:
        raise ValueError(
            f"data.image_size={cfg.data.image_size}: model.arch={model.arch} with "
            f"{model.encoder_name} takes only sizes divisible by {stride}; use e.g. "
            f"{-(-cfg.data.image_size // stride) * stride}"
        )


def _require(key: str, value: Any, ok: bool, expected: str) -> None:
    if not ok:
        raise ValueError(f"{key}={value} cannot train: it must be {expected}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
