"""The LightningModule's network: smp underneath, local encoder weights, logged names."""

from __future__ import annotations

import pytest
import torch

from seg_f1.module import SegmentationModule
from seg_f1.network import create_network

CLASSES = ["background", "skin", "l_eye", "r_eye"]


def test_network_has_one_output_per_class():
    network = create_network("Unet", "resnet18", None, num_classes=len(CLASSES))
    assert network(torch.zeros(2, 3, 32, 32)).shape == (2, 4, 32, 32)


def test_encoder_weights_load_from_a_local_file(tmp_path):
    source = create_network("Unet", "resnet18", None, num_classes=4)
    path = tmp_path / "resnet18.pth"
    torch.save(source.encoder.state_dict(), path)
    loaded = create_network("Unet", "resnet18", str(path), num_classes=4)
    for key, value in source.encoder.state_dict().items():
        assert torch.equal(loaded.encoder.state_dict()[key], value), key


def test_encoder_weights_for_another_encoder_name_the_file(tmp_path):
    path = tmp_path / "resnet34.pth"
    torch.save(create_network("Unet", "resnet34", None, num_classes=4).encoder.state_dict(), path)
    with pytest.raises(ValueError, match=r"resnet34\.pth does not fit"):
        create_network("Unet", "resnet18", str(path), num_classes=4)


def test_logged_metric_names_cover_every_class():
    module = SegmentationModule(CLASSES)
    names = module.logged_metric_names()
    assert {"val/f1", "val/f1_best", "val/f1_l_eye", "train/f1_r_eye", "test/f1"} <= set(names)


def test_predict_only_module_refuses_to_train():
    module = SegmentationModule(CLASSES)
    batch = {"image": torch.zeros(1, 3, 32, 32), "mask": torch.zeros(1, 32, 32, dtype=torch.long)}
    with pytest.raises(RuntimeError, match="without a loss"):
        module.training_step(batch, 0)
