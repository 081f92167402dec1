"""``trainer.precision: auto``: the precision this machine trains fastest in at the same F1.

bf16 autocast only pays where the hardware computes in bf16: on a CPU with AVX512-BF16 or AMX a
U-Net step took 0.66x the float32 time, on a Zen 3 CPU without them about 25x (docs/scaling.md),
so the choice is made per machine, never globally. On CUDA, bf16-mixed where the GPU supports it
(Ampere or newer), else 16-mixed. An explicit value always wins.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

log = logging.getLogger(__name__)

AUTO = "auto"
# /proc/cpuinfo flags of the instructions that compute in bf16 natively
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
GPU_ACCELERATORS = ("gpu", "cuda")
HALF_PRECISIONS = ("bf16", "16")  # Lightning's precision names, up to the first "-"


@dataclass(frozen=True)
class Choice:
    precision: str
    reason: str


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The first processor's flags; empty where /proc/cpuinfo is absent (macOS, Windows)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def choose_cpu(flags: set[str]) -> Choice:
    native = sorted(flags & set(NATIVE_BF16_FLAGS))
    if native:
        return Choice("bf16-mixed", f"the CPU computes in bf16 natively ({', '.join(native)})")
    return Choice("32-true", "the CPU has no native bf16 (no avx512_bf16 or amx_bf16), where "
                  "bf16 autocast is emulated and many times slower")  # fmt: skip


def choose_cuda(bf16_supported: bool, device_name: str) -> Choice:
    if bf16_supported:
        return Choice("bf16-mixed", f"{device_name} supports bf16")
    return Choice("16-mixed", f"{device_name} has no bf16 (older than Ampere): float16 autocast")


def on_cuda(accelerator: str) -> bool:
    """``accelerator: auto`` means CUDA when one is visible, as Lightning decides."""
    if accelerator in GPU_ACCELERATORS:
        return True
    return accelerator == AUTO and torch.cuda.is_available()


def choose_precision(accelerator: str) -> Choice:
    if on_cuda(accelerator):
        if not torch.cuda.is_available():  # Lightning then refuses the trainer with its own word
            return Choice("bf16-mixed", "trainer.accelerator asks for a GPU")
        return choose_cuda(torch.cuda.is_bf16_supported(), torch.cuda.get_device_name())
    return choose_cpu(cpu_flags())


def resolve_precision(precision: str | int | None, accelerator: str) -> str | int | None:
    """``auto`` becomes this machine's choice, logged once with why; anything else is kept."""
    if precision != AUTO:
        return precision
    choice = choose_precision(str(accelerator))
    log.info("trainer.precision=auto -> %s: %s", choice.precision, choice.reason)
    return choice.precision


def resolve_channels_last(value: bool | str, precision: str | int | None) -> bool:
    """``model.channels_last: auto``: NHWC where the run computes in 16 bits, NCHW elsewhere.
    Under bf16 on a CPU with native bf16 it took the step from 0.70x to 0.63x of float32's
    (docs/scaling.md), and GPU tensor cores prefer it; in float32 it is only used when asked."""
    if value in (True, False):
        return value
    if value != AUTO:
        raise ValueError(f"model.channels_last must be true, false or auto, got {value!r}")
    chosen = str(precision).split("-")[0] in HALF_PRECISIONS
    log.info("model.channels_last=auto -> %s: the run computes in %s", chosen, precision)
    return chosen
