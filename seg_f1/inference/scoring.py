"""F1 of a checkpoint on a labelled split, counted the way face-parsing papers count it: one
confusion matrix accumulated over the whole split, at the model's size or the masks' own, with
optional flip test-time augmentation."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from rich.progress import track
from torch import Tensor

from seg_f1 import counted
from seg_f1.data.dataset import check_mask_size, read_mask, resize_pair
from seg_f1.data.images import MAX_PIXELS, UnreadableImage, read_photo
from seg_f1.data.transforms import swap_lut
from seg_f1.inference.model import to_tensor
from seg_f1.inference.parse import predict_masks
from seg_f1.inference.photos import Skips
from seg_f1.inference.recipe import InputRecipe
from seg_f1.inference.rules import shifted
from seg_f1.metrics import ConfusionMatrix

TTA_MODES = ("none", "flip")


@torch.no_grad()
def probabilities(model: torch.nn.Module, batch: Tensor, swap: Tensor | None = None) -> Tensor:
    """Softmax of the model; with ``swap`` (a class permutation) also of the mirrored batch,
    mirrored back with its left/right channels swapped, and the two averaged."""
    probs = model(batch).softmax(1)
    if swap is None:
        return probs
    mirrored = model(batch.flip(-1)).softmax(1).flip(-1)[:, swap]
    return (probs + mirrored) / 2


def evaluate_samples(
    model: torch.nn.Module,
    recipe: InputRecipe,
    samples: Sequence,
    class_names: Sequence[str],
    ignore_index: int = 255,
    offsets: Tensor | None = None,
    **reading,
) -> Tensor:
    """The split's accumulated confusion matrix, of argmax or of ``offsets``' decision rule
    (``seg_f1.inference.decoding``); ``reading``: :func:`scored_images`' options."""
    scored = scored_images(model, recipe, samples, class_names, **reading)
    return confusions(scored, {"rule": offsets}, len(class_names), ignore_index)["rule"]


def confusions(
    scored: Iterable[tuple[int, Tensor, Tensor]],
    rules: dict[str, Tensor | None],
    num_classes: int,
    ignore_index: int = 255,
    each: Callable[[int, Tensor, Tensor], None] | None = None,
) -> dict[str, Tensor]:
    """One confusion matrix per decision rule (``None``: argmax; a tensor: its class offsets),
    from one pass over ``scored``; ``each`` also sees every image's probabilities."""
    totals = {name: ConfusionMatrix(num_classes, ignore_index) for name in rules}
    for index, probs, target in scored:
        if each is not None:
            each(index, probs[0], target[0])
        for name, offsets in rules.items():
            totals[name].update(decoded_scores(probs, offsets), target)
    return {name: total.compute() for name, total in totals.items()}


def decoded_scores(probs: Tensor, offsets: Tensor | None) -> Tensor:
    """What argmax runs over: the probabilities, or log-probabilities plus class offsets."""
    return probs if offsets is None else shifted(probs.clamp_min(1e-12).log(), offsets)


def scored_images(
    model: torch.nn.Module,
    recipe: InputRecipe,
    samples: Sequence,
    class_names: Sequence[str],
    tta: str = "none",
    at_original_size: bool = False,
    batch_size: int = 8,
    mask_size: str = "scaled",
    progress: bool = True,
    skips: Skips | None = None,
    max_pixels: int = MAX_PIXELS,
) -> Iterator[tuple[int, Tensor, Tensor]]:
    """``(sample index, [1, C, h, w] probabilities, [1, h, w] target)`` per readable sample, at
    the model's size or the mask's own. A mask that does not fit its photo is refused as in
    training (``mask_size``, see ``check_mask_size``), not resized into a score. A file that
    cannot be read safely goes to ``skips`` (skipped and counted, or an error when strict);
    without ``skips`` it raises."""
    if tta not in TTA_MODES:
        raise ValueError(f"tta must be one of {TTA_MODES}, got {tta!r}")
    swap = torch.from_numpy(swap_lut(recipe.flip_pairs, class_names)[: len(class_names)]).long()
    swap = swap if tta == "flip" else None
    weights = next(model.parameters(), None) if isinstance(model, torch.nn.Module) else None
    device = "cpu" if weights is None else weights.device
    starts = range(0, len(samples), batch_size)
    what = f"evaluating {counted(len(samples), 'image')}"
    for start in track(starts, description=what, disable=not progress, transient=True):
        pairs = []
        for index, sample in enumerate(samples[start : start + batch_size], start):
            read = read_pair(sample, recipe.image_size, mask_size, skips, max_pixels)
            if read is None:
                continue
            mask, photo = read
            pairs.append((index, mask, resize_pair(photo, mask, recipe.image_size)))
        if not pairs:
            continue
        batch = to_tensor([image for _, _, (image, _) in pairs], recipe).to(device)
        probs = probabilities(model, batch, swap).float().cpu()
        for i, (index, original, (_, small_mask)) in enumerate(pairs):
            target = original if at_original_size else small_mask
            p = probs[i : i + 1]
            if p.shape[-2:] != target.shape:
                p = F.interpolate(p, size=target.shape, mode="bilinear", align_corners=False)
            yield index, p, torch.from_numpy(target)[None]


