"""The augmentation pipelines of conf/data/augment, built from config and run on masks."""

from __future__ import annotations

import hydra
import numpy as np
import pytest
from conftest import CONF
from omegaconf import OmegaConf

from seg_f1.data.transforms import PairedHorizontalFlip

DATASETS = ("synthetic", "celebamask_hq", "lapa", "helen", "folder")


@pytest.mark.parametrize("dataset", DATASETS)
def test_flip_swaps_every_pair_of_each_dataset(dataset):
    data = OmegaConf.load(CONF / "data" / f"{dataset}.yaml")
    classes, pairs = list(data.classes), [list(p) for p in data.flip_pairs]
    assert pairs, f"{dataset} declares no flip pairs"
    flip = PairedHorizontalFlip(pairs, classes, p=1.0)
    for left, right in pairs:
        i, j = classes.index(left), classes.index(right)
        mask = np.zeros((4, 6), np.uint8)
        mask[:, :2] = i  # one side only: moved to the other side, it must become its partner
        mask[0, 2] = 1  # an unpaired class moves but keeps its label
        flipped = flip(image=np.zeros((4, 6, 3), np.uint8), mask=mask)["mask"]
        assert (flipped[:, 4:] == j).all() and (flipped[:, :2] == 0).all(), (left, right)
        assert flipped[0, 3] == 1
        mask[:, :2] = j  # and the other way round
        flipped = flip(image=np.zeros((4, 6, 3), np.uint8), mask=mask)["mask"]
        assert (flipped[:, 4:] == i).all(), (right, left)


def build(compose_cfg, pipeline: str, *overrides: str):
    cfg = compose_cfg(f"data/augment={pipeline}", *overrides)
    return {name: hydra.utils.instantiate(step) for name, step in cfg.data.augment.items()}


def steps(compose_cfg, pipeline: str, *overrides: str) -> list:
    return list(build(compose_cfg, pipeline, *overrides).values())


def test_pipelines_hold_the_named_steps(compose_cfg):
    assert build(compose_cfg, "none") == {}
    assert list(build(compose_cfg, "flip")) == ["flip"]
    assert list(build(compose_cfg, "light")) == ["flip", "affine", "colour"]
    strong = build(compose_cfg, "strong")
    assert list(strong) == ["flip", "affine", "colour", "scale_rotate", "blur_or_noise", "dropout"]


@pytest.mark.parametrize("pipeline", ["light", "strong"])
def test_geometry_never_invents_labels_and_fills_with_ignore(compose_cfg, pipeline):
    """Both halves as training runs them: the loader's steps, then the batch steps."""
    import torch

    from seg_f1.data.datamodule import split_augment

    in_loader, on_device = split_augment(steps(compose_cfg, pipeline, "data.ignore_index=200"))
    in_loader.set_random_seed(0)
    torch.manual_seed(0)
    mask = np.full((32, 32), 1, np.uint8)
    mask[8:24, 8:24] = 2  # skin and nose only: neither has a flip partner
    image = np.full((32, 32, 3), 128, np.uint8)
    seen = set()
    for _ in range(10):
        pairs = [in_loader(image=image, mask=mask) for _ in range(4)]
        images = torch.stack([torch.from_numpy(p["image"]).permute(2, 0, 1) for p in pairs])
        masks = torch.stack([torch.from_numpy(p["mask"]).long() for p in pairs])
        seen |= set(on_device(images, masks, seed=len(seen))[1].unique().tolist())
    assert seen <= {1, 2, 200} and 200 in seen and 0 not in seen


def test_light_and_strong_warp_and_jitter_on_the_device(compose_cfg):
    from seg_f1.data.batch_augment import BatchAffine, BatchColourJitter
    from seg_f1.data.datamodule import split_augment

    for pipeline, device_steps in (
        ("light", [BatchAffine, BatchColourJitter]),
        ("strong", [BatchAffine, BatchColourJitter, BatchAffine]),
    ):
        in_loader, on_device = split_augment(steps(compose_cfg, pipeline))
        assert [type(step) for step in on_device.steps] == device_steps
        assert not any(isinstance(t, (BatchAffine, BatchColourJitter)) for t in in_loader)
    assert split_augment(steps(compose_cfg, "flip"))[1] is None


def test_rotation_fills_mask_corners_with_ignore_index(compose_cfg):
    import torch

    from seg_f1.data.batch_augment import Draws

    affine = build(compose_cfg, "strong")["scale_rotate"]
    affine.p, affine.rotate, affine.scale = 1.0, (30.0, 30.0), (1.0, 1.0)
    images, masks = affine(
        torch.full((1, 3, 32, 32), 90 / 255),
        torch.ones(1, 32, 32).long(),
        Draws.seeded(0, torch.device("cpu")),
    )
    assert masks[0, 0, 0] == 255 and images[0, :, 0, 0].tolist() == [0, 0, 0]
    assert set(masks.unique().tolist()) == {1, 255}


def test_coarse_dropout_masks_its_holes_as_ignore(compose_cfg):
    dropout = build(compose_cfg, "strong")["dropout"]
    dropout.p = 1.0
    out = dropout(image=np.full((32, 32, 3), 90, np.uint8), mask=np.full((32, 32), 3, np.uint8))
    holes = (out["image"] == 0).all(axis=2)
    assert holes.any()
    np.testing.assert_array_equal(out["mask"] == 255, holes)
    assert (out["mask"][~holes] == 3).all()


def test_augmentations_follow_the_torch_seed(data_dir):
    """The same torch seed gives the same augmented batch, another seed another one: albumentations'
    own generators would otherwise be seeded from the OS."""
    import albumentations as A
    import torch

    from seg_f1.data.dataset import FaceParsingDataset
    from seg_f1.data.synthetic import SyntheticFaces

    samples = SyntheticFaces(root=data_dir, image_size=32, num_train=8, num_val=4, num_test=4)
    samples.prepare()
    steps = [A.HorizontalFlip(p=0.5), A.RandomBrightnessContrast(p=1.0)]
    dataset = FaceParsingDataset(samples.samples("train"), 32, A.Compose(steps))

    def images(seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        return torch.stack([dataset[i]["image"] for i in range(len(dataset))])

    assert torch.equal(images(0), images(0))
    assert not torch.equal(images(0), images(1))
