"""Each figure at the real 19-class size, checked through matplotlib's objects: titles, axis
labels, the class-colour legend, numbers in cells and on bars, integer epochs, log axes."""

from __future__ import annotations

import math

import numpy as np
import yaml
from matplotlib.colors import to_hex
from test_sweep_report import write_job

from seg_f1.data.labels import CELEBAMASK_HQ_CLASSES as CLASSES
from seg_f1.report import figures
from seg_f1.report.palette import palette
from seg_f1.sweeps.report import plot
from seg_f1.sweeps.trials import collect, swept_keys

NAMES = list(CLASSES)


def legend_colours(legend) -> dict[str, str]:
    return {
        text.get_text(): to_hex(handle.get_facecolor())
        for text, handle in zip(legend.get_texts(), legend.legend_handles, strict=True)
    }


def expected_colours() -> dict[str, str]:
    colours = palette(NAMES) / 255
    return {n: to_hex(c) for n, c in zip(NAMES, colours, strict=True) if n != "background"}


def test_predictions_carry_a_legend_of_every_class_colour_and_a_title():
    image = np.zeros((32, 32, 3), np.uint8)
    mask = np.arange(32 * 32).reshape(32, 32) % 19
    fig = figures.predictions_figure([image] * 2, [mask] * 2, [mask] * 2, NAMES, "val · epoch 3")
    (legend,) = fig.legends
    assert legend.get_title().get_text() == "class colours"
    assert legend_colours(legend) == expected_colours()  # 18 foreground classes, right colours
    assert fig.get_suptitle() == "val · epoch 3"
    assert [ax.get_title() for ax in fig.axes[:3]] == ["image", "target", "prediction"]


def inside(artist, fig) -> bool:
    fig.canvas.draw()
    box, frame = artist.get_window_extent(fig.canvas.get_renderer()), fig.bbox
    return frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1


def test_one_prediction_row_still_holds_the_whole_19_class_legend():
    image, mask = np.zeros((32, 32, 3), np.uint8), np.zeros((32, 32), np.int64)
    fig = figures.predictions_figure([image], [mask], [mask], NAMES, "val · epoch 1")
    (legend,) = fig.legends
    assert inside(legend, fig) and len(legend.get_texts()) == 18


def test_confusion_is_row_normalised_with_percent_in_readable_cells():
    confmat = np.eye(19, dtype=np.int64) * 90
    confmat[1, 2] = 10  # skin: 90 right, 10 as nose -> 90% and 10%
    confmat[3, 4] = 1  # eye_g: 1 of 91 -> 1%
    confmat[5, 6] = 0
    fig = figures.confusion_figure(confmat, NAMES, "val confusion · epoch 2")
    ax = fig.axes[0]
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text()
             for t in ax.texts}  # fmt: skip
    assert cells[(1, 1)] == "90" and cells[(1, 2)] == "10"
    assert cells[(3, 4)] == "1" and cells[(0, 0)] == "100"
    assert (5, 6) not in cells and len(cells) == 19 + 2
    assert ax.get_title() == "val confusion · epoch 2"
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "target class"
    assert "share of the target class" in fig.axes[1].get_ylabel()  # the colour bar
    fig.canvas.draw()
    bar_labels = [t.get_text() for t in fig.axes[1].get_yticklabels() if t.get_text()]
    assert bar_labels[0] == "0%" and bar_labels[-1] == "100%", bar_labels  # as the cells read


def test_per_class_f1_shows_its_values_and_explains_its_colours():
    f1 = [0.5] * 19
    f1[2], f1[14] = 0.875, math.nan
    share = [0.05] * 19
    share[4] = 0.001
    fig = figures.per_class_f1_figure(NAMES, f1, share, 0.01, "val F1 · epoch 1")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.texts]
    assert "0.875" in labels and "n/a" in labels and labels.count("0.500") == 17
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [
        "≥ 1.0% of the pixels", "< 1.0% of the pixels"
    ]  # fmt: skip
    bars = {t.get_text(): p for t, p in zip(ax.get_yticklabels(), ax.patches, strict=True)}
    assert to_hex(bars["l_eye"].get_facecolor()) == to_hex(figures.SMALL_COLOUR)
    assert to_hex(bars["nose"].get_facecolor()) == to_hex(figures.USUAL_COLOUR)
    assert ax.get_title() == "val F1 · epoch 1" and ax.get_xlabel().startswith("F1")


def test_curves_have_integer_epochs_and_the_learning_rate():
    rows = [{"epoch": e, "train/loss": 1.0, "val/f1": 0.1 * e, "lr": 1e-3 / 2**e} for e in range(3)]
    fig = figures.curves_figure(rows, "training curves · run x")
    fig.canvas.draw()
    for ax in fig.axes[:3]:
        ticks = [t for t in ax.get_xticks() if 1 <= t <= 3]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
        assert ax.get_xlabel() == "epoch"
        assert list(ax.lines[0].get_xdata()) == [1, 2, 3]  # counted from 1, as the epoch line
    lr_ax = next(ax for ax in fig.axes if ax.get_title() == "learning rate per epoch")
    assert lr_ax.get_yscale() == "log"
    assert list(lr_ax.lines[0].get_ydata()) == [1e-3, 5e-4, 2.5e-4]
    assert fig.get_suptitle() == "training curves · run x"


