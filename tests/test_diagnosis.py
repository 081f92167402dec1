# ruff: noqa: E501 - one case per line reads as a table
"""The curve diagnosis on hand-made metric histories, one per diagnosis case."""

from __future__ import annotations

import pytest

from seg_f1.callbacks.diagnosis import (
    ANNEALING,
    HEALTHY,
    LR_TOO_HIGH,
    OVERFITTING,
    SURROGATE_STALLED,
    UNCLEAR,
    CurveDiagnosis,
    Thresholds,
    classify,
    relative_slope,
    slope,
)


def history(train_loss, val_loss, train_f1, val_f1):
    return {"train/loss": train_loss, "val/loss": val_loss, "train/f1": train_f1, "val/f1": val_f1}


CASES = {
    "healthy": (
        history([1.0, 0.8, 0.6], [1.1, 0.9, 0.7], [0.3, 0.4, 0.5], [0.3, 0.38, 0.46]),
        HEALTHY,
    ),
    "surrogate": (
        history([1.0, 0.8, 0.6], [1.0, 0.9, 0.8], [0.5, 0.5, 0.5], [0.40, 0.401, 0.40]),
        SURROGATE_STALLED,
    ),
    "overfit_f1": (
        history([1.0, 0.8, 0.6], [0.9, 0.9, 0.9], [0.5, 0.6, 0.7], [0.5, 0.48, 0.45]),
        OVERFITTING,
    ),
    "overfit_loss": (
        history([1.0, 0.8, 0.6], [0.8, 0.9, 1.0], [0.5, 0.6, 0.7], [0.5, 0.5, 0.5]),
        OVERFITTING,
    ),
    "loss_up_f1_up": (
        history([0.6, 0.7, 0.8], [0.6, 0.7, 0.8], [0.3, 0.4, 0.5], [0.3, 0.4, 0.5]),
        LR_TOO_HIGH,
    ),
    "oscillating": (
        history([1.0, 0.5, 1.0], [1.0, 0.9, 0.8], [0.3, 0.4, 0.5], [0.3, 0.3, 0.3]),
        LR_TOO_HIGH,
    ),
    "plateau": (
        history([0.5, 0.5, 0.5], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]),
        UNCLEAR,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_each_case_gets_its_verdict(name):
    curves, case = CASES[name]
    verdict = classify(curves, window=3, thresholds=Thresholds())
    assert verdict.case == case, (name, verdict)


def test_slopes_are_least_squares_per_epoch():
    assert slope([1.0, 0.8, 0.6]) == pytest.approx(-0.2)
    assert relative_slope([1.0, 0.8, 0.6]) == pytest.approx(-0.2 / 0.8)


def test_no_verdict_until_the_window_is_full():
    curves, _ = CASES["healthy"]
    short = {key: values[:2] for key, values in curves.items()}
    assert classify(short, window=3, thresholds=Thresholds()) is None
    callback = CurveDiagnosis(window=3)
    rows = [{key: values[i] for key, values in curves.items()} for i in range(3)]
    assert callback.observe(0, rows[0]) is None
    assert callback.observe(1, rows[1]) is None
    assert callback.observe(2, rows[2]).case == HEALTHY
    assert "| 3 | 1 |" in callback.report()  # the third epoch, counted from 1


def test_a_missing_curve_gives_no_verdict():
    curves, _ = CASES["healthy"]
    curves = {**curves, "val/f1": [0.3, float("nan"), 0.5]}
    assert classify(curves, window=3, thresholds=Thresholds()) is None


def test_thresholds_are_configurable():
    curves, _ = CASES["surrogate"]  # val F1 moves 0 per epoch, train loss -25% per epoch
    assert classify(curves, 3, Thresholds(loss_tol=0.5)).case == UNCLEAR
    with pytest.raises(ValueError, match="f1_tol"):
        Thresholds(f1_tol=0)
    with pytest.raises(ValueError, match="window"):
        CurveDiagnosis(window=1)


def test_state_dict_lets_a_resumed_run_continue_the_window():
    curves, _ = CASES["overfit_f1"]
    rows = [{key: values[i] for key, values in curves.items()} for i in range(3)]
    first = CurveDiagnosis(window=3)
    first.observe(0, rows[0])
    first.observe(1, rows[1])
    state = first.state_dict()
    resumed = CurveDiagnosis(window=3)
    resumed.load_state_dict(state)
    assert resumed.observe(1, rows[1]) is None  # an epoch already seen is not counted twice
    assert resumed.observe(2, rows[2]).case == OVERFITTING


def test_a_flat_val_f1_while_the_lr_runs_down_is_convergence_not_a_stalled_surrogate():
    curves, _ = CASES["surrogate"]
    assert classify(curves, 3, Thresholds(), lr_share=0.9).case == SURROGATE_STALLED
    assert classify(curves, 3, Thresholds(), lr_share=0.3).case == ANNEALING
    assert classify(curves, 3, Thresholds(annealed=0.2), lr_share=0.3).case == SURROGATE_STALLED
    healthy, _ = CASES["healthy"]
    assert classify(healthy, 3, Thresholds(), lr_share=0.1).case == HEALTHY


def test_the_callback_judges_each_epoch_by_the_lr_it_trained_with():
    """As a cosine runs out (3e-3 peak), the stalled-surrogate advice becomes case 5 once the
    lr is under half its peak."""
    callback = CurveDiagnosis(window=3)
    curves, _ = CASES["surrogate"]
    lrs = [3e-3, 2.5e-3, 1.0e-3]  # epoch 2 trains at a third of the peak
    verdict = None
    for epoch, lr in enumerate(lrs):
        callback.note_lr(epoch, lr)
        verdict = callback.observe(epoch, {key: values[epoch] for key, values in curves.items()})
    assert verdict.case == ANNEALING and "converging as scheduled" in verdict.text
    assert callback.state_dict()["epoch_lr"] == {0: 3e-3, 1: 2.5e-3, 2: 1.0e-3}
