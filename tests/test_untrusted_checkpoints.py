"""Every entry point that loads a checkpoint or cache refuses pickle that would run code, and names
a file it cannot read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from seg_f1 import evaluate, export, predict
from seg_f1.losses.class_weights import resolve_class_weights
from seg_f1.network import create_network


class CreatesFile:
    """Unpickling this calls ``open(marker, "w")``: the file appearing proves code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def write_hostile(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"epoch": 0, "global_step": 3, "state_dict": {}, "extra": CreatesFile(marker)}
    torch.save(payload, path)
    return path


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "payload-ran"


def test_train_with_ckpt_path_refuses_a_hostile_checkpoint(compose_cfg, tmp_path, marker):
    from seg_f1.training import train

    evil = write_hostile(tmp_path / "in" / "evil.ckpt", marker)
    with pytest.raises(ValueError, match=r"evil\.ckpt: refused, it needs arbitrary pickle"):
        train(compose_cfg(f"ckpt_path={evil}"))
    assert not marker.exists()


def test_train_with_resume_refuses_a_hostile_checkpoint(compose_cfg, tmp_path, marker):
    from seg_f1.training import train

    previous = tmp_path / "previous"
    write_hostile(previous / "checkpoints" / "last.ckpt", marker)
    with pytest.raises(ValueError, match=r"last\.ckpt: refused, it needs arbitrary pickle"):
        train(compose_cfg(f"resume={previous}"))
    assert not marker.exists()


def test_evaluate_predict_and_export_refuse_a_hostile_checkpoint(tmp_path, marker):
    evil = write_hostile(tmp_path / "evil.ckpt", marker)
    photo = tmp_path / "photo.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(photo)
    configs = {
        evaluate: {"ckpt_path": str(evil)},
        predict: {"backend": "torch", "onnx_model": None, "ckpt_path": str(evil),
                  "input": str(photo), "output": str(tmp_path / "out"),
                  "overlay": False, "batch_size": 1, "progress": False, "overwrite": False},
        export: {"ckpt_path": str(evil), "output": str(tmp_path / "m.onnx"), "opset": 17,
                 "parity_batch": 1, "tolerance": 1e-3},
    }  # fmt: skip
    for tool, keys in configs.items():
        with pytest.raises(ValueError, match=r"evil\.ckpt: refused"):
            tool.run(OmegaConf.create(keys))
    assert not marker.exists()


def test_a_hostile_class_weight_cache_or_file_is_refused(tmp_path, marker):
    masks = tmp_path / "masks"
    masks.mkdir()
    Image.fromarray(np.array([[0, 1], [2, 2]], np.uint8)).save(masks / "a.png")

    def resolve(spec):
        return resolve_class_weights(
            spec, class_names=["bg", "skin", "hair"], ignore_index=255,
            mask_paths=lambda: [masks / "a.png"], cache_dirs=[tmp_path / "cache"],
        )  # fmt: skip

    resolve("inverse")
    (cached,) = (tmp_path / "cache").glob("class_weights_inverse*.pt")
    write_hostile(cached, marker)
    with pytest.raises(ValueError, match=rf"loss.class_weights: .*{cached.name}: refused"):
        resolve("inverse")
    evil = write_hostile(tmp_path / "weights.pt", marker)
    with pytest.raises(ValueError, match=r"loss.class_weights: .*weights\.pt: refused"):
        resolve(str(evil))
    assert not marker.exists()


@pytest.mark.parametrize("kept", [0.0, 0.5], ids=["empty", "truncated"])
def test_an_empty_or_truncated_checkpoint_is_named(compose_cfg, tmp_path, kept):
    from seg_f1.inference.model import load_checkpoint
    from seg_f1.training import train

    broken = tmp_path / "in" / "broken.ckpt"
    broken.parent.mkdir()
    torch.save({"epoch": 0, "global_step": 3, "state_dict": {"w": torch.ones(4096)}}, broken)
    content = broken.read_bytes()
    broken.write_bytes(content[: int(len(content) * kept)])
    with pytest.raises(ValueError, match=r"broken\.ckpt: cannot read the checkpoint"):
        load_checkpoint(broken)
    with pytest.raises(ValueError, match=r"broken\.ckpt: cannot read the checkpoint"):
        train(compose_cfg(f"ckpt_path={broken}"))


def test_encoder_weights_that_would_run_code_are_refused_with_their_key(tmp_path, marker):
    evil = write_hostile(tmp_path / "evil.pth", marker)
    with pytest.raises(ValueError, match=r"model.encoder_weights: .*evil\.pth: refused"):
        create_network("Unet", "resnet18", str(evil), num_classes=2)
    assert not marker.exists()


@pytest.mark.parametrize("kept", [0.0, 0.5], ids=["empty", "truncated"])
def test_empty_or_truncated_encoder_weights_are_named(tmp_path, kept):
    weights = tmp_path / "resnet18.pth"
    torch.save(
        create_network("Unet", "resnet18", None, num_classes=2).encoder.state_dict(), weights
    )
    weights.write_bytes(weights.read_bytes()[: int(weights.stat().st_size * kept)])
    with pytest.raises(
        ValueError, match=r"model.encoder_weights: .*resnet18\.pth: cannot read the checkpoint"
    ):
        create_network("Unet", "resnet18", str(weights), num_classes=2)


def test_a_trained_checkpoint_loads_without_arbitrary_pickle(compose_cfg, tmp_path):
    """Every state a run stores (RNG, callbacks, loops, optimizer) is plain data."""
    from seg_f1.training import train

    train(compose_cfg("trainer.max_epochs=3", "test=false"))
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert {"rng_states", "callbacks", "loops", "optimizer_states", "config"} <= set(checkpoint)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_a_plain_pickle_file_is_named_as_needing_arbitrary_code_and_never_run(
    tmp_path, marker, protocol
):
    import pickle

    from seg_f1.runs.checkpoints import load_checkpoint

    path = tmp_path / "weights.pkl"
    path.write_bytes(pickle.dumps({"state_dict": {}, "x": CreatesFile(marker)}, protocol))
    refused = r"weights\.pkl: refused, it (is a plain pickle file|needs arbitrary pickle)"
    with pytest.raises(ValueError, match=refused):
        load_checkpoint(path)
    assert not marker.exists()
    path.write_bytes(pickle.dumps({"state_dict": {"w": [1.0, 2.0]}}, protocol))
    with pytest.raises(ValueError, match=r"plain pickle file, .*arbitrary pickle"):
        load_checkpoint(path)


def test_a_legacy_torch_save_file_still_loads_and_a_truncated_one_is_called_truncated(tmp_path):
    from seg_f1.runs.checkpoints import load_checkpoint

    path = tmp_path / "legacy.pt"
    torch.save({"w": torch.ones(3)}, path, _use_new_zipfile_serialization=False)
    assert torch.equal(load_checkpoint(path)["w"], torch.ones(3))
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ValueError, match=r"legacy\.pt: cannot read the checkpoint .* truncated"):
        load_checkpoint(path)
