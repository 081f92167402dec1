"""``trials.png``: the objective per epoch of every trial of an Optuna sweep, read from the
study's intermediate values (what the pruning callback reported), pruned trials dashed. The
axis is labelled with the metric the callback monitored, from the sweep's ``multirun.yaml``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from seg_f1.study import JOURNAL_PREFIX, SQLITE_PREFIX, open_storage

SWEEPER = "hydra_plugins.seg_f1_sweepers.optuna_sweeper.OptunaSweeper"


def study_of(multirun_dir: Path) -> tuple[Any, str, str | None]:
    """The sweep's study from its ``multirun.yaml`` and the metric its trials reported, or None
    and why not."""
    import hydra.core.utils  # noqa: F401 - registers the ${now:} resolver sweep dirs may use

    config_path = multirun_dir / "multirun.yaml"
    if not config_path.is_file():
        return None, "", f"no {config_path}"
    config = OmegaConf.load(config_path)
    sweeper = config.hydra.sweeper
    if sweeper.get("_target_") != SWEEPER:
        return None, "", "not an Optuna sweep"
    metric = OmegaConf.select(config, "callbacks.optuna_pruning.monitor", default=None)
    metric = metric or config.get("optimized_metric") or "objective"
    url, name = sweeper.storage, sweeper.study_name
    for prefix in (SQLITE_PREFIX, JOURNAL_PREFIX):
        if url.startswith(prefix) and not Path(url.removeprefix(prefix)).is_file():
            return None, metric, f"its storage {url} is not here (run the report where it ran)"
    import optuna

    return optuna.load_study(study_name=name, storage=open_storage(url)), metric, None


def plot_trials(study: Any, path: Path, metric: str) -> None:
    from optuna.trial import TrialState

    from seg_f1.plots import plt
    from seg_f1.reports import save_figure

    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = {TrialState.COMPLETE: "-", TrialState.PRUNED: "--"}
    for trial in study.get_trials(deepcopy=False):
        steps = sorted(trial.intermediate_values)
        if not steps:
            continue
        values = [trial.intermediate_values[s] for s in steps]
        ax.plot([s + 1 for s in steps], values, styles.get(trial.state, ":"), marker=".",
                alpha=0.8, label=f"{trial.number} {trial.state.name.lower()}")  # fmt: skip
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"{study.study_name}: {metric} per epoch (dashed: pruned)")
    ax.grid(alpha=0.3)
    if len(ax.lines) <= 20:
        ax.legend(fontsize="x-small", ncol=2)
    fig.tight_layout()
    save_figure(fig, path)
