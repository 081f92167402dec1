"""uint8 batches normalised on the device give what the former float32 loader gave, and
checkpoints from before the model stored its mean/std predict exactly as they did."""

from __future__ import annotations

import cv2
import hydra
import numpy as np
import pytest
import torch
from inference_fixtures import write_checkpoint
from omegaconf import OmegaConf
from PIL import Image
from skimage import data as skimage_data

from seg_f1 import export, predict
from seg_f1.data.dataset import FaceParsingDataset, read_mask, resize_pair
from seg_f1.data.folder import Sample
from seg_f1.data.images import read_image
from seg_f1.data.labels import CELEBAMASK_HQ_CLASSES as CLASSES
from seg_f1.inference.model import load_model
from seg_f1.inference.parse import softmax
from seg_f1.inference.recipe import InputRecipe, normalised_batch
from seg_f1.inference.scoring import evaluate_samples
from seg_f1.module import SegmentationModule
from seg_f1.network import channel_vector, normalise_pixels

MEAN, STD = [0.5, 0.4, 0.3], [0.25, 0.2, 0.3]  # not ImageNet's: a silent fallback would show


def former_float_item(sample: Sample, size: int, mean, std) -> torch.Tensor:
    """What FaceParsingDataset yielded before: normalised float32 on the CPU."""
    image, _ = resize_pair(read_image(sample.image), read_mask(sample.mask), size)
    mean, std = np.asarray(mean, np.float32) * 255.0, np.asarray(std, np.float32) * 255.0
    normalised = (image.astype(np.float32) - mean) / std
    return torch.from_numpy(np.ascontiguousarray(normalised.transpose(2, 0, 1)))


