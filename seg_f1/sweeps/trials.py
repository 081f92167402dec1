"""The jobs of a sweep as ``Trial`` rows: read from each job's ``result.json`` (or its Hydra
overrides when it never wrote one), then grouped by configuration over seeds and ranked."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from seg_f1.report.jobs import parse_overrides
from seg_f1.runs.results import RESULT_FILE, read_result


@dataclass
class Trial:
    job: str
    status: str
    params: dict[str, str]
    best: float | None = None
    test_f1: float | None = None
    epochs: int | None = None
    wall_time_s: float | None = None
    error: str | None = None
    per_class_f1: dict[str, float | None] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.best is not None


def collect(multirun_dir: Path) -> list[Trial]:
    """Every job under ``multirun_dir``: its ``result.json``, or a ``missing`` row from its
    ``.hydra/overrides.yaml`` when the job started but wrote nothing (killed before training)."""
    if not multirun_dir.is_dir():
        raise FileNotFoundError(f"sweep_report: no such multirun directory {multirun_dir}")
    trials = []
    for job_dir in sorted(_job_dirs(multirun_dir), key=_job_order):
        job = job_dir.relative_to(multirun_dir).as_posix()
        result_path = job_dir / RESULT_FILE
        if result_path.is_file():
            trials.append(_trial_from_result(job, result_path))
        else:
            overrides = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text()) or []
            trials.append(Trial(job, "missing", parse_overrides(overrides)))
    return trials


def _job_dirs(root: Path) -> set[Path]:
    dirs = {path.parent for path in root.rglob(RESULT_FILE)}
    dirs |= {path.parent.parent for path in root.rglob(".hydra/overrides.yaml")}
    return {d for d in dirs if d != root}


def _job_order(path: Path) -> tuple:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in path.parts)


def _trial_from_result(job: str, path: Path) -> Trial:
    try:
        data = read_result(path)
    except (OSError, ValueError) as error:
        return Trial(job, "unreadable", {}, error=f"{path}: {error}")
    return Trial(
        job=job,
        status=data.get("status", "unknown"),
        params=parse_overrides(data.get("overrides", [])),
        best=data.get("best"),
        test_f1=data.get("test_f1"),
        epochs=data.get("epochs"),
        wall_time_s=data.get("wall_time_s"),
        error=data.get("error"),
        per_class_f1=data.get("per_class_f1") or {},
    )


# a search's budget, not the configuration it found: a run to keep trains on all the data, for
# as long as it needs
BUDGET_PREFIXES = ("trainer.limit_", "trainer.max_epochs", "trainer.max_steps",
                   "trainer.max_time", "data.source.num_")  # fmt: skip


def chosen(params: dict[str, str]) -> dict[str, str]:
    """A trial's overrides without the search's budget."""
    return {k: v for k, v in params.items() if not k.lstrip("+~").startswith(BUDGET_PREFIXES)}


def swept_keys(trials: list[Trial]) -> list[str]:
    """Parameters that take more than one value across the jobs, in first-seen order."""
    keys = dict.fromkeys(key for trial in trials for key in trial.params)
    return [key for key in keys if len({trial.params.get(key, "") for trial in trials}) > 1]


def as_number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def shown(raw: str) -> str:
    """A swept value as a reader compares it: Optuna's 1.6648852816008435 as 1.665 (4
    significant digits); ``best_experiment.yaml`` keeps the exact value."""
    number = as_number(raw)
    if number is None or raw.lstrip("-").isdigit():
        return raw
    return f"{number:.4g}"


@dataclass
class Group:
    """The trials of one configuration (all swept values but the seed equal)."""

    params: dict[str, str]
    scores: list[float]
    tests: list[float]


def group_by_config(trials: list[Trial], keys: list[str]) -> list[Group]:
    """Finished trials grouped over ``keys`` (the seed left out), best mean first."""
    groups: dict[tuple, Group] = {}
    for trial in trials:
        if not trial.ok:
            continue
        params = {key: trial.params.get(key, "") for key in keys}
        group = groups.setdefault(tuple(params.items()), Group(params, [], []))
        group.scores.append(trial.best)
        if trial.test_f1 is not None:
            group.tests.append(trial.test_f1)
    return sorted(groups.values(), key=lambda g: statistics.fmean(g.scores), reverse=True)


def members(trials: list[Trial], group: Group) -> list[Trial]:
    """The finished trials of one configuration."""
    return [
        t for t in trials if t.ok and all(t.params.get(k, "") == v for k, v in group.params.items())
    ]


def ranked(trials: list[Trial]) -> list[Trial]:
    """Finished trials by objective, best first; then running, missing and failed ones."""
    return sorted(trials, key=lambda t: (not t.ok, -(t.best or 0.0) if t.ok else 0.0, t.job))
