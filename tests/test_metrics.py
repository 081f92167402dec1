"""F1 from an accumulated confusion matrix, against matrices worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from seg_f1.metrics import ConfusionMatrix, f1_from_confusion

# rows: target, columns: prediction
#   background: TP 5, FP 2, FN 1 -> 10/13
#   skin:       TP 3, FP 1, FN 3 -> 6/10
#   hair:       TP 0, FP 1, FN 0 -> 0 (predicted, never true: counts as 0)
#   hat:        absent from target and prediction -> NaN, left out of the mean
CONFMAT = torch.tensor(
    [
        [5, 1, 0, 0],
        [2, 3, 1, 0],
        [0, 0, 0, 0],
        [0, 0, 0, 0],
    ]
)


def test_per_class_by_hand():
    per_class, _ = f1_from_confusion(CONFMAT)
    assert per_class[:3].tolist() == pytest.approx([10 / 13, 0.6, 0.0])
    assert math.isnan(per_class[3].item())


def test_mean_excludes_background_and_absent_classes():
    _, mean = f1_from_confusion(CONFMAT)
    assert mean == pytest.approx((0.6 + 0.0) / 2)


def test_mean_with_background():
    _, mean = f1_from_confusion(CONFMAT, ignore_background=False)
    assert mean == pytest.approx((10 / 13 + 0.6 + 0.0) / 3)


def test_no_foreground_gives_zero_not_nan():
    confmat = torch.tensor([[4, 0], [0, 0]])
    assert f1_from_confusion(confmat)[1] == 0.0


def one_hot_logits(prediction: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Logits whose argmax is ``prediction`` ([N,H,W] -> [N,C,H,W])."""
    return torch.nn.functional.one_hot(prediction, num_classes).permute(0, 3, 1, 2).float()


def test_ignored_pixels_count_nowhere():
    target = torch.tensor([[[0, 1, 1, 255], [2, 2, 255, 255]]])
    prediction = torch.tensor([[[0, 1, 2, 1], [2, 0, 2, 0]]])
    matrix = ConfusionMatrix(num_classes=3, ignore_index=255)
    matrix.update(one_hot_logits(prediction, 3), target)
    expected = torch.tensor([[1, 0, 0], [0, 1, 1], [1, 0, 1]])
    assert torch.equal(matrix.compute(), expected)
    per_class, mean = matrix.f1()
    # skin: TP 1, FP 0, FN 1 -> 2/3; hair: TP 1, FP 1, FN 1 -> 2/4
    assert per_class.tolist() == pytest.approx([2 / 3, 2 / 3, 0.5])
    assert mean == pytest.approx((2 / 3 + 0.5) / 2)


def test_accumulates_over_batches_not_per_batch_means():
    """Two batches with different F1 give the F1 of their summed counts."""
    matrix = ConfusionMatrix(num_classes=2)
    target = torch.tensor([[[1, 1, 1, 1]]])
    matrix.update(one_hot_logits(torch.tensor([[[1, 1, 1, 1]]]), 2), target)  # F1 1.0
    matrix.update(one_hot_logits(torch.tensor([[[0, 0, 0, 1]]]), 2), target)  # F1 0.4
    # summed: TP 5, FN 3, FP 0 -> 10/13, not (1.0 + 0.4) / 2
    assert matrix.f1()[1] == pytest.approx(10 / 13)
    matrix.reset()
    assert matrix.compute().sum().item() == 0
