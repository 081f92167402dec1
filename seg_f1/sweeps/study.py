"""Optuna storages by URL, shared by the sweeper's workers, the pruning callback and the report.

- ``sqlite:///<file>``: one machine, a few workers (a busy timeout makes them queue for the lock);
- ``journal:///<file>``: Optuna's JournalStorage on a file, for a shared filesystem with no
  database server (``journal:///rel/path.log``, ``journal:////abs/path.log``, as for SQLite);
- any other SQLAlchemy URL, e.g. ``postgresql+psycopg://user@host:5432/db``: many nodes.

Relative paths are relative to the working directory, as Hydra's own ``hydra.sweep.dir`` is.
A storage is checked once before a sweep or a job uses it (``check_storage``), and connections
to a database server give up after ``timeout_s``: a server that is down or a URL that is wrong
is named by its key (``hydra.sweeper.storage``) in one line, not in a driver's traceback.
"""

from __future__ import annotations

import logging
import random
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import OmegaConf

from seg_f1.runs.services import DEFAULT_TIMEOUT_S, ServiceUnreachable, bounded, mask_url, reason

log = logging.getLogger(__name__)
T = TypeVar("T")

SWEEPER = "hydra_plugins.seg_f1_sweepers.optuna_sweeper.OptunaSweeper"

JOURNAL_PREFIX = "journal:///"
SQLITE_PREFIX = "sqlite:///"
SQLITE_BUSY_TIMEOUT_S = 60  # a worker waits this long for another's write instead of failing
RACE_ATTEMPTS = 6  # workers started together on a fresh database race to create its tables
STORAGE_KEY = "hydra.sweeper.storage"
URL_FORMS = "sqlite:///<file>, journal:///<file> or postgresql+psycopg://<user>@<host>:<port>/<db>"


def open_storage(
    url: str,
    *,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    on_stale: Callable[[Any, Any], None] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Any:
    """The storage behind ``url``; heartbeats are built in for SQL databases only (Optuna's
    JournalStorage has none: :mod:`seg_f1.sweeps.heartbeat` keeps them in the trial there).
    A database server's connections give up after ``timeout_s``."""
    from optuna.storages import JournalStorage, RDBStorage
    from optuna.storages.journal import JournalFileBackend

    if url.startswith(JOURNAL_PREFIX):
        path = Path(url.removeprefix(JOURNAL_PREFIX))
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if url.startswith(SQLITE_PREFIX):
        Path(url.removeprefix(SQLITE_PREFIX)).parent.mkdir(parents=True, exist_ok=True)
    return RDBStorage(
        url,
        engine_kwargs=engine_options(url, timeout_s),
        heartbeat_interval=heartbeat_interval,
        grace_period=grace_period,
        heartbeat_stale_trial_callback=on_stale,
    )


def engine_options(url: str, timeout_s: float) -> dict[str, Any] | None:
    """SQLite waits ``SQLITE_BUSY_TIMEOUT_S`` for another worker's lock; a PostgreSQL or MySQL
    server gets ``timeout_s`` to accept a connection (the drivers' ``connect_timeout``, which
    libpq takes in whole seconds, at least 2)."""
    if url.startswith(SQLITE_PREFIX):
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    if url.split(":", 1)[0].split("+")[0] in ("postgresql", "mysql", "mariadb"):
        return {"connect_args": {"connect_timeout": max(2, round(timeout_s))}}
    return None


def check_storage(url: str, timeout_s: float = DEFAULT_TIMEOUT_S, key: str = STORAGE_KEY) -> None:
    """Open ``url`` once, before a sweep or a job relies on it.

    Raises:
        ServiceUnreachable: the URL is malformed or names a driver that is not installed, or
            the database does not answer within ``timeout_s``; the key and what to do are named.
    """
    from sqlalchemy import create_engine

    shown = mask_url(url)
    if url.startswith(JOURNAL_PREFIX):
        folder = Path(url.removeprefix(JOURNAL_PREFIX)).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ServiceUnreachable(
                f"{key}={shown}: cannot make its folder {folder} ({reason(error)})"
            ) from None
        return
    try:
        if url.startswith(SQLITE_PREFIX):
            Path(url.removeprefix(SQLITE_PREFIX)).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **(engine_options(url, timeout_s) or {}))
    except Exception as error:  # ArgumentError, NoSuchModuleError, a missing driver's ImportError
        raise ServiceUnreachable(
            f"{key}={shown}: not a storage URL this install can open ({reason(error)}); use "
            f"{URL_FORMS}"
        ) from None
    try:
        bounded(lambda: engine.connect().close(), timeout_s + 2, key)
    except Exception as error:
        raise ServiceUnreachable(
            f"{key}={shown}: the database did not answer within {timeout_s:g} s "
            f"({reason(error)}); start it or fix the URL, or use sqlite:///<file> for workers on "
            "one machine"
        ) from None
    finally:
        engine.dispose()


