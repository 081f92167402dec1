"""Property-based checks (hypothesis) of every loss and of the F1 metric on random inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score

from seg_f1.losses import CELoss, DiceLoss, FocalLoss, LovaszSoftmaxLoss, TverskyLoss
from seg_f1.metrics import ConfusionMatrix, f1_from_confusion

IGNORE = 255
LOSSES = {
    "ce": CELoss,
    "dice": DiceLoss,
    "focal": FocalLoss,
    "tversky": lambda: TverskyLoss(alpha=0.3, beta=0.7),
    "lovasz": LovaszSoftmaxLoss,
}
BOUNDED = ("dice", "tversky")  # 1 - a ratio in [0, 1]


@st.composite
def segmentation_batches(draw):
    """Random logits and targets: N<=3, C<=6, H,W<=8, some pixels ignored, classes absent."""
    n, c = draw(st.integers(1, 3)), draw(st.integers(2, 6))
    h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    scale = draw(st.sampled_from([0.1, 1.0, 10.0, 1e3]))
    logits = torch.randn(n, c, h, w, generator=g) * scale
    present = draw(st.integers(1, c))  # classes >= present never occur
    target = torch.randint(0, present, (n, h, w), generator=g)
    target[torch.rand(n, h, w, generator=g) < draw(st.floats(0.0, 1.0))] = IGNORE
    return logits, target


@pytest.mark.parametrize("name", LOSSES)
@settings(max_examples=40, deadline=None)
@given(batch=segmentation_batches())
def test_loss_is_finite_non_negative_and_bounded(name, batch):
    logits, target = batch
    value = LOSSES[name]()(logits, target).item()
    assert math.isfinite(value) and value >= -1e-6
    if name in BOUNDED:
        assert value <= 1 + 1e-6


@pytest.mark.parametrize("name", LOSSES)
@settings(max_examples=25, deadline=None)
@given(batch=segmentation_batches(), seed=st.integers(0, 1000))
def test_loss_is_invariant_to_pixel_permutation(name, batch, seed):
    """Batch-level losses see a bag of pixels: shuffling them (within one image for the
    per-pixel CE/focal, across the batch for the others) changes nothing."""
    logits, target = batch
    n, c, h, w = logits.shape
    flat_logits = logits.permute(0, 2, 3, 1).reshape(1, n * h * w, c)
    flat_target = target.reshape(1, n * h * w)
    order = torch.randperm(n * h * w, generator=torch.Generator().manual_seed(seed))

    def as_image(lg, tg):  # one image of 1 x N*H*W pixels
        return lg.permute(0, 2, 1).unsqueeze(2), tg.unsqueeze(1)

    loss = LOSSES[name]()
    before = loss(*as_image(flat_logits, flat_target))
    after = loss(*as_image(flat_logits[:, order], flat_target[:, order]))
    assert after.item() == pytest.approx(before.item(), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name", LOSSES)
@settings(max_examples=25, deadline=None)
@given(batch=segmentation_batches())
def test_confident_correct_prediction_is_near_zero(name, batch):
    _, target = batch
    c = int(batch[0].shape[1])
    labels = target.clamp(max=c - 1)
    perfect = torch.nn.functional.one_hot(labels, c).permute(0, 3, 1, 2).float() * 50
    assert LOSSES[name]()(perfect, target).item() == pytest.approx(0.0, abs=1e-4)


@settings(max_examples=50, deadline=None)
@given(batch=segmentation_batches())
def test_f1_matches_sklearn(batch):
    logits, target = batch
    c = logits.shape[1]
    matrix = ConfusionMatrix(c, IGNORE)
    matrix.update(logits, target)
    per_class, mean = matrix.f1()
    kept = target != IGNORE
    truth, pred = target[kept].numpy(), logits.argmax(1)[kept].numpy()
    if truth.size == 0:  # every pixel ignored: nothing counted, nothing to compare with
        assert matrix.compute().sum() == 0 and mean == 0.0
        return
    foreground = list(range(1, c))
    expected = f1_score(truth, pred, labels=foreground, average=None, zero_division=np.nan)
    occurring = [k for k in foreground if (truth == k).any() or (pred == k).any()]
    for k in foreground:
        if k in occurring:
            assert per_class[k].item() == pytest.approx(expected[k - 1], abs=1e-6)
        else:
            assert math.isnan(per_class[k].item())
    assert mean == pytest.approx(np.mean(expected[[k - 1 for k in occurring]]) if occurring else 0)


@settings(max_examples=30, deadline=None)
@given(batch=segmentation_batches(), pieces=st.integers(1, 3))
def test_f1_is_invariant_to_batch_splitting(batch, pieces):
    logits, target = batch
    whole = ConfusionMatrix(logits.shape[1], IGNORE)
    whole.update(logits, target)
    split = ConfusionMatrix(logits.shape[1], IGNORE)
    for chunk_logits, chunk_target in zip(logits.chunk(pieces), target.chunk(pieces), strict=True):
        split.update(chunk_logits, chunk_target)
    assert torch.equal(whole.compute(), split.compute())
    a, b = f1_from_confusion(whole.compute()), f1_from_confusion(split.compute())
    assert torch.allclose(a[0], b[0], equal_nan=True) and a[1] == b[1]


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_extreme_logits_under_autocast_stay_finite(name, dtype):
    g = torch.Generator().manual_seed(0)
    logits = (torch.randint(0, 2, (2, 5, 8, 8), generator=g).float() * 2 - 1) * 1e4
    logits.requires_grad_(True)
    target = torch.randint(0, 5, (2, 8, 8), generator=g)
    with torch.autocast("cpu", dtype=dtype):
        value = LOSSES[name]()(logits.to(dtype), target)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(logits.grad).all()
