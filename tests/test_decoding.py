"""The F1 decision rule: offsets on the log-probabilities, their search against hand-computed
F1, the bounded pixel sample, and the refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seg_f1.inference.decoding import (
    SHRINKS,
    Pixels,
    candidate_f1,
    cross_validated_offsets,
    decode,
    mean_f1,
    tune_offsets,
    weighted_confusion,
)
from seg_f1.inference.pixel_sample import PixelSample
from seg_f1.inference.rules import chosen_offsets, decoding_rules, stored_offsets
from seg_f1.metrics import ConfusionMatrix, f1_from_confusion


def under_predicted(images: int = 1) -> Pixels:
    """Per image: 4 pixels of class 2 that class 1 wins by 0.3, and 10 of class 1 that it wins
    by 2.0; background far below. Argmax never predicts class 2: F1 = (0 + 2*10/(14+10)) / 2."""
    rows, targets, image = [], [], []
    for i in range(images):
        rows += [[-20.0, -1.0, -1.3]] * 4 + [[-20.0, -0.1, -2.1]] * 10
        targets += [2] * 4 + [1] * 10
        image += [i] * 14
    n = len(targets)
    return Pixels(
        torch.tensor(rows), torch.tensor(targets), torch.ones(n, dtype=torch.float64),
        torch.tensor(image),
    )  # fmt: skip


def random_pixels(n: int = 3000, classes: int = 5, seed: int = 0) -> Pixels:
    g = torch.Generator().manual_seed(seed)
    logp = torch.randn(n, classes, generator=g).log_softmax(1)
    target = torch.randint(0, classes, (n,), generator=g)
    weight = torch.rand(n, generator=g).double() + 0.5
    return Pixels(logp, target, weight, torch.arange(n) % 23)


def test_decode_adds_each_classs_offset_before_argmax():
    scores = torch.tensor([[[[0.0]], [[-0.5]]]])  # [1, 2, 1, 1]: class 0 wins by 0.5
    assert decode(scores).item() == 0
    assert decode(scores, torch.tensor([0.0, 0.6])).item() == 1
    assert decode(scores, torch.tensor([0.0, 0.4])).item() == 0


def test_every_candidate_offset_scores_as_its_own_confusion_matrix_would():
    pixels = random_pixels()
    offsets = torch.tensor([0.0, 0.3, -0.2, 0.1, 0.0])
    support = torch.bincount(pixels.target, pixels.weight, minlength=5)
    candidates = torch.linspace(-2, 2, 9)
    for c in range(1, 5):
        fast = candidate_f1(pixels, offsets, c, candidates, support)
        for value, score in zip(candidates, fast, strict=True):
            moved = offsets.clone()
            moved[c] = value
            assert score.item() == pytest.approx(pixels.f1(moved), abs=1e-12)


def test_mean_f1_is_the_confusion_matrix_mean():
    pixels = random_pixels(seed=1)
    confmat = pixels.confusion(None)
    got = mean_f1(confmat.diagonal()[None], confmat.sum(0)[None], confmat.sum(1)[None])
    assert got.item() == pytest.approx(f1_from_confusion(confmat)[1], abs=1e-12)


def test_tuning_lets_an_under_predicted_class_win_its_pixels():
    pixels = under_predicted()
    assert pixels.f1(None) == pytest.approx((0 + 20 / 24) / 2)
    offsets = tune_offsets(pixels, steps=(1.0,))
    assert offsets[0] == 0  # background's offset never moves: a constant changes nothing
    assert 0.3 < (offsets[2] - offsets[1]).item() < 2.0  # class 2 wins its 4, not class 1's 10
    assert pixels.f1(offsets) == pytest.approx(1.0)


def test_tuned_offsets_never_score_below_argmax_on_the_tuning_pixels():
    for seed in range(4):
        pixels = random_pixels(seed=seed)
        assert pixels.f1(tune_offsets(pixels)) >= pixels.f1(None)
        tuning = cross_validated_offsets(pixels)
        assert tuning.f1_tuned >= tuning.f1_argmax == pixels.f1(None)
        assert tuning.shrink in SHRINKS and set(tuning.held_out_f1) == set(SHRINKS)


def test_offsets_that_carry_to_held_out_images_are_kept():
    tuning = cross_validated_offsets(under_predicted(images=10), folds=5, steps=(1.0,))
    assert tuning.held_out_f1[1.0] == pytest.approx(1.0)
    assert tuning.held_out_f1[0.0] == pytest.approx((0 + 20 / 24) / 2)
    # ties go to the smallest share: half of the tuned -1.0 still lets class 2 win by 0.2
    assert tuning.shrink == 0.5 and tuning.held_out_f1[0.25] < 1.0
    assert tuning.f1_tuned == pytest.approx(1.0)


def test_weighted_confusion_counts_each_pixel_its_weight():
    target, pred = torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2])
    weight = torch.tensor([1.0, 2.0, 3.0, 0.5], dtype=torch.float64)
    expected = torch.tensor([[1, 0, 0], [0, 2, 3], [0, 0, 0.5]], dtype=torch.float64)
    assert torch.equal(weighted_confusion(target, pred, weight, 3), expected)


def test_a_sample_that_fits_keeps_every_pixel_and_the_split_matrix():
    g = torch.Generator().manual_seed(3)
    sample, direct = PixelSample(4, max_pixels=10_000), ConfusionMatrix(4)
    for image in range(3):
        probs = torch.rand(4, 8, 8, generator=g).softmax(0)
        target = torch.randint(0, 4, (8, 8), generator=g)
        target[0, :3] = 255  # ignored pixels count nowhere
        sample.add(probs, target, image)
        direct.update(probs[None], target[None])
    pixels = sample.pixels()
    assert pixels.target.numel() == 3 * (64 - 3) and torch.all(pixels.weight == 1)
    assert torch.equal(pixels.confusion(None).long(), direct.compute())


def test_a_bounded_sample_keeps_every_class_and_weighs_it_to_its_count():
    g = torch.Generator().manual_seed(4)
    sample, counts = PixelSample(3, max_pixels=30), torch.zeros(3)
    for image in range(5):
        target = torch.zeros(10, 10, dtype=torch.long)
        target[:2] = 1
        target[9, 9] = 2  # one pixel of class 2 per image: 5 in all, under its share of 10
        counts += torch.bincount(target.flatten(), minlength=3)
        sample.add(torch.rand(3, 10, 10, generator=g).softmax(0), target, image)
    pixels = sample.pixels()
    kept = torch.bincount(pixels.target, minlength=3)
    assert kept.tolist() == [10, 10, 5]
    weighed = torch.bincount(pixels.target, pixels.weight, minlength=3)
    assert torch.allclose(weighed, counts.double())
    assert set(pixels.image[pixels.target == 2].tolist()) == {0, 1, 2, 3, 4}


def test_offsets_tuned_for_other_classes_are_refused_naming_the_checkpoint():
    checkpoint = {"decision_offsets": {"classes": ["background", "skin"], "offsets": [0, 1]}}
    with pytest.raises(ValueError, match=r"model\.ckpt.*tuned for the classes.*seg_f1\.calib"):
        stored_offsets(checkpoint, ["background", "hair"], "model.ckpt")
    assert stored_offsets({}, ["background"], "model.ckpt") is None
    got = stored_offsets(checkpoint, ["background", "skin"], "model.ckpt")
    assert got.tolist() == [0.0, 1.0]


def test_decode_f1_without_offsets_names_the_file_and_the_command():
    with pytest.raises(ValueError, match=r"decode=f1: model\.ckpt has no decision offsets.*"):
        decoding_rules("f1", None, "model.ckpt")
    with pytest.raises(ValueError, match=r"decode='best': expected one of"):
        decoding_rules("best", None, "model.ckpt")
    with pytest.raises(ValueError, match="a mask takes one"):
        chosen_offsets("both", np.zeros(2, np.float32), "model.ckpt")
    offsets = np.array([0.0, 1.0], np.float32)
    assert list(decoding_rules("both", offsets, "m")) == ["argmax", "f1"]
    assert chosen_offsets("argmax", offsets, "m") is None
    assert chosen_offsets("f1", offsets, "m") is offsets


def test_the_decoding_figure_ticks_each_class_at_its_tuned_f1():
    from seg_f1.report.decoding import TUNED_LABEL, decoding_figure, diagnosis_section

    per_class = {"background": (0.9, 0.9), "skin": (0.8, 0.82), "eye_g": (0.3, 0.5)}
    record = {
        "reported_on": "test", "tuned_on": "val", "kept_share": 0.5,
        "offsets": {"background": 0.0, "skin": -0.5, "eye_g": 1.0},
        "test": {"argmax": 0.55, "f1": 0.66, "per_class": {
            n: {"pixel_share": 0.3, "argmax": a, "f1": t} for n, (a, t) in per_class.items()}},
    }  # fmt: skip
    fig = decoding_figure(record)
    ax = fig.axes[0]
    rows = dict(zip((t.get_text() for t in ax.get_yticklabels()), ax.get_yticks(), strict=True))
    (ticks,) = ax.collections
    placed = {tuple(xy) for xy in ticks.get_offsets().tolist()}
    assert placed == {(t, rows[n]) for n, (_, t) in per_class.items()}
    assert TUNED_LABEL in [t.get_text() for t in ax.get_legend().get_texts()]
    assert "argmax 0.5500" in ax.get_title() and "0.6600" in ax.get_title()
    text = diagnosis_section(record)
    assert "argmax 0.5500, with per-class offsets tuned on val 0.6600 (+0.1100)" in text
    assert "Offsets: skin -0.50, eye_g +1.00." in text
