"""The layering docs/architecture.md describes: a folder per stage, imports that only point down
the stages, commands at the top that share code through the library only, short modules."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest
import tomllib
import yaml
from conftest import ROOT

PACKAGE = ROOT / "seg_f1"
COMMANDS = ["train", "evaluate", "predict", "export", "calibrate", "class_weights",
            "dataset_stats", "sweep_report", "ablation"]  # fmt: skip
CENTRAL = ["__init__", "module", "network", "training", "metrics"]
# Each part may import the parts before it in this list (and itself), never one after it.
LAYERS = ["metrics", "runs", "report", "data", "losses", "network", "module", "callbacks",
          "config", "sweeps", "inference", "training"]  # fmt: skip
MAX_LINES = 300


def imported_modules(path, top_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def part_of(module: str) -> str | None:
    """``seg_f1.runs.io`` -> ``runs``; the root's own names (``seg_f1.CONF_DIR``) -> None."""
    parts = module.split(".")
    if parts[0] != "seg_f1" or len(parts) == 1:
        return None
    exists = (PACKAGE / parts[1]).is_dir() or (PACKAGE / f"{parts[1]}.py").is_file()
    return parts[1] if exists else None


def test_the_top_holds_only_commands_and_central_modules():
    top = {path.stem for path in PACKAGE.glob("*.py")}
    assert top == set(COMMANDS) | set(CENTRAL), f"unexpected at the top: {top - set(COMMANDS)}"


def test_every_folder_is_a_stage_in_the_layering():
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert folders <= set(LAYERS), f"folders missing from LAYERS: {folders - set(LAYERS)}"


@pytest.mark.parametrize("part", LAYERS)
def test_a_part_imports_only_the_parts_below_it(part):
    allowed = set(LAYERS[: LAYERS.index(part) + 1])
    paths = list((PACKAGE / part).rglob("*.py")) or [PACKAGE / f"{part}.py"]
    for path in paths:
        parts = {part_of(m) for m in imported_modules(path) if m.startswith("seg_f1")}
        wrong = parts - allowed - {None} - set(COMMANDS)
        assert not wrong, f"{path.relative_to(ROOT)} imports {sorted(wrong)}, above {part!r}"


def test_the_package_root_loads_no_stage_at_import():
    """``import seg_f1`` runs before every compose; its resolvers import seg_f1.data late."""
    imports = imported_modules(PACKAGE / "__init__.py", top_level_only=True)
    assert not {m for m in imports if m.startswith("seg_f1")}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_command_imports_no_other_command(command):
    imports = imported_modules(PACKAGE / f"{command}.py")
    others = {f"seg_f1.{other}" for other in COMMANDS if other != command}
    assert not imports & others, f"seg_f1/{command}.py imports {sorted(imports & others)}"


def test_the_library_imports_no_command():
    commands = {f"seg_f1.{command}" for command in COMMANDS}
    library = [p for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE or p.stem not in COMMANDS]
    for path in library:
        wrong = imported_modules(path) & commands
        assert not wrong, f"{path.relative_to(ROOT)} imports the command(s) {sorted(wrong)}"


def test_no_module_is_longer_than_a_reader_can_hold():
    long = {
        str(path.relative_to(ROOT)): count
        for path in [*PACKAGE.rglob("*.py"), *(ROOT / "hydra_plugins").rglob("*.py")]
        if (count := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_every_console_script_is_a_command():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    targets = {target.split(":")[0].removeprefix("seg_f1.") for target in scripts.values()}
    assert targets == set(COMMANDS)


# argparse tools answer --help; Hydra apps print their composed job config with --cfg job
ARGPARSE = {"sweep_report", "ablation"}


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
def test_every_documented_entry_point_starts(command, tmp_path):
    flags = ["--help"] if command in ARGPARSE else ["--cfg", "job"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", f"seg_f1.{command}", *flags],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    if command in ARGPARSE:
        assert done.stdout.startswith(f"usage: python -m seg_f1.{command}"), done.stdout[:500]
    else:  # the composed config, as YAML, with the keys every tool shares
        assert "paths" in yaml.safe_load(done.stdout), done.stdout[:2000]
