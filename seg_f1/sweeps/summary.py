"""What a multirun found, said as it ends (grid or Optuna): the best trial, its loss family, its
settings and the command that trains it. A Hydra callback (``hydra.callbacks`` in
``conf/hydra/default.yaml``), so every sweeper gets it; it also names the missing ``sweep``
extra before Hydra fails to locate Optuna's sampler."""

from __future__ import annotations

import logging
import math
import shlex
import statistics
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from seg_f1 import counted
from seg_f1.report.jobs import mean_std
from seg_f1.sweeps.study import SWEEPER
from seg_f1.sweeps.trials import chosen, collect, group_by_config, members, shown, swept_keys

log = logging.getLogger(__name__)


def loss_family(job_dir: Path, params: dict[str, str]) -> str:
    """The ``loss`` choice: the trial's override, else what its job composed."""
    if "loss" in params:
        return params["loss"]
    hydra_yaml = job_dir / ".hydra" / "hydra.yaml"
    if not hydra_yaml.is_file():
        return "?"
    choices = (yaml.safe_load(hydra_yaml.read_text()) or {}).get("hydra", {})
    return str(choices.get("runtime", {}).get("choices", {}).get("loss", "?"))


def summary_lines(sweep_dir: Path, metric: str = "val/f1") -> list[str]:
    """The best configuration (its mean over seeds when the seed was swept, never the luckiest
    seed), how far it leads the next one against the noise, and the command that trains it."""
    trials = collect(sweep_dir)
    done = [t for t in trials if t.ok]
    report = f"the full report: python -m seg_f1.sweep_report {sweep_dir}"
    if not done:
        return [f"sweep {sweep_dir}: none of its {len(trials)} trials finished; {report}"]
    keys = swept_keys(trials)
    seeds = "seed" in keys
    groups = group_by_config(trials, [key for key in keys if key != "seed"])
    top = groups[0]
    best = max(members(done, top), key=lambda t: t.best)
    params = {k: v for k, v in chosen(best.params).items() if not (seeds and k == "seed")}
    family = loss_family(sweep_dir / best.job, params)
    if seeds:
        mean, spread = mean_std(top.scores)
        found = (f"the best configuration: {metric} {mean:.4f} ± {spread:.4f} over "
                 f"{counted(len(top.scores), 'seed')}, loss {family}")  # fmt: skip
    else:
        found = f"the best is trial {best.job}: {metric} {best.best:.4f}, loss {family}"
    return [
        f"sweep {sweep_dir}: {len(done)} of {len(trials)} trials finished; {found}",
        "  its settings: " + (" ".join(f"{k}={shown(v)}" for k, v in params.items()) or "none"),
        "  " + margin(groups, seeds, metric),
        "  train it: python -m seg_f1.train "
        + " ".join(shlex.quote(f"{k}={v}") for k, v in params.items()),
        f"  {report}",
    ]


def margin(groups: list, seeds: bool, metric: str) -> str:
    """The lead over the runner-up, said against the seed-to-seed noise when seeds were swept
    (two standard errors of the difference of means), and as unknown when they were not."""
    if len(groups) == 1:
        if seeds:
            _, spread = mean_std(groups[0].scores)
            return (
                f"only the seed varied: {metric} spreads {spread:.4f} (sd) over the seeds; there "
                "is no configuration to choose, and no seed is better than another"
            )
        return "one configuration: nothing to compare"
    top, second = groups[0], groups[1]
    gap = statistics.fmean(top.scores) - statistics.fmean(second.scores)
    runner_up = " ".join(f"{k}={shown(v)}" for k, v in second.params.items())
    lead = f"ahead of the next ({runner_up}: {statistics.fmean(second.scores):.4f}) by {gap:+.4f}"
    if seeds and min(len(top.scores), len(second.scores)) > 1:
        noise = 2 * math.sqrt(
            sum(mean_std(g.scores)[1] ** 2 / len(g.scores) for g in (top, second))
        )
        verdict = "beyond" if gap > noise else "within"
        return f"{lead}: {verdict} the seed-to-seed noise (2 standard errors: {noise:.4f})"
    return (f"{lead}, one run each: the seed-to-seed noise is unknown; sweep seed=0,1,2 over the "
            "leaders before trusting a gap this size")  # fmt: skip


def check_sweep_extra(config: DictConfig) -> None:
    if config.hydra.sweeper.get("_target_") != SWEEPER:
        return
    try:
        import optuna  # noqa: F401
    except ImportError:
        # SystemExit: Hydra turns a callback's exceptions into warnings and goes on to fail
        # with "Error locating target 'optuna.samplers.TPESampler'"
        raise SystemExit(
            "hydra/sweeper=optuna (as hparams_search=optuna sets it) needs Optuna, which the "
            '`sweep` extra installs: pip install "seg_f1[sweep]" (in a checkout: '
            'pip install -e ".[sweep]")'
        ) from None


class SweepSummary(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        check_sweep_extra(config)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        for line in summary_lines(sweep_dir, str(config.get("optimized_metric", "val/f1"))):
            log.info(line)
