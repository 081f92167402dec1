"""Training throughput of seg_f1's U-Net on one accelerator, one precision/layout option at a time.

    python benchmarks/bench_gpu.py                      # cuda, 512 px, batch 32, all configs
    python benchmarks/bench_gpu.py --device cpu --size 64 --batch 2 --configs fp32,bf16

Each config builds ``SegmentationModule`` (U-Net-resnet34, 19 classes, ce + 0.5 dice, AdamW)
with its ``channels_last`` / ``compile`` options and times ``--steps`` optimizer steps after
``--warmup`` ones (compilation happens in the warm-up). Prints one markdown table: images/s,
peak memory, and the achieved TFLOP/s from ``torch.utils.flop_counter`` (forward + backward of
one batch) against the device's dense bf16 peak. Sized to finish in well under 5 minutes on a
current data-centre GPU; ``torch.compile`` from a cold cache is most of that.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from seg_f1.losses import CELoss, CompositeLoss, DiceLoss  # noqa: E402
from seg_f1.module import SegmentationModule  # noqa: E402

NUM_CLASSES = 19

# dense bf16 tensor-core TFLOP/s from the vendors' data sheets, by device-name substring
BF16_PEAK_TFLOPS = {
    "H200": 989.0,
    "H100": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "A10": 125.0,
    "L4": 121.0,
    "RTX 4090": 165.0,
}


@dataclass(frozen=True)
class Config:
    name: str
    bf16: bool
    channels_last: bool
    compile: bool


CONFIGS = {
    "fp32": Config("fp32", False, False, False),
    "bf16": Config("bf16-mixed", True, False, False),
    "bf16_cl": Config("bf16 + channels_last", True, True, False),
    "bf16_cl_compile": Config("bf16 + channels_last + compile", True, True, True),
}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build(config: Config, args: argparse.Namespace, device: torch.device) -> SegmentationModule:
    torch.manual_seed(0)
    loss = CompositeLoss({"ce": CELoss(), "dice": DiceLoss()}, {"ce": 1.0, "dice": 0.5})
    module = SegmentationModule(
        [f"class{i}" for i in range(NUM_CLASSES)],
        encoder_name=args.encoder,
        loss=loss,
        channels_last=config.channels_last,
        compile=config.compile,
        compile_mode=args.compile_mode,
    )
    return module.to(device).train()


def train_step(module, optimizer, images, masks, config: Config, device: torch.device) -> None:
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.bf16):
        loss = module.loss(module(images), masks)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def count_flops(args: argparse.Namespace, images, masks, device: torch.device) -> float:
    """Forward + backward FLOPs of one batch; the optimizer's elementwise work is negligible."""
    module = build(CONFIGS["fp32"], args, device)
    with FlopCounterMode(display=False) as counter:
        module.loss(module(images), masks).backward()
    return float(counter.get_total_flops())


def measure(config: Config, args, images, masks, device: torch.device) -> dict[str, float]:
    module = build(config, args, device)
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-3)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(args.warmup):
        train_step(module, optimizer, images, masks, config, device)
    times = []
    for _ in range(args.steps):
        synchronize(device)
        began = time.perf_counter()
        train_step(module, optimizer, images, masks, config, device)
        synchronize(device)
        times.append(time.perf_counter() - began)
    step_s = statistics.median(times)
    peak = (
        torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    )
    return {"step_s": step_s, "images_per_s": args.batch / step_s, "peak_gib": peak}


def device_peak(device: torch.device, override: float | None) -> tuple[float | None, str]:
    if override:
        return override, f"{override:g} TFLOP/s (--peak-tflops)"
    if device.type != "cuda":
        return None, "unknown for this device (pass --peak-tflops)"
    name = torch.cuda.get_device_name(device)
    for key, peak in BF16_PEAK_TFLOPS.items():
        if key in name:
            return peak, f"{peak:g} dense bf16 TFLOP/s ({name})"
    return None, f"unknown for {name} (pass --peak-tflops)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--encoder", default="resnet34")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--configs", default=",".join(CONFIGS), help=",".join(CONFIGS))
    parser.add_argument("--compile-mode", default="default")
    parser.add_argument("--peak-tflops", type=float, default=None)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (cpu device)")
    args = parser.parse_args()
    unknown = set(args.configs.split(",")) - set(CONFIGS)
    if unknown:
        parser.error(f"--configs: unknown {sorted(unknown)}; choose from {list(CONFIGS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device here; use --device cpu --size 64")

    started = time.perf_counter()
    g = torch.Generator().manual_seed(0)
    images = torch.randn(args.batch, 3, args.size, args.size, generator=g).to(device)
    masks = torch.randint(0, NUM_CLASSES, (args.batch, args.size, args.size), generator=g)
    masks = masks.to(device)
    flops = count_flops(args, images, masks, device)
    peak, peak_text = device_peak(device, args.peak_tflops)

    rows = []
    for key in args.configs.split(","):
        result = measure(CONFIGS[key], args, images, masks, device)
        tflops = flops / result["step_s"] / 1e12
        share = f"{tflops / peak:.1%}" if peak else "n/a"
        memory = "n/a" if result["peak_gib"] != result["peak_gib"] else f"{result['peak_gib']:.2f}"
        rows.append(
            f"| {CONFIGS[key].name} | {result['images_per_s']:.1f} | {result['step_s'] * 1e3:.1f} "
            f"| {memory} | {tflops:.3g} | {share} |"
        )
        print(f"done: {CONFIGS[key].name}", flush=True)

    print(
        f"\nU-Net-{args.encoder}, {args.size}x{args.size}, batch {args.batch}, {NUM_CLASSES} "
        f"classes, on {device}; {flops / args.batch / 1e9:.1f} GFLOP per image (fwd+bwd); "
        f"peak: {peak_text}; total {time.perf_counter() - started:.0f} s\n"
    )
    print("| config | images/s | ms/step | peak GiB | TFLOP/s | of peak |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
