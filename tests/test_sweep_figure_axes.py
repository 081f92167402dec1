"""sweep.png from hand-made trial results, checked through matplotlib's objects: the score axis
starts at 0 (tiny gaps stay tiny), and learning-rate tick labels are compact and never touch."""

from __future__ import annotations

import random

import matplotlib.pyplot as plt
import pytest
import yaml
from test_sweep_report import write_job

from seg_f1.report import figures
from seg_f1.sweeps.report import plot
from seg_f1.sweeps.trials import collect, swept_keys


def sweep_figure_of(root, lrs, scores, sweeper: dict | None = None):
    for job, (lr, best) in enumerate(zip(lrs, scores, strict=True)):
        write_job(root, str(job), [f"optimizer.lr={lr}", "seed=0"], best=best)
    if sweeper:
        (root / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {"sweeper": sweeper}}))
    trials = collect(root)
    fig = plot(trials, swept_keys(trials), root)
    fig.canvas.draw()
    return fig


def shown_labels(ax) -> list:
    """The x tick labels drawn inside the axis, with their text."""
    low, high = sorted(ax.get_xlim())
    return [t for t in ax.get_xticklabels() if t.get_text() and low <= t.get_position()[0] <= high]


def assert_apart(ax, fig) -> None:
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in shown_labels(ax)]
    assert len(boxes) >= 2, boxes
    for i, (text, box) in enumerate(boxes):
        for other, other_box in boxes[i + 1 :]:
            assert not box.overlaps(other_box), (text, other, box, other_box)


def test_tiny_gaps_in_f1_are_drawn_on_an_axis_from_0(tmp_path):
    scores = [0.801, 0.803, 0.802, 0.804]
    fig = sweep_figure_of(tmp_path / "grid", [1e-4, 3e-4, 1e-3, 3e-3], scores)
    (ax,) = fig.axes
    bottom, top = ax.get_ylim()
    assert bottom == 0.0 and max(scores) < top < 0.9  # room above the best, none wasted
    assert ax.get_ylabel() == "val/f1 (axis from 0)"


def test_a_score_below_0_keeps_its_axis_and_says_nothing_of_0():
    fig = figures.sweep_figure([("x", [("m", [1, 2], [-0.5, 0.2], [0.1, 0.1])])], "delta")
    (ax,) = fig.axes
    assert ax.get_ylim()[0] < -0.5 and ax.get_ylabel() == "delta"


def test_a_learning_rate_grid_is_labelled_at_its_values_on_a_log_axis(tmp_path):
    """A 30-fold grid used to get a linear axis labelled every 0.0005 from -0.0005; these
    close values ran their labels together."""
    lrs = [1e-3, 1.5e-3, 2e-3, 3e-3, 5e-3]
    fig = sweep_figure_of(tmp_path / "grid", lrs, [0.5, 0.6, 0.7, 0.6, 0.4])
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in shown_labels(ax)] == ["1e-3", "1.5e-3", "2e-3", "3e-3", "5e-3"]
    assert_apart(ax, fig)


@pytest.mark.parametrize("count", [7, 12, 40])
def test_sampled_learning_rates_get_round_log_ticks_that_do_not_touch(tmp_path, count):
    rng = random.Random(count)
    lrs = [10 ** rng.uniform(-6, -1) for _ in range(count)]
    sweeper = {"_target_": "hydra_plugins.seg_f1_sweepers.optuna_sweeper.OptunaSweeper",
               "params": {"optimizer.lr": "tag(log, interval(1.0e-6, 1.0e-1))"}}  # fmt: skip
    scores = [rng.uniform(0.2, 0.8) for _ in lrs]
    fig = sweep_figure_of(tmp_path / "optuna", lrs, scores, sweeper)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log" and ax.get_ylim()[0] == 0.0
    labels = [t.get_text() for t in shown_labels(ax)]
    assert all(label.startswith(("1e", "2e", "3e", "5e")) for label in labels), labels
    assert_apart(ax, fig)


def test_the_overlap_check_catches_labels_that_touch():
    fig, ax = plt.subplots(figsize=(5, 4.4))
    ax.set_xticks([1.0, 1.05], ["0.0010", "0.0015"])
    ax.set_xlim(0, 2)
    fig.canvas.draw()
    with pytest.raises(AssertionError):
        assert_apart(ax, fig)


def test_a_parameter_only_some_trials_sample_is_an_axis_not_a_legend(tmp_path):
    """A conditional search space: dice_weight exists only in the trials whose loss has Dice."""
    root = tmp_path / "search"
    for job in range(12):
        weight = [f"loss.dice_weight={0.1 + job / 10:.3f}"] if job % 3 else []
        write_job(root, str(job), [f"optimizer.lr={1e-4 * (job + 1)}", *weight], best=0.8)
    fig = plot(collect(root), swept_keys(collect(root)), root)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["val/f1 vs optimizer.lr", "val/f1 vs loss.dice_weight"]
    assert all(ax.get_legend() is None for ax in fig.axes)
    assert len(fig.axes[1].lines[0].get_xdata()) == 8  # the 8 trials that sampled it