def read_pair(sample, min_side: int | None, mask_size: str, skips: Skips | None, max_pixels: int):
    """(mask, photo) of a sample whose mask fits its photo (``check_mask_size``), the photo
    reduced towards ``min_side`` or at full size; None for a file ``skips`` took."""
    try:
        mask = read_mask(sample.mask, max_pixels, sample.colors)
        photo, full_size = read_photo(sample.image, min_side, max_pixels)
    except UnreadableImage as error:
        if skips is None:
            raise
        skips.skip(sample.image, error)
        return None
    check_mask_size(full_size, mask.shape, sample, mask_size)
    return mask, photo


def evaluate_aligned(
    model, recipe: InputRecipe, samples: Sequence, class_names: Sequence[str], aligner,
    ignore_index: int = 255, mask_size: str = "scaled", progress: bool = True,
    skips: Skips | None = None, max_pixels: int = MAX_PIXELS,
    rules: dict | None = None,
) -> dict[str, Tensor]:  # fmt: skip
    """The confusion matrix with each photo parsed as ``predict align=auto`` parses it (faces
    found, aligned, warped back) and scored at its mask's own resolution: the photo is brought
    to the mask's size first (CelebAMask-HQ's masks are half their photos' side), the way
    in-the-wild parsers are scored after warping back. A photo ``aligner`` skips is counted.
    One matrix per decision rule (``None``: argmax; an array: its class offsets). ``model`` is
    called as predict calls it: arrays in, logits out (``ArrayNetwork``, ``OnnxModel``)."""
    rules = rules or {"argmax": None}
    totals = {name: ConfusionMatrix(len(class_names), ignore_index) for name in rules}
    what = f"evaluating {counted(len(samples), 'image')} (aligned)"
    for sample in track(samples, description=what, disable=not progress, transient=True):
        read = read_pair(sample, None, mask_size, skips, max_pixels)
        if read is None:
            continue
        mask, photo = read
        points, _ = aligner(sample.image, photo)  # at the photo's own resolution
        if points is aligner.SKIP:  # aligner warned, naming the file
            if skips is not None:
                skips.files.append(Path(sample.image))
            continue
        if photo.shape[:2] != mask.shape:
            scale = np.array(mask.shape[::-1]) / np.array(photo.shape[1::-1])
            points = points and [(face + 0.5) * scale - 0.5 for face in points]
            photo = cv2.resize(photo, mask.shape[::-1], interpolation=cv2.INTER_AREA)
        for name, offsets in rules.items():
            (predicted,) = predict_masks(model, recipe, [photo], [points], offsets)
            target = torch.from_numpy(mask)[None]
            totals[name].update(torch.from_numpy(predicted).long()[None], target)
    return {name: total.compute() for name, total in totals.items()}


def check_classes(ckpt_classes: Sequence[str], data_classes: Sequence[str], ckpt_path) -> None:
    if list(ckpt_classes) != list(data_classes):
        raise ValueError(
            f"{ckpt_path}: the checkpoint's classes {list(ckpt_classes)} differ from "
            f"data.classes {list(data_classes)}; evaluate with the data config it was trained on"
        )
