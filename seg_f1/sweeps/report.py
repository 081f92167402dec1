"""What a sweep found, written beside its jobs: ``sweep_report.md`` and ``sweep_report.csv``
(trials sorted by the objective, one column per swept parameter, pruned trials listed apart),
``best_experiment.yaml`` (the best configuration as a ``conf/experiment/`` file), ``sweep.png``
and, for an Optuna sweep, ``trials.png``. When ``seed`` is swept, configurations are ranked by
their mean over seeds, and the plot shows the spread as error bars."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml
from matplotlib.figure import Figure

from seg_f1 import CONF_DIR, counted
from seg_f1.report.figures import sweep_figure, trials_figure
from seg_f1.report.files import save_figure, save_text
from seg_f1.report.jobs import mean_std
from seg_f1.report.tables import Table, csv_text, markdown_lines, text_table
from seg_f1.runs.results import RESULT_FILE
from seg_f1.sweeps.study import study_of
from seg_f1.sweeps.trials import (
    Group,
    Trial,
    as_number,
    chosen,
    collect,
    group_by_config,
    members,
    ranked,
    shown,
    swept_keys,
)


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def trials_table(trials: list[Trial], keys: list[str]) -> Table:
    header = ["job", "status", *keys, "val/f1", "test/f1", "epochs", "wall_s"]
    rows = [
        [
            t.job,
            t.status,
            *(shown(t.params.get(k, "")) for k in keys),
            _fmt(t.best),
            _fmt(t.test_f1),
            _fmt(t.epochs),
            _fmt(t.wall_time_s, 1),
        ]
        for t in ranked(trials)
    ]
    return text_table(header, rows)


def best_experiment(params: dict[str, str], conf_dir: Path = CONF_DIR) -> dict[str, Any]:
    """A ``# @package _global_`` config: group choices in ``defaults``, values nested."""
    defaults: list[Any] = []
    values: dict[str, Any] = {}
    for key, raw in params.items():
        if key == "experiment":
            defaults.append(f"/experiment/{raw}")
        elif (conf_dir / key.replace(".", "/")).is_dir():
            defaults.append({f"override /{key.replace('.', '/')}": raw})
        else:
            node = values
            *parents, leaf = key.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = _override_value(key, raw)
    return {"defaults": defaults, **values} if defaults else values


