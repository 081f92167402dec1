"""The sweeper's structured config, registered as ``hydra/sweeper: optuna``, with its samplers
(``hydra/sweeper/sampler``) and pruners (``hydra/sweeper/pruner``) as ``_target_`` configs."""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class TPESamplerConfig:
    _target_: str = "optuna.samplers.TPESampler"
    seed: int | None = None
    n_startup_trials: int = 10
    multivariate: bool = False
    # running trials of other workers count as poor, so parallel workers spread out
    constant_liar: bool = True


@dataclass
class RandomSamplerConfig:
    _target_: str = "optuna.samplers.RandomSampler"
    seed: int | None = None


@dataclass
class NopPrunerConfig:
    _target_: str = "optuna.pruners.NopPruner"


@dataclass
class MedianPrunerConfig:
    _target_: str = "optuna.pruners.MedianPruner"
    n_startup_trials: int = 5
    n_warmup_steps: int = 0
    interval_steps: int = 1
    n_min_trials: int = 1


@dataclass
class SuccessiveHalvingPrunerConfig:
    _target_: str = "optuna.pruners.SuccessiveHalvingPruner"
    min_resource: Any = "auto"
    reduction_factor: int = 4
    min_early_stopping_rate: int = 0
    bootstrap_count: int = 0


@dataclass
class HyperbandPrunerConfig:
    _target_: str = "optuna.pruners.HyperbandPruner"
    min_resource: int = 1
    max_resource: Any = "auto"
    reduction_factor: int = 3
    bootstrap_count: int = 0


@dataclass
class OptunaSweeperConfig:
    _target_: str = "hydra_plugins.seg_f1_sweepers.optuna_sweeper.OptunaSweeper"
    defaults: list[Any] = field(default_factory=lambda: [{"sampler": "tpe"}, {"pruner": "none"}])
    sampler: Any = MISSING
    pruner: Any = MISSING
    direction: str = "maximize"
    study_name: str = MISSING
    # sqlite:///<file>, journal:///<file> or an SQLAlchemy URL (postgresql+psycopg://...)
    storage: str = MISSING
    # finished trials in the whole study, over all workers and invocations
    n_trials: int = 20
    # Hydra sweep syntax per key: choice(a, b), range(1, 5), interval(0, 1), tag(log, ...)
    params: dict[str, str] = field(default_factory=dict)
    # a running trial records a heartbeat every heartbeat_interval seconds; one silent for
    # grace_period seconds belongs to a dead worker: it is failed and requeued
    heartbeat_interval: int = 60
    grace_period: int = 180
    max_retry: int | None = 3  # requeues of one trial whose workers keep dying
    # seconds a database server may take to accept a connection; the storage is checked once
    # before the first trial, and a server that is down or a malformed URL ends the sweep at once
    timeout_s: float = 10.0


def register() -> None:
    store = ConfigStore.instance()
    store.store(group="hydra/sweeper", name="optuna", node=OptunaSweeperConfig, provider="seg_f1")
    for name, node in (("tpe", TPESamplerConfig), ("random", RandomSamplerConfig)):
        store.store(group="hydra/sweeper/sampler", name=name, node=node, provider="seg_f1")
    pruners = {
        "none": NopPrunerConfig,
        "median": MedianPrunerConfig,
        "successive_halving": SuccessiveHalvingPrunerConfig,
        "hyperband": HyperbandPrunerConfig,
    }
    for name, node in pruners.items():
        store.store(group="hydra/sweeper/pruner", name=name, node=node, provider="seg_f1")


register()