def write_optuna_sweep(root):
    for job, (lr, wd, best) in enumerate([(1e-4, 1e-5, 0.5), (2e-3, 1e-2, 0.6), (5e-4, 1e-3, 0.4)]):
        write_job(root, str(job), [f"optimizer.lr={lr}", f"optimizer.weight_decay={wd}"], best=best)
    params = {
        "optimizer.lr": "tag(log, interval(1.0e-4, 3.0e-3))",
        "optimizer.weight_decay": "tag(log, interval(1.0e-5, 1.0e-2))",
    }
    sweeper = {"_target_": "hydra_plugins.seg_f1_sweepers.optuna_sweeper.OptunaSweeper",
               "params": params}  # fmt: skip
    (root / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {"sweeper": sweeper}}))


def test_sweep_plot_of_an_optuna_search_has_log_axes_points_and_a_title(tmp_path):
    root = tmp_path / "optuna"
    write_optuna_sweep(root)
    trials = collect(root)
    fig = plot(trials, swept_keys(trials), root)
    assert [ax.get_xscale() for ax in fig.axes] == ["log", "log"]
    for ax in fig.axes:
        (line,) = ax.lines[:1]
        assert line.get_linestyle() == "None"  # sampled trials are not joined
    assert "3 finished trials" in fig.get_suptitle().replace("\n", " ")  # wrapped to fit
    assert fig.axes[0].get_title() == "val/f1 vs optimizer.lr"


def test_sweep_plot_of_a_grid_joins_its_points_on_linear_axes(tmp_path):
    root = tmp_path / "grid"
    for job, dice in enumerate(["0.3", "0.8", "1.5"]):
        write_job(root, str(job), [f"loss.dice_weight={dice}"], best=0.5)
    trials = collect(root)
    fig = plot(trials, swept_keys(trials), root)
    (ax,) = fig.axes
    assert ax.get_xscale() == "linear" and ax.lines[0].get_linestyle() == "-"
    one = plot(trials[:1], swept_keys(trials), root)
    title = one.get_suptitle().replace("\n", " ")
    assert title.endswith("of 1 finished trial"), title  # singular


def test_trials_figure_gives_each_trial_its_own_colour_and_names_its_loss_family():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="s", direction="maximize")
    for number in range(12):
        trial = study.ask()
        trial.suggest_categorical("loss", ["ce_dice", "focal_dice"])
        for epoch in range(2):
            trial.report(0.1 * number + 0.01 * epoch, epoch)
        if number % 3:
            study.tell(trial, 0.5)
        else:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    fig = figures.trials_figure(study, "val/f1")
    (ax,) = fig.axes
    colours = [to_hex(line.get_color()) for line in ax.lines]
    assert len(colours) == 12 and len(set(colours)) == 12
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    families = [t.params["loss"] for t in study.trials]
    assert labels[0] == f"0 {families[0]} pruned" and labels[1] == f"1 {families[1]} complete"
    assert len(set(to_hex(c) for c in figures.distinct_colours(40))) == 40


def test_a_one_epoch_run_has_whole_epoch_ticks_in_every_epoch_figure():
    rows = [{"epoch": 0, "train/loss": 1.0, "val/loss": 0.9, "train/f1": 0.2, "val/f1": 0.3,
             "lr": 1e-3}]  # fmt: skip
    band = figures.mean_band_figure([("ce", [1], [0.5], [0.1])], {"xlabel": "epoch"})
    for fig in (figures.curves_figure(rows, "t"), band):  # the first epoch, shown as 1
        fig.canvas.draw()
        for ax in fig.axes:
            lo, hi = ax.get_xlim()
            ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
            assert ticks == [1.0], (ax.get_title(), ticks)


def test_a_long_sweep_title_fits_inside_the_figure(tmp_path):
    root = tmp_path / ("a_rather_long_folder_name_" * 4) / "multirun" / "2026-12-03_14-14-31"
    for job, dice in enumerate(["0.3", "0.8"]):
        write_job(root, str(job), [f"loss.dice_weight={dice}"], best=0.5)
    trials = collect(root)
    fig = plot(trials, swept_keys(trials), root)
    renderer = fig.canvas.get_renderer()
    box, frame = fig._suptitle.get_window_extent(renderer), fig.bbox
    assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and box.y1 <= frame.y1, (box, frame)


def test_the_notebooks_loss_vs_f1_panels_keep_their_labels_apart():
    history = {"train/loss": [2.3114, 1.5277, 1.1025], "train/f1": [0.02614, 0.02716, 0.02811],
               "val/loss": [2.26, 1.9, 1.7], "val/f1": [0.026112, 0.027143, 0.028355]}  # fmt: skip
    fig = figures.loss_vs_f1_figure(history)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    left, right = fig.axes
    # the right panel with its tick labels and y-label starts where the left panel has ended
    assert right.get_tightbbox(renderer).x0 >= left.get_window_extent(renderer).x1
    assert [t.get_text() for t in left.texts] == ["1", "2", "3"]  # epochs counted from 1
    assert inside(right.yaxis.label, fig) and right.get_ylabel() == "val/f1 (the goal)"
