"""Training levers side by side: each one's step time against the former default, here.

    python benchmarks/bench_levers.py                          # both models, every lever
    python benchmarks/bench_levers.py --models default --rounds 5 --compile

Each lever trains the same ``SegmentationModule`` (same seed, the default ``focal_dice`` loss,
AdamW) on the same random batch and times ``--steps`` optimizer steps after ``--warmup`` ones;
rounds run the levers in turn (the order rotates each round) and each ratio is the median of the
per-round ratios against the round's baseline (float32, NCHW, AdamW's per-tensor loop, not
compiled: the CPU default before precision, layout and optimizer were chosen per machine).
Also per step: the loss's share (the step with the loss replaced by a plain mean of the
logits) and the F1 confusion matrix update's share. Every row gives the model FLOP/s
(``torch.utils.flop_counter``, forward + backward) and its share of the peak measured in this
process on the same threads, in that lever's compute dtype.

Models: ``default`` is ``make train``'s (U-Net-resnet18, 64 px, batch 8); ``large`` is
U-Net-resnet34 at 512 px, batch 2 (CelebAMask-HQ's mask size). ``torch.compile`` is off unless
``--compile`` (about 110 s of compiling per model from a cold cache).

``--loader`` adds intra-op threads against DataLoader workers: one real training epoch of the
default run (``trainer.fit`` on the synthetic faces, decode and flip included, validation off)
for each ``threads x workers`` pair, against today's default (all cores, no workers).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402

from seg_f1 import CONF_DIR  # noqa: E402
from seg_f1.callbacks.throughput import compute_dtype, peak_flops, training_flops  # noqa: E402
from seg_f1.config.precision import choose_cpu, cpu_flags  # noqa: E402
from seg_f1.losses import CompositeLoss, DiceLoss, FocalLoss  # noqa: E402
from seg_f1.metrics import ConfusionMatrix  # noqa: E402
from seg_f1.module import SegmentationModule  # noqa: E402
from seg_f1.training import build_datamodule, build_module, build_trainer  # noqa: E402

NUM_CLASSES = 19
HEADER = (
    "| model | lever | time | vs the former default (float32) | GFLOP/s | share of measured peak |"
)
MODELS = {"default": ("resnet18", 64, 8), "large": ("resnet34", 512, 2)}


@dataclass(frozen=True)
class Lever:
    name: str
    precision: str = "32-true"
    channels_last: bool = False
    compile: bool = False
    fused: bool = False  # AdamW's one-kernel step (conf/optimizer/adamw.yaml) instead of its loop
    plain_loss: bool = False  # the loss replaced by a mean of the logits: what the loss costs


DEFAULT = Lever("bf16-mixed + channels_last + fused AdamW (the default)",
                precision="bf16-mixed", channels_last=True, fused=True)  # fmt: skip
LEVERS = [
    Lever("float32 (the former default)"),
    Lever("bf16-mixed", precision="bf16-mixed"),
    Lever("channels_last", channels_last=True),
    Lever("bf16-mixed + channels_last", precision="bf16-mixed", channels_last=True),
    Lever("fused AdamW", fused=True),
    DEFAULT,
    Lever("float32, loss replaced by mean(logits)", plain_loss=True),
    replace(DEFAULT, name="the default, loss replaced by mean(logits)", plain_loss=True),
]
COMPILED = Lever("float32 + torch.compile", compile=True)


def default_loss() -> CompositeLoss:
    """``conf/loss/focal_dice.yaml``: focal 1.0 + dice 0.5."""
    terms = {"focal": FocalLoss(alpha=0.25, gamma=2.0), "dice": DiceLoss()}
    return CompositeLoss(terms, {"focal": 1.0, "dice": 0.5})


def build(lever: Lever, encoder: str) -> SegmentationModule:
    torch.manual_seed(0)
    module = SegmentationModule(
        [f"class{i}" for i in range(NUM_CLASSES)],
        encoder_name=encoder,
        loss=default_loss(),
        channels_last=lever.channels_last,
        compile=lever.compile,
    )
    return module.train()


def step_fn(lever: Lever, module: SegmentationModule, images, masks) -> Callable[[], None]:
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-3, fused=lever.fused)
    dtype = compute_dtype(lever.precision)
    inputs = images.contiguous(memory_format=torch.channels_last) if lever.channels_last else images

    def step() -> None:
        with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
            logits = module(inputs)
            loss = logits.float().mean() if lever.plain_loss else module.loss(logits, masks)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def same_step(a: Lever, b: Lever) -> bool:
    """The same precision, layout, compile and optimizer (the loss may differ)."""
    return (a.precision, a.channels_last, a.compile, a.fused) == (
        b.precision, b.channels_last, b.compile, b.fused)  # fmt: skip


def time_steps(step: Callable[[], None], warmup: int, steps: int) -> float:
    for _ in range(warmup):
        step()
    began = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - began) / steps


def metric_seconds(images, masks, repeats: int = 5) -> float:
    """One ``ConfusionMatrix.update`` (argmax + bincount) on a batch of logits."""
    matrix = ConfusionMatrix(NUM_CLASSES)
    logits = torch.randn(images.shape[0], NUM_CLASSES, *images.shape[2:])
    matrix.update(logits, masks)
    began = time.perf_counter()
    for _ in range(repeats):
        matrix.update(logits, masks)
    return (time.perf_counter() - began) / repeats


def measure_model(name: str, levers: list[Lever], args) -> list[str]:
    encoder, size, batch = MODELS[name]
    g = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, size, size, generator=g)
    masks = torch.randint(0, NUM_CLASSES, (batch, size, size), generator=g)
    flops = training_flops(build(levers[0], encoder).net, tuple(images.shape))
    dtypes = {compute_dtype(lever.precision) for lever in levers}
    peaks = {dtype: peak_flops(torch.device("cpu"), dtype) for dtype in dtypes}
    steps = {lever: step_fn(lever, build(lever, encoder), images, masks) for lever in levers}
    seconds: dict[Lever, list[float]] = {lever: [] for lever in levers}
    for round_ in range(args.rounds):
        order = levers[round_ % len(levers) :] + levers[: round_ % len(levers)]
        for lever in order:
            seconds[lever].append(time_steps(steps[lever], args.warmup, args.steps))
        print(f"{name}: round {round_ + 1} of {args.rounds} done", flush=True)
    base = levers[0]
    metric_s = metric_seconds(images, masks)
    rows = []
    for lever in levers:
        ratio = statistics.median(s / b for s, b in zip(seconds[lever], seconds[base], strict=True))
        step_s = statistics.median(seconds[lever])
        dtype = compute_dtype(lever.precision)
        achieved = flops / step_s
        rows.append(f"| {name} | {lever.name} | {step_s * 1e3:.0f} | **{ratio:.2f}** | "
                    f"{achieved / 1e9:.1f} | {achieved / peaks[dtype]:.1%} of "
                    f"{peaks[dtype] / 1e9:.0f} ({str(dtype)[6:]}) |")  # fmt: skip
    base_s = statistics.median(seconds[base])
    for plain in (lv for lv in levers if lv.plain_loss):
        full = next(lv for lv in levers if same_step(lv, plain) and not lv.plain_loss)
        full_s = statistics.median(seconds[full])
        loss_share = 1 - statistics.median(seconds[plain]) / full_s
        rows.append(f"| {name} | loss (focal + 0.5 dice), forward + backward, in "
                    f"{full.name} | {loss_share * full_s * 1e3:.0f} | "
                    f"{loss_share:.1%} of the step | | |")  # fmt: skip
    rows.append(f"| {name} | F1 confusion update | {metric_s * 1e3:.1f} | "
                f"{metric_s / base_s:.1%} of the step | | |")  # fmt: skip
    print(f"{name}: U-Net-{encoder}, {size} px, batch {batch}: "
          f"{flops / batch / 1e9:.2f} GFLOP per image (fwd+bwd)", flush=True)  # fmt: skip
    return rows


def epoch_seconds(root: Path, threads: int, workers: int) -> float:
    """One training epoch of the default run through ``trainer.fit``, setup left out."""
    overrides = [f"paths.root_dir={root}", f"paths.output_dir={root / 'run'}",
                 f"data.num_workers={workers}", "trainer.max_epochs=1", "trainer.precision=32-true",
                 "+trainer.limit_val_batches=0", "test=false", "~callbacks.progress_bar",
                 "~callbacks.throughput", "~callbacks.run_reports", "~callbacks.curve_diagnosis",
                 "~callbacks.model_summary", "+trainer.enable_model_summary=false"]  # fmt: skip
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    torch.set_num_threads(threads)
    datamodule = build_datamodule(cfg)
    module = build_module(cfg, datamodule)
    trainer = build_trainer(cfg)
    began = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    return time.perf_counter() - began


def loader_rows(args) -> list[str]:
    cores = os.cpu_count() or 1
    pairs = [(cores, 0), (cores, 1), (max(cores - 1, 1), 1), (cores, 2), (1, cores - 1 or 1)]
    pairs = list(dict.fromkeys(pairs))
    seconds: dict[tuple[int, int], list[float]] = {pair: [] for pair in pairs}
    with tempfile.TemporaryDirectory() as root:
        epoch_seconds(Path(root), cores, 0)  # generates the synthetic set once
        for round_ in range(args.rounds):
            for pair in pairs[round_ % len(pairs) :] + pairs[: round_ % len(pairs)]:
                seconds[pair].append(epoch_seconds(Path(root), *pair))
            print(f"loader: round {round_ + 1} of {args.rounds} done", flush=True)
    base = seconds[pairs[0]]
    rows = []
    for (threads, workers), times in seconds.items():
        ratio = statistics.median(s / b for s, b in zip(times, base, strict=True))
        rows.append(f"| default, 1 epoch | {threads} threads, {workers} loader workers | "
                    f"{statistics.median(times):.1f} s | **{ratio:.2f}** | | |")  # fmt: skip
    torch.set_num_threads(cores)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="default,large", help=",".join(MODELS))
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--loader", action="store_true", help="also threads x loader workers")
    args = parser.parse_args()
    unknown = set(args.models.split(",")) - set(MODELS)
    if unknown:
        parser.error(f"--models: unknown {sorted(unknown)}; choose from {list(MODELS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    levers = LEVERS + ([COMPILED] if args.compile else [])
    choice = choose_cpu(cpu_flags())
    print(f"CPU: {platform.processor() or platform.machine()}, {torch.get_num_threads()} "
          f"threads; precision=auto here: {choice.precision} ({choice.reason}); "
          f"{args.rounds} rounds of {args.steps} steps", flush=True)  # fmt: skip
    started = time.perf_counter()
    sections = [
        lambda name=name: measure_model(name, levers, args) for name in args.models.split(",")
    ]
    if args.loader:
        sections.append(lambda: loader_rows(args))
    for section in sections:
        rows = section()
        print(f"\n{HEADER}\n|---|---|---|---|---|---|")
        print("\n".join(rows), flush=True)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