class StudyWriteFailed(ServiceUnreachable):
    """The study's storage refused a write mid-sweep (a full disk, a database gone)."""


def storage_errors() -> tuple[type[BaseException], ...]:
    """What a storage raises when it cannot read or write: Optuna wraps SQLAlchemy's errors
    (SQLite's "database or disk is full" becomes "invalid data in the commit")."""
    from optuna.exceptions import StorageInternalError
    from sqlalchemy.exc import SQLAlchemyError

    return StorageInternalError, SQLAlchemyError, OSError


def write_failure(url: str, error: BaseException, key: str = STORAGE_KEY) -> StudyWriteFailed:
    """One line for a storage that failed mid-sweep: the URL (password hidden), the system's
    reason from the innermost error, and what to do; rerunning the command continues the
    study, since every finished trial is in it."""
    root = error
    while root.__cause__ is not None or root.__context__ is not None:
        root = root.__cause__ or root.__context__
    why = reason(root)
    if "disk is full" in str(root) or getattr(root, "errno", None) == 28:
        why = f"{why.removeprefix('OperationalError: ').split(chr(10))[0]} [ENOSPC]"
    if url.startswith((SQLITE_PREFIX, JOURNAL_PREFIX)):
        where = Path(url.split(":///", 1)[1]).resolve().parent
        advice = f"free space on the disk that holds {where} (df -h {where})"
    else:
        advice = "restart the database server or fix the connection"
    return StudyWriteFailed(
        f"{key}={mask_url(url)}: the study could not be written ({why}); {advice}, then run "
        "the same command again: the study continues from its finished trials"
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
    timeout_s = float(sweeper.get("timeout_s", DEFAULT_TIMEOUT_S))
    try:
        check_storage(url, timeout_s, f"{STORAGE_KEY} in {config_path}")
    except ServiceUnreachable as error:
        return None, metric, str(error)
    import optuna

    storage = open_storage(url, timeout_s=timeout_s)
    return optuna.load_study(study_name=name, storage=storage), metric, None


def check_objective(study: Any, direction: str, metric: str | None, where: str) -> None:
    """A study joined again must optimize what this sweep does: another direction or metric is
    refused, as their values would not compare. The objective is named after ``metric``
    (optuna-dashboard shows "Objective 0" without a name), also in a study made before names
    were kept."""
    from optuna.exceptions import ExperimentalWarning

    if study.direction.name.lower() != direction:
        raise ValueError(
            f"hydra.sweeper.direction={direction}, but {where} was created to "
            f"{study.direction.name.lower()}"
        )
    named = study.metric_names
    if metric is None or named == [metric]:
        return
    if named is not None:
        raise ValueError(
            f"optimized_metric={metric}, but {where} optimizes {named[0]}: give this search "
            "its own hydra.sweeper.study_name"
        )
    with warnings.catch_warnings():  # set_metric_names is experimental since Optuna 3.2
        warnings.simplefilter("ignore", ExperimentalWarning)
        study.set_metric_names([metric])
