"""The loss library against numpy references, hand-worked values and its own identities."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from seg_f1.losses import (
    CELoss,
    CompositeLoss,
    DiceLoss,
    FocalLoss,
    LovaszSoftmaxLoss,
    TverskyLoss,
    build_loss,
)

IGNORE = 255
LOSS_CONFIGS = sorted((Path(__file__).parents[1] / "conf" / "loss").glob("*.yaml"))
ALL_LOSSES = [CELoss, DiceLoss, FocalLoss, TverskyLoss, LovaszSoftmaxLoss]


def make_batch(seed: int = 0, n: int = 2, c: int = 4, h: int = 5, w: int = 6, absent: int = 3):
    """Random logits and a target with ~20% ignored pixels and class ``absent`` missing."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, c, h, w, generator=g) * 2
    target = torch.randint(0, c - 1, (n, h, w), generator=g)
    target[target == absent] = 0
    target[torch.rand(n, h, w, generator=g) < 0.2] = IGNORE
    return logits, target


# ---------------------------------------------------------------- numpy references


def np_softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def pixels(logits: torch.Tensor, target: torch.Tensor):
    """Non-ignored pixels as numpy ``probs [P, C]`` (float64) and ``labels [P]``."""
    probs = np_softmax(logits.double().numpy()).transpose(0, 2, 3, 1).reshape(-1, logits.shape[1])
    labels = target.numpy().reshape(-1)
    keep = labels != IGNORE
    return probs[keep], labels[keep]


def np_ce(logits, target, weights=None, smoothing=0.0):
    probs, labels = pixels(logits, target)
    c = probs.shape[1]
    w = np.ones(c) if weights is None else np.asarray(weights, dtype=np.float64)
    nll = -np.log(probs)
    rows = np.arange(len(labels))
    per_pixel = (1 - smoothing) * w[labels] * nll[rows, labels] + smoothing / c * (nll * w).sum(1)
    return per_pixel.sum() / w[labels].sum()


def np_soft_counts(logits, target):
    probs, labels = pixels(logits, target)
    onehot = np.eye(probs.shape[1])[labels]
    return (probs * onehot).sum(0), probs.sum(0), onehot.sum(0)


def np_dice(logits, target, weights=None):
    tp, predicted, actual = np_soft_counts(logits, target)
    dice = 2 * tp / (predicted + actual)
    w = np.ones_like(tp) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w * (actual > 0)
    return 1 - (w * dice).sum() / w.sum()


def np_tversky(logits, target, alpha, beta):
    tp, predicted, actual = np_soft_counts(logits, target)
    t = tp / (tp + alpha * (predicted - tp) + beta * (actual - tp))
    return 1 - t[actual > 0].mean()


def np_focal(logits, target, alpha, gamma):
    probs, labels = pixels(logits, target)
    pt = probs[np.arange(len(labels)), labels]
    alpha_t = np.asarray(alpha)[labels] if isinstance(alpha, list) else alpha
    return (alpha_t * (1 - pt) ** gamma * -np.log(pt)).mean()


def slow_lovasz_class(errors: list[float], fg: list[bool]) -> float:
    """Lovasz extension of the Jaccard loss Delta(M) = |M| / |fg u M|, written from its definition:
    the sum over k of error_(k) * (Delta(top k) - Delta(top k-1)), sets rebuilt at every k."""
    order = sorted(range(len(errors)), key=lambda i: -errors[i])
    foreground = {i for i, f in enumerate(fg) if f}
    loss, previous = 0.0, 0.0
    for k in range(1, len(order) + 1):
        top = set(order[:k])
        delta = len(top) / len(foreground | top)
        loss += errors[order[k - 1]] * (delta - previous)
        previous = delta
    return loss


def slow_lovasz(logits, target, classes="present", per_image=False):
    images = [(logits[i : i + 1], target[i : i + 1]) for i in range(len(logits))]
    losses = []
    for image_logits, image_target in images if per_image else [(logits, target)]:
        probs, labels = pixels(image_logits, image_target)
        if len(labels) == 0:
            continue
        chosen = {"present": sorted(set(labels.tolist())), "all": range(probs.shape[1])}
        per_class = []
        for c in chosen.get(classes, classes) if isinstance(classes, str) else classes:
            fg = [bool(label == c) for label in labels]
            errors = [abs(float(f) - p) for f, p in zip(fg, probs[:, c], strict=True)]
            per_class.append(slow_lovasz_class(errors, fg))
        losses.append(np.mean(per_class))
    return float(np.mean(losses)) if losses else 0.0


# ---------------------------------------------------------------- hand-worked values
# Zero logits over 4 classes give p = 0.25 everywhere; target [[0, 1], [1, ignored]].

