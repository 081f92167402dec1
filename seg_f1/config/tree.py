"""The composed config as a Rich tree, saved in the run directory. It is printed whole once per
sweep (its job 0); a run says only its groups' choices and overrides, so ~200 lines neither
bury a run's first messages nor repeat per trial."""

from __future__ import annotations

import io
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.syntax import Syntax
from rich.tree import Tree

from seg_f1.report.files import save_text
from seg_f1.runs.tracking import group_choices

TREE_FILE = "config_tree.log"
# the groups a reader looks for first; the rest follow in the config's own order
FIRST = ("data", "model", "loss", "optimizer", "scheduler", "trainer", "callbacks", "logger")


def config_tree(cfg: DictConfig) -> Tree:
    """One branch per top-level key, its resolved YAML underneath."""
    tree = Tree("config", style="bold", guide_style="dim")
    keys = [k for k in FIRST if k in cfg] + [k for k in cfg if k not in FIRST]
    for key in keys:
        value = cfg[key]
        if isinstance(value, DictConfig):
            text = OmegaConf.to_yaml(value, resolve=True)
            tree.add(key, style="bold cyan").add(Syntax(text, "yaml", theme="ansi_dark"))
        else:
            tree.add(f"{key}: {value}")
    return tree


def show_config(cfg: DictConfig, run_dir: str | Path) -> Path:
    """Print the tree's short form (the whole tree for a sweep's job 0), and write the whole
    tree as plain text to ``<run_dir>/config_tree.log``."""
    tree = config_tree(cfg)
    path = Path(run_dir) / TREE_FILE
    short = short_config(path)
    if short is None:
        Console().print(tree)
    else:
        Console().print(short, markup=False, highlight=False, soft_wrap=True)
    buffer = Console(file=io.StringIO(), width=100, color_system=None, record=True)
    buffer.print(tree)
    return save_text(buffer.export_text(), path)


def short_config(path: Path) -> str | None:
    """A run's groups' choices, its overrides and where its whole config is; None where the
    whole tree is printed (a sweep's job 0, or no Hydra to ask)."""
    if not HydraConfig.initialized():
        return None
    hydra = HydraConfig.get()
    # a config composed outside a launcher (tests, the compose API) has no job number
    if hydra.mode == RunMode.MULTIRUN and OmegaConf.select(hydra, "job.num", default=0) == 0:
        return None
    choices = group_choices()
    order = [g for g in FIRST if g in choices] + sorted(set(choices) - set(FIRST))
    groups = " ".join(f"{g}={choices[g]}" for g in order)
    return (
        f"config: {groups}\n"
        f"overrides: {' '.join(hydra.overrides.task) or '(none)'}\n"
        f"the whole config: {path}"
    )
