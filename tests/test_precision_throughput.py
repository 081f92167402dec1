"""trainer.precision=auto chooses by the machine's instructions; the throughput callback counts
FLOPs as hand-computed and puts achieved FLOP/s and the share of measured peak in result.json."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from seg_f1.callbacks.throughput import compute_dtype, peak_flops, training_flops
from seg_f1.config.precision import (
    choose_cpu,
    choose_cuda,
    choose_precision,
    cpu_flags,
    resolve_channels_last,
    resolve_precision,
)
from seg_f1.runs.resume_config import config_changes
from seg_f1.training import build_datamodule, build_module, build_trainer, train

EPYC_FLAGS = "flags\t\t: fpu vme sse2 avx2 avx512f avx512_bf16 avx512_vnni\n"
ZEN3_FLAGS = "flags\t\t: fpu vme sse2 avx2 fma\n"


@pytest.mark.parametrize(
    ("cpuinfo", "expected"),
    [(EPYC_FLAGS, "bf16-mixed"), (ZEN3_FLAGS, "32-true"),
     ("flags : sse2 amx_bf16 amx_tile\n", "bf16-mixed"), ("", "32-true")],
)  # fmt: skip
def test_a_cpu_gets_bf16_only_with_native_bf16_instructions(tmp_path, cpuinfo, expected):
    path = tmp_path / "cpuinfo"
    path.write_text("processor\t: 0\n" + cpuinfo)
    choice = choose_cpu(cpu_flags(path))
    assert choice.precision == expected
    assert ("avx512_bf16" in choice.reason) == ("avx512_bf16" in cpuinfo) or expected == "32-true"


def test_a_missing_cpuinfo_means_no_native_bf16(tmp_path):
    assert cpu_flags(tmp_path / "absent") == set()


def test_a_gpu_gets_bf16_where_supported_else_float16():
    assert choose_cuda(True, "NVIDIA H200").precision == "bf16-mixed"
    older = choose_cuda(False, "Tesla V100")
    assert older.precision == "16-mixed" and "V100" in older.reason


def test_this_machine_is_judged_by_its_own_flags():
    native = bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})
    expected = "bf16-mixed" if native else "32-true"
    assert choose_precision("cpu").precision == expected


@pytest.mark.parametrize("explicit", ["32-true", "bf16-mixed", "16-mixed", 32, None])
def test_an_explicit_precision_wins(explicit):
    assert resolve_precision(explicit, "cpu") == explicit


def test_auto_is_logged_once_with_the_reason(caplog):
    with caplog.at_level("INFO", logger="seg_f1.config.precision"):
        chosen = resolve_precision("auto", "cpu")
    (record,) = caplog.records
    assert f"trainer.precision=auto -> {chosen}: " in record.getMessage()


def test_the_trainer_gets_the_resolved_precision(compose_cfg):
    trainer = build_trainer(compose_cfg("trainer.precision=auto"))
    assert trainer.precision == choose_precision("cpu").precision


def test_flops_of_one_convolution_match_the_hand_count():
    """Forward 2*Cout*Cin*k*k*H*W*B multiply-adds; backward twice that (input and weight grads)."""
    conv = nn.Conv2d(4, 6, kernel_size=3, padding=1, bias=False)
    batch, size = 2, 8
    forward = 2 * 6 * 4 * 3 * 3 * size * size * batch
    # the first layer's input needs no gradient: backward computes the weight gradient only
    assert training_flops(conv, (batch, 4, size, size)) == forward + forward


def test_flops_scale_with_the_batch_and_leave_the_weights_alone():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 5, 3, padding=1))
    before = [p.detach().clone() for p in net.parameters()]
    one, four = training_flops(net, (1, 3, 16, 16)), training_flops(net, (4, 3, 16, 16))
    assert four == 4 * one > 0
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    assert all(p.grad is None for p in net.parameters())


@pytest.mark.parametrize(
    ("precision", "dtype"),
    [("bf16-mixed", torch.bfloat16), ("16-mixed", torch.float16), ("32-true", torch.float32),
     ("bf16-true", torch.bfloat16)],
)  # fmt: skip
def test_the_peak_is_measured_in_the_runs_compute_dtype(precision, dtype):
    assert compute_dtype(precision) == dtype


def test_the_measured_peak_is_a_plausible_rate():
    peak = peak_flops(torch.device("cpu"), torch.float32, seconds=0.05)
    assert 1e8 < peak < 1e14  # between a slow core and far beyond any CPU


def test_result_json_records_the_precision_and_the_throughput(compose_cfg, tmp_path):
    overrides = ["trainer.precision=32-true", "data.source.num_train=16",
                 "trainer.limit_train_batches=4", "callbacks.throughput.warmup_steps=1",
                 "callbacks.throughput.peak_seconds=0.05"]  # fmt: skip
    train(compose_cfg(*overrides))
    record = json.loads((tmp_path / "result.json").read_text())
    assert record["precision"] == "32-true"
    throughput = record["throughput"]
    assert throughput["steps_timed"] == 3
    assert throughput["peak_dtype"] == "float32"
    expected_share = throughput["achieved_gflop_per_s"] / throughput["peak_gflop_per_s"]
    assert throughput["share_of_peak"] == pytest.approx(expected_share, rel=1e-2)
    gflop_per_s = throughput["step_gflop"] / throughput["step_s"]
    assert throughput["achieved_gflop_per_s"] == pytest.approx(gflop_per_s, rel=1e-2)


@pytest.mark.parametrize(
    ("value", "precision", "expected"),
    [("auto", "bf16-mixed", True), ("auto", "16-mixed", True), ("auto", "32-true", False),
     ("auto", 32, False), (True, "32-true", True), (False, "bf16-mixed", False)],
)  # fmt: skip
def test_channels_last_auto_follows_a_16_bit_compute(value, precision, expected):
    assert resolve_channels_last(value, precision) is expected


def test_a_misspelt_channels_last_is_named():
    with pytest.raises(ValueError, match="model.channels_last must be true, false or auto"):
        resolve_channels_last("yes", "32-true")


@pytest.mark.parametrize(("precision", "nhwc"), [("bf16-mixed", True), ("32-true", False)])
def test_the_module_gets_the_layout_its_precision_asks_for(compose_cfg, precision, nhwc):
    cfg = compose_cfg(f"trainer.precision={precision}")
    assert cfg.model.channels_last == "auto"
    datamodule = build_datamodule(cfg)
    module = build_module(cfg, datamodule, precision)
    assert module.channels_last is nhwc
    weight = module.net.encoder.conv1.weight
    assert weight.is_contiguous(memory_format=torch.channels_last) is nhwc


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_the_optimizer_presets_step_with_one_fused_kernel(compose_cfg, optimizer):
    cfg = compose_cfg(f"optimizer={optimizer}")
    module = build_module(cfg, build_datamodule(cfg), "32-true")
    configured = module.configure_optimizers()
    chosen = configured["optimizer"] if isinstance(configured, dict) else configured
    assert chosen.defaults["fused"] is True


@pytest.mark.parametrize(
    ("kind", "options"),
    [(torch.optim.AdamW, {"lr": 3e-3, "weight_decay": 1e-4}),
     (torch.optim.SGD, {"lr": 1e-2, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4})],
)  # fmt: skip
def test_a_fused_step_moves_the_weights_as_the_per_tensor_loop_does(kind, options):
    torch.manual_seed(0)
    # no bias before the norm: its gradient is rounding noise, which Adam scales up to +-lr
    looped = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.Conv2d(8, 4, 1))
    fused = copy.deepcopy(looped)
    inputs = torch.randn(2, 3, 9, 9)
    optimizers = [kind(looped.parameters(), foreach=False, **options),
                  kind(fused.parameters(), fused=True, **options)]  # fmt: skip
    for _ in range(3):
        for net, optimizer in zip((looped, fused), optimizers, strict=True):
            net(inputs).square().mean().backward()
            optimizer.step()
            optimizer.zero_grad()
    for a, b in zip(looped.parameters(), fused.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_a_checkpoint_from_before_fused_optimizers_continues_without_a_config_change(
    compose_cfg,
):
    cfg = compose_cfg()
    stored = OmegaConf.to_container(cfg, resolve=True)
    del stored["optimizer"]["fused"]
    assert "optimizer.fused" not in config_changes(stored, cfg)
    assert config_changes(stored, compose_cfg("optimizer.fused=false")) == {
        "optimizer.fused": {"was": None, "now": False}
    }