ZERO_LOGITS = torch.zeros(1, 4, 2, 2)
SMALL_TARGET = torch.tensor([[[0, 1], [1, IGNORE]]])


def test_ce_by_hand():
    assert CELoss()(ZERO_LOGITS, SMALL_TARGET).item() == pytest.approx(math.log(4))


def test_dice_by_hand_ignores_absent_classes():
    # Dice_0 = 2*0.25 / (0.75 + 1) = 2/7, Dice_1 = 2*0.5 / (0.75 + 2) = 4/11; classes 2, 3 absent.
    assert DiceLoss()(ZERO_LOGITS, SMALL_TARGET).item() == pytest.approx(1 - (2 / 7 + 4 / 11) / 2)


def test_tversky_by_hand():
    # class 0: TP .25 FP .5 FN .75; class 1: TP .5 FP .25 FN 1.5
    t0, t1 = 0.25 / (0.25 + 0.3 * 0.5 + 0.7 * 0.75), 0.5 / (0.5 + 0.3 * 0.25 + 0.7 * 1.5)
    loss = TverskyLoss(alpha=0.3, beta=0.7)(ZERO_LOGITS, SMALL_TARGET)
    assert loss.item() == pytest.approx(1 - (t0 + t1) / 2)


def test_focal_by_hand():
    loss = FocalLoss(alpha=0.25, gamma=2.0)(ZERO_LOGITS, SMALL_TARGET)
    assert loss.item() == pytest.approx(0.25 * 0.75**2 * math.log(4))


def test_lovasz_by_hand():
    # class 0: errors .75 (fg), .25, .25 -> .75 * 1; class 1: .75, .75 (fg), .25 -> .75*.5 + .75*.5
    assert LovaszSoftmaxLoss()(ZERO_LOGITS, SMALL_TARGET).item() == pytest.approx(0.75)


# ---------------------------------------------------------------- against numpy references


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("weights", [None, [0.5, 2.0, 1.0, 3.0]])
def test_ce_matches_numpy(weights, smoothing):
    logits, target = make_batch()
    loss = CELoss(class_weights=weights, label_smoothing=smoothing)(logits, target)
    assert loss.item() == pytest.approx(np_ce(logits, target, weights, smoothing), rel=1e-5)


@pytest.mark.parametrize("weights", [None, [0.5, 2.0, 1.0, 3.0]])
def test_dice_matches_numpy(weights):
    logits, target = make_batch(1)
    loss = DiceLoss(class_weights=weights)(logits, target)
    assert loss.item() == pytest.approx(np_dice(logits, target, weights), rel=1e-5)


def test_dice_without_background_averages_foreground_only():
    logits, target = make_batch(2)
    weights = [0.0, 1.0, 1.0, 1.0]  # background weight 0 is the same mean
    expected = np_dice(logits, target, weights)
    assert DiceLoss(include_background=False)(logits, target).item() == pytest.approx(expected)


def test_tversky_matches_numpy():
    logits, target = make_batch(3)
    loss = TverskyLoss(alpha=0.2, beta=0.8)(logits, target)
    assert loss.item() == pytest.approx(np_tversky(logits, target, 0.2, 0.8), rel=1e-5)


@pytest.mark.parametrize("alpha", [0.25, [0.1, 0.9, 0.5, 0.3]])
def test_focal_matches_numpy(alpha):
    logits, target = make_batch(4)
    loss = FocalLoss(alpha=alpha, gamma=1.5)(logits, target)
    assert loss.item() == pytest.approx(np_focal(logits, target, alpha, 1.5), rel=1e-5)


@pytest.mark.parametrize(
    ("classes", "per_image"),
    [("present", False), ("present", True), ("all", True), ([0, 2], False)],
)
def test_lovasz_matches_slow_reference(classes, per_image):
    logits, target = make_batch(5, n=3, h=4, w=5)
    target[2] = IGNORE  # an image with nothing to count
    loss = LovaszSoftmaxLoss(classes=classes, per_image=per_image)(logits, target)
    expected = slow_lovasz(logits, target, classes, per_image)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


# ---------------------------------------------------------------- identities


def test_tversky_half_half_is_dice():
    logits, target = make_batch(6)
    weights = [1.0, 2.0, 0.5, 1.0]
    tversky = TverskyLoss(0.5, 0.5, class_weights=weights)(logits, target)
    assert tversky.item() == pytest.approx(DiceLoss(class_weights=weights)(logits, target).item())


def test_focal_alpha1_gamma0_is_ce():
    logits, target = make_batch(7)
    focal = FocalLoss(alpha=1.0, gamma=0.0)(logits, target)
    assert focal.item() == pytest.approx(CELoss()(logits, target).item(), rel=1e-6)


