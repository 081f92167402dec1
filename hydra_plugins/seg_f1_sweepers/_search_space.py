"""Hydra's sweep syntax (``choice``, ``range``, ``interval``, ``tag(log, ...)``) as Optuna
distributions, so ``hydra.sweeper.params`` reads like any other Hydra sweep. The leading
underscore keeps Hydra's plugin scan from importing it (and Optuna) where the sweep extra is
not installed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)


def split_overrides(
    params: Mapping[str, str], arguments: Iterable[str]
) -> tuple[list[str], dict[str, BaseDistribution]]:
    """Fixed overrides for every trial, and the distributions of the swept keys.

    ``params`` comes first; the command line replaces a key it names again."""
    parser = OverridesParser.create()
    lines = [f"{key}={value}" for key, value in params.items()] + list(arguments)
    fixed: dict[str, str] = {}
    space: dict[str, BaseDistribution] = {}
    for override in parser.parse_overrides(lines):
        key = override.key_or_group
        fixed.pop(key, None)
        space.pop(key, None)
        if override.is_sweep_override():
            space[key] = distribution(override)
        else:
            fixed[key] = override.input_line
    return list(fixed.values()), space


def distribution(override: Override) -> BaseDistribution:
    sweep = override.value()
    key = override.get_key_element()
    log = "log" in sweep.tags
    if isinstance(sweep, ChoiceSweep):
        return CategoricalDistribution(list(override.sweep_string_iterator()))
    if isinstance(sweep, RangeSweep):
        values = list(sweep.range())
        if all(isinstance(v, int) for v in values):
            return IntDistribution(values[0], values[-1], step=sweep.step, log=log)
        return FloatDistribution(values[0], values[-1], step=None if log else sweep.step, log=log)
    if isinstance(sweep, IntervalSweep):
        if "int" in sweep.tags:
            return IntDistribution(int(sweep.start), int(sweep.end), log=log)
        return FloatDistribution(sweep.start, sweep.end, log=log)
    raise ValueError(
        f"hydra.sweeper.params.{key}: {override.input_line!r} is not a choice(), range() or "
        "interval() sweep"
    )


def trial_overrides(fixed: list[str], params: Mapping[str, object]) -> list[str]:
    """One job's command line: the fixed overrides, then the trial's values."""
    return [*fixed, *(f"{key}={value}" for key, value in params.items())]
