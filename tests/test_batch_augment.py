"""The on-device augmentation: hand-computed pixels, albumentations parity, geometry, and the
model applying it to training batches only."""

from __future__ import annotations

import colorsys

import albumentations as A
import numpy as np
import pytest
import torch

from seg_f1.data.batch_augment import (
    BatchAffine,
    BatchAugment,
    BatchColourJitter,
    Draws,
    adjust_brightness,
    adjust_contrast,
    adjust_saturation,
    batch_seed,
    shift_hue,
)
from seg_f1.data.transforms import PairedHorizontalFlip


def draws(seed: int = 0) -> Draws:
    return Draws.seeded(seed, torch.device("cpu"))


# one image, two pixels: a red-ish one and a grey one
PIXELS = torch.tensor([[[[0.8, 0.5]], [[0.2, 0.5]], [[0.1, 0.5]]]])  # [1, 3, 1, 2]


def test_brightness_contrast_saturation_by_hand():
    brighter = adjust_brightness(PIXELS, torch.tensor([1.5]))
    assert brighter[0, :, 0, 0].tolist() == pytest.approx([1.0, 0.3, 0.15])  # 1.2 clipped
    luma = [0.299 * 0.8 + 0.587 * 0.2 + 0.114 * 0.1, 0.5]  # 0.3676, 0.5
    mean = sum(luma) / 2
    flatter = adjust_contrast(PIXELS, torch.tensor([0.5]))
    assert flatter[0, 0, 0, 0].item() == pytest.approx(mean + 0.5 * (0.8 - mean))
    assert flatter[0, 2, 0, 1].item() == pytest.approx(mean + 0.5 * (0.5 - mean))
    greyer = adjust_saturation(PIXELS, torch.tensor([0.0]))
    assert greyer[0, :, 0, 0].tolist() == pytest.approx([luma[0]] * 3)
    assert greyer[0, :, 0, 1].tolist() == pytest.approx([0.5] * 3)


@pytest.mark.parametrize("shift", [0.0, 0.1, -0.3, 1 / 3])
def test_hue_shift_matches_colorsys(shift):
    images = torch.rand(2, 3, 4, 5, generator=torch.Generator().manual_seed(0))
    shifted = shift_hue(images, torch.tensor([shift, shift]))
    for n, y, x in ((0, 1, 2), (1, 3, 4), (0, 0, 0)):
        h, s, v = colorsys.rgb_to_hsv(*images[n, :, y, x].tolist())
        expected = colorsys.hsv_to_rgb((h + shift) % 1.0, s, v)
        assert shifted[n, :, y, x].tolist() == pytest.approx(expected, abs=1e-5)
    red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    assert shift_hue(red, torch.tensor([1 / 3]))[0, :, 0, 0].tolist() == pytest.approx([0, 1, 0])


@pytest.mark.parametrize(
    ("name", "value", "most", "mean"),
    [
        ("brightness", 1.2, 1.5, 1.0),
        ("contrast", 0.7, 1.5, 1.0),
        ("saturation", 1.3, 1.5, 1.0),
        ("hue", 0.05, 8.5, 1.0),  # OpenCV's 8-bit HSV keeps hue in 2-degree steps
    ],
)
def test_colour_jitter_matches_albumentations(name, value, most, mean):
    """Its albumentations twin (the loader's version on a CPU run), one factor at a time, in grey
    levels: rounding apart, the same."""
    image = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    jitter = BatchColourJitter(
        **{key: (1.0, 1.0) for key in ("brightness", "contrast", "saturation")}, hue=0.0, p=1.0
    )
    setattr(jitter, name, (value, value))
    twin = jitter.in_loader()
    assert isinstance(twin, A.ColorJitter)
    expected = twin(image=image)["image"].astype(np.float32)
    batch = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0
    ours = (
        jitter(batch, torch.zeros(1, 16, 16).long(), draws())[0][0].permute(1, 2, 0).numpy() * 255.0
    )
    difference = np.abs(ours - expected)
    assert difference.max() <= most and difference.mean() <= mean