def test_ce_equals_torch_cross_entropy():
    logits, target = make_batch(8)
    weights = torch.tensor([0.5, 2.0, 1.0, 3.0])
    ours = CELoss(class_weights=weights, label_smoothing=0.1)(logits, target)
    torch_ce = F.cross_entropy(logits, target, weights, ignore_index=IGNORE, label_smoothing=0.1)
    assert ours.item() == pytest.approx(torch_ce.item(), rel=1e-6)


def test_tversky_gives_soft_f_beta():
    """With confident logits the soft counts are hard counts, and alpha = 1/(1+b^2),
    beta = b^2/(1+b^2) gives 1 - mean F2 over the present classes."""
    logits, target = make_batch(9)
    predicted = logits.argmax(1)
    labels, guesses = target[target != IGNORE], predicted[target != IGNORE]
    f2 = []
    for c in labels.unique().tolist():
        tp = ((guesses == c) & (labels == c)).sum().item()
        fp = ((guesses == c) & (labels != c)).sum().item()
        fn = ((guesses != c) & (labels == c)).sum().item()
        f2.append(5 * tp / (5 * tp + 4 * fn + fp))
    loss = TverskyLoss(alpha=1 / 5, beta=4 / 5)(
        F.one_hot(predicted, 4).permute(0, 3, 1, 2) * 50.0, target
    )
    assert loss.item() == pytest.approx(1 - np.mean(f2), abs=1e-5)


# ---------------------------------------------------------------- robustness


@pytest.mark.parametrize("loss_class", ALL_LOSSES)
def test_gradients_are_finite_and_nonzero(loss_class):
    logits, target = make_batch(10)
    logits.requires_grad_(True)
    loss_class()(logits, target).backward()
    assert torch.isfinite(logits.grad).all()
    assert logits.grad.abs().sum() > 0


@pytest.mark.parametrize("loss_class", ALL_LOSSES)
def test_all_ignored_is_zero_with_a_finite_gradient(loss_class):
    logits = torch.randn(2, 4, 3, 3, requires_grad=True)
    loss = loss_class()(logits, torch.full((2, 3, 3), IGNORE))
    loss.backward()
    assert loss.item() == 0.0
    assert torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("loss_class", ALL_LOSSES)
def test_bf16_autocast_matches_float32(loss_class):
    logits, target = make_batch(11)
    reference = loss_class()(logits, target)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = loss_class()(logits.bfloat16(), target)
    assert low.dtype == torch.float32
    assert low.item() == pytest.approx(reference.item(), abs=1e-3)


@settings(max_examples=30, deadline=None)
@given(
    gamma=st.floats(0.0, 3.0),
    ignored=st.floats(0.0, 1.0),
    scale=st.sampled_from([1.0, 100.0]),
    seed=st.integers(0, 2**16),
)
def test_focal_gradient_never_nan(gamma, ignored, scale, seed):
    """(1 - pt)**gamma has an infinite slope at pt = 1 when gamma < 1: ignored pixels and
    saturated logits sit exactly there."""
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(1, 3, 4, 4, generator=g) * scale).requires_grad_(True)
    target = torch.randint(0, 3, (1, 4, 4), generator=g)
    target[torch.rand(1, 4, 4, generator=g) < ignored] = IGNORE
    loss = FocalLoss(alpha=0.5, gamma=gamma)(logits, target)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


# ---------------------------------------------------------------- composite and factory


def test_composite_returns_weighted_total_and_terms():
    logits, target = make_batch(12)
    loss = CompositeLoss({"ce": CELoss(), "dice": DiceLoss()}, {"ce": 1.0, "dice": 0.5})
    total, terms = loss.forward_terms(logits, target)
    assert set(terms) == {"ce", "dice"}
    assert terms["ce"].item() == pytest.approx(CELoss()(logits, target).item())
    assert total.item() == pytest.approx(terms["ce"].item() + 0.5 * terms["dice"].item())
    assert loss(logits, target).item() == pytest.approx(total.item())


def test_composite_drops_zero_weight_terms():
    loss = CompositeLoss({"ce": CELoss(), "dice": DiceLoss()}, {"ce": 1.0, "dice": 0.0})
    assert list(loss.terms) == ["ce"]
    _, terms = loss.forward_terms(*make_batch(13))
    assert list(terms) == ["ce"]


def test_composite_needs_a_positive_weight():
    with pytest.raises(ValueError, match="every loss term weight is 0"):
        CompositeLoss({"ce": CELoss()}, {"ce": 0.0})


def load_config(name: str, *overrides: str):
    cfg = OmegaConf.load(Path(__file__).parents[1] / "conf" / "loss" / f"{name}.yaml")
    return OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))