def _override_value(key: str, raw: str) -> Any:
    """The value as Hydra reads it on the command line (``5e-4`` is a float, ``null`` None)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_override(f"{key}={raw}").value()


def best_experiment_yaml(params: dict[str, str], source: str, conf_dir: Path = CONF_DIR) -> str:
    body = yaml.safe_dump(best_experiment(params, conf_dir), sort_keys=False)
    return (
        "# @package _global_\n"
        f"# The best configuration of the sweep in {source}.\n"
        "# Copy it to conf/experiment/<name>.yaml and run: python train.py experiment=<name>\n"
        "# (an installed seg_f1: <dir>/experiment/<name>.yaml and\n"
        "#  seg-f1-train --config-dir <dir> experiment=<name>)\n" + body
    )


def sampled_and_log_keys(multirun_dir: Path) -> tuple[bool, set[str]]:
    """Whether the sweep's sweeper samples its trials (Optuna: no order to draw a line along),
    and the parameters it searches on a log scale (``tag(log, ...)``)."""
    path = multirun_dir / "multirun.yaml"
    if not path.is_file():
        return False, set()
    sweeper = (yaml.safe_load(path.read_text()) or {}).get("hydra", {}).get("sweeper", {})
    params = sweeper.get("params") or {}
    log_keys = {key for key, spec in params.items() if "tag(log" in str(spec).replace(" ", "")}
    return "optuna" in str(sweeper.get("_target_", "")).lower(), log_keys


def reads_on_a_log_axis(trials: list[Trial], key: str) -> bool:
    """Positive values a hundredfold apart read best on a log axis (a grid of weight decays);
    a learning rate always does: rates are tried by factors (1e-4, 3e-4, 1e-3), which a linear
    axis crowds into its left end."""
    values = [as_number(t.params.get(key, "")) for t in trials if t.ok]
    positive = [v for v in values if v is not None and v > 0]
    if not len(positive) == len(values) > 1:
        return False
    return is_learning_rate(key) or max(positive) >= 100 * min(positive)


def is_learning_rate(key: str) -> bool:
    """``optimizer.lr``, ``lr``, ``head_lr``, ``optimizer.learning_rate``."""
    name = key.rsplit(".", 1)[-1]
    return name in ("lr", "learning_rate") or name.endswith("_lr")


def is_numeric(trials: list[Trial], key: str) -> bool:
    """A number in every trial that sets ``key``: a parameter only some trials sample (a
    conditional search space) is still an axis, not one legend entry per sampled value."""
    values = [t.params[key] for t in trials if key in t.params]
    return bool(values) and all(as_number(value) is not None for value in values)


def plot(trials: list[Trial], keys: list[str], source: Path, metric: str = "val/f1") -> Figure:
    """val/f1 against each numeric swept parameter, one line per value of the categorical
    ones; points are means over the remaining trials (seeds, other numbers), bars their std.
    Sampled trials stay unjoined points; log-searched or decade-spanning values and learning
    rates get log axes."""
    done = [t for t in trials if t.ok]
    keys = [k for k in keys if k != "seed"]
    numeric = [k for k in keys if is_numeric(done, k)]
    categorical = [k for k in keys if k not in numeric]
    panels = []
    for key in numeric or [None]:
        lines: dict[str, dict[Any, list[float]]] = defaultdict(lambda: defaultdict(list))
        for trial in done:
            if key and key not in trial.params:
                continue  # a conditional parameter (dice_weight of a loss without Dice)
            label = ", ".join(f"{k}={trial.params.get(k, '')}" for k in categorical) or metric
            x = as_number(trial.params[key]) if key else label
            lines[label if key else metric][x].append(trial.best)
        series = []
        for label, points in lines.items():
            xs = sorted(points) if key else list(points)
            means, stds = zip(*(mean_std(points[x]) for x in xs), strict=True)
            series.append((label, xs, means, stds))
        panels.append((key, series))
    sampled, log_keys = sampled_and_log_keys(source)
    log_keys |= {key for key in numeric if reads_on_a_log_axis(done, key)}
    title = f"sweep {source}: best {metric} of {counted(len(done), 'finished trial')}"
    return sweep_figure(panels, metric, title, sorted(log_keys), joined=not sampled)


def render(trials: list[Trial], source: Path, conf_dir: Path = CONF_DIR) -> dict[str, str]:
    """The report's files by name (markdown, CSV, YAML); the plot is written separately."""
    keys = swept_keys(trials)
    table = trials_table(trials, keys)
    counts = defaultdict(int)
    for trial in trials:
        counts[trial.status] += 1
    status = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    parts = [f"# Sweep report: {source}", "", f"{len(trials)} jobs: {status}.", ""]
    parts += [*markdown_lines(table), ""]
    config_keys = [k for k in keys if k != "seed"]
    groups = group_by_config(trials, config_keys)
    if "seed" in keys and groups:
        parts += ["## Mean over seeds", ""]
        group_rows = [
            [*map(shown, g.params.values()), "{:.4f} ± {:.4f}".format(*mean_std(g.scores)),
             str(len(g.scores)),
             f"{statistics.fmean(g.tests):.4f}" if g.tests else ""]
            for g in groups
        ]  # fmt: skip
        group_table = text_table([*config_keys, "val/f1", "seeds", "test/f1"], group_rows)
        parts += [*markdown_lines(group_table), ""]
    files = {"sweep_report.csv": csv_text(table)}
    if groups:
        best_params = _best_params(trials, groups[0], "seed" in keys)
        files["best_experiment.yaml"] = best_experiment_yaml(best_params, str(source), conf_dir)
        parts += ["## Best configuration", "", "```yaml", files["best_experiment.yaml"], "```", ""]
    pruned = [t for t in trials if t.status == "pruned"]
    if pruned:
        parts += ["## Pruned trials", ""]
        parts += [f"- job {t.job}: pruned after {counted(t.epochs or 0, 'epoch')}, best val/f1 "
                  f"so far {_fmt(t.best)}" for t in pruned]  # fmt: skip
        parts.append("")
    failed = [t for t in trials if t.status not in ("ok", "running", "pruned")]
    if failed:
        parts += ["## Failed trials", ""]
        for trial in failed:
            error = (trial.error or "no result.json").strip().splitlines()[0]
            parts.append(f"- job {trial.job} ({trial.status}): {error}")
        parts.append("")
    files["sweep_report.md"] = "\n".join(parts)
    return files


def _best_params(trials: list[Trial], group: Group, seeds_swept: bool) -> dict[str, str]:
    """All overrides of the group's best trial; the seed too unless it was the replicate axis."""
    best = max(members(trials, group), key=lambda t: t.best)
    return {k: v for k, v in chosen(best.params).items() if not (seeds_swept and k == "seed")}


def report(multirun_dir: Path, out_dir: Path | None = None, conf_dir: Path = CONF_DIR) -> str:
    """Write the report files into ``out_dir`` (default: the multirun dir); return the markdown."""
    out_dir = out_dir or multirun_dir
    trials = collect(multirun_dir)  # before any folder is made: a mistyped one is only named
    if not trials:
        raise FileNotFoundError(f"sweep_report: no jobs (no {RESULT_FILE}) under {multirun_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    files = render(trials, multirun_dir, conf_dir)
    for name, text in files.items():
        save_text(text, out_dir / name)
    if any(t.ok for t in trials):
        save_figure(plot(trials, swept_keys(trials), multirun_dir), out_dir / "sweep.png")
    study, metric, why_not = study_of(multirun_dir)
    if study is not None:
        save_figure(trials_figure(study, metric), out_dir / "trials.png")
    elif why_not != "not an Optuna sweep" and (multirun_dir / "multirun.yaml").is_file():
        print(f"sweep_report: no trials.png: {why_not}")
    return files["sweep_report.md"]
