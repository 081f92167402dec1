"""The composed config as a Rich tree: printed when a run starts, saved in its run directory."""

from __future__ import annotations

import io
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.syntax import Syntax
from rich.tree import Tree

from seg_f1.report.files import save_text

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
    """Print the tree, and write it as plain text to ``<run_dir>/config_tree.log``."""
    tree = config_tree(cfg)
    Console().print(tree)
    buffer = Console(file=io.StringIO(), width=100, color_system=None, record=True)
    buffer.print(tree)
    return save_text(buffer.export_text(), Path(run_dir) / TREE_FILE)