def _quadrant_batch(size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    masks = torch.zeros(1, size, size, dtype=torch.long)
    masks[0, : size // 2, : size // 2] = 3
    images = (masks[:, None].expand(1, 3, size, size) / 3.0).clone()
    return images, masks


def test_affine_turns_counter_clockwise_shifts_and_fills():
    images, masks = _quadrant_batch()
    _, turned = BatchAffine(rotate=(90, 90), p=1.0, fill_mask=200)(images, masks, draws())
    expected = torch.zeros_like(masks)
    expected[0, 4:, :4] = 3  # top-left goes to bottom-left
    assert torch.equal(turned, expected)
    shift = BatchAffine(translate_percent=(0.25, 0.25), p=1.0, fill_mask=200)
    moved_images, moved = shift(images, masks, draws())
    assert (moved[0, :2] == 200).all() and (moved[0, :, :2] == 200).all()  # came from outside
    assert (moved[0, 2:6, 2:6] == 3).all() and (moved[0, 6:, 6:] == 0).all()
    assert (moved_images[0, :, :2] == 0).all()  # fill 0 on the image
    unchanged_images, unchanged = BatchAffine(p=1.0)(images, masks, draws())
    assert torch.equal(unchanged, masks)
    assert torch.allclose(unchanged_images, images, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "size", "share"),
    [
        ({"rotate": (90, 90)}, (16, 16), 0.0),
        ({"translate_percent": (0.25, 0.25)}, (16, 16), 0.0),
        # everything at once on a non-square image: the two differ only at label edges
        ({"rotate": (17, 17), "scale": (1.15, 1.15), "translate_percent": (0.06, 0.06)},
         (48, 80), 0.05),
    ],
)  # fmt: skip
def test_affine_twin_in_the_loader_warps_the_same(kwargs, size, share):
    height, width = size
    masks = torch.zeros(1, height, width, dtype=torch.long)
    masks[0, 5 : height // 2, 7 : width // 3] = 3
    masks[0, height // 2 :, width // 2 :] = 1
    images = (masks[:, None].expand(1, 3, height, width) / 3.0).clone()
    affine = BatchAffine(**kwargs, p=1.0, fill_mask=200)
    _, on_device = affine(images, masks, draws())
    twin = affine.in_loader()
    assert isinstance(twin, A.Affine)
    image = (images[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    in_loader = twin(image=image, mask=masks[0].numpy().astype(np.uint8))["mask"]
    assert (on_device[0].numpy() != in_loader).mean() <= share


def test_affine_keeps_labels_and_ignore_under_random_warps():
    masks = torch.randint(0, 5, (6, 32, 32))
    masks[:, :4] = 255
    affine = BatchAffine(scale=(0.8, 1.2), translate_percent=(-0.1, 0.1), rotate=(-30, 30), p=1.0)
    images, warped = affine(torch.rand(6, 3, 32, 32), masks, draws())
    assert set(warped.unique().tolist()) <= {0, 1, 2, 3, 4, 255}
    assert images.min() >= 0.0 and images.max() <= 1.0


def test_probability_and_seed():
    images, masks = torch.rand(16, 3, 8, 8), torch.randint(0, 4, (16, 8, 8))
    steps = [BatchAffine(rotate=(-30, 30), p=0.5), BatchColourJitter(p=0.5)]
    skipped = BatchAugment([BatchAffine(rotate=(-30, 30), p=0.0), BatchColourJitter(p=0.0)])
    out_images, out_masks = skipped(images, masks, seed=0)
    assert torch.equal(out_images, images) and torch.equal(out_masks, masks)

    def run(seed: int) -> torch.Tensor:
        return BatchAugment(steps)((images * 255).to(torch.uint8), masks, seed)[0]

    first = run(0)
    assert torch.equal(first, run(0)) and not torch.equal(first, run(1))
    changed = (first - (images * 255).to(torch.uint8).float() / 255).abs().amax(dim=(1, 2, 3))
    assert 0 < int((changed > 1e-4).sum()) < 16  # p=0.5 each: some images kept as they came


@pytest.mark.parametrize(
    ("step", "kwargs", "message"),
    [
        (BatchColourJitter, {"brightness": (1.5, 0.5)}, "brightness range"),
        (BatchColourJitter, {"hue": 0.7}, "hue must lie"),
        (BatchAffine, {"scale": (0.0, 1.0)}, "scale must be"),
        (BatchAffine, {"p": 1.5}, "p must be in"),
        (BatchAffine, {"rotate": 15}, r"rotate must be a \[low, high\] pair of numbers, got 15"),
        (BatchAffine, {"scale": {"x": (0.9, 1.1)}}, "scale must be a .low, high. pair"),
        (BatchAffine, {"translate_percent": (0.1, -0.1)}, "low <= high"),
        (BatchAffine, {"fill": (0, 0, 0)}, "fill must be one grey level"),
    ],
)
def test_bad_arguments_are_named(step, kwargs, message):
    with pytest.raises(ValueError, match=message):
        step(**kwargs)


def test_model_augments_training_batches_only():
    from seg_f1.module import SegmentationModule

    module = SegmentationModule(["a", "b"], encoder_name="resnet18", mean=(0, 0, 0), std=(1, 1, 1))
    module.batch_augment = BatchAugment([BatchColourJitter(brightness=(2.0, 2.0), p=1.0)])
    pixels = torch.full((2, 3, 4, 4), 50, dtype=torch.uint8)

    def batch() -> dict:
        return {"image": pixels.clone(), "mask": torch.zeros(2, 4, 4, dtype=torch.uint8)}

    module.train()
    trained = module.on_after_batch_transfer(batch(), 0)
    assert trained["image"].dtype == torch.float32 and trained["mask"].dtype == torch.long
    assert torch.allclose(trained["image"], torch.full_like(trained["image"], 100 / 255))
    module.eval()
    evaluated = module.on_after_batch_transfer(batch(), 0)
    assert torch.allclose(evaluated["image"], torch.full_like(evaluated["image"], 50 / 255))


def test_cpu_runs_keep_batch_steps_in_the_loader(compose_cfg):
    """augment_on=auto: no trainer or a CPU one puts the twins in the loader, in listed order."""
    from seg_f1.data.datamodule import split_augment
    from seg_f1.training import build_datamodule

    datamodule = build_datamodule(compose_cfg("data/augment=light"))
    datamodule.setup("fit")
    assert datamodule.batch_augment is None
    steps = [type(step) for step in datamodule.augment_in_loader]
    assert steps[1:] == [A.Affine, A.ColorJitter]
    loader_pipeline, on_device = split_augment(datamodule.augment_steps, on_device=True)
    assert [type(step) for step in on_device.steps] == [BatchAffine, BatchColourJitter]
    assert len(loader_pipeline) == 1


def test_augment_on_is_checked(compose_cfg):
    from hydra.errors import InstantiationException

    from seg_f1.training import build_datamodule

    with pytest.raises(InstantiationException, match="data.augment_on must be one of.*'gpu'"):
        build_datamodule(compose_cfg("data.augment_on=gpu"))


def test_training_with_batch_steps_on_the_device(compose_cfg):
    """On this CPU, forced onto the device: the model takes the datamodule's steps and every
    training batch goes through them, validation batches never."""
    from seg_f1.training import build_datamodule, build_module, build_trainer

    cfg = compose_cfg("data/augment=light", "data.augment_on=device", "test=false")
    datamodule = build_datamodule(cfg)
    module = build_module(cfg, datamodule)
    trainer = build_trainer(cfg)
    calls = []

    def counting_setup(stage: str) -> None:
        datamodule_setup(stage)
        steps = datamodule.batch_augment

        def counted(images, masks, seed):
            calls.append(seed)
            return steps(images, masks, seed)

        datamodule.batch_augment = counted

    datamodule_setup, datamodule.setup = datamodule.setup, counting_setup
    trainer.fit(module, datamodule=datamodule)
    assert module.batch_augment is datamodule.batch_augment
    # limit_train_batches=2: two training batches, each with its own seed; validation none
    assert calls == [batch_seed(torch.initial_seed(), index, 0) for index in (0, 1)]


def test_batch_seeds_differ_by_batch_and_rank_and_repeat_on_resume():
    seeds = {batch_seed(42, batch, rank) for batch in range(50) for rank in range(8)}
    assert len(seeds) == 400 and batch_seed(42, 7, 3) == batch_seed(42, 7, 3)
    images, masks = torch.rand(4, 3, 8, 8), torch.randint(0, 4, (4, 8, 8))
    steps = BatchAugment([BatchColourJitter(p=1.0), BatchAffine(rotate=(-30, 30), p=1.0)])
    rank_0, rank_1 = (steps(images, masks, batch_seed(42, 7, rank))[0] for rank in (0, 1))
    assert torch.equal(rank_0, steps(images, masks, batch_seed(42, 7, 0))[0])
    assert not torch.equal(rank_0, rank_1)


def test_a_gpu_trainer_takes_the_batch_steps_out_of_the_loader(compose_cfg):
    """augment_on=auto follows the trainer of each setup: CPU (loader), then another device."""
    from types import SimpleNamespace

    from seg_f1.training import build_datamodule

    datamodule = build_datamodule(compose_cfg("data/augment=light"))
    datamodule.trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("cpu")))
    datamodule.setup("fit")
    assert datamodule.batch_augment is None
    accelerator = SimpleNamespace(root_device=torch.device("meta"))  # any device but a CPU
    datamodule.trainer = SimpleNamespace(strategy=accelerator)
    datamodule.setup("fit")
    assert [type(s) for s in datamodule.batch_augment.steps] == [BatchAffine, BatchColourJitter]
    assert [type(s) for s in datamodule.datasets["train"].augment] == [PairedHorizontalFlip]


def test_strong_keeps_one_order_in_either_place(compose_cfg):
    from seg_f1.data.datamodule import split_augment
    from seg_f1.training import build_datamodule

    steps = build_datamodule(compose_cfg("data/augment=strong")).augment_steps
    loader_only, _ = split_augment(steps, on_device=False)
    loader_part, device_part = split_augment(steps, on_device=True)
    names = [type(s).__name__ for s in loader_only]
    assert names[: len(loader_part)] == [type(s).__name__ for s in loader_part]
    assert names[len(loader_part) :] == ["Affine", "ColorJitter", "Affine"]
    assert [type(s).__name__ for s in device_part.steps] == [
        "BatchAffine", "BatchColourJitter", "BatchAffine"
    ]  # fmt: skip
