"""What a multirun found, said as it ends (grid or Optuna): the best trial, its loss family, its
settings and the command that trains it. A Hydra callback (``hydra.callbacks`` in
``conf/hydra/default.yaml``), so every sweeper gets it; it also names the missing ``sweep``
extra before Hydra fails to locate Optuna's sampler."""

from __future__ import annotations

import logging
import shlex
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from seg_f1.sweeps.study import SWEEPER
from seg_f1.sweeps.trials import chosen, collect, ranked, shown

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
    trials = collect(sweep_dir)
    done = [t for t in trials if t.ok]
    report = f"the full report: python -m seg_f1.sweep_report {sweep_dir}"
    if not done:
        return [f"sweep {sweep_dir}: none of its {len(trials)} trials finished; {report}"]
    best = ranked(trials)[0]
    params = chosen(best.params)
    overrides = [f"{key}={value}" for key, value in params.items()]
    return [
        f"sweep {sweep_dir}: {len(done)} of {len(trials)} trials finished; the best is trial "
        f"{best.job}: {metric} {best.best:.4f}, loss {loss_family(sweep_dir / best.job, params)}",
        "  its settings: " + (" ".join(f"{k}={shown(v)}" for k, v in params.items()) or "none"),
        "  train it: python -m seg_f1.train " + " ".join(shlex.quote(o) for o in overrides),
        f"  {report}",
    ]


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