@pytest.mark.parametrize("path", LOSS_CONFIGS, ids=lambda p: p.stem)
def test_every_loss_config_builds_and_backpropagates(path):
    cfg = OmegaConf.load(path)
    assert "_target_" not in cfg and "class_weights" in cfg
    loss = build_loss(cfg, num_classes=4)
    assert set(loss.terms) == {
        key.removesuffix("_weight") for key in cfg if key.endswith("_weight")
    }
    logits, target = make_batch(14)
    logits.requires_grad_(True)
    total, terms = loss.forward_terms(logits, target)
    total.backward()
    assert torch.isfinite(total) and torch.isfinite(logits.grad).all()
    assert all(term.ignore_index == IGNORE for term in loss.terms.values())


def test_default_loss_has_the_sweep_keys():
    default = OmegaConf.load(Path(__file__).parents[1] / "conf" / "config.yaml").defaults
    assert {"loss": "focal_dice"} in default
    cfg = load_config("focal_dice")
    assert (cfg.focal_weight, cfg.dice_weight) == (1.0, 0.5)


def test_build_loss_passes_config_and_injected_values():
    cfg = load_config("ce_tversky", "tversky.alpha=0.3", "tversky.beta=0.7", "tversky_weight=2.0")
    weights = torch.tensor([1.0, 2.0, 3.0, 4.0])
    cfg.class_weights = "median_freq"  # resolved by the caller into `weights`
    loss = build_loss(cfg, num_classes=4, ignore_index=7, class_weights=weights)
    tversky = loss.terms["tversky"]
    assert (tversky.alpha, tversky.beta, tversky.ignore_index) == (0.3, 0.7, 7)
    assert torch.equal(tversky.class_weights, weights)
    assert torch.equal(loss.terms["ce"].class_weights, weights)
    assert loss.weights == {"ce": 1.0, "tversky": 2.0}


def test_build_loss_drops_zero_weight_terms():
    loss = build_loss(load_config("ce_dice", "dice_weight=0"), num_classes=4)
    assert list(loss.terms) == ["ce"]


def test_build_loss_accepts_per_class_focal_alpha():
    loss = build_loss(load_config("focal", "focal.alpha=[0.1,0.2,0.3,0.4]"), num_classes=4)
    assert loss.terms["focal"].alpha_per_class.tolist() == pytest.approx([0.1, 0.2, 0.3, 0.4])


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        ("ce_dice", ["dice_weight=-1.0"], "loss.dice_weight must be >= 0, got -1.0"),
        ("focal", ["focal.alpha=1.5"], r"loss.focal.alpha must be in \[0, 1\], got 1.5"),
        ("focal", ["focal.alpha=[0.1,0.2,1.5,0.4]"], r"loss.focal.alpha\[2\] must be in \[0, 1\]"),
        ("focal", ["focal.alpha=[0.1,0.2]"], "loss.focal.alpha has 2 entries but the data has 4"),
        ("focal_dice", ["focal.gamma=-0.5"], "loss.focal.gamma must be >= 0, got -0.5"),
        ("tversky", ["tversky.beta=-0.1"], "loss.tversky.beta must be >= 0"),
        ("dice", ["dice.eps=0"], "loss.dice.eps must be > 0"),
        ("ce", ["ce.label_smoothing=2"], r"loss.ce: label_smoothing must be in \[0, 1\), got 2"),
        ("lovasz", ["lovasz.classes=[9]"], "loss.lovasz.classes must be 'present', 'all'"),
        ("ce", ["ce.gama=2"], "loss.ce.gama is not an argument of CELoss"),
        ("ce", ["ce.ignore_index=0"], "loss.ce.ignore_index is set from the data"),
        ("ce", ["dice_weight=1.0"], "loss.dice_weight has no loss.dice block"),
        ("ce_dice", ["ce_weight=null"], "loss.ce_weight must be >= 0, got None"),
        ("ce", ["dice._target_=seg_f1.losses.DiceLoss"], "loss.dice has no loss.dice_weight"),
        ("ce", ["_target_=seg_f1.losses.CELoss"], "loss._target_ is neither"),
        ("ce", ["class_weights=median_freq"], "loss.class_weights is 'median_freq' but"),
    ],
)
def test_invalid_config_fails_naming_the_key(name, overrides, message):
    with pytest.raises(ValueError, match=message):
        build_loss(load_config(name, *overrides), num_classes=4)


def test_class_weights_of_the_wrong_length_fail():
    with pytest.raises(ValueError, match="loss.class_weights has 3 entries but the data has 4"):
        build_loss(load_config("ce_dice"), num_classes=4, class_weights=torch.ones(3))


def test_class_weights_need_a_term_that_takes_them():
    with pytest.raises(ValueError, match=r"no term \(lovasz\) takes class weights"):
        build_loss(load_config("lovasz"), num_classes=4, class_weights=torch.ones(4))
