"""Each loss checks its own arguments when built directly, without the config factory."""

from __future__ import annotations

import pytest

from seg_f1.losses import DiceLoss, FocalLoss, LovaszSoftmaxLoss, TverskyLoss


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: DiceLoss(smooth=-1), "smooth must be >= 0, got -1"),
        (lambda: DiceLoss(eps=0.0), "eps must be > 0, got 0.0"),
        (lambda: TverskyLoss(beta=float("nan")), "beta must be >= 0, got nan"),
        (lambda: TverskyLoss(smooth=True), "smooth must be >= 0, got True"),
        (lambda: FocalLoss(gamma=-0.5), "gamma must be >= 0, got -0.5"),
        (lambda: FocalLoss(alpha="high"), r"alpha must be in \[0, 1\], got 'high'"),
        (lambda: FocalLoss(alpha=[0.5, 2.0]), r"alpha\[1\] must be in \[0, 1\], got 2.0"),
        (lambda: FocalLoss(alpha=[0.5], num_classes=3), "alpha has 1 entries but the data has 3"),
        (lambda: LovaszSoftmaxLoss(classes=[]), "classes must be 'present', 'all' or a non-empty"),
        (lambda: LovaszSoftmaxLoss(classes="some"), "classes must be 'present', 'all'"),
        (
            lambda: LovaszSoftmaxLoss(classes=[0, 3], num_classes=3),
            r"list of class indices in \[0, 2\], got \[0, 3\]",
        ),
    ],
)
def test_constructor_names_the_argument_and_value(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_valid_arguments_build():
    assert FocalLoss(alpha=[0.1, 0.9], num_classes=2).alpha_per_class.tolist() == pytest.approx(
        [0.1, 0.9]
    )
    assert LovaszSoftmaxLoss(classes=[0, 2], num_classes=3).classes == [0, 2]
    assert TverskyLoss(alpha=0.0, beta=1.0).beta == 1.0
