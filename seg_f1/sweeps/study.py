"""Optuna storages by URL, shared by the sweeper's workers, the pruning callback and the report.

- ``sqlite:///<file>``: one machine, a few workers (a busy timeout makes them queue for the lock);
- ``journal:///<file>``: Optuna's JournalStorage on a file, for a shared filesystem with no
  database server (``journal:///rel/path.log``, ``journal:////abs/path.log``, as for SQLite);
- any other SQLAlchemy URL, e.g. ``postgresql+psycopg://user@host:5432/db``: many nodes.

Relative paths are relative to the working directory, as Hydra's own ``hydra.sweep.dir`` is.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import OmegaConf

log = logging.getLogger(__name__)
T = TypeVar("T")

SWEEPER = "hydra_plugins.seg_f1_sweepers.optuna_sweeper.OptunaSweeper"

JOURNAL_PREFIX = "journal:///"
SQLITE_PREFIX = "sqlite:///"
SQLITE_BUSY_TIMEOUT_S = 60  # a worker waits this long for another's write instead of failing
RACE_ATTEMPTS = 6  # workers started together on a fresh database race to create its tables


def open_storage(
    url: str,
    *,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    on_stale: Callable[[Any, Any], None] | None = None,
) -> Any:
    """The storage behind ``url``; heartbeats are built in for SQL databases only (Optuna's
    JournalStorage has none: :mod:`seg_f1.sweeps.heartbeat` keeps them in the trial there)."""
    from optuna.storages import JournalStorage, RDBStorage
    from optuna.storages.journal import JournalFileBackend

    if url.startswith(JOURNAL_PREFIX):
        path = Path(url.removeprefix(JOURNAL_PREFIX))
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    engine_kwargs = None
    if url.startswith(SQLITE_PREFIX):
        Path(url.removeprefix(SQLITE_PREFIX)).parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    return RDBStorage(
        url,
        engine_kwargs=engine_kwargs,
        heartbeat_interval=heartbeat_interval,
        grace_period=grace_period,
        heartbeat_stale_trial_callback=on_stale,
    )


def retried(action: Callable[[], T], what: str) -> T:
    """``action()``, tried again after a jittered pause when it lost a race with another worker
    creating the same tables ("table alembic_version already exists" on SQLite, a duplicate
    pg_type row on PostgreSQL)."""
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    for attempt in range(1, RACE_ATTEMPTS):
        try:
            return action()
        except (IntegrityError, OperationalError, ProgrammingError) as error:
            pause = random.uniform(0.1, 0.3) * 2**attempt
            log.warning("%s failed (%s): attempt %d, again in %.1f s", what, error, attempt, pause)
            time.sleep(pause)
    return action()  # the last attempt raises what it meets


def absolute_url(url: str) -> str:
    """``url`` with a relative SQLite or journal file made absolute, so that a job whose working
    directory differs from its worker's (submitit, ``hydra.job.chdir``) opens the same file."""
    for prefix in (SQLITE_PREFIX, JOURNAL_PREFIX):
        if url.startswith(prefix):
            return prefix + str(Path(url.removeprefix(prefix)).resolve())
    return url


def trial_id(storage: Any, study_name: str, number: int) -> int:
    """The storage's id of trial ``number``: what heartbeats and state changes are keyed on."""
    study_id = storage.get_study_id_from_name(study_name)
    return storage.get_trial_id_from_study_id_trial_number(study_id, number)


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
