"""Numerical faults and config typos: a NaN step is skipped or stops with names; typos fail."""

from __future__ import annotations

import functools
import math
import subprocess
import sys

import lightning as L
import pytest
import torch
from conftest import ROOT, TINY, run_env
from hydra.errors import ConfigCompositionException
from torch import nn
from torch.utils.data import DataLoader

from seg_f1.losses import CELoss, CompositeLoss
from seg_f1.module import SegmentationModule

CLASSES = ["background", "skin", "hair"]
MARK = 2  # a batch whose mask is all hair makes the "boom" term NaN


class NaNOnMarkedBatch(nn.Module):
    """A loss term that is NaN on the marked batch and 0 elsewhere, like a log(0) would be."""

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        zero = logits.float().mean() * 0
        return zero + (math.nan if bool((target == MARK).all()) else 0.0)


def batches(marked: int, count: int = 3) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    out = []
    for index in range(count):
        mask = torch.randint(0, 2, (2, 32, 32), generator=g)
        if index == marked:
            mask.fill_(MARK)
        out.append({"image": torch.randn(2, 3, 32, 32, generator=g), "mask": mask,
                    "name": [f"b{index}_0", f"b{index}_1"]})  # fmt: skip
    return out


def fit(on_nan: str, precision: str = "32-true", marked: int = 1) -> SegmentationModule:
    module = SegmentationModule(
        CLASSES,
        loss=CompositeLoss({"ce": CELoss(), "boom": NaNOnMarkedBatch()}, {"ce": 1.0, "boom": 1.0}),
        optimizer=functools.partial(torch.optim.AdamW, lr=1e-3),
        on_nan=on_nan,
    )
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, logger=False, precision=precision,
                        enable_checkpointing=False, enable_progress_bar=False,
                        limit_val_batches=0, enable_model_summary=False)  # fmt: skip
    loader = DataLoader(batches(marked), batch_size=None)
    trainer.fit(module, train_dataloaders=loader)
    module.adam_steps = [int(s["step"]) for s in trainer.optimizers[0].state.values()]
    return module


def test_non_finite_step_is_skipped_and_counted():
    module = fit("skip")
    assert int(module.skipped_steps) == 1
    # the skipped batch left no gradient, so AdamW updated the weights for the 2 good ones only
    assert set(module.adam_steps) == {2}
    assert all(torch.isfinite(p).all() for p in module.parameters())


def test_on_nan_stop_names_step_files_and_terms():
    with pytest.raises(FloatingPointError) as error:
        fit("stop")
    message = str(error.value)
    assert "step 1" in message and "b1_0, b1_1" in message
    assert "terms boom" in message and "ce" not in message.split("terms")[1].split(")")[0]


def test_unknown_on_nan_value_is_named():
    with pytest.raises(ValueError, match="trainer.on_nan"):
        SegmentationModule(CLASSES, on_nan="ignore")


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_mixed_precision_with_extreme_logits_stays_finite(precision):
    """Logits of +-1e4 overflow float16 arithmetic; the losses compute in float32."""
    module = SegmentationModule(
        CLASSES,
        loss=CompositeLoss({"ce": CELoss()}, {"ce": 1.0}),
        optimizer=functools.partial(torch.optim.SGD, lr=1e-6),
        on_nan="stop",
    )
    head = module.net.segmentation_head[0]
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(torch.tensor([1e4, -1e4, 5e3]))
    trainer = L.Trainer(accelerator="cpu", max_steps=2, logger=False, precision=precision,
                        enable_checkpointing=False, enable_progress_bar=False,
                        limit_val_batches=0, enable_model_summary=False)  # fmt: skip
    trainer.fit(module, train_dataloaders=DataLoader(batches(marked=-1)[:2], batch_size=None))
    assert trainer.global_step == 2 and int(module.skipped_steps) == 0


def test_misspelt_key_is_an_error_not_a_new_key(compose_cfg):
    with pytest.raises(ConfigCompositionException) as error:
        compose_cfg("loss.dice_wieght=1")
    assert "dice_wieght" in str(error.value) + str(error.value.__cause__)


def test_cfg_job_prints_the_composed_config():
    result = subprocess.run([sys.executable, "train.py", "--cfg", "job", *TINY], cwd=ROOT,
                            env=run_env(), capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "optimized_metric: val/f1" in result.stdout and "dice_weight: 0.5" in result.stdout
