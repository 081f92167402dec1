"""What a multirun's jobs share with every report on them: the overrides a job was launched with,
as swept parameters, and the spread of a score over the jobs that repeat a configuration."""

from __future__ import annotations

import statistics
from collections.abc import Iterable

# overrides that say where or how a job was launched, not what it trained
PLACE_PREFIXES = ("hydra.", "hydra/", "paths.", "hparams_search")


def parse_overrides(overrides: Iterable[str]) -> dict[str, str]:
    """``key=value`` command-line overrides as a dict; deletions and placement are dropped."""
    params = {}
    for override in overrides:
        if override.startswith("~") or "=" not in override:
            continue
        key, value = override.split("=", 1)
        key = key.lstrip("+")
        if not key.startswith(PLACE_PREFIXES):
            params[key] = value
    return params


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0