def former_predict_input(images, size: int, mean, std) -> torch.Tensor:
    """What predict/evaluate fed the network before: the same formula, done in the tool."""
    small = [cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA) for image in images]
    batch = torch.from_numpy(np.stack(small)).permute(0, 3, 1, 2).float() / 255.0
    return (batch - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def strip_normalisation(path, out):
    """The checkpoint as written before this change: no mean/std hyperparameters."""
    checkpoint = torch.load(path, weights_only=True)
    for key in ("mean", "std"):
        del checkpoint["hyper_parameters"][key]
    torch.save(checkpoint, out)
    return out


@pytest.fixture
def faces(tmp_path):
    photo = skimage_data.astronaut()
    (tmp_path / "photos").mkdir()
    (tmp_path / "masks").mkdir()
    samples = []
    for index, (top, left) in enumerate(((0, 0), (100, 150), (200, 40))):
        crop = photo[top : top + 96, left : left + 80]
        Image.fromarray(crop).save(tmp_path / "photos" / f"face{index}.png")
        mask = (crop.mean(2) > 100).astype(np.uint8) * (index + 1)
        Image.fromarray(mask).save(tmp_path / "masks" / f"face{index}.png")
        samples.append(
            Sample(
                tmp_path / "photos" / f"face{index}.png", tmp_path / "masks" / f"face{index}.png"
            )
        )
    return samples


def test_device_normalisation_matches_the_former_float_loader(faces):
    module = SegmentationModule(["a", "b", "c", "d"], encoder_name="resnet18", mean=MEAN, std=STD)
    module.eval()
    dataset = FaceParsingDataset(faces, 32)
    batch = {"image": torch.stack([dataset[i]["image"] for i in range(len(faces))])}
    assert batch["image"].dtype == torch.uint8
    normalised = module.on_after_batch_transfer(batch, 0)["image"]
    former = torch.stack([former_float_item(sample, 32, MEAN, STD) for sample in faces])
    torch.testing.assert_close(normalised, former, rtol=0, atol=2e-6)
    with torch.no_grad():
        torch.testing.assert_close(module(normalised), module(former), rtol=0, atol=1e-4)


def test_predict_equals_the_former_float_path_for_new_and_old_checkpoints(tmp_path, faces):
    new = write_checkpoint(tmp_path / "new.ckpt", mean=MEAN, std=STD)
    old = strip_normalisation(new, tmp_path / "old.ckpt")
    assert torch.load(new, weights_only=True)["hyper_parameters"]["mean"] == MEAN
    model, _ = load_model(new)
    photos = [read_image(sample.image) for sample in faces]
    with torch.no_grad():
        logits = model(former_predict_input(photos, 32, MEAN, STD))
    for name, ckpt in (("new", new), ("old", old)):
        cfg = OmegaConf.create({"backend": "torch", "onnx_model": None, "ckpt_path": str(ckpt),
                                "input": str(tmp_path / "photos"),
                                "output": str(tmp_path / name), "overlay": False, "batch_size": 3,
                                "progress": False, "overwrite": False})  # fmt: skip
        written = {p.name: np.asarray(Image.open(p)) for p in predict.run(cfg)}
        for index, photo in enumerate(photos):
            full = torch.nn.functional.interpolate(
                logits[index : index + 1], size=photo.shape[:2], mode="bilinear"
            )
            expected = full.argmax(1)[0].numpy()
            np.testing.assert_array_equal(written[f"face{index}_mask.png"], expected)


def test_an_old_checkpoint_takes_mean_and_std_from_its_stored_data_config(tmp_path):
    old = strip_normalisation(
        write_checkpoint(tmp_path / "new.ckpt", mean=MEAN, std=STD), tmp_path / "old.ckpt"
    )
    _, recipe = load_model(old)  # inference normalises by its recipe (to_tensor)
    assert recipe.mean == tuple(MEAN) and recipe.std == tuple(STD)
    lightning = SegmentationModule.load_from_checkpoint(old, encoder_weights=None)
    torch.testing.assert_close(lightning.pixel_mean.flatten(), torch.tensor(MEAN))
    torch.testing.assert_close(lightning.pixel_std.flatten(), torch.tensor(STD))
    assert list(lightning.hparams.mean) == MEAN


def test_evaluate_and_export_agree_for_new_and_old_checkpoints(tmp_path, faces):
    new = write_checkpoint(tmp_path / "new.ckpt", mean=MEAN, std=STD)
    old = strip_normalisation(new, tmp_path / "old.ckpt")
    matrices = []
    for ckpt in (new, old):
        model, recipe = load_model(ckpt)
        matrices.append(evaluate_samples(model, recipe, faces, CLASSES, batch_size=2))
        cfg = OmegaConf.create({"ckpt_path": str(ckpt), "output": str(tmp_path / "m.onnx"),
                                "opset": 17, "parity_batch": 2, "tolerance": 1e-3,
                                "progress": False})  # fmt: skip
        assert export.run(cfg) < 1e-3
    assert torch.equal(*matrices) and int(matrices[0].sum()) == 3 * 32 * 32
    model, _ = load_model(new)
    with torch.no_grad():
        former = model(former_predict_input([read_image(s.image) for s in faces], 32, MEAN, STD))
    targets = [resize_pair(read_image(s.image), read_mask(s.mask), 32)[1] for s in faces]
    by_hand = torch.zeros(19, 19, dtype=torch.long)
    for prediction, target in zip(former.argmax(1), targets, strict=True):
        index = torch.from_numpy(target).long() * 19 + prediction
        by_hand += torch.bincount(index.flatten(), minlength=19 * 19).view(19, 19)
    assert torch.equal(matrices[0], by_hand)


@pytest.mark.parametrize("pipeline", ["light", "strong"])
def test_augmented_batches_stay_uint8(compose_cfg, pipeline):
    cfg = compose_cfg(f"data/augment={pipeline}")
    datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    datamodule.setup("fit")
    torch.manual_seed(0)
    batches = list(datamodule.train_dataloader())
    images = torch.cat([batch["image"] for batch in batches])
    masks = torch.cat([batch["mask"] for batch in batches])
    assert images.dtype == torch.uint8 and masks.dtype == torch.uint8
    assert set(masks.unique().tolist()) <= set(range(19)) | {255}
    if pipeline == "strong":  # warped-in borders and dropout holes are ignored, not background
        assert (masks == 255).any()


def test_an_augmentation_that_returns_float_is_named(tmp_path, faces):
    import albumentations as A

    dataset = FaceParsingDataset(faces, 32, A.Compose([A.ToFloat(max_value=255)]))
    with pytest.raises(TypeError, match="data.augment returned float32 images"):
        dataset[0]


@pytest.mark.slow
def test_a_trained_checkpoint_stores_the_data_configs_mean_and_std(compose_cfg, tmp_path):
    from seg_f1.training import train

    cfg = compose_cfg(f"data.mean={MEAN}", f"data.std={STD}", "test=false")
    train(cfg)
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["hyper_parameters"]["mean"] == MEAN
    assert checkpoint["hyper_parameters"]["std"] == STD


def test_inference_normalises_photos_as_training_does():
    """predict's numpy input (no torch under onnxruntime) is the training formula's tensor."""
    rng = np.random.default_rng(0)
    photos = [rng.integers(0, 256, (8, 6, 3), dtype=np.uint8) for _ in range(2)]
    recipe = InputRecipe(8, (0.2, 0.4, 0.6), (0.1, 0.3, 0.5), ())
    pixels = torch.from_numpy(np.stack(photos)).permute(0, 3, 1, 2)
    expected = normalise_pixels(pixels, channel_vector(recipe.mean), channel_vector(recipe.std))
    got = normalised_batch(photos, recipe)
    assert got.dtype == np.float32 and got.shape == (2, 3, 8, 6)
    assert torch.allclose(torch.from_numpy(got), expected, atol=1e-6)
    logits = rng.normal(0, 5, (4, 3, 2)).astype(np.float32)
    expected_probs = torch.from_numpy(logits).softmax(0).numpy()
    assert np.allclose(softmax(logits.copy()), expected_probs, atol=1e-6)
