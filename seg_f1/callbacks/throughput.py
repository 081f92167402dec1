"""How close the training steps come to what the machine can do: model FLOP/s against the peak.

The FLOPs of one step are counted once by ``torch.utils.flop_counter`` (forward and backward of
the network on a meta-device copy, so nothing is computed); the step time is the median from the
start of a training batch to its end, after a warm-up; the peak is measured in the same process,
on the same threads and in the run's compute dtype, as the best rate of a large matrix product.
The share of peak is therefore against what this process can reach, not a data-sheet figure.
"""

from __future__ import annotations

import copy
import logging
import statistics
import time
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.throughput import measure_flops

log = logging.getLogger(__name__)

# the dtype the matrix units compute in under each Lightning precision
COMPUTE_DTYPES = {"bf16": torch.bfloat16, "16": torch.float16}


def compute_dtype(precision: str) -> torch.dtype:
    """``bf16-mixed`` -> bfloat16, ``16-mixed`` -> float16, anything else float32."""
    return COMPUTE_DTYPES.get(str(precision).split("-")[0], torch.float32)


def training_flops(network: torch.nn.Module, batch_shape: tuple[int, ...]) -> int:
    """Forward + backward FLOPs of one batch; the optimizer's elementwise work is left out."""
    network = getattr(network, "_orig_mod", network)  # a torch.compile wrapper
    meta = copy.deepcopy(network).to("meta")
    images = torch.empty(batch_shape, device="meta")
    # anomaly detection (debug presets) reads values, which meta tensors do not have
    with torch.autograd.set_detect_anomaly(False):
        return int(measure_flops(meta, lambda: meta(images), lambda out: out.sum()))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_flops(device: torch.device, dtype: torch.dtype, seconds: float = 0.5) -> float:
    """The best FLOP/s of an n x n matrix product over about ``seconds`` (n = 8192 on a GPU,
    1024 on a CPU, large enough to reach the BLAS kernels' plateau on either)."""
    n = 8192 if device.type == "cuda" else 1024
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    torch.matmul(a, b)  # warm-up: kernel selection, page faults
    best, spent = float("inf"), 0.0
    while spent < seconds:
        synchronize(device)
        began = time.perf_counter()
        torch.matmul(a, b)
        synchronize(device)
        took = time.perf_counter() - began
        best, spent = min(best, took), spent + took
    return 2 * n**3 / best


class Throughput(L.Callback):
    """Times the training steps and leaves ``summary`` for ``result.json`` at the end of fit."""

    def __init__(self, warmup_steps: int = 2, peak_seconds: float = 0.2) -> None:
        self.warmup_steps = warmup_steps
        self.peak_seconds = peak_seconds
        self.step_flops: int | None = None
        self.step_times: list[float] = []
        self.summary: dict[str, Any] | None = None
        self._began = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.fast_dev_run:  # one step has no rate to speak of: no FLOP count, no peak
            return
        if self.step_flops is None:
            self.step_flops = training_flops(pl_module.net, tuple(batch["image"].shape))
        synchronize(pl_module.device)
        self._began = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.fast_dev_run:
            return
        synchronize(pl_module.device)
        self.step_times.append(time.perf_counter() - self._began)

    def on_fit_end(self, trainer, pl_module) -> None:
        timed = self.step_times[self.warmup_steps :] or self.step_times
        if not timed or not self.step_flops:
            return
        dtype = compute_dtype(trainer.precision)
        step_s = statistics.median(timed)
        achieved = self.step_flops / step_s
        peak = peak_flops(pl_module.device, dtype, self.peak_seconds)
        self.summary = {
            "precision": str(trainer.precision),
            "step_gflop": round(self.step_flops / 1e9, 3),
            "step_s": round(step_s, 5),
            "steps_timed": len(timed),
            "achieved_gflop_per_s": round(achieved / 1e9, 3),
            "peak_gflop_per_s": round(peak / 1e9, 3),
            "peak_dtype": str(dtype).removeprefix("torch."),
            "share_of_peak": round(achieved / peak, 4),
            "threads": torch.get_num_threads(),
            "device": str(pl_module.device),
        }
        if trainer.is_global_zero:
            log.info(
                "training steps reached %.1f GFLOP/s (the network's forward + backward), %.1f%% "
                "of the %.1f GFLOP/s %s peak measured in this process", achieved / 1e9,
                100 * achieved / peak, peak / 1e9, self.summary["peak_dtype"],
            )  # fmt: skip
