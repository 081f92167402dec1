"""The datamodule built from conf/data/synthetic.yaml, and the plain-folder reader's errors."""

from __future__ import annotations

import hydra
import numpy as np
import pytest
import torch
from PIL import Image

from seg_f1.data.folder import FolderSource
from seg_f1.data.labels import CELEBAMASK_HQ_CLASSES as CLASSES


def test_synthetic_batches(compose_cfg):
    cfg = compose_cfg()
    datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    datamodule.setup("fit")
    assert datamodule.num_classes == len(CLASSES) == 19
    batch = next(iter(datamodule.train_dataloader()))
    assert batch["image"].shape == (4, 3, 32, 32)
    assert batch["mask"].shape == (4, 32, 32) and batch["mask"].dtype.is_floating_point is False
    assert int(batch["mask"].max()) < 19
    assert batch["image"].dtype == torch.uint8  # normalised on the device, by the model
    assert len(datamodule.train_mask_paths()) == 8


def test_unknown_flip_pair_fails_at_construction(compose_cfg):
    cfg = compose_cfg("data.flip_pairs=[[l_eye,left_eye]]")
    with pytest.raises(Exception, match="left_eye"):
        hydra.utils.instantiate(cfg.data, _convert_="all")


def write_pair(folder, split, stem, mask_mode="L"):
    (folder / split / "images").mkdir(parents=True, exist_ok=True)
    (folder / split / "masks").mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / split / "images" / f"{stem}.jpg")
    mask = np.zeros((8, 8, 3) if mask_mode == "RGB" else (8, 8), np.uint8)
    Image.fromarray(mask, mask_mode).save(folder / split / "masks" / f"{stem}.png")


def test_image_without_mask_is_named(tmp_path):
    write_pair(tmp_path, "train", "a")
    (tmp_path / "train" / "masks" / "a.png").rename(tmp_path / "train" / "masks" / "b.png")
    with pytest.raises(FileNotFoundError, match="a.jpg"):
        FolderSource(str(tmp_path)).samples("train")


def test_rgb_mask_is_rejected_with_its_path(tmp_path):
    from seg_f1.data.dataset import read_mask

    write_pair(tmp_path, "train", "a", mask_mode="RGB")
    with pytest.raises(ValueError, match=r"a\.png.*single-channel"):
        read_mask(tmp_path / "train" / "masks" / "a.png")


@pytest.mark.parametrize(("preset", "workers"), [("gpu", 12), ("ddp", 10)])
def test_gpu_presets_size_the_loader_and_the_command_line_still_wins(compose_cfg, preset, workers):
    cfg = compose_cfg(f"trainer={preset}", tiny=False)
    assert cfg.trainer.accelerator == "gpu" and cfg.trainer.precision == "auto"
    assert cfg.data.num_workers == workers and cfg.data.prefetch_factor == 4
    assert cfg.data.pin_memory is True and cfg.data.persistent_workers is True
    cfg = compose_cfg(f"trainer={preset}", "data.num_workers=1", "data.image_size=32")
    datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    datamodule.setup("fit")
    loader = datamodule.train_dataloader()
    assert (loader.num_workers, loader.prefetch_factor, loader.pin_memory) == (1, 4, True)
    assert loader.persistent_workers is True
