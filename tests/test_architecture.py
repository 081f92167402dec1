"""The layering docs/architecture.md describes: commands share code through the library only."""

from __future__ import annotations

import ast

import pytest
from conftest import ROOT

COMMANDS = ["evaluate", "predict", "export", "class_weights", "dataset_stats", "sweep_report",
            "ablation", "train"]  # fmt: skip


def imported_modules(path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


@pytest.mark.parametrize("command", COMMANDS)
def test_a_command_imports_no_other_command(command):
    imports = imported_modules(ROOT / "seg_f1" / f"{command}.py")
    others = {f"seg_f1.{other}" for other in COMMANDS if other != command}
    assert not imports & others, f"seg_f1/{command}.py imports {sorted(imports & others)}"


def test_the_library_imports_no_command():
    commands = {f"seg_f1.{command}" for command in COMMANDS}
    library = [p for p in (ROOT / "seg_f1").rglob("*.py") if p.stem not in COMMANDS]
    for path in library:
        wrong = imported_modules(path) & commands
        assert not wrong, f"{path.relative_to(ROOT)} imports the command(s) {sorted(wrong)}"
